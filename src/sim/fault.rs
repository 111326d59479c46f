//! Faults tests can inject, and the log of served requests.

use std::time::Duration;

/// A misbehaviour to inject into the running simulator (`Simulator::inject`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Before serving the next `invoke` of `operation`, release its target object, so the reply
    /// is 40101 (an object released mid-cycle). One-shot.
    ReleaseBeforeInvoke { operation: String },
    /// After `requests` more requests have been answered, the next request arriving on any
    /// connection is not answered and every connection is dropped. One-shot.
    DropConnectionsAfter { requests: u64 },
    /// Every later reply is delayed by `extra` on top of the scenario's service time
    /// (`Duration::ZERO` turns it off).
    SlowReplies { extra: Duration },
    /// The next request is served but its reply is never sent. One-shot.
    DropNextReply,
    /// The next reply is preceded by a frame that is not JSON. One-shot.
    GarbageBeforeNextReply,
    /// The next `invoke` of `operation` fails with this KMS error code. One-shot.
    FailNextInvoke { operation: String, code: i64 },
}

/// One request the simulator served (inner operations of a `transaction` are logged too,
/// after the transaction itself, with `in_transaction` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The WebSocket connection, numbered from 1 in accept order.
    pub connection: u64,
    /// The session the request ran in: explicit `params.sessionId`, else the one injected from
    /// the connection binding; `None` when neither (the server then creates one if it needs it).
    pub session: Option<String>,
    pub method: String,
    /// `params.operation` of an `invoke`.
    pub operation: Option<String>,
    /// `params.object` (or `params.type` for `create`).
    pub object: Option<String>,
    /// `params.release` of `closeSession`.
    pub release: bool,
    pub in_transaction: bool,
}

impl LoggedRequest {
    /// Whether this request changes application state on a real KMS.
    ///
    /// The rule: `create`, `release` and `ref` change state; `closeSession` does when
    /// `release:true`; an `invoke` does unless its operation is a read — it starts with `get` or
    /// `is`, or is `describe`. Everything else is a read or session bookkeeping: `ping`,
    /// `connect`, `describe`, `subscribe`, `unsubscribe`, `unref`, `keepAlive`,
    /// `closeSession` with `release:false`, and the `transaction` envelope itself (its inner
    /// operations are logged and judged one by one).
    pub fn changes_state(&self) -> bool {
        match self.method.as_str() {
            "create" | "release" | "ref" => true,
            "closeSession" => self.release,
            "invoke" => {
                let op = self.operation.as_deref().unwrap_or("");
                !(op.starts_with("get") || op.starts_with("is") || op == "describe")
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, operation: Option<&str>, release: bool) -> LoggedRequest {
        LoggedRequest {
            connection: 1,
            session: None,
            method: method.into(),
            operation: operation.map(str::to_owned),
            object: None,
            release,
            in_transaction: false,
        }
    }

    #[test]
    fn state_changing_requests() {
        let cases = [
            ("create", None, false, true),
            ("release", None, false, true),
            ("ref", None, false, true),
            ("unref", None, false, false),
            ("closeSession", None, false, false),
            ("closeSession", None, true, true),
            ("invoke", Some("getStats"), false, false),
            ("invoke", Some("isMediaFlowingIn"), false, false),
            ("invoke", Some("getICECandidatePairs"), false, false),
            ("invoke", Some("setLatencyStats"), false, true),
            ("invoke", Some("connect"), false, true),
            ("invoke", Some("processOffer"), false, true),
            ("invoke", Some("gatherCandidates"), false, true),
            ("invoke", Some("play"), false, true),
            ("describe", None, false, false),
            ("subscribe", None, false, false),
            ("ping", None, false, false),
            ("connect", None, false, false),
            ("keepAlive", None, false, false),
            ("transaction", None, false, false),
        ];
        for (method, op, release, expected) in cases {
            assert_eq!(
                req(method, op, release).changes_state(),
                expected,
                "{method} {op:?}"
            );
        }
    }
}
