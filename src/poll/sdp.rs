//! SDP inspection: an SDP endpoint's session descriptions, read from KMS only when an operator
//! asks (`/api/v1/targets/{kms}/elements/{id}/sdp`), never by the poll cycle.
//!
//! Each read opens its own socket and session and closes both right after
//! (`kurento::descriptors`), so it never keeps an endpoint alive and never queues behind the
//! poller's reads. At most one read per element per poll interval: the first request in an
//! interval starts it, concurrent and later requests within the interval share its result
//! ([`OncePerInterval`]). The read runs in a task of its own, so a client that goes away does
//! not cut it short between the getters and `closeSession`. Its requests count in the target's
//! `kurento_exporter_kms_requests_total`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::time::Instant;

use crate::kurento::client::{ClientOptions, RequestCounter, RequestIds};
use crate::kurento::descriptors::read_descriptors;
use crate::kurento::kinds::ElementKind;
use crate::poll::cycle::unix_now;
use crate::poll::once::OncePerInterval;
use crate::poll::store::Store;

/// How to reach one target for an SDP read.
#[derive(Debug, Clone)]
pub struct SdpTarget {
    pub url: String,
    /// The target's client options (timeouts, TLS).
    pub client: ClientOptions,
    /// The target's poll interval: the shortest time between two reads of one element.
    pub interval: Duration,
    /// The target's request counter (shared with its poller).
    pub requests: RequestCounter,
}

/// Why there is no reading.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SdpError {
    #[error("unknown KMS")]
    UnknownTarget,
    /// Not in the last cycle's elements, or released since (KMS answered 40101).
    #[error("unknown element")]
    UnknownElement,
    /// KMS is down or did not answer.
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
}

/// What an SDP read found, secrets redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct SdpReading {
    pub kms: String,
    pub element: String,
    pub element_type: String,
    /// False for elements that have no descriptions (not a WebRtcEndpoint or RtpEndpoint):
    /// nothing is read from KMS for them.
    pub sdp_endpoint: bool,
    /// `None` until that side is negotiated.
    pub local: Option<String>,
    pub remote: Option<String>,
    /// When KMS answered (Unix seconds); `None` when nothing was read.
    pub read_unix_seconds: Option<f64>,
}

pub type SdpOutcome = Result<Arc<SdpReading>, SdpError>;

type SharedRead = Shared<BoxFuture<'static, SdpOutcome>>;

/// Reads descriptions on demand, once per element per interval.
#[derive(Debug)]
pub struct SdpReader {
    store: Arc<Store>,
    ids: Arc<RequestIds>,
    targets: RwLock<BTreeMap<String, SdpTarget>>,
    reads: Mutex<OncePerInterval<(String, String), SharedRead>>,
}

impl SdpReader {
    pub fn new(store: Arc<Store>, ids: Arc<RequestIds>) -> Self {
        SdpReader {
            store,
            ids,
            targets: RwLock::new(BTreeMap::new()),
            reads: Mutex::new(OncePerInterval::new()),
        }
    }

    /// Starts serving `name` (or changes how it is reached).
    pub fn set_target(&self, name: &str, target: SdpTarget) {
        let mut targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        targets.insert(name.to_owned(), target);
    }

    pub fn remove_target(&self, name: &str) {
        let mut targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        targets.remove(name);
    }

    /// `element`'s descriptions on `kms`: from a read started within the last interval, else
    /// from a new one. Elements are known from the last cycle: nothing is sent to KMS for an
    /// id it did not list, or while it is down.
    pub async fn read(&self, kms: &str, element: &str) -> SdpOutcome {
        let target = {
            let targets = self.targets.read().unwrap_or_else(PoisonError::into_inner);
            targets.get(kms).cloned().ok_or(SdpError::UnknownTarget)?
        };
        let snapshot = self.store.snapshot(kms).ok_or(SdpError::UnknownTarget)?;
        let topology = match (snapshot.up, snapshot.topology.as_deref()) {
            (true, Some(topology)) => topology,
            _ => {
                let why = snapshot.exporter.last_error.as_deref();
                return Err(SdpError::Unavailable(
                    why.unwrap_or("not polled yet").to_owned(),
                ));
            }
        };
        let element_type = topology
            .element(element)
            .ok_or(SdpError::UnknownElement)?
            .element_type
            .clone();
        if !matches!(
            ElementKind::of(&element_type),
            ElementKind::WebRtc | ElementKind::Rtp
        ) {
            return Ok(Arc::new(SdpReading {
                kms: kms.to_owned(),
                element: element.to_owned(),
                element_type,
                sdp_endpoint: false,
                local: None,
                remote: None,
                read_unix_seconds: None,
            }));
        }
        let key = (kms.to_owned(), element.to_owned());
        let read = {
            let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
            reads.get_or_start(key, Instant::now(), target.interval, || {
                start_read(target.clone(), self.ids.clone(), kms, element, element_type)
            })
        };
        read.await
    }
}

/// Spawns the read (it runs to its `closeSession` whoever waits) and shares its outcome.
fn start_read(
    target: SdpTarget,
    ids: Arc<RequestIds>,
    kms: &str,
    element: &str,
    element_type: String,
) -> SharedRead {
    let (kms, element) = (kms.to_owned(), element.to_owned());
    let id = element.clone();
    let task = tokio::spawn(async move {
        read_descriptors(&target.url, &target.client, ids, target.requests, &id).await
    });
    async move {
        let descriptors = match task.await {
            Ok(Ok(descriptors)) => descriptors,
            Ok(Err(err)) if err.is_object_not_found() => return Err(SdpError::UnknownElement),
            Ok(Err(err)) => return Err(SdpError::Unavailable(err.to_string())),
            Err(err) => return Err(SdpError::Unavailable(format!("the read failed: {err}"))),
        };
        Ok(Arc::new(SdpReading {
            kms,
            element,
            element_type,
            sdp_endpoint: true,
            local: descriptors.local,
            remote: descriptors.remote,
            read_unix_seconds: Some(unix_now()),
        }))
    }
    .boxed()
    .shared()
}
