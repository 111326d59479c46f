//! The deep health check: the one place the exporter writes to KMS, and only for targets with
//! `health_probe` enabled (README "Health probe").
//!
//! On a socket and in a session of its own (never the poller's read session): `connect`,
//! `create` a MediaPipeline, `invoke setName` on it, `create` a WebRtcEndpoint in it and name it
//! too, `invoke generateOffer`, `release` the pipeline (KMS releases its children), `closeSession
//! {release:false}`, close. `create` ignores `properties` (docs/kms-protocol.md §2), so the name
//! is set with `setName`: other exporters (an HA replica, a previous process) recognise a probe
//! pipeline by it.
//!
//! The probe's verdict is due within `timeout`; the steps go on in a task of their own so that
//! whatever they created is released on every path. After a timeout the task stops at the next
//! step, waits at most [`CLEANUP_DEADLINE`] more for the reply in flight (a `create` whose id is
//! not known yet), then releases with the same deadline. Should the exporter die meanwhile, the
//! session is never kept alive: KMS's GC drops it and its objects within two GC periods
//! (docs/kms-protocol.md §4).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
use super::ops::{KmsError, session_connect};
use super::protocol;
use super::replies::{decode_string, invoke_value};

/// The name given to the probe's pipeline and endpoint.
pub const PROBE_OBJECT_NAME: &str = "kurento_exporter_health_probe";

/// How long cleanup may wait for a reply in flight, and for each of its own calls.
pub const CLEANUP_DEADLINE: Duration = Duration::from_secs(5);

/// Told what the probe holds while it runs, so the poller can leave it out of its metrics.
pub trait ProbeWatcher: Send + Sync + 'static {
    /// The probe's session id, once `connect` gave one.
    fn session(&self, id: &str);
    /// A `create` of a pipeline is in flight (its `ObjectCreated` may arrive before its id).
    fn creating(&self, in_flight: bool);
    /// The probe created this pipeline.
    fn created(&self, pipeline: &str);
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("the probe task ended without an answer")]
    Lost,
}

/// One probe's verdict and how long it took; `cleanup` ends once everything it created is
/// released and its socket closed.
#[derive(Debug)]
pub struct ProbeRun {
    pub outcome: Result<(), ProbeError>,
    pub duration: Duration,
    pub cleanup: JoinHandle<()>,
}

/// Where and how to probe one KMS.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub url: String,
    /// The target's client options (TLS); timeouts and pings are the probe's own.
    pub client: ClientOptions,
    pub timeout: Duration,
}

/// Runs one probe; the verdict comes at the latest `target.timeout` after the start.
pub async fn probe(
    target: &ProbeTarget,
    ids: Arc<RequestIds>,
    requests: RequestCounter,
    watcher: Arc<dyn ProbeWatcher>,
) -> ProbeRun {
    let started = Instant::now();
    let stop = CancellationToken::new();
    let (tx, rx) = oneshot::channel();
    let cleanup = tokio::spawn(run_steps(
        target.clone(),
        ids,
        requests,
        watcher,
        stop.clone(),
        tx,
    ));
    let outcome = match tokio::time::timeout(target.timeout, rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Err(ProbeError::Lost),
        Err(_) => {
            stop.cancel();
            Err(ProbeError::Timeout(target.timeout))
        }
    };
    ProbeRun {
        outcome,
        duration: started.elapsed(),
        cleanup,
    }
}

async fn run_steps(
    target: ProbeTarget,
    ids: Arc<RequestIds>,
    requests: RequestCounter,
    watcher: Arc<dyn ProbeWatcher>,
    stop: CancellationToken,
    verdict: oneshot::Sender<Result<(), ProbeError>>,
) {
    // A call may outlive the verdict by the cleanup deadline: the reply of a `create` in flight
    // at the timeout is how its object gets released.
    let opts = ClientOptions {
        call_timeout: target.timeout.saturating_add(CLEANUP_DEADLINE),
        connect_timeout: target.timeout,
        ping_interval: Duration::ZERO,
        ..target.client.clone()
    };
    let connection = match Connection::open(&target.url, &opts, ids, requests).await {
        Ok((connection, _events)) => connection,
        Err(e) => {
            let _ = verdict.send(Err(KmsError::new("open connection", None, e).into()));
            return;
        }
    };
    let mut probe = Steps {
        connection: &connection,
        watcher: watcher.as_ref(),
        stop: &stop,
        session: None,
        pipeline: None,
    };
    let outcome = probe.run().await;
    let _ = verdict.send(outcome);
    probe.clean_up().await;
    connection.close();
}

/// The probe's calls on its connection, and what it holds.
struct Steps<'a> {
    connection: &'a Connection,
    watcher: &'a dyn ProbeWatcher,
    stop: &'a CancellationToken,
    session: Option<String>,
    /// Created and not released yet.
    pipeline: Option<String>,
}

impl Steps<'_> {
    async fn run(&mut self) -> Result<(), ProbeError> {
        let (_, session) = session_connect(self.connection).await?;
        self.watcher.session(&session);
        self.session = Some(session.clone());

        self.check_stop()?;
        self.watcher.creating(true);
        let created = self.create("MediaPipeline", json!({}), &session).await;
        self.watcher.creating(false);
        let pipeline = created?;
        self.watcher.created(&pipeline);
        self.pipeline = Some(pipeline.clone());

        self.check_stop()?;
        let name = json!({ "name": PROBE_OBJECT_NAME });
        self.invoke(&pipeline, "setName", Some(name), &session)
            .await?;
        self.check_stop()?;
        let endpoint = self
            .create(
                "WebRtcEndpoint",
                json!({ "mediaPipeline": pipeline }),
                &session,
            )
            .await?;
        self.check_stop()?;
        let name = json!({ "name": PROBE_OBJECT_NAME });
        self.invoke(&endpoint, "setName", Some(name), &session)
            .await?;
        self.check_stop()?;
        let offer = self
            .invoke(&endpoint, "generateOffer", None, &session)
            .await?;
        decode_string(&offer).map_err(|e| KmsError::new("generateOffer", Some(&endpoint), e))?;
        self.check_stop()?;
        self.release(&pipeline, &session, None).await?;
        self.pipeline = None;
        Ok(())
    }

    /// Releases what is still held and closes the session, each call within the cleanup
    /// deadline. Failures are only logged: the session is closed next, and KMS's GC drops
    /// whatever is left once the socket is gone.
    async fn clean_up(&mut self) {
        let Some(session) = self.session.clone() else {
            return;
        };
        if let Some(pipeline) = self.pipeline.take()
            && let Err(err) = self
                .release(&pipeline, &session, Some(CLEANUP_DEADLINE))
                .await
        {
            tracing::debug!(error = %err, "releasing the health probe's pipeline failed");
        }
        let params = json!({ "sessionId": session, "release": false });
        if let Err(err) = self
            .connection
            .call_with_timeout("closeSession", params, CLEANUP_DEADLINE)
            .await
        {
            tracing::debug!(error = %err, "closing the health probe's session failed");
        }
    }

    fn check_stop(&self) -> Result<(), ProbeError> {
        if self.stop.is_cancelled() {
            return Err(ProbeError::Timeout(Duration::ZERO));
        }
        Ok(())
    }

    async fn create(
        &self,
        kind: &str,
        constructor: Value,
        session: &str,
    ) -> Result<String, KmsError> {
        let what = format!("create {kind}");
        let wrap = |e| KmsError::new(&what, None, e);
        let params = json!({
            "type": kind,
            "constructorParams": constructor,
            "properties": {},
            "sessionId": session,
        });
        let result = self.connection.call("create", params).await.map_err(wrap)?;
        let value = invoke_value(result).map_err(wrap)?;
        decode_string(&value).map_err(wrap)
    }

    async fn invoke(
        &self,
        object: &str,
        operation: &str,
        params: Option<Value>,
        session: &str,
    ) -> Result<Value, KmsError> {
        let wrap = |e| KmsError::new(operation, Some(object), e);
        let params = protocol::invoke_params(object, operation, params, Some(session));
        let result = self.connection.call("invoke", params).await.map_err(wrap)?;
        invoke_value(result).map_err(wrap)
    }

    async fn release(
        &self,
        object: &str,
        session: &str,
        deadline: Option<Duration>,
    ) -> Result<(), KmsError> {
        let params = json!({ "object": object, "sessionId": session });
        let call = match deadline {
            Some(d) => {
                self.connection
                    .call_with_timeout("release", params, d)
                    .await
            }
            None => self.connection.call("release", params).await,
        };
        match call {
            Ok(_) => Ok(()),
            // Already gone: nothing is left behind.
            Err(ClientError::Rpc(e)) if e.is_object_not_found() => Ok(()),
            Err(e) => Err(KmsError::new("release", Some(object), e)),
        }
    }
}
