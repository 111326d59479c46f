//! Watches the `targets_files` (Prometheus file_sd): reads them at start, again whenever a file
//! in their directories changes (inotify through the `notify` crate), and every
//! `targets_files_refresh` anyway (network file systems and some container mounts send no
//! change events). Each read hands the whole set to the reloader, which starts and stops pollers;
//! a target removed from a file disappears at once (its series with it, so no alert fires).
//!
//! A file that fails to read or parse keeps the targets it gave last (as Prometheus does: a
//! half-written file must not make a fleet vanish); a file that no longer exists gives none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::discovered::DiscoveredTarget;
use super::file_sd::{self, FileFormat};
use super::reloader::Reloader;
use crate::poll::store::TargetSource;

/// What the watcher remembers between reads.
#[derive(Debug, Default)]
struct Files {
    /// The targets each file gave when it last parsed.
    good: BTreeMap<PathBuf, Vec<DiscoveredTarget>>,
    /// The last error of each failing file, so it is logged once, not at every read.
    failing: BTreeMap<PathBuf, String>,
}

impl Files {
    /// Reads every file the patterns match now; returns every target, in file order.
    fn read(&mut self, patterns: &[String]) -> Vec<DiscoveredTarget> {
        let matched = matching_files(patterns);
        self.good.retain(|path, _| matched.contains(path));
        self.failing.retain(|path, _| matched.contains(path));
        for path in &matched {
            match read_file(path) {
                Ok(targets) => {
                    if self.failing.remove(path).is_some() {
                        tracing::info!(file = %path.display(), "targets file parses again");
                    }
                    self.good.insert(path.clone(), targets);
                }
                Err(error) => {
                    if self.failing.get(path) != Some(&error) {
                        tracing::warn!(file = %path.display(), %error, "targets file rejected; its previous targets stay");
                        self.failing.insert(path.clone(), error);
                    }
                }
            }
        }
        self.good.values().flatten().cloned().collect()
    }
}

/// The files the patterns match, those with a file_sd extension, sorted.
fn matching_files(patterns: &[String]) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for pattern in patterns {
        let Ok(paths) = glob::glob(pattern) else {
            continue; // Validated at load; nothing to match otherwise.
        };
        files.extend(
            paths
                .flatten()
                .filter(|p| p.is_file() && FileFormat::of(p).is_some()),
        );
    }
    files
}

fn read_file(path: &Path) -> Result<Vec<DiscoveredTarget>, String> {
    let format = FileFormat::of(path).ok_or("not a .json, .yml or .yaml file")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    file_sd::parse(format, &text)
}

/// The directory a pattern's files live in: its path up to the first component with a glob
/// character (what to watch for new and removed files).
fn watched_dir(pattern: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    for component in Path::new(pattern).components() {
        let text = component.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[']) {
            return dir;
        }
        dir.push(component);
    }
    // No glob: the pattern names one file; watch its directory.
    dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Runs until `shutdown`: keeps the reloader's file-discovered targets those of the files.
pub async fn run(
    patterns: Vec<String>,
    refresh: Duration,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    let (changed_tx, mut changed) = mpsc::channel::<()>(1);
    // Kept alive for as long as the loop runs; without it, file changes wait for the refresh.
    let _watcher = watch_dirs(&patterns, changed_tx);
    let mut files = Files::default();
    loop {
        let targets = files.read(&patterns);
        reloader.discovered(TargetSource::File, targets).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = changed.recv() => {}
            _ = tokio::time::sleep(refresh) => {}
        }
    }
}

/// A watcher on the directories of the patterns, sending on `changed` after any event (a full
/// channel already holds a pending re-read, so events coalesce).
fn watch_dirs(
    patterns: &[String],
    changed: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = changed.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the targets files; they are re-read every targets_files_refresh");
            return None;
        }
    };
    let dirs: BTreeSet<PathBuf> = patterns.iter().map(|p| watched_dir(p)).collect();
    for dir in dirs {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a targets directory; it is re-read every targets_files_refresh");
        }
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watched_directory_is_the_pattern_up_to_its_first_glob() {
        assert_eq!(
            watched_dir("/etc/k/targets/*.json"),
            PathBuf::from("/etc/k/targets")
        );
        assert_eq!(watched_dir("/etc/k/*/x.json"), PathBuf::from("/etc/k"));
        assert_eq!(watched_dir("/etc/k/one.yml"), PathBuf::from("/etc/k"));
        assert_eq!(watched_dir("rel/[ab].json"), PathBuf::from("rel"));
    }

    #[test]
    fn a_broken_file_keeps_its_targets_and_a_removed_one_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.yml");
        std::fs::write(&a, r#"[{"targets": ["kms-a:8888"]}]"#).unwrap();
        std::fs::write(&b, "- targets: ['kms-b:8888']\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let patterns = vec![format!("{}/*", dir.path().display())];
        let names = |targets: Vec<DiscoveredTarget>| -> Vec<String> {
            targets.into_iter().map(|t| t.name).collect()
        };
        let mut files = Files::default();
        assert_eq!(names(files.read(&patterns)), ["kms-a:8888", "kms-b:8888"]);
        // Half-written: the file's previous targets stay.
        std::fs::write(&a, r#"[{"targets": ["kms-"#).unwrap();
        assert_eq!(names(files.read(&patterns)), ["kms-a:8888", "kms-b:8888"]);
        assert!(files.failing.contains_key(&a));
        std::fs::write(&a, r#"[{"targets": ["kms-c:8888"]}]"#).unwrap();
        assert_eq!(names(files.read(&patterns)), ["kms-c:8888", "kms-b:8888"]);
        assert!(files.failing.is_empty());
        std::fs::remove_file(&b).unwrap();
        assert_eq!(names(files.read(&patterns)), ["kms-c:8888"]);
    }
}
