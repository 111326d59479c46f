//! What the exporter logs when KMS falls silent and comes back: each change of `up` once. In a
//! test binary of its own: the lines are captured by a thread-local subscriber, and tracing
//! caches each call site's interest process-wide, so the same line logged by other tests on other
//! threads without a subscriber made the capture miss it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::log_capture::CapturedLog;
use common::silence::*;

/// Timeouts and lost connections were not logged at the default level, while every reconnect
/// attempt and every bad frame was: the log said nothing when KMS hung and flooded when it
/// misbehaved. Now each change of `up` is logged once: down at warn with the reason, up at info.
#[tokio::test]
async fn each_change_of_up_is_logged_once() {
    let (log, _guard) = CapturedLog::install(tracing::Level::INFO);
    let (stack, proxy, config) = proxied_stack(|_| {}).await;
    let limit = 10 * config.poll.interval;
    let mut publications = Publications::new(&stack);
    publications.until("fresh cycle", limit, Look::fresh).await;
    // Silent: two timed-out cycles, the connection given up, a reconnection held by the stall.
    silence_after_a_fresh_cycle(&stack, &proxy, limit).await;
    let mut publications = Publications::new(&stack);
    proxy.resume();
    publications.until("recovery", limit, Look::fresh).await;
    stack.shutdown().await;

    let down = log.matching("KMS down");
    assert_eq!(down.len(), 1, "{:#?}", log.lines());
    assert!(
        down[0].contains("WARN") && down[0].contains("reason=\"timeout\""),
        "{}",
        down[0]
    );
    let up = log.matching("KMS up");
    assert_eq!(up.len(), 2, "{:#?}", log.lines());
    assert!(up.iter().all(|l| l.contains("INFO")), "{up:#?}");
    let warnings: Vec<String> = log
        .matching("WARN")
        .into_iter()
        .filter(|l| l.contains("kurento_exporter::poll") || l.contains("kurento_exporter::kurento"))
        .collect();
    assert_eq!(warnings, down, "only the change is a warning");
}
