//! DNS service discovery (`dns_sd`), the pure part: what a lookup answered, turned into targets,
//! and what the discovery remembers between lookups. The lookups themselves are in
//! `app::dns_watch`.
//!
//! - A and AAAA: one target per address, `SCHEME://ADDRESS:PORT/PATH`, named `ADDRESS:PORT`
//!   (IPv6 without brackets, as file_sd's `host:port` names).
//! - SRV: one target per record, `SCHEME://HOST:PORT/PATH` with the record's target host and port,
//!   named `HOST:PORT`. The host name is kept, not resolved here (as Prometheus' dns_sd does): it
//!   is resolved when the poller connects, and a StatefulSet's stable pod names keep their `kms`
//!   name across restarts where pod addresses would not. Priority and weight are ignored: every
//!   KMS is watched.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::config::{DnsSdConfig, check_target_name, check_target_url};
use super::discovered::DiscoveredTarget;

/// One useful record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An A or AAAA record.
    Address(IpAddr),
    /// An SRV record: its target host (without the final dot) and port.
    Service { host: String, port: u16 },
}

/// The targets an answer gives, sorted and without duplicates (DNS servers rotate their answers;
/// the order must not read as a change). Records that make no valid target are returned apart,
/// as messages, to be logged.
pub fn targets(entry: &DnsSdConfig, found: &[Found]) -> (Vec<DiscoveredTarget>, Vec<String>) {
    let mut targets = BTreeSet::new();
    let mut rejected = Vec::new();
    for record in found {
        let (host, url_host, port) = match record {
            Found::Address(ip) => {
                // Validation makes the port required for A and AAAA.
                let Some(port) = entry.port.and_then(|p| u16::try_from(p).ok()) else {
                    continue;
                };
                let url_host = match ip {
                    IpAddr::V4(v4) => v4.to_string(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                };
                (ip.to_string(), url_host, port)
            }
            // "." means "no such service here" (RFC 2782).
            Found::Service { host, .. } if host.is_empty() || host == "." => continue,
            Found::Service { host, port } => {
                let host = host.strip_suffix('.').unwrap_or(host).to_owned();
                (host.clone(), host, *port)
            }
        };
        let name = format!("{host}:{port}");
        let url = format!(
            "{}://{url_host}:{port}{}",
            entry.scheme.as_str(),
            entry.path
        );
        if let Err(m) = check_target_name(&name) {
            rejected.push(format!("kms name {m}"));
            continue;
        }
        if let Err(m) = check_target_url(&url) {
            rejected.push(format!("url {m}"));
            continue;
        }
        targets.insert(DiscoveredTarget { name, url });
    }
    (targets.into_iter().collect(), rejected)
}

/// How a lookup ended, as the discovery sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The name's records; empty for NXDOMAIN or an answer without records of the type (a fleet
    /// scaled to zero: a Kubernetes headless Service without ready pods answers NXDOMAIN).
    Answer(Vec<Found>),
    /// No answer (timeout, SERVFAIL, REFUSED, network error): the previous targets stay.
    Failed(String),
}

/// What the discovery remembers, per `dns_sd` entry.
#[derive(Debug)]
pub struct Answers {
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Entry {
    /// The targets of the last answer.
    good: Vec<DiscoveredTarget>,
    /// The last lookup error, so it is logged once, not at every refresh.
    failing: Option<String>,
    /// The last rejected records, likewise.
    rejected: Vec<String>,
}

impl Answers {
    pub fn new(entries: usize) -> Answers {
        Answers {
            entries: (0..entries).map(|_| Entry::default()).collect(),
        }
    }

    /// Takes the outcome of a lookup of entry `i`.
    pub fn update(&mut self, i: usize, config: &DnsSdConfig, outcome: Outcome) {
        let Some(entry) = self.entries.get_mut(i) else {
            return;
        };
        let name = &config.name;
        match outcome {
            Outcome::Answer(found) => {
                if entry.failing.take().is_some() {
                    tracing::info!(dns_name = %name, "DNS lookup answers again");
                }
                let (targets, rejected) = targets(config, &found);
                if rejected != entry.rejected {
                    for why in &rejected {
                        tracing::warn!(dns_name = %name, error = %why, "DNS record ignored");
                    }
                    entry.rejected = rejected;
                }
                entry.good = targets;
            }
            Outcome::Failed(error) => {
                if entry.failing.as_ref() != Some(&error) {
                    tracing::warn!(dns_name = %name, %error, "DNS lookup failed; its previous targets stay");
                    entry.failing = Some(error);
                }
            }
        }
    }

    /// Every entry's targets, in entry order.
    pub fn all(&self) -> Vec<DiscoveredTarget> {
        self.entries
            .iter()
            .flat_map(|e| e.good.iter().cloned())
            .collect()
    }

    #[cfg(test)]
    fn failing(&self, i: usize) -> Option<&str> {
        self.entries.get(i)?.failing.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::config::{DnsRecordType, WsScheme};

    fn entry(record_type: DnsRecordType, port: Option<u32>) -> DnsSdConfig {
        DnsSdConfig {
            name: "kms.kurento.svc.cluster.local".into(),
            record_type,
            port,
            refresh: Duration::from_secs(30),
            path: "/kurento".into(),
            scheme: WsScheme::Ws,
        }
    }

    fn target(name: &str, url: &str) -> DiscoveredTarget {
        DiscoveredTarget {
            name: name.into(),
            url: url.into(),
        }
    }

    fn ip(text: &str) -> Found {
        Found::Address(text.parse().unwrap())
    }

    #[test]
    fn addresses_give_one_target_each_sorted_and_deduplicated() {
        let a = entry(DnsRecordType::A, Some(8888));
        let found = [ip("10.0.0.2"), ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            targets(&a, &found),
            (
                vec![
                    target("10.0.0.1:8888", "ws://10.0.0.1:8888/kurento"),
                    target("10.0.0.2:8888", "ws://10.0.0.2:8888/kurento"),
                ],
                vec![]
            )
        );
        let mut aaaa = entry(DnsRecordType::Aaaa, Some(8433));
        aaaa.scheme = WsScheme::Wss;
        aaaa.path = "/kms".into();
        assert_eq!(
            targets(&aaaa, &[ip("fd00::1")]).0,
            vec![target("fd00::1:8433", "wss://[fd00::1]:8433/kms")]
        );
        assert_eq!(targets(&a, &[]), (vec![], vec![]));
    }

    #[test]
    fn services_give_their_host_and_port() {
        let srv = entry(DnsRecordType::Srv, None);
        let found = [
            Found::Service {
                host: "kms-1.kms.kurento.svc.cluster.local.".into(),
                port: 8888,
            },
            Found::Service {
                host: "kms-0.kms.kurento.svc.cluster.local.".into(),
                port: 8889,
            },
            Found::Service {
                host: ".".into(),
                port: 0,
            },
        ];
        assert_eq!(
            targets(&srv, &found),
            (
                vec![
                    target(
                        "kms-0.kms.kurento.svc.cluster.local:8889",
                        "ws://kms-0.kms.kurento.svc.cluster.local:8889/kurento"
                    ),
                    target(
                        "kms-1.kms.kurento.svc.cluster.local:8888",
                        "ws://kms-1.kms.kurento.svc.cluster.local:8888/kurento"
                    ),
                ],
                vec![]
            )
        );
        // A host name too long for a kms name is left out and reported.
        let long = format!("{}.example.", "k".repeat(60));
        let (kept, rejected) = targets(
            &srv,
            &[Found::Service {
                host: long,
                port: 8888,
            }],
        );
        assert!(kept.is_empty());
        assert!(rejected[0].contains("at most 64"), "{rejected:?}");
    }

    #[test]
    fn a_failure_keeps_the_targets_and_an_empty_answer_drops_them() {
        let a = entry(DnsRecordType::A, Some(8888));
        let mut b = entry(DnsRecordType::A, Some(9999));
        b.name = "other.example".into();
        let mut answers = Answers::new(2);
        answers.update(0, &a, Outcome::Answer(vec![ip("10.0.0.1")]));
        answers.update(1, &b, Outcome::Answer(vec![ip("10.0.0.9")]));
        let names = |answers: &Answers| -> Vec<String> {
            answers.all().into_iter().map(|t| t.name).collect()
        };
        assert_eq!(names(&answers), ["10.0.0.1:8888", "10.0.0.9:9999"]);
        answers.update(0, &a, Outcome::Failed("SERVFAIL".into()));
        assert_eq!(names(&answers), ["10.0.0.1:8888", "10.0.0.9:9999"]);
        assert_eq!(answers.failing(0), Some("SERVFAIL"));
        answers.update(0, &a, Outcome::Answer(vec![ip("10.0.0.2")]));
        assert_eq!(answers.failing(0), None);
        assert_eq!(names(&answers), ["10.0.0.2:8888", "10.0.0.9:9999"]);
        // Scaled to zero.
        answers.update(1, &b, Outcome::Answer(vec![]));
        assert_eq!(names(&answers), ["10.0.0.2:8888"]);
        // An index beyond the entries changes nothing.
        answers.update(7, &b, Outcome::Answer(vec![ip("10.0.0.7")]));
        assert_eq!(names(&answers), ["10.0.0.2:8888"]);
    }
}
