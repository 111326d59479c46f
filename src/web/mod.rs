//! The HTTP side: the server, content negotiation, routes, the JSON API, and what protects the
//! endpoint (TLS, basic auth, headers, rate and connection limits), and the inspection page
//! (`/ui/`) with its server-drawn pipeline graphs.

pub(crate) mod api;
mod auth;
mod client_cert;
mod escape;
pub mod fd_limit;
mod graph_layout;
mod graph_svg;
mod guard;
pub mod listen;
pub(crate) mod negotiate;
mod pipelines;
mod probe;
mod rate_limit;
mod routes;
mod sdp;
pub mod security;
pub mod server;
mod tls;
mod tls_reload;
mod ui;
