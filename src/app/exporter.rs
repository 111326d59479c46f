//! The running exporter: one poller per target and the HTTP server over one store; and the
//! `run`, `simulate` and `demo` commands built from it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::build;
use super::config::{self, Config, DiscoverySettings};
use super::discovery;
use super::dns_watch;
use super::pollers::{Changes, Pollers};
use super::probes::Probes;
use super::reloader::{ConfigLoader, Reloader};
use super::signals::{Received, Signals};
use super::web_config;
use crate::kurento::RequestIds;
use crate::metrics::{self, BuildInfo, Exposition, MetricsSource, ProbeRefusal};
use crate::poll::sdp::{SdpOutcome, SdpReader};
use crate::poll::store::Store;
use crate::sim;
use crate::web::api::PlacementCapacities;
use crate::web::{api, fd_limit, listen, server as http};
use futures_util::future::BoxFuture;

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] config::ConfigErrors),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("DNS discovery: {0}")]
    Dns(String),
}

/// What the HTTP layer serves: the exposition and the JSON API over one store.
struct Service {
    exposition: Exposition,
    api: api::Api,
    /// Set when `POST /-/reload` is enabled.
    lifecycle: Option<Arc<Reloader>>,
    /// Set when `web.inspection.sdp` is.
    sdp: Option<Arc<SdpReader>>,
    /// Set unless `probe.max_targets = 0`.
    probes: Option<Arc<Probes>>,
}

impl MetricsSource for Service {
    fn render(&self, format: metrics::ExpositionFormat) -> bytes::Bytes {
        self.exposition.render(format)
    }

    fn ready(&self) -> bool {
        self.exposition.ready()
    }

    fn api(&self, path: &str) -> Option<String> {
        self.api.get(path).map(|v| v.to_string())
    }

    fn graph_svg(&self, path: &str) -> Option<String> {
        self.api.graph_svg(path)
    }

    fn reload(&self) -> Option<BoxFuture<'static, Result<(), String>>> {
        let reloader = self.lifecycle.clone()?;
        Some(Box::pin(async move { reloader.reload().await }))
    }

    fn probe(
        &self,
        target: &str,
        name: Option<&str>,
        wait: Duration,
    ) -> Option<BoxFuture<'static, Result<String, ProbeRefusal>>> {
        let probes = self.probes.clone()?;
        let (target, name) = (target.to_owned(), name.map(str::to_owned));
        Some(Box::pin(async move {
            probes.probe(&target, name.as_deref(), wait).await
        }))
    }

    fn render_target(&self, kms: &str, format: metrics::ExpositionFormat) -> Option<bytes::Bytes> {
        self.exposition.render_target(kms, format)
    }

    fn sdp(&self, kms: &str, element: &str) -> Option<BoxFuture<'static, SdpOutcome>> {
        let reader = self.sdp.clone()?;
        let (kms, element) = (kms.to_owned(), element.to_owned());
        Some(Box::pin(async move { reader.read(&kms, &element).await }))
    }
}

/// A running exporter: one poller per target and the HTTP server.
pub struct Exporter {
    addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    store: Arc<Store>,
    shutdown: CancellationToken,
    /// The HTTP server.
    tasks: JoinSet<()>,
    /// The pollers, changed by reloads.
    reloader: Arc<Reloader>,
}

impl Exporter {
    /// Validates the config, binds the listen address (port 0 works: see `local_addr`), and
    /// starts polling every target.
    pub async fn start(config: Config) -> Result<Exporter, StartError> {
        Exporter::start_with_loader(config, None).await
    }

    /// [`Exporter::start`], with `load` to read the configuration again on a reload (SIGHUP, and
    /// `POST /-/reload` when `web.enable_lifecycle` is set).
    pub async fn start_with_loader(
        config: Config,
        load: Option<ConfigLoader>,
    ) -> Result<Exporter, StartError> {
        config.validate()?;
        let web = web_config::http_setup(&config)?;
        let discovery_settings = DiscoverySettings::of(&config);
        // Built before anything starts, so that a system without a DNS configuration fails fast.
        let dns_resolver = if config.dns_sd.is_empty() {
            None
        } else {
            let nameservers = &discovery_settings.dns_sd_nameservers;
            Some(dns_watch::resolver(nameservers).map_err(StartError::Dns)?)
        };
        fd_limit::raise_nofile_limit_logged();
        let listeners = listen::open(&web.listen).await?;
        let addrs = listeners
            .iter()
            .map(http::local_addr)
            .collect::<Result<Vec<_>, _>>()?;
        let addr = *addrs.first().ok_or(http::HttpError::NoListener)?;
        let targets = config.targets();
        let store = Arc::new(Store::new(
            targets.iter().map(|t| t.name.as_str()),
            config.poll.ready_timeout,
        ));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let ids = Arc::new(RequestIds::new());
        let sdp = Arc::new(SdpReader::new(store.clone(), ids.clone()));
        let pollers = Pollers::new(store.clone(), ids, sdp.clone(), shutdown.clone());
        let capacities = Arc::new(PlacementCapacities::new(config.capacity.capacities()));
        let (discovery_tx, discovery_rx) = watch::channel(discovery_settings);
        let reloader = Arc::new(
            Reloader::start(
                pollers,
                config.clone(),
                store.clone(),
                capacities.clone(),
                discovery_tx,
                load,
            )
            .await,
        );
        let probes = Probes::new(&config, reloader.clone(), store.clone()).map(Arc::new);
        if let Some(probes) = &probes {
            tasks.spawn(probes.clone().run_expiry(shutdown.clone()));
        }
        tasks.spawn(discovery::run_files(
            discovery_rx.clone(),
            reloader.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(discovery::run_dns(
            discovery_rx,
            dns_resolver,
            reloader.clone(),
            shutdown.clone(),
        ));
        let exposition: Arc<dyn MetricsSource> = Arc::new(Service {
            lifecycle: (config.web.enable_lifecycle && reloader.can_load())
                .then(|| reloader.clone()),
            sdp: config.web.inspection.sdp.then_some(sdp),
            probes,
            api: api::Api::new(store.clone(), config.poll.interval, capacities),
            exposition: Exposition::new(
                store.clone(),
                BuildInfo {
                    version: build::VERSION.to_owned(),
                    revision: build::revision().to_owned(),
                },
            ),
        });
        let tls = web.security.tls.is_some();
        let options = http::HttpOptions {
            telemetry_path: config.web.telemetry_path.clone(),
            targets: targets.iter().map(|t| t.name.clone()).collect(),
            max_connections: web.max_connections,
            header_read_timeout: web.header_read_timeout,
            shutdown_grace: SCRAPE_GRACE,
            security: web.security,
            ..http::HttpOptions::default()
        };
        let http_shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(err) = http::serve_all(listeners, exposition, options, http_shutdown).await {
                tracing::error!(error = %err, "HTTP server failed");
            }
        });
        // One line per address, each with `address` (what `bench` and operators read).
        for address in &addrs {
            tracing::info!(%address, tls, "listening");
        }
        Ok(Exporter {
            addr,
            addrs,
            store,
            shutdown,
            tasks,
            reloader,
        })
    }

    /// The address the HTTP server really listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every address the HTTP server listens on, the first being [`Exporter::local_addr`].
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Makes the pollers those of `config`: targets added, removed or changed are started,
    /// stopped or restarted; unchanged ones keep running with their state and counters. Only the
    /// targets and the `[poll]`, `[metrics]` and `[zombie]` settings take effect; the `[web]`
    /// and `[log]` settings need a restart. A configuration that does not validate changes
    /// nothing. Either way the outcome is recorded for the reload gauges.
    pub async fn reload(&self, config: &Config) -> Result<Changes, config::ConfigErrors> {
        self.reloader.apply(config).await
    }

    /// Stops polling, lets in-flight scrapes finish, and waits for every task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.reloader.join().await;
        while self.tasks.join_next().await.is_some() {}
    }
}

/// How long in-flight scrapes may take once shutdown has begun. Scrapes do no I/O (they render
/// the latest snapshots), so a healthy one takes milliseconds; this only covers slow clients.
const SCRAPE_GRACE: Duration = Duration::from_secs(2);

/// The longest a shutdown may take, whatever KMS and the HTTP clients do: a service manager
/// (systemd, Kubernetes) waits for the exit before starting the next instance. Leaves room, within
/// 5 s, for the runtime to drop what is left (`main`).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(4);

/// Runs the exporter until SIGINT/SIGTERM; SIGHUP reloads the configuration with `load`.
pub async fn run(config: Config, load: ConfigLoader) -> Result<(), StartError> {
    // Before anything else, so that a SIGHUP during startup does not kill the process.
    let mut signals = Signals::install();
    let exporter = Exporter::start_with_loader(config, Some(load)).await?;
    while signals.next().await == Received::Reload {
        tracing::info!("SIGHUP received: reloading the configuration");
        // Logged by the reloader; a failure changes nothing.
        let _ = exporter.reloader.reload().await;
    }
    stop(exporter.shutdown(), &mut signals).await;
    Ok(())
}

/// Runs `shutdown` until it ends, [`SHUTDOWN_DEADLINE`] passes, or a second SIGINT/SIGTERM asks
/// to exit at once (an operator who does not want to wait).
async fn stop(shutdown: impl Future<Output = ()>, signals: &mut Signals) {
    tracing::info!("shutting down");
    let started = tokio::time::Instant::now();
    tokio::select! {
        () = shutdown => {
            tracing::info!(elapsed = ?started.elapsed(), "stopped");
        }
        () = tokio::time::sleep(SHUTDOWN_DEADLINE) => {
            tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "shutdown did not finish in time; exiting anyway");
        }
        () = signals.terminated() => tracing::warn!("second signal: exiting at once"),
    }
}

/// Runs the simulated KMS alone until SIGINT/SIGTERM (`simulate`).
pub async fn run_simulator(
    listen: SocketAddr,
    scenario: sim::Scenario,
) -> Result<(), sim::SimError> {
    let mut signals = Signals::install();
    let simulator = sim::Simulator::start(sim::SimOptions { listen, scenario }).await?;
    tracing::info!(url = %simulator.url(), "simulated KMS listening");
    signals.terminated().await;
    stop(simulator.shutdown(), &mut signals).await;
    Ok(())
}

/// Why `demo` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the simulated KMS: {0}")]
    Simulator(#[from] sim::SimError),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Runs the simulated KMS on a free loopback port and the exporter watching it (`demo`).
pub async fn run_demo(mut config: Config, scenario: sim::Scenario) -> Result<(), DemoError> {
    let mut signals = Signals::install();
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let simulator = sim::Simulator::start(sim::SimOptions { listen, scenario }).await?;
    config.targets = vec![config::TargetConfig {
        name: "demo".to_owned(),
        url: simulator.url(),
        interval: None,
        timeout: None,
        connections: None,
        tls_ca_file: None,
        tls_insecure_skip_verify: false,
        health_probe: None,
        health_probe_interval: None,
        health_probe_timeout: None,
    }];
    let exporter = Exporter::start(config).await?;
    tracing::info!(
        metrics = %format!("http://{}/metrics", exporter.local_addr()),
        kms = %simulator.url(),
        "demo running: the exporter watches the simulated KMS"
    );
    signals.terminated().await;
    stop(
        async {
            exporter.shutdown().await;
            simulator.shutdown().await;
        },
        &mut signals,
    )
    .await;
    Ok(())
}
