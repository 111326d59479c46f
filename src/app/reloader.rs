//! Configuration reload, shared by SIGHUP (`exporter::run`) and `POST /-/reload` (the HTTP layer
//! reaches it through `MetricsSource::reload`, so `web` never imports `app`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::config::{Config, ConfigErrors, DiscoverySettings};
use super::discovered::DiscoveredTarget;
use super::pollers::{Changes, Pollers, Wanted};
use crate::poll::cycle::unix_now;
use crate::poll::store::{Store, TargetSource};
use crate::web::api::PlacementCapacities;

/// Loads the configuration again (the file, the environment and the flags), for a reload.
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, ConfigErrors> + Send + Sync>;

pub struct Reloader {
    /// Behind an async lock: reloads (SIGHUP, HTTP) and discovery updates run one at a time,
    /// while scrapes go on.
    state: Mutex<State>,
    store: Arc<Store>,
    /// `[capacity]`, which the placement answers read.
    capacities: Arc<PlacementCapacities>,
    /// The discovery settings, which the discovery watchers follow (`app::discovery`).
    discovery: tokio::sync::watch::Sender<DiscoverySettings>,
    /// `None` when the exporter was started from a configuration alone (tests, `demo`).
    load: Option<ConfigLoader>,
}

/// The pollers and what they were made from.
struct State {
    pollers: Pollers,
    config: Config,
    /// The targets each discovery source gave last.
    discovered: BTreeMap<TargetSource, Vec<DiscoveredTarget>>,
}

impl State {
    /// The configured targets, then the discovered ones by source; a discovered target whose
    /// name is already taken is left out (the configured one, or the first source, wins).
    fn wanted(&self) -> Wanted {
        let mut targets: Vec<_> = self
            .config
            .targets()
            .into_iter()
            .map(|t| (t, TargetSource::Config))
            .collect();
        let mut names: BTreeSet<String> = targets.iter().map(|(t, _)| t.name.clone()).collect();
        for (source, list) in &self.discovered {
            for found in list {
                if names.insert(found.name.clone()) {
                    let target = match source {
                        TargetSource::Probe => self.config.resolve_probe(&found.name, &found.url),
                        _ => self.config.resolve(&found.name, &found.url),
                    };
                    targets.push((target, *source));
                } else {
                    tracing::debug!(kms = %found.name, origin = source.label(), "discovered target ignored: the name is taken");
                }
            }
        }
        Wanted {
            targets,
            metrics: self.config.metrics.clone(),
            zombie: self.config.zombie.clone(),
        }
    }

    async fn apply(&mut self) -> Changes {
        let wanted = self.wanted();
        self.pollers.apply(&wanted).await
    }
}

impl Reloader {
    /// Starts polling the targets of `config` (already validated). A reload sets `capacities`
    /// and sends changed discovery settings on `discovery`.
    pub async fn start(
        pollers: Pollers,
        config: Config,
        store: Arc<Store>,
        capacities: Arc<PlacementCapacities>,
        discovery: tokio::sync::watch::Sender<DiscoverySettings>,
        load: Option<ConfigLoader>,
    ) -> Reloader {
        let mut state = State {
            pollers,
            config,
            discovered: BTreeMap::new(),
        };
        state.apply().await;
        Reloader {
            state: Mutex::new(state),
            store,
            capacities,
            discovery,
            load,
        }
    }

    /// Replaces the targets `source` gives (a file or DNS refresh): new ones start, gone ones
    /// stop and their series disappear at once, the others keep running.
    pub async fn discovered(
        &self,
        source: TargetSource,
        targets: Vec<DiscoveredTarget>,
    ) -> Changes {
        let mut state = self.state.lock().await;
        if state.discovered.get(&source) == Some(&targets) {
            return Changes::default();
        }
        state.discovered.insert(source, targets);
        let changes = state.apply().await;
        if changes != Changes::default() {
            tracing::info!(
                origin = source.label(),
                added = ?changes.added,
                removed = ?changes.removed,
                restarted = ?changes.restarted,
                "discovered targets changed"
            );
        }
        changes
    }

    /// Whether there is a configuration to load again.
    pub fn can_load(&self) -> bool {
        self.load.is_some()
    }

    /// Applies `config` if it validates (see `Exporter::reload`), recording the outcome for the
    /// reload gauges.
    pub async fn apply(&self, config: &Config) -> Result<Changes, ConfigErrors> {
        if let Err(errors) = config.validate() {
            self.store.reloaded(false, unix_now());
            return Err(errors);
        }
        let mut state = self.state.lock().await;
        state.config = config.clone();
        let changes = state.apply().await;
        self.capacities.set(config.capacity.capacities());
        let settings = DiscoverySettings::of(config);
        self.discovery.send_if_modified(|current| {
            let changed = *current != settings;
            *current = settings;
            changed
        });
        self.store.reloaded(true, unix_now());
        Ok(changes)
    }

    /// Loads the configuration again and applies it, logging the outcome; a bad one leaves the
    /// running one in force. The error is the text of every problem.
    pub async fn reload(&self) -> Result<(), String> {
        let loaded = match &self.load {
            Some(load) => load(),
            None => return Err("no configuration to reload".to_owned()),
        };
        let applied = match loaded {
            Ok(config) => self.apply(&config).await,
            Err(errors) => {
                self.store.reloaded(false, unix_now());
                Err(errors)
            }
        };
        match applied {
            Ok(changes) => {
                tracing::info!(
                    added = ?changes.added,
                    removed = ?changes.removed,
                    restarted = ?changes.restarted,
                    unchanged = changes.unchanged,
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(errors) => {
                tracing::error!(error = %errors, "configuration reload failed; the running configuration stays in force");
                Err(errors.to_string())
            }
        }
    }

    /// Stops every poller and waits for them.
    pub async fn join(&self) {
        self.state.lock().await.pollers.join().await;
    }
}
