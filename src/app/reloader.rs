//! Configuration reload, shared by SIGHUP (`exporter::run`) and `POST /-/reload` (the HTTP layer
//! reaches it through `MetricsSource::reload`, so `web` never imports `app`).

use std::sync::Arc;

use tokio::sync::Mutex;

use super::config::{Config, ConfigErrors};
use super::pollers::{Changes, Pollers};
use crate::poll::cycle::unix_now;
use crate::poll::store::Store;

/// Loads the configuration again (the file, the environment and the flags), for a reload.
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, ConfigErrors> + Send + Sync>;

pub struct Reloader {
    /// Behind an async lock: reloads (SIGHUP, HTTP) run one at a time, while scrapes go on.
    pollers: Mutex<Pollers>,
    store: Arc<Store>,
    /// `None` when the exporter was started from a configuration alone (tests, `demo`).
    load: Option<ConfigLoader>,
}

impl Reloader {
    pub fn new(pollers: Pollers, store: Arc<Store>, load: Option<ConfigLoader>) -> Reloader {
        Reloader {
            pollers: Mutex::new(pollers),
            store,
            load,
        }
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
        let changes = self.pollers.lock().await.apply(config).await;
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
        self.pollers.lock().await.join().await;
    }
}
