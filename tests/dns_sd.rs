//! DNS discovery end to end: the exporter asks a small authoritative DNS server started by the
//! test (UDP on 127.0.0.1, answering one name from a table the test changes) every second.
//! Addresses (A) and services (SRV) become targets with source `dns`; a record removed takes its
//! target and series away at once (no `kurento_up 0` left behind to fire KurentoDown); SERVFAIL
//! keeps the targets, logged once, and so does a name server that stops answering (lookups end at
//! the resolver's timeout); NXDOMAIN (a fleet scaled to zero) leaves none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::log_capture::CapturedLog;
use common::*;
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};
use kurento_exporter::Exporter;
use kurento_exporter::app::config::{Config, DnsRecordType, DnsSdConfig, WsScheme};
use kurento_exporter::sim::{SimOptions, Simulator};
use tokio::net::UdpSocket;

const DEADLINE: Duration = Duration::from_secs(20);
const NAME: &str = "kms.dns-sd.test";

/// What the test DNS server answers for `NAME`.
#[derive(Default)]
struct Table {
    /// The records of `NAME` (of every type: a query gets those of its type); none answers
    /// NXDOMAIN, as CoreDNS does for a headless Service without ready pods.
    records: Vec<RData>,
    /// Answer SERVFAIL to everything.
    servfail: bool,
    /// SERVFAIL answers sent.
    servfails: usize,
    /// Answer nothing at all (a name server that hangs): queries are counted and dropped.
    silent: bool,
    /// Queries dropped while silent.
    unanswered: usize,
}

#[derive(Clone, Default)]
struct Zone(Arc<Mutex<Table>>);

impl Zone {
    fn set(&self, records: Vec<RData>) {
        let mut table = self.0.lock().unwrap();
        table.records = records;
        table.servfail = false;
        table.silent = false;
    }

    fn go_silent(&self) {
        self.0.lock().unwrap().silent = true;
    }

    fn unanswered(&self) -> usize {
        self.0.lock().unwrap().unanswered
    }

    fn fail(&self) {
        self.0.lock().unwrap().servfail = true;
    }

    fn servfails(&self) -> usize {
        self.0.lock().unwrap().servfails
    }

    /// The answer to `request`, or `None` while silent.
    fn answer(&self, request: &Message) -> Option<Message> {
        if self.note_if_silent() {
            return None;
        }
        Some(self.respond(request))
    }

    fn note_if_silent(&self) -> bool {
        let mut table = self.0.lock().unwrap();
        if table.silent {
            table.unanswered += 1;
        }
        table.silent
    }

    fn respond(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.add_queries(request.queries.clone());
        let mut table = self.0.lock().unwrap();
        if table.servfail {
            table.servfails += 1;
            response.metadata.response_code = ResponseCode::ServFail;
            return response;
        }
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        let asked = query.name().to_ascii().to_ascii_lowercase();
        if asked.trim_end_matches('.') != NAME || table.records.is_empty() {
            response.metadata.response_code = ResponseCode::NXDomain;
            return response;
        }
        for rdata in &table.records {
            if rdata.record_type() == query.query_type() {
                response.add_answer(Record::from_rdata(query.name().clone(), 0, rdata.clone()));
            }
        }
        response
    }
}

/// Serves `zone` on 127.0.0.1 (UDP, an ephemeral port) until the handle is aborted. The same
/// port on TCP accepts connections and never answers on them, so a resolver that turns to TCP
/// finds a server that hangs there too, not one that refuses at once.
async fn start_dns(zone: Zone) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, peer) = tokio::select! {
                received = socket.recv_from(&mut buf) => match received {
                    Ok(received) => received,
                    Err(_) => return,
                },
                accepted = tcp.accept() => {
                    if let Ok((stream, _)) = accepted {
                        zone.note_if_silent();
                        held.push(stream);
                    }
                    continue;
                }
            };
            let Ok(request) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            if let Some(response) = zone.answer(&request) {
                let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
            }
        }
    });
    (addr, server)
}

fn a(ip: &str) -> RData {
    RData::A(A(ip.parse().unwrap()))
}

fn srv(port: u16) -> RData {
    RData::SRV(SRV::new(
        0,
        0,
        port,
        Name::from_ascii("localhost.").unwrap(),
    ))
}

fn dns_config(dns: SocketAddr, record_type: DnsRecordType, port: Option<u32>) -> Config {
    let mut config = test_config(&[]);
    config.dns_sd = vec![DnsSdConfig {
        name: NAME.to_owned(),
        record_type,
        port,
        refresh: Duration::from_secs(1),
        path: "/kurento".to_owned(),
        scheme: WsScheme::Ws,
    }];
    config.dns_sd_nameservers = vec![dns.to_string()];
    config
}

/// Waits until the exposition satisfies `ok`, returning it.
async fn scrape_until(addr: SocketAddr, what: &str, ok: impl Fn(&str) -> bool) -> String {
    eventually(what, DEADLINE, async || {
        let text = scrape(addr).await;
        ok(&text).then_some(text)
    })
    .await
}

fn up(kms: &str) -> String {
    format!("kurento_up{{kms=\"{kms}\"}}")
}

const DNS_TARGETS: &str = "kurento_exporter_targets{source=\"dns\"}";

#[tokio::test]
async fn addresses_follow_the_a_records() {
    let (log, _guard) = CapturedLog::install(tracing::Level::WARN);
    // A records carry no port: both simulators listen on the same port, on two loopback
    // addresses (Linux routes all of 127.0.0.0/8 to the loopback interface).
    let first = start_sim(steady_demo()).await;
    let port = first.local_addr().port();
    let second = Simulator::start(SimOptions {
        listen: SocketAddr::new(IpAddr::from([127, 0, 0, 2]), port),
        scenario: steady_demo(),
    })
    .await
    .expect("a simulator on 127.0.0.2 with the first one's port");
    let zone = Zone::default();
    zone.set(vec![a("127.0.0.1"), a("127.0.0.2")]);
    let (dns, server) = start_dns(zone.clone()).await;

    let exporter = Exporter::start(dns_config(dns, DnsRecordType::A, Some(port.into())))
        .await
        .unwrap();
    let addr = exporter.local_addr();
    let (kms_1, kms_2) = (format!("127.0.0.1:{port}"), format!("127.0.0.2:{port}"));
    let text = scrape_until(addr, "both addresses polled", |t| {
        sample(t, &up(&kms_1)) == Some(1.0) && sample(t, &up(&kms_2)) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, DNS_TARGETS), Some(2.0));
    assert_eq!(
        sample(&text, "kurento_exporter_targets{source=\"config\"}"),
        Some(0.0),
        "no default target with dns_sd"
    );

    // Scaled in: the removed address goes, series and all.
    zone.set(vec![a("127.0.0.1")]);
    let gone = format!("kms=\"{kms_2}\"");
    let text = scrape_until(addr, "127.0.0.2 gone", |t| !t.contains(&gone)).await;
    assert_eq!(sample(&text, DNS_TARGETS), Some(1.0));
    assert_eq!(sample(&text, &up(&kms_1)), Some(1.0));

    // SERVFAIL: the targets stay, and the failure is logged once however often it repeats.
    zone.fail();
    eventually("the failure logged", DEADLINE, async || {
        !log.matching("DNS lookup failed").is_empty()
    })
    .await;
    // Lookups are one after another, each of a bounded number of queries, and an outcome is
    // taken before the next-but-one lookup starts: four times the queries seen so far means at
    // least two more failed lookups were taken.
    let seen = zone.servfails();
    eventually("more failed lookups", DEADLINE, async || {
        zone.servfails() >= 4 * seen
    })
    .await;
    let text = scrape(addr).await;
    assert_eq!(sample(&text, &up(&kms_1)), Some(1.0), "{text}");
    assert_eq!(sample(&text, DNS_TARGETS), Some(1.0));
    assert_eq!(
        log.matching("DNS lookup failed").len(),
        1,
        "{:?}",
        log.lines()
    );

    // Answers again: the lost address comes back.
    zone.set(vec![a("127.0.0.2"), a("127.0.0.1")]);
    scrape_until(addr, "127.0.0.2 back", |t| {
        sample(t, &up(&kms_2)) == Some(1.0)
    })
    .await;

    // NXDOMAIN: scaled to zero, no targets (and no default one).
    zone.set(Vec::new());
    let text = scrape_until(addr, "every target gone", |t| {
        sample(t, DNS_TARGETS) == Some(0.0)
    })
    .await;
    assert!(!text.contains("kurento_up{"), "{text}");

    exporter.shutdown().await;
    server.abort();
    first.shutdown().await;
    second.shutdown().await;
}

/// A name server that stops answering altogether (a hung resolver, a dropped route): each lookup
/// ends at the resolver's timeout, the targets stay and keep being polled, the failure is logged
/// once, and the next answer is taken as soon as the server answers again.
#[tokio::test]
async fn a_silent_name_server_keeps_the_targets_until_it_answers_again() {
    let (log, _guard) = CapturedLog::install(tracing::Level::WARN);
    let kms = start_sim(steady_demo()).await;
    let port = kms.local_addr().port();
    let zone = Zone::default();
    zone.set(vec![a("127.0.0.1")]);
    let (dns, server) = start_dns(zone.clone()).await;
    let exporter = Exporter::start(dns_config(dns, DnsRecordType::A, Some(port.into())))
        .await
        .unwrap();
    let addr = exporter.local_addr();
    let target = format!("127.0.0.1:{port}");
    scrape_until(addr, "the address polled", |t| {
        sample(t, &up(&target)) == Some(1.0)
    })
    .await;

    zone.go_silent();
    // Lookups time out one after the other (the resolver's own timeout, seconds each).
    let timeouts = Duration::from_secs(60);
    eventually("the failure logged", timeouts, async || {
        !log.matching("DNS lookup failed").is_empty()
    })
    .await;
    let failure = log.matching("DNS lookup failed");
    assert!(
        failure[0].contains("timed out"),
        "a timeout, not a refusal: {failure:?}"
    );
    let seen = zone.unanswered();
    eventually("another lookup left unanswered", timeouts, async || {
        zone.unanswered() > seen
    })
    .await;
    let text = scrape(addr).await;
    assert_eq!(sample(&text, &up(&target)), Some(1.0), "{text}");
    assert_eq!(sample(&text, DNS_TARGETS), Some(1.0));
    assert_eq!(
        log.matching("DNS lookup failed").len(),
        1,
        "{:?}",
        log.lines()
    );

    // Answering again, with the fleet scaled to zero: taken at the next lookup.
    zone.set(Vec::new());
    eventually("the new answer taken", timeouts, async || {
        sample(&scrape(addr).await, DNS_TARGETS) == Some(0.0)
    })
    .await;

    exporter.shutdown().await;
    server.abort();
    kms.shutdown().await;
}

#[tokio::test]
async fn services_follow_the_srv_records() {
    let (first, second) = (
        start_sim(steady_demo()).await,
        start_sim(steady_demo()).await,
    );
    let (p1, p2) = (first.local_addr().port(), second.local_addr().port());
    let zone = Zone::default();
    zone.set(vec![srv(p1), srv(p2)]);
    let (dns, server) = start_dns(zone.clone()).await;

    let exporter = Exporter::start(dns_config(dns, DnsRecordType::Srv, None))
        .await
        .unwrap();
    let addr = exporter.local_addr();
    // Named by the records' host and port; the host is resolved when connecting.
    let (kms_1, kms_2) = (format!("localhost:{p1}"), format!("localhost:{p2}"));
    let text = scrape_until(addr, "both services polled", |t| {
        sample(t, &up(&kms_1)) == Some(1.0) && sample(t, &up(&kms_2)) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, DNS_TARGETS), Some(2.0));

    zone.set(vec![srv(p2)]);
    let gone = format!("kms=\"{kms_1}\"");
    let text = scrape_until(addr, "the first service gone", |t| !t.contains(&gone)).await;
    assert_eq!(sample(&text, DNS_TARGETS), Some(1.0));
    assert_eq!(sample(&text, &up(&kms_2)), Some(1.0));

    exporter.shutdown().await;
    server.abort();
    first.shutdown().await;
    second.shutdown().await;
}

/// A reload follows the `dns_sd` list: names removed take their targets away at once, names
/// added are looked up (with the name servers of the new configuration).
#[tokio::test]
async fn a_reload_follows_a_changed_dns_sd_list() {
    let kms = start_sim(steady_demo()).await;
    let port = kms.local_addr().port();
    let zone = Zone::default();
    zone.set(vec![a("127.0.0.1")]);
    let (dns, server) = start_dns(zone.clone()).await;
    let with_dns = dns_config(dns, DnsRecordType::A, Some(port.into()));
    let exporter = Exporter::start(with_dns.clone()).await.unwrap();
    let addr = exporter.local_addr();
    let target = format!("127.0.0.1:{port}");
    scrape_until(addr, "the address polled", |t| {
        sample(t, &up(&target)) == Some(1.0)
    })
    .await;

    let mut without_dns = with_dns.clone();
    without_dns.dns_sd.clear();
    without_dns.dns_sd_nameservers.clear();
    without_dns.targets = test_config(&[("configured", kms.url())]).targets;
    exporter.reload(&without_dns).await.unwrap();
    let text = scrape_until(addr, "the DNS target gone", |t| {
        !t.contains(&format!("kms=\"{target}\""))
    })
    .await;
    assert_eq!(sample(&text, DNS_TARGETS), Some(0.0));

    exporter.reload(&with_dns).await.unwrap();
    scrape_until(addr, "the DNS target back", |t| {
        sample(t, &up(&target)) == Some(1.0) && sample(t, DNS_TARGETS) == Some(1.0)
    })
    .await;

    exporter.shutdown().await;
    server.abort();
    kms.shutdown().await;
}
