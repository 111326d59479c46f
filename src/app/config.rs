//! Exporter configuration (README "Configuration").
//!
//! Layers, lowest to highest precedence: built-in defaults < TOML file (`--config.file`, which must
//! exist when given) < environment `KURENTO_EXPORTER_*` (nested keys split on `__`, e.g.
//! `KURENTO_EXPORTER_POLL__INTERVAL=30s`) < command-line flags. Decoding is strict (unknown keys
//! are errors) and [`Config::validate`] reports every problem at once, each naming its key path.
//!
//! [`load`] has no side effects besides reading the file and the environment, so it can be called
//! again for a reload.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};

use crate::analysis::detail::DetailLevel;
use crate::kurento::redact::{cap, redact_url};
use crate::poll::health::HealthProbeSpec;

mod capacity;
pub use capacity::CapacityConfig;

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "KURENTO_EXPORTER_";
/// Separator of nested keys in environment variable names (`POLL__INTERVAL` is `poll.interval`).
pub const ENV_SPLIT: &str = "__";
/// The target used when none is configured.
pub const DEFAULT_TARGET_NAME: &str = "default";
/// The KMS URL of the default target.
pub const DEFAULT_TARGET_URL: &str = "ws://127.0.0.1:8888/kurento";

/// Longest accepted target name (it becomes the `kms` label value).
pub const MAX_TARGET_NAME_LEN: usize = 64;
/// Bounds of `connections` (read connections per KMS).
pub const MIN_CONNECTIONS: u32 = 1;
pub const MAX_CONNECTIONS: u32 = 16;
/// Shortest poll interval.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest reconciliation interval: `getPipelines` makes its session an owner of every object,
/// so calling it often would keep garbage alive (docs/kms-protocol.md §4).
pub const MIN_RECONCILE_INTERVAL: Duration = Duration::from_secs(600);

// Upper bounds of every duration key. Each is far beyond any useful setting, and each keeps the
// time arithmetic of the poller (deadlines are `now + duration`) far from overflow: a duration
// such as `300000000000y` decodes fine but has no `Instant` after it.
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// Longest poll interval: a KMS read less often than hourly is not monitored.
pub const MAX_INTERVAL: Duration = Duration::from_secs(HOUR);
/// Longest KMS call timeout: KMS answers reads in milliseconds; minutes mean it is stuck.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * MINUTE);
/// Longest reconciliation interval: the inventory follows events, the listing only repairs drift.
pub const MAX_RECONCILE_INTERVAL: Duration = Duration::from_secs(DAY);
/// Longest `getUsedCpu` window (the call blocks its socket that long).
pub const MAX_CPU_SAMPLE: Duration = Duration::from_secs(MINUTE);
/// Longest wait before `/-/ready` gives up on a silent KMS.
pub const MAX_READY_TIMEOUT: Duration = Duration::from_secs(HOUR);
/// Longest `zombie.idle_after`.
pub const MAX_IDLE_AFTER: Duration = Duration::from_secs(7 * DAY);
/// Longest `zombie.max_age`.
pub const MAX_AGE: Duration = Duration::from_secs(30 * DAY);

/// Verbosity of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// Shape of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` pairs, one event per line.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// The whole configuration, as decoded (see [`Config::targets`] for per-target effective values).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub web: WebConfig,
    pub log: LogConfig,
    pub poll: PollConfig,
    pub metrics: MetricsConfig,
    pub zombie: ZombieConfig,
    /// After [`load`], never empty unless discovery is configured: an empty list becomes the
    /// single default target.
    pub targets: Vec<TargetConfig>,
    /// Prometheus file_sd files (globs) listing more targets, watched for changes.
    pub targets_files: Vec<String>,
    /// How often the `targets_files` are read again even without a change notification
    /// (network file systems and some container mounts send none).
    #[serde(with = "humantime_serde")]
    pub targets_files_refresh: Duration,
    /// DNS names whose answers are targets (README "DNS discovery").
    pub dns_sd: Vec<DnsSdConfig>,
    /// The name servers `dns_sd` asks (`ip` or `ip:port`); the system's (`/etc/resolv.conf`)
    /// when empty.
    pub dns_sd_nameservers: Vec<String>,
    pub probe: ProbeConfig,
    pub health_probe: HealthProbeConfig,
    pub capacity: CapacityConfig,
}

/// `[health_probe]`: the deep health check's defaults (README "Health probe"). The only
/// configuration under which the exporter writes to KMS; off unless enabled here (for every
/// target, discovered ones included) or by a target's `health_probe = true`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthProbeConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Default of `health_probe.interval`.
pub const DEFAULT_HEALTH_PROBE_INTERVAL: Duration = Duration::from_secs(MINUTE);
/// Default of `health_probe.timeout`.
pub const DEFAULT_HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest health probe timeout: a slower pipeline creation is a failure anyway.
pub const MAX_HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(MINUTE);

impl Default for HealthProbeConfig {
    fn default() -> Self {
        HealthProbeConfig {
            enabled: false,
            interval: DEFAULT_HEALTH_PROBE_INTERVAL,
            timeout: DEFAULT_HEALTH_PROBE_TIMEOUT,
        }
    }
}

/// The record type of a `dns_sd` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DnsRecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    /// Each record gives a host name and a port.
    #[serde(rename = "SRV")]
    Srv,
}

/// The scheme of the URLs `dns_sd` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WsScheme {
    #[default]
    Ws,
    Wss,
}

impl WsScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            WsScheme::Ws => "ws",
            WsScheme::Wss => "wss",
        }
    }
}

/// The settings the discovery watchers run from (`targets_files`, `dns_sd`): a reload that
/// changes one source's settings starts that source's watcher again.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoverySettings {
    pub targets_files: Vec<String>,
    pub targets_files_refresh: Duration,
    pub dns_sd: Vec<DnsSdConfig>,
    /// Parsed (validation has refused the ones that do not parse).
    pub dns_sd_nameservers: Vec<SocketAddr>,
}

impl DiscoverySettings {
    pub fn of(config: &Config) -> DiscoverySettings {
        DiscoverySettings {
            targets_files: config.targets_files.clone(),
            targets_files_refresh: config.targets_files_refresh,
            dns_sd: config.dns_sd.clone(),
            dns_sd_nameservers: config
                .dns_sd_nameservers
                .iter()
                .filter_map(|s| parse_nameserver(s).ok())
                .collect(),
        }
    }

    /// The file source's part: what its watcher is started from.
    pub fn files(&self) -> (&[String], Duration) {
        (&self.targets_files, self.targets_files_refresh)
    }

    /// The DNS source's part.
    pub fn dns(&self) -> (&[DnsSdConfig], &[SocketAddr]) {
        (&self.dns_sd, &self.dns_sd_nameservers)
    }
}

/// `[[dns_sd]]`: one DNS name whose answer is a list of KMS (a Kubernetes headless Service).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,
    /// The KMS port of every address (A, AAAA); SRV records carry their own.
    #[serde(default)]
    pub port: Option<u32>,
    /// How often the name is looked up again.
    #[serde(default = "default_dns_sd_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    #[serde(default = "default_dns_sd_path")]
    pub path: String,
    #[serde(default)]
    pub scheme: WsScheme,
}

/// Default of `dns_sd[].refresh`.
pub const DEFAULT_DNS_SD_REFRESH: Duration = Duration::from_secs(30);
/// Shortest `dns_sd[].refresh`.
pub const MIN_DNS_SD_REFRESH: Duration = Duration::from_secs(1);
/// Longest `dns_sd[].refresh`.
pub const MAX_DNS_SD_REFRESH: Duration = Duration::from_secs(DAY);
/// The DNS port of a `dns_sd_nameservers` entry given without one.
pub const DNS_PORT: u16 = 53;

fn default_dns_sd_refresh() -> Duration {
    DEFAULT_DNS_SD_REFRESH
}

fn default_dns_sd_path() -> String {
    "/kurento".to_owned()
}

/// `[probe]`: the multi-target pattern, `/probe?target=` (README "Probing targets").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Who may be probed: CIDRs (`10.0.0.0/8`) for targets given as IP addresses, regexes
    /// (matched against the whole host name) otherwise. Loopback only by default, so an exposed
    /// exporter cannot be made to connect anywhere.
    pub allowed_targets: Vec<String>,
    /// Most targets watched through `/probe` at once; 0 turns `/probe` off.
    pub max_targets: u32,
    /// A probed target not asked for this long is stopped and forgotten; default 10 × the probe
    /// interval, at least 5 minutes.
    #[serde(with = "humantime_serde")]
    pub idle_expiry: Option<Duration>,
    /// Poll settings of probed targets; `[poll]`'s when unset.
    #[serde(with = "humantime_serde")]
    pub interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub connections: Option<u32>,
}

/// Default of `probe.max_targets`.
pub const DEFAULT_PROBE_MAX_TARGETS: u32 = 100;
/// Most `probe.max_targets`.
pub const MAX_PROBE_TARGETS: u32 = 10_000;
/// Shortest default `probe.idle_expiry`.
pub const MIN_DEFAULT_IDLE_EXPIRY: Duration = Duration::from_secs(5 * MINUTE);
/// Longest `probe.idle_expiry`.
pub const MAX_IDLE_EXPIRY: Duration = Duration::from_secs(7 * DAY);

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            allowed_targets: vec![
                "127.0.0.0/8".to_owned(),
                "::1/128".to_owned(),
                "localhost".to_owned(),
            ],
            max_targets: DEFAULT_PROBE_MAX_TARGETS,
            idle_expiry: None,
            interval: None,
            timeout: None,
            connections: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            web: WebConfig::default(),
            log: LogConfig::default(),
            poll: PollConfig::default(),
            metrics: MetricsConfig::default(),
            zombie: ZombieConfig::default(),
            targets: Vec::new(),
            targets_files: Vec::new(),
            targets_files_refresh: DEFAULT_TARGETS_FILES_REFRESH,
            dns_sd: Vec::new(),
            dns_sd_nameservers: Vec::new(),
            probe: ProbeConfig::default(),
            health_probe: HealthProbeConfig::default(),
            capacity: CapacityConfig::default(),
        }
    }
}

/// Default of `targets_files_refresh`.
pub const DEFAULT_TARGETS_FILES_REFRESH: Duration = Duration::from_secs(5 * MINUTE);
/// Longest `targets_files_refresh`.
pub const MAX_TARGETS_FILES_REFRESH: Duration = Duration::from_secs(DAY);

/// `[web]`: the exporter's own HTTP server.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// `host:port`, or `:port` for every IPv4 address.
    pub listen_address: String,
    /// Further addresses to listen on (the second and later `--web.listen-address`).
    pub extra_listen_addresses: Vec<String>,
    /// Listen on the sockets passed by systemd socket activation instead of the addresses.
    pub systemd_socket: bool,
    /// The exporter-toolkit web configuration file (TLS, basic auth, headers), as node_exporter's
    /// `--web.config.file`; plain HTTP without one.
    pub config_file: Option<PathBuf>,
    /// Most HTTP connections served at once; more wait until one closes.
    pub max_connections: u32,
    /// How long a client may take to send its request headers (or TLS handshake, or next request
    /// on a kept-alive connection) before it is disconnected.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Path of the exposition.
    pub telemetry_path: String,
    /// Serve `POST /-/reload` (as Prometheus's `--web.enable-lifecycle`); off by default, since
    /// anyone who can reach the port could then make the exporter re-read its files.
    pub enable_lifecycle: bool,
    /// `[web.inspection]`: views that read KMS on demand.
    pub inspection: InspectionConfig,
}

/// `[web.inspection]`: API views that read KMS when asked rather than from the last cycle.
/// Every one is off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InspectionConfig {
    /// Serve `/api/v1/targets/{kms}/elements/{id}/sdp`. Off by default: session descriptions
    /// carry the users' IP addresses.
    pub sdp: bool,
}

/// Default of `web.max_connections`: half the common 1,024 descriptor limit.
pub const DEFAULT_MAX_HTTP_CONNECTIONS: u32 = 512;
/// Upper bound of `web.max_connections`.
pub const MAX_HTTP_CONNECTIONS: u32 = 65_536;

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen_address: "0.0.0.0:9888".to_owned(),
            extra_listen_addresses: Vec::new(),
            systemd_socket: false,
            config_file: None,
            max_connections: DEFAULT_MAX_HTTP_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            telemetry_path: "/metrics".to_owned(),
            enable_lifecycle: false,
            inspection: InspectionConfig::default(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

/// `[poll]`: how KMS is read; `interval`, `timeout` and `connections` are per-target defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Time between the starts of two poll cycles.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Timeout of each KMS call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Read connections per KMS (the CPU sampler has its own, on top).
    pub connections: u32,
    /// Period of the `getPipelines` reconciliation of the inventory.
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// Sampling window of `getUsedCpu` (the call blocks its connection that long).
    #[serde(with = "humantime_serde")]
    pub cpu_sample: Duration,
    /// `/-/ready` turns ready after this long even if some target never finished a cycle.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            connections: 2,
            reconcile_interval: MIN_RECONCILE_INTERVAL,
            cpu_sample: Duration::from_secs(1),
            ready_timeout: Duration::from_secs(60),
        }
    }
}

/// `[metrics]`: what the exposition carries beyond the per-KMS aggregates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub detail: DetailLevel,
    /// At most this many labelled (pipeline or element) series per KMS and family; the rest are
    /// dropped and counted in `kurento_exporter_series_dropped_total`.
    pub max_series: u32,
    /// Only pipelines whose name (else id) matches this regex get labelled series.
    pub pipelines: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            detail: DetailLevel::Aggregated,
            max_series: 10_000,
            pipelines: None,
        }
    }
}

impl MetricsConfig {
    /// The compiled pipeline filter (`None` = every pipeline). Validation guarantees it compiles.
    pub fn pipeline_filter(&self) -> Option<regex::Regex> {
        self.pipelines
            .as_deref()
            .and_then(|re| regex::Regex::new(re).ok())
    }
}

/// `[zombie]`: when a pipeline or element counts as leaked (README "Zombies").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZombieConfig {
    /// How long a condition must hold, over successive polls, before it counts.
    #[serde(with = "humantime_serde")]
    pub idle_after: Duration,
    /// Pipelines older than this count as zombies (`max_age`); off when unset.
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

impl Default for ZombieConfig {
    fn default() -> Self {
        ZombieConfig {
            idle_after: Duration::from_secs(300),
            max_age: None,
        }
    }
}

/// `[[targets]]`: one KMS. Unset optional values fall back to `[poll]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The `kms` label value.
    pub name: String,
    /// `ws://` or `wss://` URL of the KMS JSON-RPC endpoint.
    pub url: String,
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub connections: Option<u32>,
    /// PEM file of extra CA certificates trusted for `wss://`.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any server certificate for `wss://` (testing only).
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
    /// Runs the deep health check on this KMS; `health_probe.enabled` when unset.
    #[serde(default)]
    pub health_probe: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub health_probe_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub health_probe_timeout: Option<Duration>,
}

impl TargetConfig {
    fn default_target() -> Self {
        TargetConfig {
            name: DEFAULT_TARGET_NAME.to_owned(),
            url: DEFAULT_TARGET_URL.to_owned(),
            interval: None,
            timeout: None,
            connections: None,
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
            health_probe: None,
            health_probe_interval: None,
            health_probe_timeout: None,
        }
    }
}

/// One target with every setting resolved against `[poll]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTarget {
    pub name: String,
    /// As configured; may contain credentials, so log [`ResolvedTarget::redacted_url`] instead.
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub connections: u32,
    pub reconcile_interval: Duration,
    pub cpu_sample: Duration,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_insecure_skip_verify: bool,
    /// `None` unless the deep health check is enabled for this target.
    pub health_probe: Option<HealthProbeSpec>,
}

impl ResolvedTarget {
    /// The URL with any userinfo replaced, safe for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CliOverrides {
    /// The first `--web.listen-address`.
    pub listen_address: Option<String>,
    /// The later `--web.listen-address`es; set (possibly empty) whenever `listen_address` is, so
    /// that the flags replace the file's whole list.
    pub extra_listen_addresses: Option<Vec<String>>,
    pub web_config_file: Option<PathBuf>,
    pub systemd_socket: Option<bool>,
    pub telemetry_path: Option<String>,
    pub enable_lifecycle: Option<bool>,
    pub log_level: Option<LogLevel>,
    pub log_format: Option<LogFormat>,
}

/// One configuration problem: the key path it concerns and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `targets[1].url`, or `config file` for I/O problems.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads the configuration from defaults, `file`, the process environment and `cli`, then
/// validates it. `file`, when given, must exist.
pub fn load(file: Option<&Path>, cli: &CliOverrides) -> Result<Config, ConfigErrors> {
    load_with_env(file, env_provider(), cli)
}

/// The `KURENTO_EXPORTER_*` environment layer. `KURENTO_EXPORTER_REVISION` is a build-time
/// variable (see `cli::revision`), so its presence at run time must not fail strict decoding.
pub fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .split(ENV_SPLIT)
        .ignore(&["revision"])
}

/// [`load`] with an explicit provider in place of the process environment (tests, embedding).
pub fn load_with_env(
    file: Option<&Path>,
    env: impl Provider,
    cli: &CliOverrides,
) -> Result<Config, ConfigErrors> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        // Checked here so that the error names the path; figment's own error does not.
        if let Err(e) = std::fs::File::open(path) {
            return Err(ConfigErrors(vec![ConfigError::new(
                "config file",
                format!("cannot read {:?}: {e}", path.display().to_string()),
            )]));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let figment = figment
        .merge(env)
        .merge(Serialized::defaults(cli.as_layer()));
    let mut config: Config = figment.extract().map_err(figment_errors)?;
    if config.targets.is_empty() && config.targets_files.is_empty() && config.dns_sd.is_empty() {
        config.targets.push(TargetConfig::default_target());
    }
    config.validate()?;
    Ok(config)
}

impl CliOverrides {
    /// The overrides shaped like the config file, with unset values omitted.
    fn as_layer(&self) -> CliLayer<'_> {
        CliLayer {
            web: CliWeb {
                listen_address: self.listen_address.as_deref(),
                extra_listen_addresses: self.extra_listen_addresses.as_deref(),
                config_file: self.web_config_file.as_deref(),
                systemd_socket: self.systemd_socket,
                telemetry_path: self.telemetry_path.as_deref(),
                enable_lifecycle: self.enable_lifecycle,
            },
            log: CliLog {
                level: self.log_level,
                format: self.log_format,
            },
        }
    }
}

#[derive(Serialize)]
struct CliLayer<'a> {
    web: CliWeb<'a>,
    log: CliLog,
}

#[derive(Serialize)]
struct CliWeb<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_listen_addresses: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    systemd_socket: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable_lifecycle: Option<bool>,
}

#[derive(Serialize)]
struct CliLog {
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<LogLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<LogFormat>,
}

/// Turns figment's decoding errors into key-path errors that say where the value came from.
fn figment_errors(error: figment::Error) -> ConfigErrors {
    ConfigErrors(
        error
            .into_iter()
            .map(|e| {
                let mut message = describe_kind(&e.kind);
                if let Some(md) = &e.metadata {
                    match &md.source {
                        Some(figment::Source::File(path)) => {
                            message.push_str(&format!(" (in {} {})", md.name, path.display()))
                        }
                        Some(source) => message.push_str(&format!(" (in {source})")),
                        None if md.name.contains("environment variable") && !e.path.is_empty() => {
                            message.push_str(&format!(
                                " (in environment variable {})",
                                cap(&env_var_name(&e.path))
                            ));
                        }
                        None => message.push_str(&format!(" (in {})", md.name)),
                    }
                }
                // The path ends with the offending key itself, which can be of any size.
                ConfigError::new(cap(&key_path(&e.path)), message)
            })
            .collect(),
    )
}

/// figment's wording, minus its nested backquotes for the common cases.
fn describe_kind(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::UnknownField(found, expected) => {
            format!(
                "unknown key {:?}, expected one of: {}",
                cap(found),
                expected.join(", ")
            )
        }
        Kind::MissingField(field) => format!("missing key {field:?}"),
        // The message may quote the value found, which can be of any size.
        other => cap(&other.to_string()),
    }
}

/// `["poll", "interval"]` -> `KURENTO_EXPORTER_POLL__INTERVAL`.
fn env_var_name(path: &[String]) -> String {
    format!("{ENV_PREFIX}{}", path.join(ENV_SPLIT).to_uppercase())
}

/// `["targets", "1", "url"]` -> `targets[1].url`.
fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() && !out.is_empty() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        "config".to_owned()
    } else {
        out
    }
}

/// Parses a listen address; `:9888` means every IPv4 address, as Prometheus exporters accept.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let parsed = match s.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p))
            .map_err(|e| e.to_string()),
        None => s.parse::<SocketAddr>().map_err(|e| e.to_string()),
    };
    parsed.map_err(|_| {
        format!(
            "invalid socket address {:?}: expected host:port, e.g. 0.0.0.0:9888 or :9888",
            cap(s)
        )
    })
}

fn fmt_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Config {
    /// The listen address as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_listen_address(&self.web.listen_address)
            .map_err(|m| ConfigError::new("web.listen_address", m))
    }

    /// Every listen address: `listen_address`, then `extra_listen_addresses`.
    pub fn listen_addrs(&self) -> Result<Vec<SocketAddr>, ConfigErrors> {
        let mut addrs = Vec::new();
        let mut errors = Vec::new();
        match self.listen_addr() {
            Ok(addr) => addrs.push(addr),
            Err(e) => errors.push(e),
        }
        for (i, text) in self.web.extra_listen_addresses.iter().enumerate() {
            let key = format!("web.extra_listen_addresses[{i}]");
            match parse_listen_address(text) {
                Ok(addr) if addrs.contains(&addr) => {
                    errors.push(ConfigError::new(key, format!("duplicate address {text:?}")))
                }
                Ok(addr) => addrs.push(addr),
                Err(m) => errors.push(ConfigError::new(key, m)),
            }
        }
        if errors.is_empty() {
            Ok(addrs)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Targets with every setting resolved against `[poll]`, in configuration order.
    pub fn targets(&self) -> Vec<ResolvedTarget> {
        self.targets
            .iter()
            .map(|t| ResolvedTarget {
                name: t.name.clone(),
                url: t.url.clone(),
                interval: t.interval.unwrap_or(self.poll.interval),
                timeout: t.timeout.unwrap_or(self.poll.timeout),
                connections: t.connections.unwrap_or(self.poll.connections),
                reconcile_interval: self.poll.reconcile_interval,
                cpu_sample: self.poll.cpu_sample,
                tls_ca_file: t.tls_ca_file.clone(),
                tls_insecure_skip_verify: t.tls_insecure_skip_verify,
                health_probe: self.health_probe_of(t),
            })
            .collect()
    }

    /// The health probe of a configured target: its own settings, else `[health_probe]`'s.
    fn health_probe_of(&self, t: &TargetConfig) -> Option<HealthProbeSpec> {
        let h = &self.health_probe;
        t.health_probe
            .unwrap_or(h.enabled)
            .then(|| HealthProbeSpec {
                interval: t.health_probe_interval.unwrap_or(h.interval),
                timeout: t.health_probe_timeout.unwrap_or(h.timeout),
            })
    }

    /// A probed target (`name`, `url`): `[probe]`'s settings, else `[poll]`'s.
    pub fn resolve_probe(&self, name: &str, url: &str) -> ResolvedTarget {
        let p = &self.probe;
        ResolvedTarget {
            interval: p.interval.unwrap_or(self.poll.interval),
            timeout: p.timeout.unwrap_or(self.poll.timeout),
            connections: p.connections.unwrap_or(self.poll.connections),
            ..self.resolve(name, url)
        }
    }

    /// How long a probed target lives without being probed (see [`ProbeConfig::idle_expiry`]).
    pub fn probe_idle_expiry(&self) -> Duration {
        let interval = self.probe.interval.unwrap_or(self.poll.interval);
        self.probe
            .idle_expiry
            .unwrap_or_else(|| (interval * 10).max(MIN_DEFAULT_IDLE_EXPIRY))
    }

    /// A discovered target (`name`, `url`) with every setting from `[poll]`.
    pub fn resolve(&self, name: &str, url: &str) -> ResolvedTarget {
        ResolvedTarget {
            name: name.to_owned(),
            url: url.to_owned(),
            interval: self.poll.interval,
            timeout: self.poll.timeout,
            connections: self.poll.connections,
            reconcile_interval: self.poll.reconcile_interval,
            cpu_sample: self.poll.cpu_sample,
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
            health_probe: self.health_probe.enabled.then_some(HealthProbeSpec {
                interval: self.health_probe.interval,
                timeout: self.health_probe.timeout,
            }),
        }
    }

    /// Checks every rule and returns all problems, in key order.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        self.validate_web(&mut errors);
        self.validate_poll(&mut errors);
        self.validate_targets(&mut errors);
        self.validate_targets_files(&mut errors);
        self.validate_dns_sd(&mut errors);
        self.validate_probe(&mut errors);
        self.validate_health_probe(&mut errors);
        self.validate_metrics(&mut errors);
        self.validate_zombie(&mut errors);
        self.capacity.validate(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn validate_web(&self, errors: &mut Vec<ConfigError>) {
        if let Err(e) = self.listen_addrs() {
            errors.extend(e.0);
        }
        let max = self.web.max_connections;
        if !(1..=MAX_HTTP_CONNECTIONS).contains(&max) {
            errors.push(ConfigError::new(
                "web.max_connections",
                format!("must be between 1 and {MAX_HTTP_CONNECTIONS}, got {max}"),
            ));
        }
        check_positive(
            errors,
            "web.header_read_timeout",
            self.web.header_read_timeout,
        );
        let path = &self.web.telemetry_path;
        let key = "web.telemetry_path";
        if !path.starts_with('/') {
            errors.push(ConfigError::new(
                key,
                format!("must start with '/', got {:?}", cap(path)),
            ));
        } else if path == "/" {
            errors.push(ConfigError::new(
                key,
                "must not be \"/\" (that is the landing page)",
            ));
        } else if path.starts_with("/-/") {
            errors.push(ConfigError::new(
                key,
                format!("must not be under \"/-/\" (reserved), got {:?}", cap(path)),
            ));
        }
    }

    fn validate_zombie(&self, errors: &mut Vec<ConfigError>) {
        let idle_after = self.zombie.idle_after;
        check_bounded(errors, "zombie.idle_after", idle_after, MAX_IDLE_AFTER);
        if let Some(max_age) = self.zombie.max_age {
            check_bounded(errors, "zombie.max_age", max_age, MAX_AGE);
        }
    }

    fn validate_metrics(&self, errors: &mut Vec<ConfigError>) {
        if self.metrics.max_series == 0 {
            errors.push(ConfigError::new("metrics.max_series", "must be at least 1"));
        }
        if let Some(re) = &self.metrics.pipelines
            && let Err(e) = regex::Regex::new(re)
        {
            let reason = e.to_string().lines().last().unwrap_or("").trim().to_owned();
            errors.push(ConfigError::new(
                "metrics.pipelines",
                format!("invalid regex {:?}: {reason}", cap(re)),
            ));
        }
    }

    fn validate_poll(&self, errors: &mut Vec<ConfigError>) {
        let p = &self.poll;
        let interval_ok = check_interval(errors, "poll.interval", p.interval);
        let timeout_ok = check_bounded(errors, "poll.timeout", p.timeout, MAX_TIMEOUT);
        if timeout_ok && interval_ok && p.timeout >= p.interval {
            errors.push(ConfigError::new(
                "poll.timeout",
                format!(
                    "must be less than poll.interval ({}), got {}",
                    fmt_duration(p.interval),
                    fmt_duration(p.timeout)
                ),
            ));
        }
        check_connections(errors, "poll.connections", p.connections);
        let reconcile = p.reconcile_interval;
        let reconcile_ok = check_bounded(
            errors,
            "poll.reconcile_interval",
            reconcile,
            MAX_RECONCILE_INTERVAL,
        );
        if reconcile_ok && reconcile < MIN_RECONCILE_INTERVAL {
            errors.push(ConfigError::new(
                "poll.reconcile_interval",
                format!(
                    "must be at least {} (getPipelines keeps every object alive), got {}",
                    fmt_duration(MIN_RECONCILE_INTERVAL),
                    fmt_duration(p.reconcile_interval)
                ),
            ));
        }
        if check_bounded(errors, "poll.cpu_sample", p.cpu_sample, MAX_CPU_SAMPLE)
            && timeout_ok
            && p.cpu_sample >= p.timeout
        {
            errors.push(ConfigError::new(
                "poll.cpu_sample",
                format!(
                    "must be less than poll.timeout ({}), got {}",
                    fmt_duration(p.timeout),
                    fmt_duration(p.cpu_sample)
                ),
            ));
        }
        check_bounded(
            errors,
            "poll.ready_timeout",
            p.ready_timeout,
            MAX_READY_TIMEOUT,
        );
    }

    fn validate_probe(&self, errors: &mut Vec<ConfigError>) {
        let p = &self.probe;
        if let Err(e) = crate::app::probe_allow::AllowList::new(&p.allowed_targets) {
            errors.push(ConfigError::new("probe.allowed_targets", e));
        }
        if p.max_targets > MAX_PROBE_TARGETS {
            errors.push(ConfigError::new(
                "probe.max_targets",
                format!("must be at most {MAX_PROBE_TARGETS}, got {}", p.max_targets),
            ));
        }
        if let Some(expiry) = p.idle_expiry {
            check_bounded(errors, "probe.idle_expiry", expiry, MAX_IDLE_EXPIRY);
        }
        let interval_ok = match p.interval {
            Some(d) => check_interval(errors, "probe.interval", d),
            None => interval_in_range(self.poll.interval),
        };
        let timeout_ok = match p.timeout {
            Some(d) => check_bounded(errors, "probe.timeout", d, MAX_TIMEOUT),
            None => timeout_in_range(self.poll.timeout),
        };
        let overridden = p.interval.is_some() || p.timeout.is_some();
        let interval = p.interval.unwrap_or(self.poll.interval);
        let timeout = p.timeout.unwrap_or(self.poll.timeout);
        if overridden && interval_ok && timeout_ok && timeout >= interval {
            errors.push(ConfigError::new(
                "probe.timeout",
                format!(
                    "must be less than the probe interval ({}), got {}",
                    fmt_duration(interval),
                    fmt_duration(timeout)
                ),
            ));
        }
        if let Some(c) = p.connections {
            check_connections(errors, "probe.connections", c);
        }
    }

    fn validate_targets_files(&self, errors: &mut Vec<ConfigError>) {
        for (i, pattern) in self.targets_files.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(pattern) {
                errors.push(ConfigError::new(
                    format!("targets_files[{i}]"),
                    format!("invalid glob {:?}: {}", cap(pattern), e.msg),
                ));
            }
        }
        let refresh = self.targets_files_refresh;
        check_bounded(
            errors,
            "targets_files_refresh",
            refresh,
            MAX_TARGETS_FILES_REFRESH,
        );
    }

    fn validate_dns_sd(&self, errors: &mut Vec<ConfigError>) {
        for (i, entry) in self.dns_sd.iter().enumerate() {
            let key = |field: &str| format!("dns_sd[{i}].{field}");
            if let Err(m) = check_dns_name(&entry.name) {
                errors.push(ConfigError::new(key("name"), m));
            }
            match (entry.record_type, entry.port) {
                (DnsRecordType::Srv, Some(_)) => errors.push(ConfigError::new(
                    key("port"),
                    "not allowed with type SRV (each record gives its port)",
                )),
                (DnsRecordType::A | DnsRecordType::Aaaa, None) => errors.push(ConfigError::new(
                    key("port"),
                    "required with type A or AAAA (the records carry no port)",
                )),
                (_, Some(port)) if !(1..=65_535).contains(&port) => errors.push(ConfigError::new(
                    key("port"),
                    format!("must be between 1 and 65535, got {port}"),
                )),
                _ => {}
            }
            let refresh = entry.refresh;
            if check_bounded(errors, &key("refresh"), refresh, MAX_DNS_SD_REFRESH)
                && refresh < MIN_DNS_SD_REFRESH
            {
                errors.push(ConfigError::new(
                    key("refresh"),
                    format!(
                        "must be at least {}, got {}",
                        fmt_duration(MIN_DNS_SD_REFRESH),
                        fmt_duration(refresh)
                    ),
                ));
            }
            // The path must make a valid URL with any address in front of it.
            let sample = format!("{}://127.0.0.1:1{}", entry.scheme.as_str(), entry.path);
            if !entry.path.starts_with('/') {
                errors.push(ConfigError::new(
                    key("path"),
                    format!("must start with '/', got {:?}", cap(&entry.path)),
                ));
            } else if check_target_url(&sample).is_err() {
                errors.push(ConfigError::new(
                    key("path"),
                    format!("not a valid URL path: {:?}", cap(&entry.path)),
                ));
            }
        }
        for (i, server) in self.dns_sd_nameservers.iter().enumerate() {
            if let Err(m) = parse_nameserver(server) {
                errors.push(ConfigError::new(format!("dns_sd_nameservers[{i}]"), m));
            }
        }
    }

    /// The section's values, then each target's overrides; the timeout must leave room in the
    /// interval, so probes never overlap.
    fn validate_health_probe(&self, errors: &mut Vec<ConfigError>) {
        let h = &self.health_probe;
        let interval_ok = check_interval(errors, "health_probe.interval", h.interval);
        let timeout_ok = check_bounded(
            errors,
            "health_probe.timeout",
            h.timeout,
            MAX_HEALTH_PROBE_TIMEOUT,
        );
        if interval_ok && timeout_ok && h.timeout >= h.interval {
            errors.push(ConfigError::new(
                "health_probe.timeout",
                format!(
                    "must be less than health_probe.interval ({}), got {}",
                    fmt_duration(h.interval),
                    fmt_duration(h.timeout)
                ),
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            let key = |field: &str| format!("targets[{i}].{field}");
            let enabled = t.health_probe.unwrap_or(h.enabled);
            let overridden = t.health_probe_interval.is_some() || t.health_probe_timeout.is_some();
            if overridden && !enabled {
                let field = if t.health_probe_interval.is_some() {
                    "health_probe_interval"
                } else {
                    "health_probe_timeout"
                };
                errors.push(ConfigError::new(
                    key(field),
                    "only allowed when the health probe is enabled (health_probe = true)",
                ));
                continue;
            }
            let interval_ok = t
                .health_probe_interval
                .is_none_or(|d| check_interval(errors, &key("health_probe_interval"), d));
            let timeout_ok = t.health_probe_timeout.is_none_or(|d| {
                check_bounded(
                    errors,
                    &key("health_probe_timeout"),
                    d,
                    MAX_HEALTH_PROBE_TIMEOUT,
                )
            });
            let interval = t.health_probe_interval.unwrap_or(h.interval);
            let timeout = t.health_probe_timeout.unwrap_or(h.timeout);
            if overridden && interval_ok && timeout_ok && timeout >= interval {
                let field = if t.health_probe_timeout.is_some() {
                    "health_probe_timeout"
                } else {
                    "health_probe_interval"
                };
                errors.push(ConfigError::new(
                    key(field),
                    format!(
                        "the health probe timeout ({}) must be less than its interval ({})",
                        fmt_duration(timeout),
                        fmt_duration(interval)
                    ),
                ));
            }
        }
    }

    fn validate_targets(&self, errors: &mut Vec<ConfigError>) {
        let mut first_index: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.targets.iter().enumerate() {
            let key = |field: &str| format!("targets[{i}].{field}");
            if let Err(m) = check_target_name(&t.name) {
                errors.push(ConfigError::new(key("name"), m));
            } else if let Some(j) = first_index.get(t.name.as_str()) {
                errors.push(ConfigError::new(
                    key("name"),
                    format!("duplicate of targets[{j}].name {:?}", cap(&t.name)),
                ));
            } else {
                first_index.insert(&t.name, i);
            }

            let scheme = match check_target_url(&t.url) {
                Ok(scheme) => Some(scheme),
                Err(m) => {
                    errors.push(ConfigError::new(key("url"), m));
                    None
                }
            };
            if scheme == Some(UrlScheme::Ws) {
                if t.tls_ca_file.is_some() {
                    errors.push(ConfigError::new(
                        key("tls_ca_file"),
                        "only allowed with a wss:// url",
                    ));
                }
                if t.tls_insecure_skip_verify {
                    errors.push(ConfigError::new(
                        key("tls_insecure_skip_verify"),
                        "only allowed with a wss:// url",
                    ));
                }
            }

            self.validate_target_timing(errors, i, t);
            if let Some(c) = t.connections {
                check_connections(errors, &key("connections"), c);
            }
        }
    }

    /// Per-target interval/timeout checks; the combination is only re-checked when the target
    /// overrides one of them, so a bad `[poll]` is reported once.
    fn validate_target_timing(&self, errors: &mut Vec<ConfigError>, i: usize, t: &TargetConfig) {
        // Without an override the `[poll]` value applies; its own errors are reported there.
        let interval_ok = match t.interval {
            Some(d) => check_interval(errors, &format!("targets[{i}].interval"), d),
            None => interval_in_range(self.poll.interval),
        };
        let timeout_ok = match t.timeout {
            Some(d) => check_bounded(errors, &format!("targets[{i}].timeout"), d, MAX_TIMEOUT),
            None => timeout_in_range(self.poll.timeout),
        };
        let overridden = t.interval.is_some() || t.timeout.is_some();
        if !(overridden && interval_ok && timeout_ok) {
            return;
        }
        let interval = t.interval.unwrap_or(self.poll.interval);
        let timeout = t.timeout.unwrap_or(self.poll.timeout);
        if timeout >= interval {
            let error = if t.timeout.is_some() {
                ConfigError::new(
                    format!("targets[{i}].timeout"),
                    format!(
                        "must be less than the interval ({}), got {}",
                        fmt_duration(interval),
                        fmt_duration(timeout)
                    ),
                )
            } else {
                ConfigError::new(
                    format!("targets[{i}].interval"),
                    format!(
                        "must be greater than the timeout ({}), got {}",
                        fmt_duration(timeout),
                        fmt_duration(interval)
                    ),
                )
            };
            errors.push(error);
        }
        if t.timeout.is_some() && !self.poll.cpu_sample.is_zero() && self.poll.cpu_sample >= timeout
        {
            errors.push(ConfigError::new(
                format!("targets[{i}].timeout"),
                format!(
                    "must be greater than poll.cpu_sample ({}), got {}",
                    fmt_duration(self.poll.cpu_sample),
                    fmt_duration(timeout)
                ),
            ));
        }
    }
}

/// Pushes an error unless `d > 0`; returns whether it is.
fn check_positive(errors: &mut Vec<ConfigError>, key: &str, d: Duration) -> bool {
    if d.is_zero() {
        errors.push(ConfigError::new(key, "must be greater than 0"));
        false
    } else {
        true
    }
}

/// Pushes an error unless `0 < d <= max`; returns whether it is.
fn check_bounded(errors: &mut Vec<ConfigError>, key: &str, d: Duration, max: Duration) -> bool {
    if !check_positive(errors, key, d) {
        return false;
    }
    if d > max {
        errors.push(ConfigError::new(
            key,
            format!(
                "must be at most {}, got {}",
                fmt_duration(max),
                fmt_duration(d)
            ),
        ));
        return false;
    }
    true
}

/// Pushes an error unless `MIN_INTERVAL <= d <= MAX_INTERVAL`; returns whether it is.
fn check_interval(errors: &mut Vec<ConfigError>, key: &str, d: Duration) -> bool {
    if !check_positive(errors, key, d) {
        return false;
    }
    if d < MIN_INTERVAL {
        errors.push(ConfigError::new(
            key,
            format!(
                "must be at least {}, got {}",
                fmt_duration(MIN_INTERVAL),
                fmt_duration(d)
            ),
        ));
        return false;
    }
    check_bounded(errors, key, d, MAX_INTERVAL)
}

fn interval_in_range(d: Duration) -> bool {
    (MIN_INTERVAL..=MAX_INTERVAL).contains(&d)
}

fn timeout_in_range(d: Duration) -> bool {
    !d.is_zero() && d <= MAX_TIMEOUT
}

fn check_connections(errors: &mut Vec<ConfigError>, key: &str, c: u32) {
    if !(MIN_CONNECTIONS..=MAX_CONNECTIONS).contains(&c) {
        errors.push(ConfigError::new(
            key,
            format!("must be between {MIN_CONNECTIONS} and {MAX_CONNECTIONS}, got {c}"),
        ));
    }
}

pub(crate) fn check_target_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let len = name.chars().count();
    if len > MAX_TARGET_NAME_LEN {
        return Err(format!(
            "must be at most {MAX_TARGET_NAME_LEN} characters, got {len}"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if !name.chars().all(allowed) {
        return Err(format!(
            "{name:?} may only contain A-Z, a-z, 0-9, '_', '.', ':' and '-'"
        ));
    }
    Ok(())
}

/// A `dns_sd` name: a DNS name of at most 253 characters.
fn check_dns_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("must not be empty".to_owned());
    }
    hickory_resolver::proto::rr::Name::from_ascii(name)
        .map(|_| ())
        .map_err(|e| format!("invalid DNS name {:?}: {e}", cap(name)))
}

/// A `dns_sd_nameservers` entry: `ip`, `ip:port` or `[ipv6]:port`.
pub(crate) fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "must be an IP address, optionally with a port (10.0.0.10, 10.0.0.10:53, [::1]:53), got {:?}",
            cap(text)
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlScheme {
    Ws,
    Wss,
}

pub(crate) fn check_target_url(url: &str) -> Result<UrlScheme, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {:?}: {e}", redact_url(url)))?;
    let scheme = match uri.scheme_str() {
        Some("ws") => UrlScheme::Ws,
        Some("wss") => UrlScheme::Wss,
        Some(other) => return Err(format!("scheme must be ws or wss, got {:?}", cap(other))),
        None => {
            return Err(format!(
                "must be an absolute ws:// or wss:// URL, got {:?}",
                redact_url(url)
            ));
        }
    };
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(format!("has no host: {:?}", redact_url(url))),
    }
    // `http::Uri` accepts any text after the host's ':' and then reports no port at all.
    let port_ok = uri
        .authority()
        .and_then(|a| explicit_port(a.as_str()))
        .is_none_or(|p| p.is_empty() || p.parse::<u16>().is_ok());
    if !port_ok {
        return Err(format!("invalid port in {:?}", redact_url(url)));
    }
    Ok(scheme)
}

/// The text after the host's ':' in an authority (`user@host:port`, `[v6]:port`), if any.
fn explicit_port(authority: &str) -> Option<&str> {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let after_host = match host_port.rfind(']') {
        Some(end) => &host_port[end + 1..],
        None => host_port,
    };
    after_host.rsplit_once(':').map(|(_, port)| port)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
