//! The HTTP side: the server, content negotiation, routes, the JSON API, and what protects the
//! endpoint (TLS, basic auth, headers, rate and connection limits).

pub(crate) mod api;
mod auth;
mod client_cert;
pub mod fd_limit;
mod guard;
pub mod listen;
pub(crate) mod negotiate;
mod pipelines;
mod rate_limit;
mod routes;
mod sdp;
pub mod security;
pub mod server;
mod tls;
mod tls_reload;
