//! Supervision of the poller tasks: a poller that panics or returns before shutdown must not
//! leave its target frozen at its last snapshot (a stale `kurento_up 1` forever). Its target is
//! published as down with poll error reason `internal` (KMS data withdrawn, the exporter's own
//! counters kept), the failure is logged at error level, and the poller is started again after a
//! backoff, its counters going on from where the failed one left them.
//!
//! The poller is started through a function the caller supplies ([`StartPoller`]), so tests can
//! supervise a poller that fails on purpose without a test hook in the production poller.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::analysis::snapshot::{ExporterStats, PollErrorReason, TargetSnapshot};
use crate::kurento::{Backoff, wait_before_retry};
use crate::poll::cycle::unix_now;
use crate::poll::store::Store;
use crate::poll::task::seed_for;

/// A poller run: polls one target until the shutdown token it was built with is cancelled.
pub type PollerFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Starts a poller whose counters go on from the given stats (those of the failed poller).
pub type StartPoller = Arc<dyn Fn(ExporterStats) -> PollerFuture + Send + Sync>;

/// First delay before a failed poller is started again; doubles up to [`RESTART_MAX_DELAY`].
const RESTART_FIRST_DELAY: Duration = Duration::from_secs(1);
const RESTART_MAX_DELAY: Duration = Duration::from_secs(60);
/// A poller that ran this long before failing is restarted after the first delay again: the
/// failure is a new one, not the same one repeating.
const HEALTHY_RUN: Duration = Duration::from_secs(300);

/// Runs the poller of target `name` until `shutdown`, restarting it whenever it fails. On
/// shutdown the running poller is aborted at once instead of waiting for it to notice: a poller
/// waiting on a stalled KMS could otherwise hold shutdown for a whole call timeout or more.
///
/// The first poller's counters go on from `carried` (those of an earlier poller of this target,
/// when a reload restarts it).
pub async fn supervise(
    name: String,
    start: StartPoller,
    mut carried: ExporterStats,
    store: Arc<Store>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(RESTART_FIRST_DELAY, RESTART_MAX_DELAY, seed_for(&name));
    loop {
        let started = Instant::now();
        let mut poller = tokio::spawn(start(carried));
        let ended = tokio::select! {
            () = shutdown.cancelled() => {
                poller.abort();
                // Returns as soon as the aborted future is dropped.
                let _ = poller.await;
                return;
            }
            ended = &mut poller => ended,
        };
        if shutdown.is_cancelled() {
            return;
        }
        let detail = match ended {
            Ok(()) => "the poller stopped before shutdown".to_owned(),
            Err(err) => match err.try_into_panic() {
                Ok(payload) => format!("the poller panicked: {}", panic_message(&*payload)),
                Err(err) => format!("the poller was cancelled: {err}"),
            },
        };
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        tracing::error!(kms = %name, error = %detail, "poller failed; restarting it");
        let previous = store
            .snapshot(&name)
            .unwrap_or_else(|| Arc::new(TargetSnapshot::initial(&name)));
        let failed = previous.failed(PollErrorReason::Internal, detail, unix_now());
        carried = failed.exporter.clone();
        store.publish(failed);
        if !wait_before_retry(&mut backoff, &shutdown).await {
            return;
        }
    }
}

/// The text of a panic (`panic!` with a literal or a format string), or a placeholder.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    /// A poller that fails on its first start (by `fail`) and, on later starts, reports the
    /// stats it was given and then polls until shutdown without ever returning.
    fn flaky(fail: fn() -> PollerFuture) -> (StartPoller, mpsc::UnboundedReceiver<ExporterStats>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let starts = AtomicUsize::new(0);
        let start: StartPoller = Arc::new(move |carried| {
            if starts.fetch_add(1, Ordering::SeqCst) == 0 {
                return fail();
            }
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send(carried);
                std::future::pending::<()>().await;
            })
        });
        (start, rx)
    }

    fn store() -> Arc<Store> {
        Arc::new(Store::new(["kms"], Duration::from_secs(3600)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_poller_is_reported_internal_and_restarted() {
        let store = store();
        let mut up = TargetSnapshot::initial("kms");
        up.up = true;
        up.exporter.kms_requests_total = 5;
        up.objects = Some(Default::default());
        store.publish(up);
        let (start, mut restarted) = flaky(|| Box::pin(async { panic!("injected failure") }));
        let shutdown = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(
            "kms".into(),
            start,
            ExporterStats::default(),
            store.clone(),
            shutdown.clone(),
        ));

        let carried = restarted.recv().await.unwrap();
        assert_eq!(carried.poll_errors[&PollErrorReason::Internal], 1);
        assert_eq!(carried.kms_requests_total, 5);
        let snapshot = store.snapshot("kms").unwrap();
        assert!(!snapshot.up);
        assert_eq!(snapshot.objects, None);
        assert_eq!(snapshot.exporter.poll_errors[&PollErrorReason::Internal], 1);
        assert_eq!(
            snapshot.exporter.last_error.as_deref(),
            Some("the poller panicked: injected failure")
        );

        // The restarted poller never returns by itself: shutdown aborts it.
        shutdown.cancel();
        supervisor.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_poller_that_returns_before_shutdown_is_restarted() {
        let store = store();
        let (start, mut restarted) = flaky(|| Box::pin(async {}));
        let shutdown = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(
            "kms".into(),
            start,
            ExporterStats::default(),
            store.clone(),
            shutdown.clone(),
        ));
        let carried = restarted.recv().await.unwrap();
        assert_eq!(carried.poll_errors[&PollErrorReason::Internal], 1);
        assert_eq!(
            carried.last_error.as_deref(),
            Some("the poller stopped before shutdown")
        );
        shutdown.cancel();
        supervisor.await.unwrap();
    }

    #[test]
    fn panic_messages_of_literals_and_format_strings() {
        let literal: Box<dyn Any + Send> = Box::new("a literal");
        let formatted: Box<dyn Any + Send> = Box::new(format!("n = {}", 1));
        let other: Box<dyn Any + Send> = Box::new(1_u8);
        assert_eq!(panic_message(&*literal), "a literal");
        assert_eq!(panic_message(&*formatted), "n = 1");
        assert_eq!(panic_message(&*other), "(a panic without a message)");
    }
}
