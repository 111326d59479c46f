//! Where the exporter listens: several `--web.listen-address`es at once, and sockets passed by
//! systemd socket activation (`--web.systemd-socket`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use kurento_exporter::Exporter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_serves() {
    let mut config = common::test_config(&[("kms", "ws://127.0.0.1:9/kurento".to_owned())]);
    config.web.extra_listen_addresses = vec!["127.0.0.2:0".to_owned(), "127.0.0.3:0".to_owned()];
    let exporter = Exporter::start(config).await.unwrap();
    let addrs = exporter.local_addrs().to_vec();
    assert_eq!(addrs.len(), 3, "{addrs:?}");
    assert_eq!(addrs[0], exporter.local_addr());
    for (addr, ip) in addrs.iter().zip(["127.0.0.1", "127.0.0.2", "127.0.0.3"]) {
        assert_eq!(addr.ip().to_string(), ip);
        let response = common::get(*addr, "/-/healthy", &[]).await;
        assert_eq!(
            (response.status, response.text().as_str()),
            (200, "Healthy")
        );
    }
    exporter.shutdown().await;
}

/// The child process, killed when the test ends however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_socket_activation_serves_on_the_passed_socket() {
    // What systemd does: bind, then start the service with the socket as fd 3 and LISTEN_FDS=1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("exporter.toml");
    std::fs::write(
        &config,
        "[[targets]]\nname = \"kms\"\nurl = \"ws://127.0.0.1:9/kurento\"\n",
    )
    .unwrap();
    let fd = listener.as_raw_fd();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kurento_exporter"));
    command
        .args([
            "--web.systemd-socket",
            "--log.level",
            "warn",
            "--config.file",
        ])
        .arg(&config)
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
    // SAFETY: between fork and exec only dup2, which is async-signal-safe, runs; it puts the
    // listening socket on fd 3 without close-on-exec, as systemd does.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _child = Child(command.spawn().unwrap());
    drop(listener);

    let response = common::eventually(
        "the exporter to answer on the passed socket",
        Duration::from_secs(30),
        async || {
            let stream = tokio::net::TcpStream::connect(addr).await;
            match stream {
                Ok(_) => Some(common::get(addr, "/-/healthy", &[]).await),
                Err(_) => None,
            }
        },
    )
    .await;
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "Healthy")
    );
}
