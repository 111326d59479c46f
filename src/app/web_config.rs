//! The web configuration file (`--web.config.file`, `[web] config_file`) in exporter-toolkit's
//! YAML schema, so that operators reuse the file they give node_exporter: `tls_server_config`,
//! `http_server_config`, `basic_auth_users` and `rate_limit`.
//!
//! [`parse`] is pure (text in, plain `web::security` structs or every problem out, each naming
//! its YAML key) and table-tested; [`load`] reads the file and then loads the TLS files the way
//! the server will, so `check-config` and a start reject what a handshake would fail on.
//! Keys that exporter-toolkit has and this exporter cannot honour are rejected by name rather
//! than ignored, since ignoring a security setting would weaken it silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::config::{Config, ConfigError, ConfigErrors};
use crate::web::listen::Listen;
use crate::web::security::{
    BasicAuthUsers, CipherSuite, ClientAuth, Curve, HttpSecurity, PemSource, RateLimit,
    TlsSettings, TlsVersion, check_tls,
};

/// The configuration key every web-config-file problem is reported under.
const KEY: &str = "web.config_file";

/// One problem in the file: the YAML key path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What the HTTP server needs from the configuration besides routes and landing page.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSetup {
    pub listen: Listen,
    pub security: HttpSecurity,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// The HTTP side of a validated configuration, with the web configuration file loaded.
pub fn http_setup(config: &Config) -> Result<HttpSetup, ConfigErrors> {
    let listen = if config.web.systemd_socket {
        Listen::SystemdSocket
    } else {
        Listen::Addresses(config.listen_addrs()?)
    };
    let security = match &config.web.config_file {
        Some(path) => load(path)?,
        None => HttpSecurity::default(),
    };
    Ok(HttpSetup {
        listen,
        security,
        max_connections: config.web.max_connections as usize,
        header_read_timeout: config.web.header_read_timeout,
    })
}

/// Reads, parses and validates the file, and loads its TLS files; problems are reported under
/// `web.config_file`, each starting with the file's path and the YAML key.
pub fn load(path: &Path) -> Result<HttpSecurity, ConfigErrors> {
    let at = |p: Problem| ConfigError {
        key: KEY.to_owned(),
        message: format!("{}: {}: {}", path.display(), p.key, p.message),
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            key: KEY.to_owned(),
            message: format!("cannot read {:?}: {e}", path.display().to_string()),
        }])
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let security =
        parse(&text, dir).map_err(|ps| ConfigErrors(ps.into_iter().map(at).collect()))?;
    if let Some(tls) = &security.tls {
        check_tls(tls).map_err(|e| {
            ConfigErrors(vec![at(Problem::new("tls_server_config", e.to_string()))])
        })?;
    }
    Ok(security)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    tls_server_config: Option<TlsModel>,
    http_server_config: Option<HttpModel>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RateLimitModel>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsModel {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpModel {
    /// Accepted for compatibility; the server speaks HTTP/1.1 only (README).
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitModel {
    interval: Option<GoDuration>,
    burst: Option<u32>,
}

/// A Go `time.Duration` in YAML: a string such as `1s`, or an integer of nanoseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GoDuration {
    Nanos(u64),
    Text(String),
}

/// Parses the file's text; relative file paths are taken from `dir` (the file's directory), as
/// exporter-toolkit does. Returns every problem found.
pub fn parse(text: &str, dir: &Path) -> Result<HttpSecurity, Vec<Problem>> {
    // An empty file (or one with only comments) is valid and changes nothing.
    let model: FileModel = serde_norway::from_str::<Option<FileModel>>(text)
        .map_err(|e| vec![Problem::new("file", format!("invalid YAML: {e}"))])?
        .unwrap_or_default();
    let mut problems = Vec::new();
    let tls = model
        .tls_server_config
        .and_then(|t| tls_settings(t, dir, &mut problems));
    let http = model.http_server_config.unwrap_or_default();
    let headers = headers(http.headers.unwrap_or_default(), &mut problems);
    let users = users(model.basic_auth_users.unwrap_or_default(), &mut problems);
    let rate_limit = model.rate_limit.and_then(|r| rate_limit(r, &mut problems));
    if problems.is_empty() {
        Ok(HttpSecurity {
            tls,
            users,
            headers,
            rate_limit,
        })
    } else {
        Err(problems)
    }
}

/// An empty string counts as unset, as in Go.
fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn tls_settings(t: TlsModel, dir: &Path, problems: &mut Vec<Problem>) -> Option<TlsSettings> {
    let key = |k: &str| format!("tls_server_config.{k}");
    let cert_file = set(t.cert_file);
    let cert_inline = set(t.cert);
    let key_file = set(t.key_file);
    let key_inline = set(t.key);
    let ca_file = set(t.client_ca_file);
    let ca_inline = set(t.client_ca);
    let auth_type = set(t.client_auth_type);
    if let Some(sans) = t.client_allowed_sans.filter(|s| !s.is_empty()) {
        problems.push(Problem::new(
            key("client_allowed_sans"),
            format!(
                "is not supported by kurento_exporter ({} entries); issue client certificates from a CA dedicated to scraping instead",
                sans.len()
            ),
        ));
    }
    // Without any of these, exporter-toolkit serves plain HTTP whatever else the section says.
    let enabled = [
        &cert_file,
        &cert_inline,
        &key_file,
        &key_inline,
        &ca_file,
        &ca_inline,
        &auth_type,
    ]
    .iter()
    .any(|v| v.is_some());
    let cert = pem_source(cert_file, cert_inline, "cert", dir, problems);
    let private_key = pem_source(key_file, key_inline, "key", dir, problems);
    let client_ca = match (&ca_file, &ca_inline) {
        (None, None) => None,
        _ => pem_source(ca_file, ca_inline, "client_ca", dir, problems),
    };
    let client_auth = match auth_type.as_deref().map(parse_client_auth).transpose() {
        Ok(mode) => mode.unwrap_or_default(),
        Err(m) => {
            problems.push(Problem::new(key("client_auth_type"), m));
            ClientAuth::NoClientCert
        }
    };
    let min_version = version(t.min_version, TlsVersion::Tls12, "min_version", problems);
    let max_version = version(t.max_version, TlsVersion::Tls13, "max_version", problems);
    if min_version > max_version {
        problems.push(Problem::new(
            key("max_version"),
            "must not be lower than min_version",
        ));
    }
    let cipher_suites = cipher_suites(t.cipher_suites.unwrap_or_default(), problems);
    let curves = curves(t.curve_preferences.unwrap_or_default(), problems);
    if !enabled {
        return None;
    }
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        problems.push(Problem::new(
            key("client_auth_type"),
            "client_ca_file (or client_ca) is set but client_auth_type is NoClientCert; set RequireAndVerifyClientCert to check client certificates",
        ));
    }
    if client_ca.is_none() && client_auth.verifies() {
        problems.push(Problem::new(
            key("client_ca_file"),
            format!("client_auth_type {client_auth:?} needs client_ca_file or client_ca"),
        ));
    }
    match (cert, private_key) {
        (Some(cert), Some(private_key)) => Some(TlsSettings {
            cert,
            key: private_key,
            client_auth,
            client_ca,
            min_version,
            max_version,
            cipher_suites,
            curves,
            prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
        }),
        (cert, private_key) => {
            if cert.is_none() {
                problems.push(Problem::new(
                    key("cert_file"),
                    "missing one of cert or cert_file",
                ));
            }
            if private_key.is_none() {
                problems.push(Problem::new(
                    key("key_file"),
                    "missing one of key or key_file",
                ));
            }
            None
        }
    }
}

/// `<what>_file` (relative to `dir`) or inline `<what>`; not both.
fn pem_source(
    file: Option<String>,
    inline: Option<String>,
    what: &str,
    dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<PemSource> {
    match (file, inline) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                format!("tls_server_config.{what}"),
                format!("set only one of {what} and {what}_file"),
            ));
            None
        }
        (Some(file), None) => Some(PemSource::File(join_dir(dir, &file))),
        (None, Some(text)) => Some(PemSource::Inline(text)),
        (None, None) => None,
    }
}

fn join_dir(dir: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

const CLIENT_AUTH_TYPES: &str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

fn parse_client_auth(text: &str) -> Result<ClientAuth, String> {
    Ok(match text {
        "NoClientCert" => ClientAuth::NoClientCert,
        "RequestClientCert" => ClientAuth::RequestClientCert,
        // RequireClientCert: exporter-toolkit's old name, still accepted there.
        "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
        other => {
            return Err(format!(
                "unknown value {other:?}, expected one of: {CLIENT_AUTH_TYPES}"
            ));
        }
    })
}

fn version(
    value: Option<String>,
    default: TlsVersion,
    name: &str,
    problems: &mut Vec<Problem>,
) -> TlsVersion {
    let Some(text) = set(value) else {
        return default;
    };
    match text.as_str() {
        "TLS12" => TlsVersion::Tls12,
        "TLS13" => TlsVersion::Tls13,
        "TLS10" | "TLS11" => {
            problems.push(Problem::new(
                format!("tls_server_config.{name}"),
                format!("{text} is not supported (rustls implements TLS12 and TLS13 only)"),
            ));
            default
        }
        _ => {
            problems.push(Problem::new(
                format!("tls_server_config.{name}"),
                format!("unknown TLS version {text:?}, expected TLS12 or TLS13"),
            ));
            default
        }
    }
}

/// Go's names of the TLS 1.2 suites rustls implements, with their rustls counterparts.
const SUPPORTED_SUITES: [(&str, CipherSuite); 6] = [
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::EcdheEcdsaAes128GcmSha256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::EcdheEcdsaAes256GcmSha384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::EcdheRsaAes128GcmSha256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::EcdheRsaAes256GcmSha384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::EcdheRsaChacha20Poly1305Sha256,
    ),
];

/// TLS 1.3 suites: Go accepts their names but does not let them be configured; neither do we.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go offers that rustls deliberately lacks (CBC modes, RSA key exchange).
const UNSUPPORTED_SUITES: [&str; 8] = [
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

fn cipher_suites(names: Vec<String>, problems: &mut Vec<Problem>) -> Vec<CipherSuite> {
    let mut suites = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let key = format!("tls_server_config.cipher_suites[{i}]");
        if let Some((_, suite)) = SUPPORTED_SUITES.iter().find(|(n, _)| n == name) {
            if !suites.contains(suite) {
                suites.push(*suite);
            }
        } else if TLS13_SUITES.contains(&name.as_str()) {
            // Always enabled with TLS 1.3, as in Go.
        } else {
            let supported: Vec<&str> = SUPPORTED_SUITES.iter().map(|(n, _)| *n).collect();
            let why = if UNSUPPORTED_SUITES.contains(&name.as_str()) {
                "is not supported by rustls (no CBC or RSA key exchange)"
            } else {
                "is not a known cipher suite"
            };
            problems.push(Problem::new(
                key,
                format!("{name:?} {why}; supported: {}", supported.join(", ")),
            ));
        }
    }
    suites
}

fn curves(names: Vec<String>, problems: &mut Vec<Problem>) -> Vec<Curve> {
    let mut curves = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let curve = match name.as_str() {
            "X25519" => Curve::X25519,
            "CurveP256" => Curve::P256,
            "CurveP384" => Curve::P384,
            other => {
                let why = if other == "CurveP521" {
                    "is not supported by rustls's ring provider"
                } else {
                    "is not a known curve"
                };
                problems.push(Problem::new(
                    format!("tls_server_config.curve_preferences[{i}]"),
                    format!("{other:?} {why}; supported: X25519, CurveP256, CurveP384"),
                ));
                continue;
            }
        };
        if !curves.contains(&curve) {
            curves.push(curve);
        }
    }
    curves
}

/// The headers exporter-toolkit lets a file add, with the values it allows (`None`: any).
const ALLOWED_HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
    ("Content-Security-Policy", None),
];

fn headers(
    configured: BTreeMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, value) in configured {
        let key = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            problems.push(Problem::new(
                key,
                format!(
                    "HTTP header {name:?} can not be configured; allowed: {}",
                    names.join(", ")
                ),
            ));
            continue;
        };
        if let Some(values) = allowed
            && !values.contains(&value.as_str())
        {
            problems.push(Problem::new(
                key,
                format!(
                    "invalid value {value:?}, expected one of: {}",
                    values.join(", ")
                ),
            ));
            continue;
        }
        // "Unset if blank", as documented by exporter-toolkit.
        if value.is_empty() {
            continue;
        }
        match (HeaderName::from_str(&name), HeaderValue::from_str(&value)) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            _ => problems.push(Problem::new(key, "is not a valid HTTP header value")),
        }
    }
    out
}

fn users(configured: BTreeMap<String, String>, problems: &mut Vec<Problem>) -> BasicAuthUsers {
    for (user, hash) in &configured {
        let key = format!("basic_auth_users.{user}");
        if user.contains(':') {
            problems.push(Problem::new(
                key.clone(),
                "a user name cannot contain ':' (basic auth splits user and password there)",
            ));
        }
        // The hash itself is never echoed: it is a secret.
        let problem = match bcrypt::HashParts::from_str(hash) {
            Err(e) => Some(e.to_string()),
            Ok(parts) if !(4..=31).contains(&parts.get_cost()) => Some(format!(
                "cost must be between 4 and 31, got {}",
                parts.get_cost()
            )),
            Ok(_) => None,
        };
        if let Some(why) = problem {
            problems.push(Problem::new(
                key,
                format!("not a usable bcrypt hash ({why}); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"),
            ));
        }
    }
    BasicAuthUsers(configured)
}

fn rate_limit(r: RateLimitModel, problems: &mut Vec<Problem>) -> Option<RateLimit> {
    let interval = match r.interval {
        None => Duration::ZERO,
        Some(GoDuration::Nanos(n)) => Duration::from_nanos(n),
        Some(GoDuration::Text(text)) => match humantime::parse_duration(&text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(Problem::new(
                    "rate_limit.interval",
                    format!("invalid duration {text:?}: {e}"),
                ));
                return None;
            }
        },
    };
    // An interval of 0 turns the limiter off, as in exporter-toolkit.
    if interval.is_zero() {
        return None;
    }
    let burst = r.burst.unwrap_or(0);
    if burst == 0 {
        problems.push(Problem::new(
            "rate_limit.burst",
            "must be at least 1 when rate_limit.interval is set (0 would refuse every request)",
        ));
        return None;
    }
    Some(RateLimit { interval, burst })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        match parse(yaml, Path::new("/etc/kx")) {
            Ok(security) => panic!("accepted: {security:?}"),
            Err(ps) => ps
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        }
    }

    fn ok(yaml: &str) -> HttpSecurity {
        parse(yaml, Path::new("/etc/kx")).unwrap_or_else(|e| panic!("{yaml}: {e:?}"))
    }

    #[test]
    fn empty_files_and_sections_change_nothing() {
        for yaml in [
            "",
            "# nothing\n",
            "tls_server_config:\n",
            "{}",
            "http_server_config: {}\n",
        ] {
            assert_eq!(ok(yaml), HttpSecurity::default(), "{yaml:?}");
        }
        // Without a certificate, key, CA or client auth type, TLS stays off (exporter-toolkit).
        assert_eq!(ok("tls_server_config:\n  min_version: TLS13\n").tls, None);
    }

    #[test]
    fn node_exporter_style_file() {
        // Cost 4: cheap enough for tests.
        let hash = bcrypt::hash("secret", 4).unwrap();
        let security = ok(&format!(
            r#"
tls_server_config:
  cert_file: server.crt
  key_file: /abs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
  cipher_suites:
    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    - TLS_AES_128_GCM_SHA256
    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  curve_preferences: [X25519, CurveP384]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
    X-XSS-Protection: ""
basic_auth_users:
  alice: {hash}
rate_limit:
  interval: 500ms
  burst: 20
"#
        ));
        let tls = security.tls.unwrap();
        assert_eq!(tls.cert, PemSource::File("/etc/kx/server.crt".into()));
        assert_eq!(tls.key, PemSource::File("/abs/server.key".into()));
        assert_eq!(
            tls.client_ca,
            Some(PemSource::File("/etc/kx/ca.crt".into()))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(
            (tls.min_version, tls.max_version),
            (TlsVersion::Tls13, TlsVersion::Tls13)
        );
        assert_eq!(
            tls.cipher_suites,
            vec![CipherSuite::EcdheRsaAes256GcmSha384]
        );
        assert_eq!(tls.curves, vec![Curve::X25519, Curve::P384]);
        assert!(!tls.prefer_server_cipher_suites);
        let headers: Vec<(String, String)> = security
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            headers,
            vec![
                (
                    "strict-transport-security".into(),
                    "max-age=31536000".into()
                ),
                ("x-content-type-options".into(), "nosniff".into()),
                ("x-frame-options".into(), "deny".into()),
            ]
        );
        assert_eq!(security.users.0.keys().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(
            security.rate_limit,
            Some(RateLimit {
                interval: Duration::from_millis(500),
                burst: 20
            })
        );
    }

    #[test]
    fn inline_pem_and_client_auth_modes() {
        let cases = [
            ("NoClientCert", ClientAuth::NoClientCert),
            ("RequestClientCert", ClientAuth::RequestClientCert),
            ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
            ("RequireClientCert", ClientAuth::RequireAnyClientCert),
            (
                "VerifyClientCertIfGiven",
                ClientAuth::VerifyClientCertIfGiven,
            ),
        ];
        for (name, want) in cases {
            let ca = if want.verifies() {
                "  client_ca: CA\n"
            } else {
                ""
            };
            let yaml = format!(
                "tls_server_config:\n  cert: CERT\n  key: KEY\n  client_auth_type: {name}\n{ca}"
            );
            let tls = ok(&yaml).tls.unwrap();
            assert_eq!(tls.client_auth, want, "{name}");
            assert_eq!(tls.cert, PemSource::Inline("CERT".into()));
            assert!(tls.prefer_server_cipher_suites, "default true");
        }
    }

    #[test]
    fn rate_limit_forms() {
        let cases = [
            ("rate_limit:\n  interval: 0\n  burst: 0\n", None),
            ("rate_limit:\n  interval: 0s\n", None),
            (
                "rate_limit:\n  interval: 1000000000\n  burst: 3\n",
                Some((Duration::from_secs(1), 3)),
            ),
            (
                "rate_limit:\n  interval: 1m30s\n  burst: 1\n",
                Some((Duration::from_secs(90), 1)),
            ),
        ];
        for (yaml, want) in cases {
            let got = ok(yaml).rate_limit.map(|r| (r.interval, r.burst));
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn invalid_files_name_every_key() {
        let cases: Vec<(&str, String, Vec<&str>)> = vec![
            (
                "unknown top-level key",
                "tls_config: {}\n".into(),
                vec!["file: invalid YAML: unknown field `tls_config`, expected one of `tls_server_config`, `http_server_config`, `basic_auth_users`, `rate_limit`"],
            ),
            (
                "unknown nested key",
                "tls_server_config:\n  certfile: a\n".into(),
                vec!["file: invalid YAML: tls_server_config: unknown field `certfile`"],
            ),
            (
                "missing key file, bad versions",
                "tls_server_config:\n  cert_file: a\n  min_version: TLS11\n  max_version: TLS14\n".into(),
                vec![
                    "tls_server_config.min_version: TLS11 is not supported (rustls implements TLS12 and TLS13 only)",
                    "tls_server_config.max_version: unknown TLS version \"TLS14\", expected TLS12 or TLS13",
                    "tls_server_config.key_file: missing one of key or key_file",
                ],
            ),
            (
                "min above max",
                "tls_server_config:\n  cert: a\n  key: b\n  min_version: TLS13\n  max_version: TLS12\n".into(),
                vec!["tls_server_config.max_version: must not be lower than min_version"],
            ),
            (
                "both forms of the certificate",
                "tls_server_config:\n  cert: a\n  cert_file: a.crt\n  key: b\n".into(),
                vec![
                    "tls_server_config.cert: set only one of cert and cert_file",
                    "tls_server_config.cert_file: missing one of cert or cert_file",
                ],
            ),
            (
                "client auth type",
                "tls_server_config:\n  cert: a\n  key: b\n  client_auth_type: Always\n".into(),
                vec!["tls_server_config.client_auth_type: unknown value \"Always\", expected one of: NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"],
            ),
            (
                "CA without a policy",
                "tls_server_config:\n  cert: a\n  key: b\n  client_ca_file: ca.crt\n".into(),
                vec!["tls_server_config.client_auth_type: client_ca_file (or client_ca) is set but client_auth_type is NoClientCert; set RequireAndVerifyClientCert to check client certificates"],
            ),
            (
                "verification without a CA",
                "tls_server_config:\n  cert: a\n  key: b\n  client_auth_type: RequireAndVerifyClientCert\n".into(),
                vec!["tls_server_config.client_ca_file: client_auth_type RequireAndVerifyClientCert needs client_ca_file or client_ca"],
            ),
            (
                "cipher suites and curves",
                "tls_server_config:\n  cert: a\n  key: b\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_MADE_UP]\n  curve_preferences: [CurveP521, Curve25519]\n".into(),
                vec![
                    "tls_server_config.cipher_suites[0]: \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not supported by rustls (no CBC or RSA key exchange); supported: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                    "tls_server_config.cipher_suites[1]: \"TLS_MADE_UP\" is not a known cipher suite; supported: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                    "tls_server_config.curve_preferences[0]: \"CurveP521\" is not supported by rustls's ring provider; supported: X25519, CurveP256, CurveP384",
                    "tls_server_config.curve_preferences[1]: \"Curve25519\" is not a known curve; supported: X25519, CurveP256, CurveP384",
                ],
            ),
            (
                "SAN allow-list",
                "tls_server_config:\n  cert: a\n  key: b\n  client_allowed_sans: [prometheus]\n".into(),
                vec!["tls_server_config.client_allowed_sans: is not supported by kurento_exporter (1 entries); issue client certificates from a CA dedicated to scraping instead"],
            ),
            (
                "headers exporter-toolkit rejects",
                "http_server_config:\n  headers:\n    Set-Cookie: a=b\n    x-frame-options: deny\n    X-Frame-Options: allow-from x\n    X-Content-Type-Options: \"\"\n".into(),
                vec![
                    "http_server_config.headers.Set-Cookie: HTTP header \"Set-Cookie\" can not be configured; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy",
                    "http_server_config.headers.X-Content-Type-Options: invalid value \"\", expected one of: nosniff",
                    "http_server_config.headers.X-Frame-Options: invalid value \"allow-from x\", expected one of: deny, sameorigin",
                    "http_server_config.headers.x-frame-options: HTTP header \"x-frame-options\" can not be configured; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy",
                ],
            ),
            (
                "header value with a line break",
                "http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\nb\"\n".into(),
                vec!["http_server_config.headers.Content-Security-Policy: is not a valid HTTP header value"],
            ),
            (
                "bad users",
                "basic_auth_users:\n  alice: plaintext\n  \"bo:b\": $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n  carol: $2y$03$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n".into(),
                vec![
                    "basic_auth_users.alice: not a usable bcrypt hash (Invalid hash: the hash format is malformed; expected 60 ASCII bytes); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                    "basic_auth_users.bo:b: a user name cannot contain ':' (basic auth splits user and password there)",
                    "basic_auth_users.carol: not a usable bcrypt hash (cost must be between 4 and 31, got 3); generate one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`",
                ],
            ),
            (
                "rate limit",
                "rate_limit:\n  interval: 1s\n".into(),
                vec!["rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)"],
            ),
            (
                "rate limit interval",
                "rate_limit:\n  interval: soon\n  burst: 2\n".into(),
                vec!["rate_limit.interval: invalid duration \"soon\": expected number at 0"],
            ),
        ];
        for (name, yaml, want) in cases {
            let got = problems(&yaml);
            let matches =
                got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| g.starts_with(w));
            assert!(matches, "{name}:\n got {got:#?}\nwant {want:#?}");
        }
    }

    #[test]
    fn load_names_the_file_and_checks_tls_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
        )
        .unwrap();
        let errors = load(&path).unwrap_err().to_string();
        assert_eq!(
            errors,
            format!(
                "web.config_file: {}: tls_server_config: cannot read cert_file {}: No such file or directory (os error 2)",
                path.display(),
                dir.path().join("missing.crt").display()
            )
        );

        let absent = dir.path().join("absent.yml");
        let errors = load(&absent).unwrap_err().to_string();
        assert!(
            errors.starts_with(&format!(
                "web.config_file: cannot read {:?}: ",
                absent.display().to_string()
            )),
            "{errors}"
        );

        std::fs::write(&path, "basic_auth_users:\n  alice: nope\n").unwrap();
        let errors = load(&path).unwrap_err().to_string();
        assert!(
            errors.starts_with(&format!(
                "web.config_file: {}: basic_auth_users.alice: not a usable bcrypt hash",
                path.display()
            )),
            "{errors}"
        );
        assert!(
            !errors.contains(": nope"),
            "the hash is not echoed: {errors}"
        );
    }
}
