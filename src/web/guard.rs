//! What every request passes before it is routed: the rate limit (429), then basic
//! authentication (401 with `WWW-Authenticate: Basic`); and the configured headers added to
//! every response, refusals included.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::time::Instant;

use super::auth::Authenticator;
use super::rate_limit::TokenBucket;
use super::security::HttpSecurity;

#[derive(Debug)]
pub(super) struct Guard {
    limiter: Option<Mutex<TokenBucket>>,
    auth: Option<Authenticator>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Guard {
    pub(super) fn new(security: &HttpSecurity) -> Self {
        Guard {
            limiter: security
                .rate_limit
                .map(|limit| Mutex::new(TokenBucket::new(limit, Instant::now()))),
            auth: Authenticator::new(security.users.clone()),
            headers: security.headers.clone(),
        }
    }

    /// `None` lets the request through; otherwise the refusal to send.
    pub(super) async fn admit(&self, request_headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        if let Some(limiter) = &self.limiter {
            let allowed = limiter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .allow(Instant::now());
            if !allowed {
                return Some(refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too Many Requests\n",
                ));
            }
        }
        if let Some(auth) = &self.auth
            && !auth.check(request_headers.get(header::AUTHORIZATION)).await
        {
            let mut response = refusal(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return Some(response);
        }
        None
    }

    /// Adds the configured headers.
    pub(super) fn decorate(&self, response: &mut Response<Full<Bytes>>) {
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

fn refusal(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
