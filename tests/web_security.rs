//! The web configuration file end to end, with real clients: curl (OpenSSL) and a rustls client
//! against the exporter started from a `Config` whose `web.config_file` is an exporter-toolkit
//! YAML file. Certificates come from test CAs generated here (rcgen).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{HttpResponse, parse_response};
use kurento_exporter::Exporter;
use kurento_exporter::app::config::{CliOverrides, Config};
use kurento_exporter::cli;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A test certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// (certificate PEM, key PEM) for a server (`localhost`, 127.0.0.1) or a client.
    fn leaf(&self, name: &str, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let sans = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            vec![format!("{name}.clients.test")]
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes a file the way rotation tools do: aside, then renamed over the old one.
fn put(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// An exporter watching an unreachable KMS (`/-/healthy` and `/metrics` still answer), with
/// the given web configuration file.
async fn exporter(web_config: &Path) -> Exporter {
    let mut config: Config = common::test_config(&[("kms", "ws://127.0.0.1:9/kurento".to_owned())]);
    config.web.config_file = Some(web_config.to_path_buf());
    Exporter::start(config).await.expect("exporter starts")
}

/// `GET path` with rustls: trusting only `ca_pem`, presenting `client` (cert, key) if given.
/// `Err` carries the TLS or I/O failure (a refused client certificate shows up here).
async fn rustls_get(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<&(String, String)>,
    path: &str,
    authorization: Option<&str>,
) -> Result<HttpResponse, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    tls.read_to_end(&mut raw)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if raw.is_empty() {
        return Err("connection closed without an answer".to_owned());
    }
    Ok(parse_response(&raw))
}

/// curl over HTTPS to `localhost:port` (resolved to the exporter), trusting only `ca`; extra
/// arguments as given. `Err` is curl's exit code and stderr.
async fn curl(
    addr: SocketAddr,
    ca: &Path,
    path: &str,
    extra: &[&str],
) -> Result<HttpResponse, String> {
    let url = format!("https://localhost:{}{path}", addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-D", "-", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["--resolve", &resolve])
        .args(extra)
        .arg(&url)
        .output()
        .await
        .expect("curl runs (Debian package curl)");
    if !out.status.success() {
        return Err(format!(
            "curl exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse_response(&out.stdout))
}

fn basic(user_pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_basic_auth_and_headers_with_curl_and_rustls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let (cert, key) = ca.leaf("exporter", true);
    let ca_path = put(dir.path(), "ca.pem", &ca.pem);
    put(dir.path(), "server.crt", &cert);
    put(dir.path(), "server.key", &key);
    // Cost 4 keeps the test fast; operators use 10 or more.
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = put(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    );
    let exporter = exporter(&web).await;
    let addr = exporter.local_addr();

    // curl: good credentials, the exposition, and the configured headers.
    let ok = curl(addr, &ca_path, "/metrics", &["-u", "prometheus:s3cret"])
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        ok.text().contains("kurento_up{kms=\"kms\"} 0"),
        "{}",
        ok.text()
    );
    assert_eq!(ok.header("x-frame-options"), Some("deny"));
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );

    // curl: missing and wrong credentials; refusals carry the headers too.
    for extra in [
        &[][..],
        &["-u", "prometheus:wrong"][..],
        &["-u", "nobody:s3cret"][..],
    ] {
        let refused = curl(addr, &ca_path, "/metrics", extra).await.unwrap();
        assert_eq!(refused.status, 401, "{extra:?}: {refused:?}");
        assert_eq!(refused.header("www-authenticate"), Some("Basic"));
        assert_eq!(refused.header("x-frame-options"), Some("deny"));
    }

    // rustls: the same answers.
    let ok = rustls_get(
        addr,
        &ca.pem,
        None,
        "/-/healthy",
        Some(&basic("prometheus:s3cret")),
    )
    .await
    .unwrap();
    assert_eq!((ok.status, ok.text().as_str()), (200, "Healthy"));
    let refused = rustls_get(addr, &ca.pem, None, "/-/healthy", None)
        .await
        .unwrap();
    assert_eq!(refused.status, 401);

    // A client that does not trust the test CA refuses the server.
    let other = Ca::new("other CA");
    let err = rustls_get(addr, &other.pem, None, "/-/healthy", None)
        .await
        .unwrap_err();
    assert!(err.contains("handshake"), "{err}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = plain.read_to_end(&mut raw).await;
    assert!(!raw.starts_with(b"HTTP/1.1 200"), "{raw:?}");

    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_only_certificates_of_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("stranger CA");
    let (cert, key) = server_ca.leaf("exporter", true);
    let ca_path = put(dir.path(), "ca.pem", &server_ca.pem);
    put(dir.path(), "server.crt", &cert);
    put(dir.path(), "server.key", &key);
    put(dir.path(), "clients.pem", &client_ca.pem);
    let web = put(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n",
    );
    let exporter = exporter(&web).await;
    let addr = exporter.local_addr();

    let good = client_ca.leaf("prometheus", false);
    let wrong = stranger_ca.leaf("intruder", false);

    // rustls client: good certificate in, none or a stranger's out.
    let ok = rustls_get(addr, &server_ca.pem, Some(&good), "/-/healthy", None)
        .await
        .unwrap();
    assert_eq!((ok.status, ok.text().as_str()), (200, "Healthy"));
    for (name, client) in [("no certificate", None), ("wrong CA", Some(&wrong))] {
        let result = rustls_get(addr, &server_ca.pem, client, "/-/healthy", None).await;
        assert!(result.is_err(), "{name}: {result:?}");
    }

    // curl: the same.
    let good_cert = put(dir.path(), "good.crt", &good.0);
    let good_key = put(dir.path(), "good.key", &good.1);
    let wrong_cert = put(dir.path(), "wrong.crt", &wrong.0);
    let wrong_key = put(dir.path(), "wrong.key", &wrong.1);
    let arg = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let ok = curl(
        addr,
        &ca_path,
        "/metrics",
        &["--cert", &arg(&good_cert), "--key", &arg(&good_key)],
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200);
    assert!(curl(addr, &ca_path, "/metrics", &[]).await.is_err());
    assert!(
        curl(
            addr,
            &ca_path,
            "/metrics",
            &["--cert", &arg(&wrong_cert), "--key", &arg(&wrong_key)],
        )
        .await
        .is_err()
    );

    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_to_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let (cert, key) = old_ca.leaf("exporter", true);
    put(dir.path(), "server.crt", &cert);
    put(dir.path(), "server.key", &key);
    let web = put(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let exporter = exporter(&web).await;
    let addr = exporter.local_addr();
    let get = async |ca: &str| rustls_get(addr, ca, None, "/-/healthy", None).await;
    assert_eq!(get(&old_ca.pem).await.unwrap().status, 200);

    // Half-way through a rotation (new key, old certificate) the old pair keeps serving.
    let (cert, key) = new_ca.leaf("exporter", true);
    put(dir.path(), "server.key", &key);
    assert_eq!(get(&old_ca.pem).await.unwrap().status, 200);

    // Rotation complete: the next connection gets the new certificate, no restart.
    put(dir.path(), "server.crt", &cert);
    assert_eq!(get(&new_ca.pem).await.unwrap().status, 200);
    assert!(get(&old_ca.pem).await.is_err(), "old certificate gone");

    exporter.shutdown().await;
}

#[tokio::test]
async fn invalid_web_configs_are_rejected_at_start_and_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let web = put(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n",
    );
    let want = format!(
        "web.config_file: {}: tls_server_config.client_auth_type: unknown value \"Sometimes\"",
        web.display()
    );

    // Exporter::start.
    let mut config = common::test_config(&[("kms", "ws://127.0.0.1:9/kurento".to_owned())]);
    config.web.config_file = Some(web.clone());
    let err = Exporter::start(config).await.err().expect("start refused");
    assert!(err.to_string().contains(&want), "{err}");

    // check-config through the library, the file named in the TOML.
    let toml = put(
        dir.path(),
        "exporter.toml",
        &format!("[web]\nconfig_file = {:?}\n", web.display().to_string()),
    );
    let (text, code) = cli::check_config(Some(&toml), &CliOverrides::default());
    assert_eq!(code, cli::EXIT_INVALID_CONFIG);
    assert!(text.contains(&want), "{text}");

    // TLS files that do not load are a configuration error too, naming the file.
    let web_missing = put(
        dir.path(),
        "missing.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let overrides = CliOverrides {
        web_config_file: Some(web_missing.clone()),
        ..CliOverrides::default()
    };
    let (text, code) = cli::check_config(None, &overrides);
    assert_eq!(code, cli::EXIT_INVALID_CONFIG);
    assert!(
        text.contains(&format!(
            "tls_server_config: cannot read cert_file {}",
            dir.path().join("server.crt").display()
        )),
        "{text}"
    );

    // The binary: `check-config --web.config.file` and a plain start both exit 1 with the
    // message.
    let bin = env!("CARGO_BIN_EXE_kurento_exporter");
    for args in [
        vec!["check-config", "--web.config.file", web.to_str().unwrap()],
        vec![
            "--web.config.file",
            web.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
    ] {
        let out = tokio::process::Command::new(bin)
            .args(&args)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&want), "{args:?}: {stderr}");
    }
}

#[test]
fn the_shipped_example_is_valid_and_is_the_one_in_the_readme() {
    use kurento_exporter::app::web_config;
    use kurento_exporter::web::security::ClientAuth;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("deploy/web-config.yml")).unwrap();
    let security = web_config::parse(&example, Path::new("/etc/kurento_exporter")).unwrap();
    let tls = security.tls.unwrap();
    assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(security.headers.len(), 3);
    let hash = &security.users.0["prometheus"];
    assert!(bcrypt::verify("change-me", hash).unwrap());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{example}```")),
        "README \"Securing the HTTP endpoint\" must show deploy/web-config.yml verbatim"
    );
}
