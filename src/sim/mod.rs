//! The simulated KMS (design §7). Depends on `kurento::protocol` only, never on the client.
//!
//! Layers: [`scenario`] (TOML) → [`world`] (objects, sessions, GC; pure, time passed in) →
//! [`ops`] (the object API) and [`rpc`] (one frame in, one reply out; pure) → [`server`] (sockets,
//! timers, faults). Application-created endpoints meet real UDP peers: [`sdp`] and [`peer`]
//! (negotiation, what a peer's datagrams mean; pure), [`flow`] (media through connections;
//! pure), `udp` (the sockets).

pub mod classes;
pub mod clock;
pub mod dialect;
pub mod fault;
pub mod flow;
mod invoke;
pub mod media;
pub mod media_types;
pub mod ops;
pub mod peer;
mod peer_ops;
mod rng;
pub mod rpc;
pub mod rtp;
pub mod scenario;
pub mod sdp;
pub mod server;
mod stats_entry;
pub mod timeline;
mod udp;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use fault::{Fault, LoggedRequest};
pub use media_types::RtpTotals;
pub use scenario::Scenario;
pub use server::{ServedStats, Simulator};

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where to listen (`127.0.0.1:0` for an ephemeral port).
    pub listen: SocketAddr,
    pub scenario: Scenario,
}

/// Why the simulator could not start or a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid scenario: {0}")]
    Scenario(String),
}

#[cfg(test)]
mod scenario_tests;
