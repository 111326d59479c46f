//! The HTTP side: the server, content negotiation, routes and the JSON API.

pub mod api;
mod negotiate;
mod routes;
pub mod server;
