//! Looks up the `dns_sd` names, each every `refresh`, and hands their combined targets to the
//! reloader (`TargetSource::Dns`). The I/O shell around `app::dns_sd`.
//!
//! Each lookup asks a name server (no answer cache: a refresh is one question, so a scaled-in
//! KMS goes within one `refresh`, whatever the records' TTL). NXDOMAIN and empty answers are
//! answers (no targets); anything else that fails keeps the entry's previous targets.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::{DnsRecordType, DnsSdConfig};
use super::dns_sd::{Answers, Found, Outcome};
use super::reloader::Reloader;
use crate::poll::store::TargetSource;

/// A resolver asking `nameservers` (UDP, TCP for truncated answers), or the system's name servers
/// and search domains (`/etc/resolv.conf`) when there are none.
pub fn resolver(nameservers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let mut builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?
    } else {
        let servers = nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    // Every refresh asks again (see the module comment).
    builder.options_mut().cache_size = 0;
    builder
        .build()
        .map_err(|e| format!("cannot build the DNS resolver: {e}"))
}

/// One lookup of `entry`.
async fn lookup(resolver: &TokioResolver, entry: &DnsSdConfig) -> Outcome {
    let record_type = match entry.record_type {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::Aaaa => RecordType::AAAA,
        DnsRecordType::Srv => RecordType::SRV,
    };
    match resolver.lookup(entry.name.as_str(), record_type).await {
        // Answers may also hold the CNAMEs that led to the records.
        Ok(lookup) => Outcome::Answer(
            lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some(Found::Address(a.0.into())),
                    RData::AAAA(aaaa) => Some(Found::Address(aaaa.0.into())),
                    RData::SRV(srv) => Some(Found::Service {
                        host: srv.target.to_string(),
                        port: srv.port,
                    }),
                    _ => None,
                })
                .collect(),
        ),
        Err(e) => outcome_of_error(&e),
    }
}

/// NXDOMAIN and NOERROR without records say the name has no KMS now; other errors say nothing.
fn outcome_of_error(error: &NetError) -> Outcome {
    if error.is_no_records_found() {
        Outcome::Answer(Vec::new())
    } else {
        Outcome::Failed(error.to_string())
    }
}

/// Looks `entry` up every `refresh`, sending each outcome with the entry's index.
async fn lookup_loop(
    index: usize,
    entry: DnsSdConfig,
    resolver: TokioResolver,
    outcomes: mpsc::Sender<(usize, Outcome)>,
) {
    loop {
        let outcome = lookup(&resolver, &entry).await;
        if outcomes.send((index, outcome)).await.is_err() {
            return;
        }
        tokio::time::sleep(entry.refresh).await;
    }
}

/// Runs until `shutdown`: keeps the reloader's DNS-discovered targets those the names answer.
pub async fn run(
    entries: Vec<DnsSdConfig>,
    resolver: TokioResolver,
    reloader: Arc<Reloader>,
    shutdown: CancellationToken,
) {
    let (outcomes_tx, mut outcomes) = mpsc::channel(entries.len().max(1));
    // Aborted when dropped, so the lookups end with this task.
    let mut lookups = JoinSet::new();
    for (index, entry) in entries.iter().enumerate() {
        lookups.spawn(lookup_loop(
            index,
            entry.clone(),
            resolver.clone(),
            outcomes_tx.clone(),
        ));
    }
    drop(outcomes_tx);
    let mut answers = Answers::new(entries.len());
    loop {
        let (index, outcome) = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = outcomes.recv() => match received {
                Some(received) => received,
                None => return,
            },
        };
        if let Some(entry) = entries.get(index) {
            answers.update(index, entry, outcome);
            reloader.discovered(TargetSource::Dns, answers.all()).await;
        }
    }
}
