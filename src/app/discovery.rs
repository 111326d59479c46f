//! The discovery watchers, one per source (`targets_files`, `dns_sd`), each started from its part
//! of the configuration and started again when a reload changes that part: a source whose
//! settings did not change keeps running (and keeps what it knows, such as the last good DNS
//! answer), and a source no longer configured loses its targets at once.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::DiscoverySettings;
use super::reloader::Reloader;
use super::{dns_watch, file_watch};
use crate::poll::store::TargetSource;

/// Runs the file source until `shutdown`, following `settings`.
pub async fn run_files(
    settings: watch::Receiver<DiscoverySettings>,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    supervise(
        settings,
        TargetSource::File,
        |s| !s.targets_files.is_empty(),
        |a, b| a.files() == b.files(),
        move |s, reloader, stop| {
            let (patterns, refresh) = s.files();
            file_watch::run(patterns.to_vec(), refresh, reloader, stop)
        },
        reloader,
        shutdown,
    )
    .await;
}

/// Runs the DNS source until `shutdown`, following `settings`. `first_resolver` is the one built
/// (and checked) at start; a reload builds its own, and one that cannot be built leaves the
/// source stopped, with an error logged.
pub async fn run_dns(
    settings: watch::Receiver<DiscoverySettings>,
    mut first_resolver: Option<hickory_resolver::TokioResolver>,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    supervise(
        settings,
        TargetSource::Dns,
        |s| !s.dns_sd.is_empty(),
        |a, b| a.dns() == b.dns(),
        move |s, reloader, stop| {
            let resolver = match first_resolver.take() {
                Some(resolver) => Ok(resolver),
                None => dns_watch::resolver(&s.dns_sd_nameservers),
            };
            let entries = s.dns_sd.clone();
            async move {
                match resolver {
                    Ok(resolver) => dns_watch::run(entries, resolver, reloader, stop).await,
                    Err(error) => tracing::error!(%error, "DNS discovery not started"),
                }
            }
        },
        reloader,
        shutdown,
    )
    .await;
}

/// Starts `source`'s watcher while `configured`, and again whenever its part (`same` tells) of
/// the settings changes; clears the source's targets when it is no longer configured.
async fn supervise<W: Future<Output = ()> + Send + 'static>(
    mut settings: watch::Receiver<DiscoverySettings>,
    source: TargetSource,
    configured: fn(&DiscoverySettings) -> bool,
    same: fn(&DiscoverySettings, &DiscoverySettings) -> bool,
    mut start: impl FnMut(&DiscoverySettings, Arc<Reloader>, CancellationToken) -> W,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    let mut current = settings.borrow_and_update().clone();
    loop {
        let generation = shutdown.child_token();
        // A task of its own (aborted with this one, should this one be dropped).
        let mut watcher = JoinSet::new();
        if configured(&current) {
            watcher.spawn(start(&current, Arc::clone(&reloader), generation.clone()));
        }
        // Until this source's part changes (other changes leave the watcher running).
        let next = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                changed = settings.changed() => {
                    if changed.is_err() {
                        break None;
                    }
                    let next = settings.borrow_and_update().clone();
                    if !same(&current, &next) {
                        break Some(next);
                    }
                }
            }
        };
        generation.cancel();
        // The watcher returns once cancelled; a panic in it is not this loop's to carry on.
        while watcher.join_next().await.is_some() {}
        let Some(next) = next else {
            return;
        };
        if configured(&current) && !configured(&next) {
            reloader.discovered(source, Vec::new()).await;
        }
        let running = configured(&next);
        tracing::info!(
            origin = source.label(),
            running,
            "discovery settings changed"
        );
        current = next;
    }
}
