//! The exporter against the simulator behind the fault proxy, and what the liveness tests look
//! at in its publications (shared by `tests/liveness.rs` and `tests/liveness_logs.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use kurento_exporter::app::config::Config;
use kurento_exporter::sim::Scenario;
use tokio::sync::watch;
use tokio::time::Instant;

use super::fault_proxy::FaultProxy;
use super::*;

/// Scheduling delays of a loaded test machine, on top of the bounds the exporter guarantees.
pub const SLACK: Duration = Duration::from_secs(1);
/// The longest first reconnect delay (`kurento::reconnect`: 250 ms, with jitter below it).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The demo world without churn: objects, media and zombies to withdraw, nothing changing.
pub fn steady_demo() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.churn = None;
    scenario
}

/// The simulator behind a fault proxy, watched by an exporter configured by `configure`.
pub async fn proxied_stack(configure: impl FnOnce(&mut Config)) -> (Stack, FaultProxy, Config) {
    let sim = start_sim(steady_demo()).await;
    let proxy = FaultProxy::start(&sim.url()).await;
    let mut config = test_config(&[(KMS, proxy.url())]);
    configure(&mut config);
    (Stack::watch(sim, config.clone()).await, proxy, config)
}

/// What these tests look at in the target's latest snapshot.
#[derive(Debug, Clone)]
pub struct Look {
    pub up: bool,
    pub server: bool,
    pub objects: bool,
    pub media: bool,
    pub zombies: bool,
    /// `poll_errors_total` by reason label.
    pub errors: BTreeMap<&'static str, u64>,
    pub last_error: Option<String>,
}

impl Look {
    /// Everything read from KMS is there.
    pub fn fresh(&self) -> bool {
        self.up && self.server && self.objects && self.media && self.zombies
    }

    /// Down, and nothing read from KMS is there.
    pub fn withdrawn(&self) -> bool {
        !(self.up || self.server || self.objects || self.media || self.zombies)
    }

    pub fn errors(&self, reason: &str) -> u64 {
        self.errors.get(reason).copied().unwrap_or(0)
    }
}

pub fn look(stack: &Stack) -> Look {
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
pub struct Publications<'a> {
    pub stack: &'a Stack,
    pub published: watch::Receiver<u64>,
}

impl<'a> Publications<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        let mut published = stack.exporter.store().subscribe();
        published.mark_unchanged();
        Publications { stack, published }
    }

    /// The next publication (whatever it says) and when it came; fails after `limit`.
    pub async fn next(&mut self, limit: Duration) -> (Look, Instant) {
        tokio::time::timeout(limit, self.published.changed())
            .await
            .unwrap_or_else(|_| {
                panic!("nothing published within {limit:?}: {:?}", look(self.stack))
            })
            .unwrap();
        (look(self.stack), Instant::now())
    }

    /// Publications until one satisfies `ok`; fails after `limit` in all.
    pub async fn until(
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
pub async fn silence_after_a_fresh_cycle(
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
