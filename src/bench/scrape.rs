//! Scraping the exporter over loopback: a minimal HTTP/1.1 GET and the few per-target samples the
//! benchmark follows.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `Accept` header Prometheus sends when it prefers OpenMetrics.
pub const ACCEPT_OPENMETRICS: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";

/// Families read per target (`kms` label).
pub const LAST_SUCCESS: &str = "kurento_exporter_last_poll_success_timestamp_seconds";
pub const POLL_DURATION: &str = "kurento_exporter_poll_duration_seconds";
pub const REQUESTS: &str = "kurento_exporter_kms_requests_total";

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("GET http://{addr}{path}: {source}")]
    Io {
        addr: SocketAddr,
        path: String,
        source: std::io::Error,
    },
    #[error("GET http://{addr}{path}: no answer within {timeout:?}")]
    Timeout {
        addr: SocketAddr,
        path: String,
        timeout: Duration,
    },
    #[error("GET http://{addr}{path}: malformed response: {reason}")]
    Malformed {
        addr: SocketAddr,
        path: String,
        reason: &'static str,
    },
}

/// A response: status and body (de-chunked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Splits a raw `Connection: close` response into status and body.
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, &'static str> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")
        })
    });
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(HttpResponse { status, body })
}

/// Decodes a chunked body.
pub fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// `GET path` on a fresh connection (`Connection: close`, no compression), with a time limit.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    accept: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let io_error = |source| HttpError::Io {
        addr,
        path: path.to_owned(),
        source,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(accept) = accept {
            request.push_str(&format!("Accept: {accept}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout {
            addr,
            path: path.to_owned(),
            timeout,
        })?
        .map_err(io_error)?;
    parse_response(&raw).map_err(|reason| HttpError::Malformed {
        addr,
        path: path.to_owned(),
        reason,
    })
}

/// What one scrape says about one target.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TargetReading {
    pub last_success: Option<f64>,
    pub poll_duration: Option<f64>,
    pub requests: Option<f64>,
}

/// The per-target readings of an exposition (classic text or OpenMetrics), keyed by `kms`.
pub fn readings(exposition: &str) -> BTreeMap<String, TargetReading> {
    let mut out: BTreeMap<String, TargetReading> = BTreeMap::new();
    for line in exposition.lines() {
        let Some((name, kms, value)) = parse_kms_sample(line) else {
            continue;
        };
        let slot: fn(&mut TargetReading) -> &mut Option<f64> = match name {
            LAST_SUCCESS => |r| &mut r.last_success,
            POLL_DURATION => |r| &mut r.poll_duration,
            REQUESTS => |r| &mut r.requests,
            _ => continue,
        };
        *slot(out.entry(kms.to_owned()).or_default()) = Some(value);
    }
    out
}

/// `name{...kms="x"...} value [timestamp]` → (name, x, value).
fn parse_kms_sample(line: &str) -> Option<(&str, &str, f64)> {
    let (name, rest) = line.split_once('{')?;
    let (labels, rest) = rest.split_once('}')?;
    let kms = labels
        .split(',')
        .find_map(|l| l.trim().strip_prefix("kms=\"")?.strip_suffix('"'))?;
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, kms, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_or_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        assert_eq!(
            parse_response(plain),
            Ok(HttpResponse {
                status: 200,
                body: b"hello".to_vec()
            })
        );
        let chunked = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nNot\r\n6;x=y\r\n ready\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked),
            Ok(HttpResponse {
                status: 503,
                body: b"Not ready".to_vec()
            })
        );
        let bad: &[(&[u8], &str)] = &[
            (b"HTTP/1.1 200 OK\r\n", "no end of headers"),
            (b"garbage\r\n\r\n", "bad status line"),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nff\r\nshort",
                "truncated chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "bad chunk size",
            ),
        ];
        for (raw, want) in bad {
            assert_eq!(parse_response(raw), Err(*want));
        }
    }

    #[test]
    fn readings_per_target_in_both_formats() {
        let text = "\
# TYPE kurento_exporter_poll_duration_seconds gauge
kurento_exporter_poll_duration_seconds{kms=\"kms-1\"} 0.125
kurento_exporter_poll_duration_seconds{kms=\"kms-2\"} 0.5
kurento_exporter_last_poll_success_timestamp_seconds{kms=\"kms-1\"} 1700000000.25
kurento_exporter_kms_requests_total{kms=\"kms-1\"} 42
kurento_exporter_kms_requests_created{kms=\"kms-1\"} 1700000000.0
kurento_exporter_poll_errors_total{kms=\"kms-1\",reason=\"connect\"} 3
kurento_up{kms=\"kms-1\"} 1
# EOF
";
        let got = readings(text);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got["kms-1"],
            TargetReading {
                last_success: Some(1_700_000_000.25),
                poll_duration: Some(0.125),
                requests: Some(42.0),
            }
        );
        assert_eq!(
            got["kms-2"],
            TargetReading {
                last_success: None,
                poll_duration: Some(0.5),
                requests: None,
            }
        );
    }

    #[test]
    fn kms_label_anywhere_and_timestamps_ignored() {
        assert_eq!(
            parse_kms_sample("x{a=\"1\", kms=\"k\"} 7 1700000000"),
            Some(("x", "k", 7.0))
        );
        assert_eq!(parse_kms_sample("x{a=\"1\"} 7"), None);
        assert_eq!(parse_kms_sample("x 7"), None);
        assert_eq!(parse_kms_sample("x{kms=\"k\"} NaNa"), None);
    }
}
