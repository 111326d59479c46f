//! `/api/v1/targets/{kms}/elements/{element_id}/sdp`: an SDP endpoint's local and remote session
//! descriptions, raw (secrets redacted) and parsed. The only API view that reads KMS, so it is
//! off unless `web.inspection.sdp` is set; the reading and its once-per-interval limit are
//! `poll::sdp`'s, reached through [`crate::metrics::MetricsSource::sdp`].
//!
//! Status codes: 200 with the descriptions (`null` for a side not negotiated yet, both `null`
//! with `sdp_endpoint: false` for an element that has none); 403 when disabled; 404 for an
//! unknown KMS or element; 503 when KMS is down or does not answer.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::kurento::sdp;
use crate::poll::sdp::{SdpError, SdpOutcome, SdpReading};

/// The answer when the view is disabled.
pub const DISABLED: &str = "SDP inspection is disabled. Session descriptions carry users' IP \
addresses; to serve them, set `sdp = true` under `[web.inspection]` in the configuration file \
(or KURENTO_EXPORTER_WEB__INSPECTION__SDP=true) and restart the exporter.";

/// `(kms, element)` when `path` is an SDP path, percent-decoded (an element id contains `/`,
/// which the client sends as `%2F`).
pub fn sdp_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v1/targets/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let [kms, "elements", element, "sdp"] = segments.as_slice() else {
        return None;
    };
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
            .filter(|s| !s.is_empty())
    };
    Some((decode(kms)?, decode(element)?))
}

/// The status and JSON body for a read's outcome.
pub fn answer(outcome: &SdpOutcome) -> (StatusCode, Value) {
    match outcome {
        Ok(reading) => (StatusCode::OK, view(reading)),
        Err(err) => {
            let status = match err {
                SdpError::UnknownTarget | SdpError::UnknownElement => StatusCode::NOT_FOUND,
                SdpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, json!({ "error": err.to_string() }))
        }
    }
}

/// The body of a 403.
pub fn disabled() -> Value {
    json!({ "error": DISABLED })
}

fn view(r: &SdpReading) -> Value {
    json!({
        "kms": r.kms,
        "element": r.element,
        "element_type": r.element_type,
        "sdp_endpoint": r.sdp_endpoint,
        "negotiated": r.local.is_some() && r.remote.is_some(),
        "read_unix_seconds": r.read_unix_seconds,
        "local": r.local.as_deref().map(description),
        "remote": r.remote.as_deref().map(description),
    })
}

/// One description: the (redacted) text and what it says; `parsed` is `null` for a text that
/// is not SDP.
fn description(raw: &str) -> Value {
    json!({
        "raw": raw,
        "parsed": sdp::parse(raw).ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sdp_paths_are_percent_decoded() {
        let cases = [
            (
                "/api/v1/targets/kms/elements/P_kurento.MediaPipeline%2FE_kurento.WebRtcEndpoint/sdp",
                Some(("kms", "P_kurento.MediaPipeline/E_kurento.WebRtcEndpoint")),
            ),
            (
                "/api/v1/targets/kms%3A1/elements/a%2Fb/sdp",
                Some(("kms:1", "a/b")),
            ),
            ("/api/v1/targets/kms/elements/P/E/sdp", None),
            ("/api/v1/targets/kms/elements//sdp", None),
            ("/api/v1/targets/kms/elements/a%FF/sdp", None),
            ("/api/v1/targets/kms/elements/a/sdp/", None),
            ("/api/v1/targets/kms/pipelines/a/sdp", None),
            ("/api/v1/targets/kms/elements/a", None),
        ];
        for (path, want) in cases {
            let want = want.map(|(k, e)| (k.to_owned(), e.to_owned()));
            assert_eq!(sdp_path(path), want, "{path}");
        }
    }

    #[test]
    fn outcomes_map_to_status_codes() {
        let reading = SdpReading {
            kms: "kms".into(),
            element: "P/E".into(),
            element_type: "WebRtcEndpoint".into(),
            sdp_endpoint: true,
            local: Some("v=0\r\nm=audio 9 RTP/AVP 0\r\na=ice-pwd:<redacted>\r\n".into()),
            remote: None,
            read_unix_seconds: Some(1.0),
        };
        let (status, body) = answer(&Ok(Arc::new(reading)));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["negotiated"], false);
        assert_eq!(body["remote"], Value::Null);
        assert_eq!(
            body["local"]["parsed"]["media"][0]["codecs"][0]["name"],
            "PCMU"
        );
        assert_eq!(body["local"]["parsed"]["media"][0]["ice_pwd"], "<redacted>");
        let cases = [
            (SdpError::UnknownTarget, StatusCode::NOT_FOUND),
            (SdpError::UnknownElement, StatusCode::NOT_FOUND),
            (
                SdpError::Unavailable("x".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (err, want) in cases {
            let (status, body) = answer(&Err(err));
            assert_eq!(status, want);
            assert!(body["error"].is_string());
        }
        assert!(
            disabled()["error"]
                .as_str()
                .unwrap()
                .contains("[web.inspection]")
        );
    }
}
