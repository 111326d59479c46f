//! The simulated KMS (README "The simulated KMS"). Depends on `kurento::protocol` only, never on
//! the client.
//!
//! Layers: [`scenario`] (TOML) → [`world`] (objects, sessions, GC; pure, time passed in) →
//! [`ops`] (the object API) and [`rpc`] (one frame in, one reply out; pure) → [`server`] (sockets,
//! timers, faults). Application-created endpoints meet real UDP peers: [`sdp`] and [`peer`]
//! (negotiation, what a peer's datagrams mean; pure), [`flow`] (media through connections;
//! pure), `udp` (the sockets).

pub(crate) mod classes;
pub(crate) mod clock;
pub(crate) mod dialect;
pub(crate) mod fault;
pub(crate) mod flow;
mod invoke;
pub(crate) mod media;
pub(crate) mod media_types;
pub(crate) mod ops;
pub(crate) mod peer;
mod peer_ops;
mod rng;
pub mod rpc;
pub(crate) mod rtp;
pub(crate) mod scenario;
pub(crate) mod sdp;
pub(crate) mod server;
mod stats_entry;
pub(crate) mod timeline;
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
