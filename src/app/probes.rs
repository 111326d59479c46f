//! The targets watched because Prometheus asked for them (`/probe?target=…`, the blackbox and
//! snmp exporters' multi-target pattern): the first probe of a target starts a poller for it,
//! like a configured target's; a target not probed for `probe.idle_expiry` is stopped and
//! forgotten (its counters and zombie clocks with it). Guarded by `probe.allowed_targets` and
//! `probe.max_targets`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::{Config, check_target_name};
use super::discovered::DiscoveredTarget;
use super::file_sd::{host_port, target_url};
use super::probe_allow::AllowList;
use super::reloader::Reloader;
use crate::metrics::ProbeRefusal;
use crate::poll::store::{Store, TargetSource};

/// One probed target.
#[derive(Debug, Clone)]
struct Probed {
    url: String,
    last_probe: Instant,
}

pub struct Probes {
    reloader: Arc<Reloader>,
    store: Arc<Store>,
    allow: AllowList,
    max_targets: usize,
    idle_expiry: Duration,
    probed: Mutex<BTreeMap<String, Probed>>,
}

fn refuse(status: u16, message: impl Into<String>) -> ProbeRefusal {
    ProbeRefusal {
        status,
        message: message.into(),
    }
}

impl Probes {
    /// `None` when `/probe` is off (`probe.max_targets = 0`). `config` is validated.
    pub fn new(config: &Config, reloader: Arc<Reloader>, store: Arc<Store>) -> Option<Probes> {
        if config.probe.max_targets == 0 {
            return None;
        }
        // Validated with the configuration; an empty list (nothing allowed) otherwise.
        let allow = AllowList::new(&config.probe.allowed_targets)
            .or_else(|_| AllowList::new(&[]))
            .ok()?;
        Some(Probes {
            reloader,
            store,
            allow,
            max_targets: config.probe.max_targets as usize,
            idle_expiry: config.probe_idle_expiry(),
            probed: Mutex::new(BTreeMap::new()),
        })
    }

    /// Starts watching `target` (a `ws://`/`wss://` URL or `host:port`) as `name` (else its
    /// `host:port`) unless it is already watched, and waits up to `wait` for its first cycle.
    /// Resolves to the `kms` name to render.
    pub async fn probe(
        &self,
        target: &str,
        name: Option<&str>,
        wait: Duration,
    ) -> Result<String, ProbeRefusal> {
        let url = target_url(target).map_err(|m| refuse(400, format!("bad target: {m}")))?;
        let host = host_port(&url)
            .and_then(|hp| hp.rsplit_once(':').map(|(h, _)| h.to_owned()))
            .ok_or_else(|| refuse(400, "bad target: no host"))?;
        if !self.allow.allows(&host) {
            return Err(refuse(
                403,
                format!("target host {host:?} is not in probe.allowed_targets"),
            ));
        }
        let name = match name {
            Some(name) => name.to_owned(),
            None => host_port(&url).unwrap_or_default(),
        };
        check_target_name(&name).map_err(|m| refuse(400, format!("bad name: {m}")))?;
        self.watch(&name, &url).await?;
        self.wait_for_first_cycle(&name, wait).await;
        Ok(name)
    }

    /// Records the probe, starting a poller for a new target.
    async fn watch(&self, name: &str, url: &str) -> Result<(), ProbeRefusal> {
        let mut probed = self.probed.lock().await;
        let now = Instant::now();
        match probed.get_mut(name) {
            Some(known) if known.url == url => {
                known.last_probe = now;
                return Ok(());
            }
            Some(_) => {
                return Err(refuse(
                    409,
                    format!("name {name:?} is already probed with another target"),
                ));
            }
            None => {}
        }
        if self.store.snapshot(name).is_some() {
            // A configured or discovered target of that name: serve it, start nothing.
            return Ok(());
        }
        if probed.len() >= self.max_targets {
            return Err(refuse(
                503,
                format!(
                    "probe.max_targets ({}) targets are already probed",
                    self.max_targets
                ),
            ));
        }
        probed.insert(
            name.to_owned(),
            Probed {
                url: url.to_owned(),
                last_probe: now,
            },
        );
        self.reloader
            .discovered(TargetSource::Probe, list(&probed))
            .await;
        Ok(())
    }

    /// Waits until `name` has finished a cycle, at most `wait` (the answer is `kurento_up 0`
    /// with the reason if KMS cannot be reached in that time).
    async fn wait_for_first_cycle(&self, name: &str, wait: Duration) {
        let mut published = self.store.subscribe();
        let finished = || {
            self.store
                .snapshot(name)
                .is_none_or(|s| s.exporter.cycles_finished > 0)
        };
        let _ = tokio::time::timeout(wait, async {
            while !finished() {
                if published.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// Forgets the targets not probed for `idle_expiry`; returns how many.
    async fn expire(&self) -> usize {
        let mut probed = self.probed.lock().await;
        let before = probed.len();
        let expiry = self.idle_expiry;
        probed.retain(|name, p| {
            let keep = p.last_probe.elapsed() < expiry;
            if !keep {
                tracing::info!(kms = %name, "probed target expired: not probed for probe.idle_expiry");
            }
            keep
        });
        let expired = before - probed.len();
        if expired > 0 {
            self.reloader
                .discovered(TargetSource::Probe, list(&probed))
                .await;
        }
        expired
    }

    /// Expires idle targets until `shutdown`, checking a few times per `idle_expiry`.
    pub async fn run_expiry(self: Arc<Self>, shutdown: CancellationToken) {
        let period = (self.idle_expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            self.expire().await;
        }
    }
}

fn list(probed: &BTreeMap<String, Probed>) -> Vec<DiscoveredTarget> {
    probed
        .iter()
        .map(|(name, p)| DiscoveredTarget {
            name: name.clone(),
            url: p.url.clone(),
        })
        .collect()
}
