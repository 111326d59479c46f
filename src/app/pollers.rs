//! The set of running pollers, one supervised task per target, which a configuration reload
//! changes in place: removed targets are stopped and their series withdrawn at once, added ones
//! started, changed ones restarted (their counters carried over), unchanged ones left alone so
//! they keep their connections, state and counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::{MetricsConfig, ResolvedTarget, ZombieConfig};
use super::supervisor::{StartPoller, supervise};
use crate::analysis::detail::DetailPolicy;
use crate::analysis::zombie::ZombiePolicy;
use crate::kurento::{ClientOptions, KmsOptions, RequestCounter, RequestIds};
use crate::poll::schedule::Schedule;
use crate::poll::sdp::{SdpReader, SdpTarget};
use crate::poll::store::{Store, TargetSource};
use crate::poll::task::{self as poller, TargetSpec};

/// Everything in the configuration that shapes how one target is polled: a target whose
/// settings are equal before and after a reload is left running.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    target: ResolvedTarget,
    source: TargetSource,
    metrics: MetricsConfig,
    zombie: ZombieConfig,
}

/// The targets to watch and the settings they share: the configured targets, then the
/// discovered ones (see `reloader`).
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub targets: Vec<(ResolvedTarget, TargetSource)>,
    pub metrics: MetricsConfig,
    pub zombie: ZombieConfig,
}

struct Running {
    settings: Settings,
    /// A child of the exporter's shutdown token: stops this target alone.
    stop: CancellationToken,
    supervisor: JoinHandle<()>,
}

/// The pollers of the configured targets.
pub struct Pollers {
    store: Arc<Store>,
    ids: Arc<RequestIds>,
    /// Told how to reach each running target.
    sdp: Arc<SdpReader>,
    shutdown: CancellationToken,
    /// Shared by every schedule, so targets added later spread over the same slots.
    epoch: Instant,
    running: BTreeMap<String, Running>,
}

/// What a reload changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    pub unchanged: usize,
}

impl Pollers {
    /// Pollers over `store`; `sdp` (made with `ids`) learns the targets as they start and stop.
    pub fn new(
        store: Arc<Store>,
        ids: Arc<RequestIds>,
        sdp: Arc<SdpReader>,
        shutdown: CancellationToken,
    ) -> Pollers {
        Pollers {
            store,
            ids,
            sdp,
            shutdown,
            epoch: Instant::now(),
            running: BTreeMap::new(),
        }
    }

    /// Makes the running pollers those of `wanted` (names unique, settings validated).
    pub async fn apply(&mut self, wanted: &Wanted) -> Changes {
        let count = wanted.targets.len();
        let wanted: BTreeMap<String, (usize, Settings)> = wanted
            .targets
            .iter()
            .enumerate()
            .map(|(index, (target, source))| {
                let settings = Settings {
                    target: target.clone(),
                    source: *source,
                    metrics: wanted.metrics.clone(),
                    zombie: wanted.zombie.clone(),
                };
                (target.name.clone(), (index, settings))
            })
            .collect();
        let mut changes = Changes::default();
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            match wanted.get(&name) {
                None => {
                    self.stop(&name).await;
                    // After the poller has stopped, so it cannot publish the target back.
                    self.store.remove_target(&name);
                    changes.removed.push(name);
                }
                Some((_, settings)) if self.running[&name].settings != *settings => {
                    self.stop(&name).await;
                    changes.restarted.push(name);
                }
                Some(_) => changes.unchanged += 1,
            }
        }
        for (name, (index, settings)) in wanted {
            if self.running.contains_key(&name) {
                continue;
            }
            if !changes.restarted.contains(&name) {
                changes.added.push(name.clone());
            }
            let schedule = Schedule::spread(self.epoch, index, count, settings.target.interval);
            self.start(settings, schedule);
        }
        changes
    }

    fn start(&mut self, settings: Settings, schedule: Schedule) {
        let target = &settings.target;
        tracing::info!(kms = %target.name, url = %target.redacted_url(), origin = settings.source.label(), "watching KMS");
        // A restarted target keeps its snapshot (and counters) until its new poller publishes.
        self.store.add_target(&target.name, settings.source);
        let spec = target_spec(&settings, schedule);
        // One counter per target for the poller and its SDP reads alike.
        let requests = RequestCounter::new();
        self.sdp.set_target(
            &target.name,
            SdpTarget {
                url: spec.kms.url.clone(),
                client: spec.kms.client.clone(),
                interval: spec.schedule.interval(),
                requests: requests.clone(),
            },
        );
        let stop = self.shutdown.child_token();
        let (store, ids, poll_stop) = (self.store.clone(), self.ids.clone(), stop.clone());
        let start: StartPoller = Arc::new(move |carried| {
            Box::pin(poller::run(
                spec.clone(),
                carried,
                store.clone(),
                ids.clone(),
                requests.clone(),
                poll_stop.clone(),
            ))
        });
        let carried = self
            .store
            .snapshot(&target.name)
            .map(|s| s.exporter.clone())
            .unwrap_or_default();
        let supervisor = tokio::spawn(supervise(
            target.name.clone(),
            start,
            carried,
            self.store.clone(),
            stop.clone(),
        ));
        self.running.insert(
            target.name.clone(),
            Running {
                settings,
                stop,
                supervisor,
            },
        );
    }

    /// Stops one target's poller and waits for it (the supervisor aborts it at once).
    async fn stop(&mut self, name: &str) {
        if let Some(running) = self.running.remove(name) {
            self.sdp.remove_target(name);
            running.stop.cancel();
            let _ = running.supervisor.await;
        }
    }

    /// Stops every poller (the shutdown token is cancelled by the caller) and waits for them.
    pub async fn join(&mut self) {
        for (name, running) in std::mem::take(&mut self.running) {
            self.sdp.remove_target(&name);
            running.stop.cancel();
            let _ = running.supervisor.await;
        }
    }
}

/// How a configured target is polled.
fn target_spec(settings: &Settings, schedule: Schedule) -> TargetSpec {
    let target = &settings.target;
    TargetSpec {
        name: target.name.clone(),
        kms: KmsOptions {
            url: target.url.clone(),
            connections: target.connections as usize,
            client: ClientOptions {
                call_timeout: target.timeout,
                tls_ca_file: target.tls_ca_file.clone(),
                tls_insecure_skip_verify: target.tls_insecure_skip_verify,
                ..ClientOptions::default()
            },
        },
        schedule,
        reconcile_interval: target.reconcile_interval,
        cpu_sample: target.cpu_sample,
        detail: DetailPolicy {
            level: settings.metrics.detail,
            max_series: settings.metrics.max_series as usize,
            pipelines: settings.metrics.pipeline_filter(),
        },
        zombie: ZombiePolicy {
            idle_after: settings.zombie.idle_after,
            max_age: settings.zombie.max_age,
        },
        health_probe: target.health_probe.clone(),
    }
}
