//! Certificate rotation: the TLS server configuration is rebuilt when the certificate, key or
//! client-CA file changes, checked on each new connection.
//!
//! exporter-toolkit re-reads the files on every handshake; a `stat` per file per connection gives
//! the same "rotation needs no restart" without re-parsing PEM each time. A file counts as changed
//! when its modification time, size or inode differs (inode: tools and Kubernetes secret mounts
//! replace files by renaming). A rebuild that fails (say the new certificate is written but not
//! yet its key) keeps the previous configuration and logs once per change, so a half-done
//! rotation never takes the endpoint down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::ServerConfig;

use super::tls::{TlsError, TlsSettings, server_config};

/// What identifies one version of a file; `None` when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

#[derive(Debug)]
struct Loaded {
    config: Arc<ServerConfig>,
    /// Stamps of the files the current configuration was built from.
    built_from: Vec<Option<Stamp>>,
    /// Stamps of the last failed rebuild: not retried (nor logged) until the files change again.
    failed_at: Option<Vec<Option<Stamp>>>,
}

/// The current TLS server configuration, rebuilt when its files change.
#[derive(Debug)]
pub struct TlsReloader {
    settings: TlsSettings,
    files: Vec<PathBuf>,
    loaded: Mutex<Loaded>,
}

impl TlsReloader {
    /// Builds the configuration once; an error here is a configuration error at start.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let files: Vec<PathBuf> = settings
            .watched_files()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        // Stamped before reading, so a change during the read shows at the next check.
        let built_from = files.iter().map(|f| stamp(f)).collect();
        let config = server_config(&settings)?;
        Ok(TlsReloader {
            settings,
            files,
            loaded: Mutex::new(Loaded {
                config,
                built_from,
                failed_at: None,
            }),
        })
    }

    /// The configuration for a new connection, rebuilt first if a file changed since.
    ///
    /// The check is a few `stat` calls; a rebuild reads small PEM files. Both are short enough to
    /// do inline on the connection's task.
    pub fn current(&self) -> Arc<ServerConfig> {
        let stamps: Vec<Option<Stamp>> = self.files.iter().map(|f| stamp(f)).collect();
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if stamps == loaded.built_from || loaded.failed_at.as_ref() == Some(&stamps) {
            return loaded.config.clone();
        }
        match server_config(&self.settings) {
            Ok(config) => {
                tracing::info!(files = ?self.files, "TLS files changed; certificate reloaded");
                loaded.config = config;
                loaded.built_from = stamps;
                loaded.failed_at = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS files changed but cannot be loaded; keeping the previous certificate");
                loaded.failed_at = Some(stamps);
            }
        }
        loaded.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::tls::PemSource;

    fn self_signed(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    /// Replaces a file the way rotation tools do: write aside, then rename over.
    fn replace(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_changed_file_rebuilds_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let (c1, k1) = self_signed("one");
        replace(&cert, &c1);
        replace(&key, &k1);
        let reloader = TlsReloader::new(TlsSettings::new(
            PemSource::File(cert.clone()),
            PemSource::File(key.clone()),
        ))
        .unwrap();
        let first = reloader.current();
        assert!(Arc::ptr_eq(&first, &reloader.current()), "unchanged files");

        // The certificate alone is rotated: it no longer matches the key; the old one stays.
        let (c2, k2) = self_signed("two");
        replace(&cert, &c2);
        let during = reloader.current();
        assert!(Arc::ptr_eq(&first, &during), "half-done rotation");

        // The key follows: the new pair is loaded.
        replace(&key, &k2);
        let second = reloader.current();
        assert!(!Arc::ptr_eq(&first, &second), "rotation picked up");
        assert!(Arc::ptr_eq(&second, &reloader.current()));
    }

    #[test]
    fn a_start_with_bad_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = TlsReloader::new(TlsSettings::new(
            PemSource::File(missing.clone()),
            PemSource::File(missing.clone()),
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read cert_file {}", missing.display())),
            "{err}"
        );
    }
}
