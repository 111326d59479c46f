//! The session descriptions of one SDP endpoint (WebRtcEndpoint, RtpEndpoint), read on demand.
//!
//! Transparency (docs/kms-protocol.md §4, §5): reading an object makes the reader's session one
//! of its owners, so the read runs on a socket and in a session of its own, which
//! `closeSession {release:false}` drops right after: the endpoint is never kept alive, and the
//! poller's sockets (one request at a time each) are not touched. The requests, one after the
//! other on that socket: `connect`, `getLocalSessionDescriptor`, `getRemoteSessionDescriptor`,
//! `closeSession`. No ping: the socket lives for four round trips.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
use super::ops::{KmsError, session_connect};
use super::protocol::{self, codes};
use super::replies::{decode_string, invoke_value};
use super::sdp;

/// An endpoint's descriptions, secrets already redacted ([`sdp::redact`]); `None` while that
/// side is not negotiated (KMS answers 40202/40203).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptors {
    pub local: Option<String>,
    pub remote: Option<String>,
}

/// Reads `element`'s descriptions over a new connection to `url` and closes it. A 40101 error
/// (see [`KmsError::is_object_not_found`]) means the element is gone.
pub async fn read_descriptors(
    url: &str,
    opts: &ClientOptions,
    ids: Arc<RequestIds>,
    requests: RequestCounter,
    element: &str,
) -> Result<Descriptors, KmsError> {
    let opts = ClientOptions {
        ping_interval: Duration::ZERO,
        ..opts.clone()
    };
    let (connection, _events) = Connection::open(url, &opts, ids, requests)
        .await
        .map_err(|e| KmsError::new("open connection", None, e))?;
    let read = read_in_own_session(&connection, element).await;
    connection.close();
    read
}

async fn read_in_own_session(
    connection: &Connection,
    element: &str,
) -> Result<Descriptors, KmsError> {
    let (_, session) = session_connect(connection).await?;
    let read = async {
        let local = descriptor(
            connection,
            &session,
            element,
            "getLocalSessionDescriptor",
            codes::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
        )
        .await?;
        let remote = descriptor(
            connection,
            &session,
            element,
            "getRemoteSessionDescriptor",
            codes::SDP_END_POINT_NO_REMOTE_SDP_ERROR,
        )
        .await?;
        Ok(Descriptors { local, remote })
    }
    .await;
    // Whatever the getters did, the session's references go now rather than at KMS's next GC.
    let params = json!({ "sessionId": session, "release": false });
    if let Err(err) = connection.call("closeSession", params).await {
        tracing::debug!(error = %err, "closing the session of an SDP read failed");
    }
    read
}

/// One getter in `session`; `absent` is KMS's "not negotiated yet" code for it.
async fn descriptor(
    connection: &Connection,
    session: &str,
    element: &str,
    operation: &str,
    absent: i64,
) -> Result<Option<String>, KmsError> {
    let wrap = |e| KmsError::new(operation, Some(element), e);
    let params = protocol::invoke_params(element, operation, None, Some(session));
    match connection.call("invoke", params).await {
        Ok(result) => {
            let value = invoke_value(result).map_err(wrap)?;
            let text = decode_string(&value).map_err(wrap)?;
            Ok(Some(sdp::redact(&text)))
        }
        Err(ClientError::Rpc(e)) if e.code == absent => Ok(None),
        Err(e) => Err(wrap(e)),
    }
}
