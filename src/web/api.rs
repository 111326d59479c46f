//! The JSON API (`/api/v1/...`): views of the store for operators and tools. Pure functions of
//! the snapshots; the HTTP layer only routes to them.
//!
//! - `/api/v1/targets`: every target with its state and counts;
//! - `/api/v1/targets/{kms}/zombies`: the zombie pipelines and elements of one KMS, with ids,
//!   names, reasons, ages and since-when — what an operator needs to release them (the exporter
//!   never releases anything itself);
//! - `/api/v1/targets/{kms}/pipelines`: every pipeline at a glance;
//! - `/api/v1/targets/{kms}/pipelines/{pipeline_id}`: one pipeline as a graph;
//! - `/api/v1/targets/{kms}/pipelines/{pipeline_id}/graph.svg`: that graph drawn as SVG;
//! - `/api/v1/targets/{kms}/streams/worst`: the 20 streams with the lowest estimated MOS;
//! - `/api/v1/status`: the exporter's version and poll interval (how often a page refreshes).
//!
//! Path segments are percent-decoded (`{pipeline_id}` and `{kms}` may need it).

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};

use super::{graph_svg, pipelines};
use crate::analysis::capacity::{Capacities, Load, LoadInputs};
use crate::analysis::snapshot::TargetSnapshot;
use crate::poll::store::{Store, TargetSource};

/// Answers API paths from the store.
#[derive(Debug)]
pub struct Api {
    store: Arc<Store>,
    poll_interval: Duration,
    capacities: Arc<PlacementCapacities>,
}

/// The capacities per CPU the placement answers use (`[capacity]`), replaced by a reload.
#[derive(Debug)]
pub struct PlacementCapacities(Mutex<Capacities>);

impl PlacementCapacities {
    pub fn new(capacities: Capacities) -> Self {
        PlacementCapacities(Mutex::new(capacities))
    }

    pub fn get(&self) -> Capacities {
        // A plain value: a panic elsewhere cannot leave it half-written.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, capacities: Capacities) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = capacities;
    }
}

/// The suffix of a pipeline's graph as SVG.
const GRAPH_SVG: &str = "/graph.svg";

impl Api {
    /// `poll_interval` is what `/api/v1/status` tells pages to refresh by; `capacities` are
    /// what the placement answers use.
    pub fn new(
        store: Arc<Store>,
        poll_interval: Duration,
        capacities: Arc<PlacementCapacities>,
    ) -> Self {
        Api {
            store,
            poll_interval,
            capacities,
        }
    }

    /// The SVG of `/api/v1/targets/{kms}/pipelines/{pipeline_id}/graph.svg`, or `None` when
    /// nothing lives there.
    pub fn graph_svg(&self, path: &str) -> Option<String> {
        let rest = path
            .strip_prefix("/api/v1/targets/")?
            .strip_suffix(GRAPH_SVG)?;
        let mut segments = rest.split('/');
        let (kms, view, id) = (segments.next()?, segments.next()?, segments.next()?);
        if view != "pipelines" || segments.next().is_some() {
            return None;
        }
        let snapshot = self.store.snapshot(&path_segment(kms)?)?;
        graph_svg::pipeline_svg(&snapshot, &path_segment(id)?)
    }

    /// The JSON answer for `path`, or `None` when nothing lives there.
    pub fn get(&self, path: &str) -> Option<Value> {
        if path == "/api/v1/status" {
            return Some(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "poll_interval_seconds": self.poll_interval.as_secs_f64(),
            }));
        }
        let rest = path.strip_prefix("/api/v1/targets")?;
        if rest.is_empty() || rest == "/" {
            return Some(targets(&self.store, &self.capacities.get()));
        }
        let mut segments = rest.strip_prefix('/')?.split('/');
        let kms = path_segment(segments.next()?)?;
        let snapshot = self.store.snapshot(&kms)?;
        let view = segments.next()?;
        let id = segments.next().map(path_segment);
        if segments.next().is_some() {
            return None;
        }
        match (view, id) {
            ("zombies", None) => Some(zombies(&snapshot)),
            ("pipelines", None) => Some(pipelines::pipelines(&snapshot)),
            ("pipelines", Some(id)) => pipelines::pipeline(&snapshot, &id?),
            ("streams", Some(Some(which))) if which == "worst" => Some(pipelines::worst_streams(
                &snapshot,
                pipelines::WORST_STREAMS,
            )),
            _ => None,
        }
    }
}

/// A path segment as its name: `kms%3A1` is the target `kms:1` (clients encode what URLs
/// reserve). `None` when the decoded bytes are not UTF-8.
fn path_segment(raw: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

fn target(s: &TargetSnapshot, source: TargetSource, capacities: &Capacities) -> Value {
    let (transcoding, worst_mos) = pipelines::target_media(s);
    json!({
        "kms": s.kms,
        "source": source.label(),
        "up": s.up,
        "last_error": s.exporter.last_error,
        "last_success_unix_seconds": s.exporter.last_success_unix_seconds,
        "version": s.server.as_ref().map(|srv| &srv.version),
        "pipelines": s.objects.as_ref().map(|o| o.pipelines.len()),
        "elements": s.objects.as_ref().map(|o| o.elements_by_type.values().sum::<u64>()),
        "zombie_pipelines": s.zombies.as_ref().map(|z| z.pipelines.len()),
        "zombie_elements": s.zombies.as_ref().map(|z| z.elements.len()),
        "webrtc_endpoints": s.objects.as_ref().map(|o| o.elements_by_type.get("WebRtcEndpoint").copied().unwrap_or(0)),
        "transcoding_elements": transcoding,
        "worst_mos": worst_mos,
        "placement": placement(s, capacities),
        "as_of_unix_seconds": s.taken_unix_seconds,
    })
}

/// What a placement service reads to pick a KMS without Prometheus (README "Placement"): the
/// load model's inputs, the load and headroom at `capacities`, and the health probe's last
/// result. `null` while KMS is unreachable (nothing current is known).
fn placement(s: &TargetSnapshot, capacities: &Capacities) -> Value {
    let (Some(server), Some(objects)) = (s.server.as_ref(), s.objects.as_ref()) else {
        return Value::Null;
    };
    let transcoding_streams = s.topology.as_deref().map_or(0, |t| {
        t.elements()
            .filter_map(|e| e.reading.as_ref())
            .map(|r| r.transcoding.iter().filter(|t| **t == Some(true)).count() as u64)
            .sum()
    });
    let inputs = LoadInputs {
        cpu_count: server.cpu_count.unwrap_or(0),
        cpu_usage_ratio: server.cpu_usage_ratio(),
        webrtc_endpoints: objects
            .elements_by_type
            .get("WebRtcEndpoint")
            .copied()
            .unwrap_or(0),
        transcoding_streams,
    };
    let live_pipelines = objects
        .pipelines
        .len()
        .saturating_sub(s.zombies.as_ref().map_or(0, |z| z.pipelines.len()));
    json!({
        "inputs": inputs,
        "memory_resident_bytes": server.memory_resident_kib.map(|kib| kib * 1024),
        "live_pipelines": live_pipelines,
        "capacities": capacities,
        "load": Load::of(&inputs, capacities),
        "health_probe": s.exporter.health_probe.map(|h| json!({
            "success": h.success,
            "duration_seconds": h.duration_seconds,
        })),
    })
}

/// `/api/v1/targets`; `source` says where each target came from (config, file, dns, probe), and
/// `placement` uses `capacities`.
pub fn targets(store: &Store, capacities: &Capacities) -> Value {
    let snapshots = store.snapshots();
    Value::Array(
        snapshots
            .iter()
            .map(|s| target(s, store.source(&s.kms), capacities))
            .collect(),
    )
}

/// `/api/v1/targets/{kms}/zombies`. `pipelines`/`elements` are `null` while KMS is unreachable
/// (nothing is known), `[]` when there is no zombie.
pub fn zombies(s: &TargetSnapshot) -> Value {
    let report = s.zombies.as_ref();
    json!({
        "kms": s.kms,
        "up": s.up,
        "as_of_unix_seconds": s.taken_unix_seconds,
        "pipelines": report.map(|z| &z.pipelines),
        "elements": report.map(|z| &z.elements),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::zombie::{ZombieElement, ZombiePipeline, ZombieReason, ZombieReport};
    use std::time::Duration;

    fn store_with_zombie() -> Arc<Store> {
        let store = Arc::new(Store::new(["kms-a", "kms-b"], Duration::ZERO));
        let mut snap = TargetSnapshot::initial("kms-a");
        snap.up = true;
        snap.taken_unix_seconds = 1000.0;
        let element = ZombieElement {
            id: "P_kurento.MediaPipeline/E_kurento.WebRtcEndpoint".into(),
            element_type: "WebRtcEndpoint".into(),
            pipeline: "P_kurento.MediaPipeline".into(),
            reason: ZombieReason::IceFailed,
            zombie_since: 600.0,
        };
        snap.zombies = Some(ZombieReport {
            pipelines: vec![ZombiePipeline {
                id: "P_kurento.MediaPipeline".into(),
                name: Some("room-1".into()),
                reason: ZombieReason::IceFailed,
                zombie_since: 600.0,
                age_seconds: Some(900.0),
                elements: vec![element.clone()],
            }],
            elements: vec![element],
        });
        store.publish(snap);
        store
    }

    fn defaults() -> Arc<PlacementCapacities> {
        Arc::new(PlacementCapacities::new(
            crate::analysis::capacity::DEFAULT_CAPACITIES,
        ))
    }

    #[test]
    fn zombies_of_a_target_with_what_an_operator_needs() {
        let api = Api::new(store_with_zombie(), Duration::from_secs(15), defaults());
        let z = api.get("/api/v1/targets/kms-a/zombies").unwrap();
        let p = &z["pipelines"][0];
        assert_eq!(p["id"], "P_kurento.MediaPipeline");
        assert_eq!(p["name"], "room-1");
        assert_eq!(p["reason"], "ice_failed");
        assert_eq!(p["zombie_since"], 600.0);
        assert_eq!(p["age_seconds"], 900.0);
        assert_eq!(p["elements"][0]["element_type"], "WebRtcEndpoint");
        assert_eq!(z["elements"][0]["pipeline"], "P_kurento.MediaPipeline");
        // A target that never answered: nothing known.
        let b = api.get("/api/v1/targets/kms-b/zombies").unwrap();
        assert_eq!(b["pipelines"], Value::Null);
        assert_eq!(api.get("/api/v1/targets/nope/zombies"), None);
        assert_eq!(api.get("/api/v1/targets/kms-a/other"), None);
        assert_eq!(api.get("/api/v2/targets"), None);
    }

    #[test]
    fn targets_tell_a_placement_service_the_load_and_headroom() {
        use crate::analysis::snapshot::{
            HealthProbeResult, ObjectsState, PipelineState, ServerState,
        };
        let store = store_with_zombie();
        let mut snap = store.snapshot("kms-a").unwrap().as_ref().clone();
        snap.server = Some(ServerState {
            version: "7.3.0".into(),
            server_id: "s".into(),
            cpu_count: Some(4),
            cpu_used_percent: Some(100.0),
            memory_resident_kib: Some(2),
            sessions: Some(1),
        });
        let pipeline = |id: &str| PipelineState {
            id: id.into(),
            name: None,
            created_unix_seconds: None,
            elements: 1,
        };
        snap.objects = Some(ObjectsState {
            pipelines: vec![
                pipeline("P_kurento.MediaPipeline"),
                pipeline("Q_kurento.MediaPipeline"),
            ],
            elements_by_type: [("WebRtcEndpoint".to_owned(), 60)].into(),
        });
        snap.exporter.health_probe = Some(HealthProbeResult {
            success: true,
            duration_seconds: 0.25,
        });
        store.publish(snap);
        let capacities = defaults();
        let api = Api::new(store, Duration::from_secs(15), capacities.clone());
        let targets = api.get("/api/v1/targets").unwrap();
        let p = &targets[0]["placement"];
        // 60 endpoints on 4 CPUs at 20 per CPU: 0.75, above the CPU's 0.25; 20 more fit.
        assert_eq!(p["inputs"]["cpu_count"], 4);
        assert_eq!(p["inputs"]["cpu_usage_ratio"], 0.25);
        assert_eq!(p["inputs"]["webrtc_endpoints"], 60);
        assert_eq!(p["load"]["ratio"], 0.75);
        assert_eq!(p["load"]["driver"], "endpoints");
        assert_eq!(p["load"]["headroom_endpoints"], 20);
        assert_eq!(p["capacities"]["endpoints_per_cpu"], 20.0);
        assert_eq!(p["memory_resident_bytes"], 2048);
        assert_eq!(p["live_pipelines"], 1, "the zombie pipeline is not live");
        assert_eq!(p["health_probe"]["success"], true);
        assert_eq!(targets[1]["placement"], Value::Null, "kms-b never answered");

        // Calibrated capacities (`[capacity]`, set again by a reload) apply to the next answer.
        capacities.set(Capacities {
            endpoints_per_cpu: 30.0,
            transcodes_per_cpu: 2.0,
        });
        let p = &api.get("/api/v1/targets").unwrap()[0]["placement"];
        // 60 endpoints on 4 CPUs at 30 per CPU: 0.5; 60 more fit.
        assert_eq!(p["capacities"]["endpoints_per_cpu"], 30.0);
        assert_eq!(p["load"]["ratio"], 0.5);
        assert_eq!(p["load"]["headroom_endpoints"], 60);
    }

    #[test]
    fn target_names_in_paths_are_percent_decoded() {
        let store = Arc::new(Store::new(["kms:1", "eu/west é"], Duration::ZERO));
        let api = Api::new(store, Duration::from_secs(15), defaults());
        let z = api.get("/api/v1/targets/kms%3A1/zombies").unwrap();
        assert_eq!(z["kms"], "kms:1");
        assert_eq!(
            api.get("/api/v1/targets/kms:1/zombies").unwrap()["kms"],
            "kms:1"
        );
        let z = api
            .get("/api/v1/targets/eu%2Fwest%20%C3%A9/zombies")
            .unwrap();
        assert_eq!(z["kms"], "eu/west é");
        assert_eq!(api.get("/api/v1/targets/kms%FF/zombies"), None, "not UTF-8");
    }

    /// The API over `store_with_zombie` whose kms-a has one pipeline, `P_kurento.MediaPipeline`.
    fn api_with_one_pipeline() -> Api {
        let store = store_with_zombie();
        let mut snap = (*store.snapshot("kms-a").unwrap()).clone();
        snap.objects = Some(crate::analysis::snapshot::ObjectsState {
            pipelines: vec![crate::analysis::snapshot::PipelineState {
                id: "P_kurento.MediaPipeline".into(),
                name: None,
                created_unix_seconds: None,
                elements: 0,
            }],
            elements_by_type: Default::default(),
        });
        store.publish(snap);
        Api::new(store, Duration::from_secs(15), defaults())
    }

    #[test]
    fn pipeline_paths_route_with_percent_decoded_ids() {
        let api = api_with_one_pipeline();
        let list = api.get("/api/v1/targets/kms-a/pipelines").unwrap();
        assert_eq!(list["pipelines"][0]["id"], "P_kurento.MediaPipeline");
        let graph = api
            .get("/api/v1/targets/kms-a/pipelines/P%5Fkurento.MediaPipeline")
            .unwrap();
        assert_eq!(graph["pipeline"]["id"], "P_kurento.MediaPipeline");
        assert_eq!(api.get("/api/v1/targets/kms-a/pipelines/other"), None);
        assert_eq!(
            api.get("/api/v1/targets/kms-a/pipelines/P_kurento.MediaPipeline/extra"),
            None
        );
        assert_eq!(api.get("/api/v1/targets/kms-a/zombies/extra"), None);
        assert_eq!(api.get("/api/v1/targets/kms-a/pipelines/%FF"), None);
    }

    #[test]
    fn graph_svg_and_status_paths() {
        let api = api_with_one_pipeline();
        let svg = api
            .graph_svg("/api/v1/targets/kms-a/pipelines/P%5Fkurento.MediaPipeline/graph.svg")
            .unwrap();
        assert!(svg.starts_with("<svg"));
        for missing in [
            "/api/v1/targets/kms-a/pipelines/other/graph.svg",
            "/api/v1/targets/nope/pipelines/P_kurento.MediaPipeline/graph.svg",
            "/api/v1/targets/kms-a/zombies/P_kurento.MediaPipeline/graph.svg",
            "/api/v1/targets/kms-a/pipelines/P_kurento.MediaPipeline/x/graph.svg",
            "/api/v1/targets/kms-a/pipelines/P_kurento.MediaPipeline",
        ] {
            assert_eq!(api.graph_svg(missing), None, "{missing}");
        }
        let status = api.get("/api/v1/status").unwrap();
        assert_eq!(status["poll_interval_seconds"], 15.0);
    }

    #[test]
    fn target_list() {
        let api = Api::new(store_with_zombie(), Duration::from_secs(15), defaults());
        let list = api.get("/api/v1/targets").unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["kms"], "kms-a");
        assert_eq!(list[0]["source"], "config");
        assert_eq!(list[0]["zombie_pipelines"], 1);
        assert_eq!(list[1]["up"], false);
    }
}
