//! Stale data and liveness: the exporter against the simulator behind the fault proxy
//! (`common::fault_proxy`), which stalls, drops and floods connections on command.
//!
//! Real time, short durations (`test_config`: 1 s interval, 900 ms timeout). The tests wait for
//! the store's publications and the proxy's connections instead of polling. What was broken is
//! asserted by structure (the first cycle after KMS fell silent already publishes `up 0` with
//! every KMS-derived series withdrawn); the durations are measured and bounded with a slack for
//! a loaded machine. `measure_silence_with_default_timing` (ignored) measures the same with the
//! default 15 s / 10 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fault_proxy::FaultProxy;
use common::log_capture::CapturedLog;
use common::*;
use kurento_exporter::app::config::Config;
use kurento_exporter::sim::Scenario;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Scheduling delays of a loaded test machine, on top of the bounds the exporter guarantees.
const SLACK: Duration = Duration::from_secs(1);
/// The longest first reconnect delay (`kurento::reconnect`: 250 ms, with jitter below it).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The demo world without churn: objects, media and zombies to withdraw, nothing changing.
fn steady_demo() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.churn = None;
    scenario
}

/// The simulator behind a fault proxy, watched by an exporter configured by `configure`.
async fn proxied_stack(configure: impl FnOnce(&mut Config)) -> (Stack, FaultProxy, Config) {
    let sim = start_sim(steady_demo()).await;
    let proxy = FaultProxy::start(&sim.url()).await;
    let mut config = test_config(&[(KMS, proxy.url())]);
    configure(&mut config);
    (Stack::watch(sim, config.clone()).await, proxy, config)
}

/// What these tests look at in the target's latest snapshot.
#[derive(Debug, Clone)]
struct Look {
    up: bool,
    server: bool,
    objects: bool,
    media: bool,
    zombies: bool,
    /// `poll_errors_total` by reason label.
    errors: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
}

impl Look {
    /// Everything read from KMS is there.
    fn fresh(&self) -> bool {
        self.up && self.server && self.objects && self.media && self.zombies
    }

    /// Down, and nothing read from KMS is there.
    fn withdrawn(&self) -> bool {
        !(self.up || self.server || self.objects || self.media || self.zombies)
    }

    fn errors(&self, reason: &str) -> u64 {
        self.errors.get(reason).copied().unwrap_or(0)
    }
}

fn look(stack: &Stack) -> Look {
    let s = stack.exporter.store().snapshot(KMS).unwrap();
    Look {
        up: s.up,
        server: s.server.is_some(),
        objects: s.objects.is_some(),
        media: s.media.is_some(),
        zombies: s.zombies.is_some(),
        errors: s
            .exporter
            .poll_errors
            .iter()
            .map(|(reason, n)| (reason.label(), *n))
            .collect(),
        last_error: s.exporter.last_error.clone(),
    }
}

/// The exporter's publications, awaited one by one.
struct Publications<'a> {
    stack: &'a Stack,
    published: watch::Receiver<u64>,
}

impl<'a> Publications<'a> {
    fn new(stack: &'a Stack) -> Self {
        let mut published = stack.exporter.store().subscribe();
        published.mark_unchanged();
        Publications { stack, published }
    }

    /// The next publication (whatever it says) and when it came; fails after `limit`.
    async fn next(&mut self, limit: Duration) -> (Look, Instant) {
        tokio::time::timeout(limit, self.published.changed())
            .await
            .unwrap_or_else(|_| {
                panic!("nothing published within {limit:?}: {:?}", look(self.stack))
            })
            .unwrap();
        (look(self.stack), Instant::now())
    }

    /// Publications until one satisfies `ok`; fails after `limit` in all.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&Look) -> bool,
    ) -> (Look, Instant) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (seen, at) = tokio::time::timeout(left, self.next(limit))
                .await
                .unwrap_or_else(|_| panic!("no {what} within {limit:?}: {:?}", look(self.stack)));
            if ok(&seen) {
                return (seen, at);
            }
        }
    }
}

/// Stalls KMS just after a fresh publication (the worst moment: the next cycle is as far away
/// as it gets) and measures: until `up 0` with every KMS-derived series gone (the first
/// publication after the silence), then until the exporter gives the connection up and tries a
/// new one. Returns (up 0, connection given up).
async fn silence_after_a_fresh_cycle(
    stack: &Stack,
    proxy: &FaultProxy,
    limit: Duration,
) -> (Duration, Duration) {
    let mut publications = Publications::new(stack);
    publications.until("fresh cycle", limit, Look::fresh).await;
    proxy.stall();
    let silent = Instant::now();
    let (first, at) = publications.next(limit).await;
    assert!(
        first.withdrawn(),
        "the first cycle after KMS fell silent must publish up 0 without KMS data: {first:?}"
    );
    assert!(first.errors("timeout") >= 1, "{first:?}");
    let down = at - silent;
    let accepted = proxy.accepted();
    tokio::time::timeout(limit, proxy.wait_accepted(accepted + 1))
        .await
        .unwrap_or_else(|_| panic!("no reconnection within {limit:?}: {:?}", look(stack)));
    (down, silent.elapsed())
}

/// A KMS whose sockets stay open but which answers nothing (a hung process, a half-open
/// connection) kept `kurento_up 1` for 33 s and its object series for 53 s with the default
/// timing: the timed-out cycle still published the objects, and the connection was only given up
/// when a keepalive ping went unanswered. Now the first cycle after the silence publishes `up 0`
/// with everything withdrawn, within one interval plus one timeout, and the second gives the
/// connection up.
#[tokio::test]
async fn a_silent_kms_is_down_within_one_interval_and_one_timeout() {
    let (stack, proxy, config) = proxied_stack(|_| {}).await;
    let (interval, timeout) = (config.poll.interval, config.poll.timeout);
    let (down, given_up) = silence_after_a_fresh_cycle(&stack, &proxy, 10 * interval).await;
    println!("KMS silent: up 0 and series gone after {down:?}, reconnecting after {given_up:?}");
    assert!(down <= interval + timeout + SLACK, "up 0 after {down:?}");
    assert!(
        given_up <= 2 * interval + timeout + FIRST_BACKOFF + SLACK,
        "reconnecting after {given_up:?}"
    );

    // KMS is back: the exporter reconnects and everything is there again.
    let mut publications = Publications::new(&stack);
    proxy.resume();
    publications
        .until("recovery", 10 * interval, Look::fresh)
        .await;
    stack.shutdown().await;
}

/// The same with the default timing (15 s interval, 10 s timeout); about a minute of real time.
/// Before the fix: `up 0` after 33 s, series for 53 s.
#[tokio::test]
#[ignore = "a measurement with the default timing; takes about a minute"]
async fn measure_silence_with_default_timing() {
    let (stack, proxy, config) = proxied_stack(|config| {
        let defaults = Config::default();
        config.poll.interval = defaults.poll.interval;
        config.poll.timeout = defaults.poll.timeout;
        config.poll.cpu_sample = defaults.poll.cpu_sample;
    })
    .await;
    let (interval, timeout) = (config.poll.interval, config.poll.timeout);
    let (down, given_up) = silence_after_a_fresh_cycle(&stack, &proxy, 10 * interval).await;
    println!(
        "default timing ({interval:?} interval, {timeout:?} timeout), KMS silent: up 0 and \
         series gone after {down:?}, reconnecting after {given_up:?}"
    );
    assert!(down <= interval + timeout + SLACK, "up 0 after {down:?}");
    stack.shutdown().await;
}

/// Dropped sockets take the target down at once, and it comes back by itself.
#[tokio::test]
async fn dropped_connections_withdraw_the_series_and_the_exporter_reconnects() {
    let (stack, proxy, config) = proxied_stack(|_| {}).await;
    let mut publications = Publications::new(&stack);
    publications
        .until("fresh cycle", 10 * config.poll.interval, Look::fresh)
        .await;
    let accepted = proxy.accepted();
    proxy.drop_connections();
    let (down, _) = publications
        .until(
            "withdrawn series",
            10 * config.poll.interval,
            Look::withdrawn,
        )
        .await;
    assert!(down.errors("disconnected") >= 1, "{down:?}");
    proxy.wait_accepted(accepted + 1).await;
    publications
        .until("recovery", 10 * config.poll.interval, Look::fresh)
        .await;
    stack.shutdown().await;
}

/// A KMS (or something in between) that floods the exporter with garbage: a connection that
/// sends more than 100 undecodable frames is dropped, counted as `decode`, and reconnected.
#[tokio::test]
async fn a_connection_flooded_with_garbage_is_dropped_as_decode() {
    let (stack, proxy, config) = proxied_stack(|_| {}).await;
    let mut publications = Publications::new(&stack);
    publications
        .until("fresh cycle", 10 * config.poll.interval, Look::fresh)
        .await;
    for _ in 0..101 {
        proxy.inject(Message::text("\u{1}garbage"));
    }
    let (down, _) = publications
        .until("a decode error", 10 * config.poll.interval, |s| {
            s.errors("decode") >= 1
        })
        .await;
    assert!(down.withdrawn(), "{down:?}");
    assert!(
        down.last_error
            .as_deref()
            .is_some_and(|e| e.contains("more than 100 undecodable frames")),
        "{:?}",
        down.last_error
    );
    publications
        .until("recovery", 10 * config.poll.interval, Look::fresh)
        .await;
    stack.shutdown().await;
}

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
