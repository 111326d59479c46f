//! Signals and shutdown of the real binary: SIGTERM stops it within a bound whatever KMS does
//! (here: KMS stalled in the middle of the exporter's reads, and a client that never finishes
//! its request), with exit code 0; SIGHUP reloads the configuration and SIGUSR1 is ignored,
//! both leaving it running.
//!
//! The child process is an external process, so the tests wait for it with deadlines
//! (`common::eventually`) and synchronise with KMS through the fault proxy's counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::fault_proxy::FaultProxy;
use tokio::io::AsyncWriteExt;

/// A liveness bound, not a measurement: the exporter's own bound is 5 s (README "Signals and
/// shutdown"); the rest is slack for a loaded test machine.
const EXIT_BOUND: Duration = Duration::from_secs(8);

/// The exporter binary, its HTTP address and its log lines; killed when dropped.
struct Exporter {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Exporter {
    /// Starts the binary with this TOML configuration (plus a loopback listen address on port
    /// 0) and waits for the address it logs.
    fn start(dir: &tempfile::TempDir, targets: &str) -> Exporter {
        let config = dir.path().join("exporter.toml");
        std::fs::write(
            &config,
            format!("[web]\nlisten_address = \"127.0.0.1:0\"\n{targets}"),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kurento_exporter"))
            .arg("--config.file")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        // Reads the log to its end, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split_once("msg=listening address=")
                    .and_then(|(_, rest)| rest.split(' ').next())
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the exporter logs its listen address");
        Exporter { child, addr, log }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with the pid of our own child, which is not reaped before drop.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the exit (at most `EXIT_BOUND`), returning its status and how long it took.
    async fn exit(&mut self, since: Instant) -> (ExitStatus, Duration) {
        let child = &mut self.child;
        let status = common::eventually("the exporter to exit", EXIT_BOUND, async || {
            child.try_wait().unwrap()
        })
        .await;
        (status, since.elapsed())
    }

    async fn log_line(&self, needle: &str) -> String {
        common::eventually(
            &format!("a log line with {needle:?}"),
            EXIT_BOUND,
            async || {
                let log = self.log.lock().unwrap();
                log.iter().find(|l| l.contains(needle)).cloned()
            },
        )
        .await
    }
}

fn target(url: &str) -> String {
    format!(
        "[poll]\ninterval = \"30s\"\ntimeout = \"20s\"\ncpu_sample = \"50ms\"\n\
         [[targets]]\nname = \"kms\"\nurl = \"{url}\"\n"
    )
}

/// SIGTERM while KMS is stalled took 34 s: the poller waited for KMS (up to a call timeout, here
/// 20 s) and the HTTP server for its clients (10 s). Now polling stops at once, clients get 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_kms_stalled_mid_read_exits_quickly_with_code_0() {
    let sim = common::start_sim(common::silence::steady_demo()).await;
    let proxy = FaultProxy::start(&sim.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = Exporter::start(&dir, &target(&proxy.url()));
    // The exporter opens its four sockets (events, two reads, CPU) and starts reading: KMS
    // falls silent in the middle, and the exporter waits for a reply that never comes.
    proxy.wait_accepted(4).await;
    proxy.stall();
    tokio::time::timeout(Duration::from_secs(60), proxy.wait_swallowed(1))
        .await
        .expect("the exporter sends a request to the stalled KMS");
    // A client that never finishes its request holds a connection open.
    let mut slow = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let sent = Instant::now();
    exporter.signal(libc::SIGTERM);
    let (status, took) = exporter.exit(sent).await;
    println!("SIGTERM with KMS stalled: exited after {took:?}");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(took < EXIT_BOUND, "exited after {took:?}");
    drop(slow);
    sim.shutdown().await;
}

/// SIGHUP and SIGUSR1 used to kill the process (their default action). SIGHUP now reloads the
/// configuration file (a bad one is logged and changes nothing); SIGUSR1 is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration_and_sigusr1_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the discard port: KMS is down, which does not matter here.
    let down = "ws://127.0.0.1:9/kurento";
    let mut exporter = Exporter::start(&dir, &target(down));
    exporter.signal(libc::SIGUSR1);
    exporter.log_line("SIGUSR1 received").await;

    // A good file: target "b" added.
    let config = dir.path().join("exporter.toml");
    let two = format!(
        "[web]\nlisten_address = \"127.0.0.1:0\"\n{}[[targets]]\nname = \"b\"\nurl = \"{down}\"\n",
        target(down)
    );
    std::fs::write(&config, two).unwrap();
    exporter.signal(libc::SIGHUP);
    exporter.log_line("configuration reloaded").await;
    let metrics = common::get(exporter.addr, "/metrics", &[]).await.text();
    assert!(metrics.contains(r#"kurento_up{kms="b"} 0"#), "{metrics}");
    let reloaded = common::sample(&metrics, "kurento_exporter_config_last_reload_successful");
    assert_eq!(reloaded, Some(1.0), "{metrics}");

    // A bad file: logged, the running configuration stays.
    std::fs::write(&config, "[poll]\ninterval = \"nonsense\"\n").unwrap();
    exporter.signal(libc::SIGHUP);
    exporter.log_line("configuration reload failed").await;
    assert!(exporter.child.try_wait().unwrap().is_none());
    let metrics = common::get(exporter.addr, "/metrics", &[]).await.text();
    assert!(metrics.contains(r#"kurento_up{kms="b"} 0"#), "{metrics}");
    let reloaded = common::sample(&metrics, "kurento_exporter_config_last_reload_successful");
    assert_eq!(reloaded, Some(0.0), "{metrics}");
    let healthy = common::get(exporter.addr, "/-/healthy", &[]).await;
    assert_eq!((healthy.status, healthy.text().as_str()), (200, "Healthy"));

    let sent = Instant::now();
    exporter.signal(libc::SIGTERM);
    let (status, _) = exporter.exit(sent).await;
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A second SIGTERM/SIGINT during shutdown exits at once instead of waiting for the clients'
/// grace period (here a client that never finishes its request would hold it 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut exporter = Exporter::start(&dir, &target("ws://127.0.0.1:9/kurento"));
    let mut slow = tokio::net::TcpStream::connect(exporter.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    exporter.signal(libc::SIGTERM);
    exporter.signal(libc::SIGINT);
    let (status, took) = exporter.exit(sent).await;
    println!("two signals: exited after {took:?}");
    assert_eq!(status.code(), Some(0), "{status}");
    exporter.log_line("second signal: exiting at once").await;
    drop(slow);
}
