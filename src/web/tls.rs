//! The HTTPS side: from plain [`TlsSettings`] (decoded by `app::web_config` from the
//! exporter-toolkit web configuration file) to a rustls `ServerConfig` on the ring provider.
//!
//! Only the mapping lives here; reading the YAML and naming its keys in errors is the app's job,
//! and watching the files for rotation is `tls_reload`'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring as ring_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use super::client_cert::AnyClientCert;

/// ALPN protocols offered: HTTP/1.1 only, the one protocol the server speaks.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Where PEM text comes from: a file (re-read when it changes) or the configuration itself.
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    Inline(String),
}

impl std::fmt::Debug for PemSource {
    /// Inline PEM may be a private key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemSource::File(path) => f.debug_tuple("File").field(path).finish(),
            PemSource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

impl PemSource {
    /// The file behind this source, if any (what rotation watches).
    pub fn path(&self) -> Option<&Path> {
        match self {
            PemSource::File(path) => Some(path),
            PemSource::Inline(_) => None,
        }
    }

    fn read(&self, what: &str) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::File(path) => std::fs::read(path).map_err(|e| TlsError::Read {
                what: format!("{what}_file"),
                path: path.clone(),
                message: e.to_string(),
            }),
            PemSource::Inline(text) => Ok(text.clone().into_bytes()),
        }
    }

    /// `cert_file /path` or `cert` (inline), for error messages.
    fn describe(&self, what: &str) -> String {
        match self {
            PemSource::File(path) => format!("{what}_file {}", path.display()),
            PemSource::Inline(_) => what.to_owned(),
        }
    }
}

/// Whether and how client certificates are asked for (Go's `tls.ClientAuthType`, which the
/// exporter-toolkit file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is requested.
    #[default]
    NoClientCert,
    /// A certificate is requested but neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified.
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must verify against the client CA.
    VerifyClientCertIfGiven,
    /// A certificate that verifies against the client CA is required (real mutual TLS).
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether the mode checks certificates against a CA (and so needs one).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// TLS 1.2 cipher suites that rustls (ring) implements, by their IANA names. TLS 1.3 suites are
/// not configurable, as in Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSuite {
    EcdheEcdsaAes128GcmSha256,
    EcdheEcdsaAes256GcmSha384,
    EcdheEcdsaChacha20Poly1305Sha256,
    EcdheRsaAes128GcmSha256,
    EcdheRsaAes256GcmSha384,
    EcdheRsaChacha20Poly1305Sha256,
}

impl CipherSuite {
    fn rustls(self) -> rustls::SupportedCipherSuite {
        use ring_provider::cipher_suite as cs;
        match self {
            CipherSuite::EcdheEcdsaAes128GcmSha256 => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::EcdheEcdsaAes256GcmSha384 => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::EcdheEcdsaChacha20Poly1305Sha256 => {
                cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            }
            CipherSuite::EcdheRsaAes128GcmSha256 => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::EcdheRsaAes256GcmSha384 => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            CipherSuite::EcdheRsaChacha20Poly1305Sha256 => {
                cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            }
        }
    }
}

/// Key-exchange groups that ring implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    X25519,
    P256,
    P384,
}

impl Curve {
    fn rustls(self) -> &'static dyn rustls::crypto::SupportedKxGroup {
        use ring_provider::kx_group;
        match self {
            Curve::X25519 => kx_group::X25519,
            Curve::P256 => kx_group::SECP256R1,
            Curve::P384 => kx_group::SECP384R1,
        }
    }
}

/// Everything the HTTPS listener needs, already validated for shape by the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: PemSource,
    pub key: PemSource,
    pub client_auth: ClientAuth,
    /// Required by the verifying client auth modes; rejected with `NoClientCert`.
    pub client_ca: Option<PemSource>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 suites in preference order; empty means rustls's defaults.
    pub cipher_suites: Vec<CipherSuite>,
    /// Key-exchange groups in preference order; empty means rustls's defaults.
    pub curves: Vec<Curve>,
    /// Choose the suite by the server's order rather than the client's.
    pub prefer_server_cipher_suites: bool,
}

impl TlsSettings {
    /// Settings with a certificate and key and every other value at its exporter-toolkit default.
    pub fn new(cert: PemSource, key: PemSource) -> Self {
        TlsSettings {
            cert,
            key,
            client_auth: ClientAuth::NoClientCert,
            client_ca: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: Vec::new(),
            curves: Vec::new(),
            prefer_server_cipher_suites: true,
        }
    }

    /// The files whose change means the server configuration must be rebuilt.
    pub fn watched_files(&self) -> Vec<&Path> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(PemSource::path)
            .collect()
    }
}

/// Why a TLS server configuration could not be built; each names the file or key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {message}", path.display())]
    Read {
        what: String,
        path: PathBuf,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Pem {
        source_name: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
}

/// Builds the rustls server configuration: reads the certificate chain, key and client CA now.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider(settings));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (settings.min_version..=settings.max_version).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::Config(format!("unusable TLS versions or cipher suites: {e}")))?;
    let verifier = client_verifier(settings, &provider)?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let chain = certificates(&settings.cert, "cert")?;
    let key = private_key(&settings.key)?;
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError::Config(format!(
            "{} and {} do not form a usable certificate: {e}",
            settings.cert.describe("cert"),
            settings.key.describe("key")
        ))
    })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The ring provider restricted to the configured suites and groups. TLS 1.3 suites always stay
/// (Go does not let them be configured either).
fn provider(settings: &TlsSettings) -> CryptoProvider {
    let mut provider = ring_provider::default_provider();
    if !settings.cipher_suites.is_empty() {
        let tls13 = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.version() == &rustls::version::TLS13);
        let tls12 = settings.cipher_suites.iter().map(|s| s.rustls());
        provider.cipher_suites = tls12.chain(tls13).collect();
    }
    if !settings.curves.is_empty() {
        provider.kx_groups = settings.curves.iter().map(|c| c.rustls()).collect();
    }
    provider
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, TlsError> {
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ClientCertVerifier> = match settings.client_auth {
        ClientAuth::NoClientCert => return Ok(None),
        ClientAuth::RequestClientCert => Arc::new(AnyClientCert::new(false, algorithms)),
        ClientAuth::RequireAnyClientCert => Arc::new(AnyClientCert::new(true, algorithms)),
        mode @ (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert) => {
            let Some(ca) = &settings.client_ca else {
                return Err(TlsError::Config(format!(
                    "client_auth_type {mode:?} needs client_ca_file or client_ca"
                )));
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca, "client_ca")? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    source_name: ca.describe("client_ca"),
                    message: format!("not a usable CA certificate: {e}"),
                })?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if mode == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| TlsError::Config(format!("client certificate verifier: {e}")))?
        }
    };
    Ok(Some(verifier))
}

/// Every certificate in a PEM source; at least one.
fn certificates(source: &PemSource, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = source.read(what)?;
    let pem_error = |message: String| TlsError::Pem {
        source_name: source.describe(what),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

fn private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = source.read("key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        source_name: source.describe("key"),
        message: format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        ca_pem: String,
        cert_pem: String,
        key_pem: String,
    }

    fn pki() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn inline(pki: &Pki) -> TlsSettings {
        TlsSettings::new(
            PemSource::Inline(pki.cert_pem.clone()),
            PemSource::Inline(pki.key_pem.clone()),
        )
    }

    #[test]
    fn builds_with_each_client_auth_mode() {
        let pki = pki();
        let modes = [
            ClientAuth::NoClientCert,
            ClientAuth::RequestClientCert,
            ClientAuth::RequireAnyClientCert,
            ClientAuth::VerifyClientCertIfGiven,
            ClientAuth::RequireAndVerifyClientCert,
        ];
        for mode in modes {
            let mut settings = inline(&pki);
            settings.client_auth = mode;
            if mode.verifies() {
                settings.client_ca = Some(PemSource::Inline(pki.ca_pem.clone()));
            }
            let config = server_config(&settings).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
            assert!(config.ignore_client_order);
        }
    }

    #[test]
    fn versions_suites_and_curves_restrict_the_provider() {
        let pki = pki();
        let mut settings = inline(&pki);
        settings.cipher_suites = vec![
            CipherSuite::EcdheRsaAes256GcmSha384,
            CipherSuite::EcdheEcdsaAes128GcmSha256,
        ];
        settings.curves = vec![Curve::P384];
        settings.prefer_server_cipher_suites = false;
        let p = provider(&settings);
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            names[..2],
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(
            names[2..].iter().all(|n| n.starts_with("TLS13_")),
            "{names:?}"
        );
        assert_eq!(p.kx_groups.len(), 1);
        assert!(!server_config(&settings).unwrap().ignore_client_order);

        settings.min_version = TlsVersion::Tls13;
        assert!(server_config(&settings).is_ok());
    }

    #[test]
    fn errors_name_the_file_or_key() {
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all").unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();

        let cases: Vec<(&str, TlsSettings, String)> = vec![
            (
                "missing cert file",
                TlsSettings::new(
                    PemSource::File(missing.clone()),
                    PemSource::Inline(pki.key_pem.clone()),
                ),
                format!("cannot read cert_file {}: ", missing.display()),
            ),
            (
                "cert file without a certificate",
                TlsSettings::new(
                    PemSource::File(garbage.clone()),
                    PemSource::Inline(pki.key_pem.clone()),
                ),
                format!(
                    "cert_file {}: no CERTIFICATE block found",
                    garbage.display()
                ),
            ),
            (
                "key file without a key",
                TlsSettings::new(
                    PemSource::Inline(pki.cert_pem.clone()),
                    PemSource::File(garbage.clone()),
                ),
                format!("key_file {}: no usable private key", garbage.display()),
            ),
            (
                "key of another certificate",
                TlsSettings::new(
                    PemSource::Inline(pki.cert_pem.clone()),
                    PemSource::Inline(other_key),
                ),
                "cert and key do not form a usable certificate".to_owned(),
            ),
            (
                "verifying without a CA",
                TlsSettings {
                    client_auth: ClientAuth::RequireAndVerifyClientCert,
                    ..inline(&pki)
                },
                "client_auth_type RequireAndVerifyClientCert needs client_ca_file or client_ca"
                    .to_owned(),
            ),
            (
                "CA file that is not PEM",
                TlsSettings {
                    client_auth: ClientAuth::VerifyClientCertIfGiven,
                    client_ca: Some(PemSource::File(garbage.clone())),
                    ..inline(&pki)
                },
                format!(
                    "client_ca_file {}: no CERTIFICATE block found",
                    garbage.display()
                ),
            ),
        ];
        for (name, settings, want) in cases {
            let got = server_config(&settings).unwrap_err().to_string();
            assert!(got.starts_with(&want), "{name}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn inline_pem_is_not_printed() {
        let source = PemSource::Inline("-----BEGIN PRIVATE KEY-----secret".to_owned());
        assert_eq!(format!("{source:?}"), "Inline(<redacted>)");
    }
}
