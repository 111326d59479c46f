//! The HTTP side: the server, content negotiation, routes and the JSON API.

pub(crate) mod api;
mod negotiate;
mod routes;
pub mod server;
