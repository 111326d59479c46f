//! Real Prometheus and Alertmanager processes for the live tests: spawning with a log file, a
//! guard that kills them, and the HTTP API queries the tests make.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;

use super::get;

/// A child process killed when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn spawn(program: &str, args: &[String], log: &Path) -> ChildGuard {
    let log = std::fs::File::create(log).unwrap();
    ChildGuard(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test.sh installs it)")),
    )
}

pub async fn get_json(addr: SocketAddr, path: &str) -> Option<Json> {
    // `get` panics when nothing listens: check first (the child may still be starting).
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(5), get(addr, path, &[]))
        .await
        .ok()?;
    if resp.status != 200 {
        return None;
    }
    serde_json::from_slice(&resp.body).ok()
}

pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus instant query: the result vector (None on error).
pub async fn query(prom: SocketAddr, q: &str) -> Option<Vec<Json>> {
    let j = get_json(prom, &format!("/api/v1/query?query={}", encode(q))).await?;
    (j["status"] == "success").then(|| j["data"]["result"].as_array().cloned().unwrap_or_default())
}
