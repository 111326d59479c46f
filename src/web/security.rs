//! What protects the HTTP endpoint, as plain data handed down by the app (which decodes the
//! exporter-toolkit web configuration file): TLS, basic-auth users, extra response headers and a
//! request rate limit.

use hyper::header::{HeaderName, HeaderValue};

pub use super::auth::BasicAuthUsers;
pub use super::rate_limit::RateLimit;
pub use super::tls::{
    CipherSuite, ClientAuth, Curve, PemSource, TlsError, TlsSettings, TlsVersion,
};

/// Everything off by default: plain HTTP, no authentication, no extra headers, no rate limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSecurity {
    /// HTTPS when set.
    pub tls: Option<TlsSettings>,
    /// Basic authentication when not empty.
    pub users: BasicAuthUsers,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// 429 past this request rate, when set.
    pub rate_limit: Option<RateLimit>,
}

/// Loads the certificate, key and client CA the way the server will, so that a bad file is a
/// configuration error (at start and in `check-config`) rather than a failing handshake.
pub fn check_tls(settings: &TlsSettings) -> Result<(), TlsError> {
    super::tls::server_config(settings).map(|_| ())
}
