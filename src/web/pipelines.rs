//! The topology views of the JSON API: every pipeline of a KMS with its state at a glance, and
//! one pipeline as a graph (elements, hub ports under their hub, connections, per-stream stats,
//! zombie verdicts). Pure functions of the last snapshot: viewing them costs KMS nothing.

use serde_json::{Map, Value, json};

use crate::analysis::model::{ElementReading, Flow, Media, RtpStream};
use crate::analysis::quality;
use crate::analysis::rates::StreamRates;
use crate::analysis::snapshot::{PipelineState, TargetSnapshot};
use crate::analysis::topology::{ElementState, Topology};
use crate::analysis::zombie::ZombieReport;

/// `/api/v1/targets/{kms}/pipelines`. `pipelines` is `null` while KMS is unreachable.
pub fn pipelines(s: &TargetSnapshot) -> Value {
    let list = s.objects.as_ref().map(|objects| {
        objects
            .pipelines
            .iter()
            .map(|p| pipeline_summary(s, p))
            .collect::<Vec<_>>()
    });
    json!({
        "kms": s.kms,
        "up": s.up,
        "as_of_unix_seconds": s.taken_unix_seconds,
        "pipelines": list,
    })
}

/// `/api/v1/targets/{kms}/pipelines/{pipeline_id}`: `None` when KMS has no such pipeline (or
/// is unreachable: nothing is known then).
pub fn pipeline(s: &TargetSnapshot, id: &str) -> Option<Value> {
    let state = s.objects.as_ref()?.pipelines.iter().find(|p| p.id == id)?;
    let topology = s.topology.as_deref();
    let elements: Vec<Value> = topology
        .into_iter()
        .flat_map(|t| t.pipeline_elements(id))
        .map(|e| element(e, s.zombies.as_ref()))
        .collect();
    let connections: Vec<Value> = topology
        .map(|t| t.pipeline_connections(id))
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            json!({
                "source": c.source,
                "sink": c.sink,
                "media": c.media,
                "source_description": c.source_description,
                "sink_description": c.sink_description,
            })
        })
        .collect();
    Some(json!({
        "kms": s.kms,
        "up": s.up,
        "as_of_unix_seconds": s.taken_unix_seconds,
        "pipeline": pipeline_summary(s, state),
        "elements": elements,
        "connections": connections,
    }))
}

/// One pipeline at a glance.
fn pipeline_summary(s: &TargetSnapshot, p: &PipelineState) -> Value {
    let zombie = s
        .zombies
        .as_ref()
        .and_then(|z| z.pipelines.iter().find(|z| z.id == p.id));
    let topology = s.topology.as_deref();
    let flow = topology.map(|t| t.pipeline_flow(&p.id));
    let age = p
        .created_unix_seconds
        .map(|created| (s.taken_unix_seconds - created as f64).max(0.0));
    json!({
        "id": p.id,
        "name": p.name,
        "created_unix_seconds": p.created_unix_seconds,
        "age_seconds": age,
        "elements": p.elements,
        "elements_by_type": topology.map(|t| elements_by_type(t, &p.id)),
        "zombie": zombie.map(|z| json!({"reason": z.reason, "since_unix_seconds": z.zombie_since})),
        "flowing": flow.map(|f| json!({"in": f.flowing_in, "out": f.flowing_out})),
        "transcoding": flow.map(|f| f.transcoding),
        "worst_mos": topology.and_then(|t| {
            t.pipeline_elements(&p.id)
                .filter_map(|e| worst_mos(e.reading.as_ref()?))
                .min_by(f64::total_cmp)
        }),
    })
}

/// A KMS at a glance for the fleet view: elements transcoding and the lowest stream MOS
/// (`None` while KMS is unreachable).
pub fn target_media(s: &TargetSnapshot) -> (Option<usize>, Option<f64>) {
    let Some(t) = s.topology.as_deref() else {
        return (None, None);
    };
    let readings = || t.elements().filter_map(|e| e.reading.as_ref());
    let transcoding = readings()
        .filter(|r| r.transcoding.contains(&Some(true)))
        .count();
    let worst = readings().filter_map(worst_mos).min_by(f64::total_cmp);
    (Some(transcoding), worst)
}

/// How many streams `worst_streams` lists.
pub const WORST_STREAMS: usize = 20;

/// `/api/v1/targets/{kms}/streams/worst`: the scored streams with the lowest MOS, lowest first,
/// with their element and pipeline (id and name) so a page can link to them. `streams` is
/// `null` while KMS is unreachable.
pub fn worst_streams(s: &TargetSnapshot, n: usize) -> Value {
    let names: std::collections::HashMap<&str, Option<&str>> = s
        .objects
        .iter()
        .flat_map(|o| &o.pipelines)
        .map(|p| (p.id.as_str(), p.name.as_deref()))
        .collect();
    let streams = s.topology.as_deref().map(|t| {
        let mut scored: Vec<(f64, &ElementState, &RtpStream)> = t
            .elements()
            .filter_map(|e| Some((e, e.reading.as_ref()?)))
            .flat_map(|(e, r)| {
                r.streams
                    .iter()
                    .filter_map(move |st| Some((stream_mos(r, st)?, e, st)))
            })
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        scored
            .into_iter()
            .take(n)
            .map(|(mos, e, st)| {
                let pipeline = crate::kurento::protocol::pipeline_id(&e.id);
                json!({
                    "mos": mos,
                    "media": st.media.map(|m| m.label()),
                    "direction": st.direction.map(|d| d.label()),
                    "stats_id": st.stats_id,
                    "loss_ratio": st.fraction_lost.map(|f| f / 256.0),
                    "jitter_seconds": st.jitter_seconds,
                    "round_trip_seconds": st.round_trip_seconds.filter(|rtt| *rtt > 0.0),
                    "element": e.id,
                    "element_type": e.element_type,
                    "pipeline": pipeline,
                    "pipeline_name": names.get(pipeline).copied().flatten(),
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "kms": s.kms,
        "up": s.up,
        "as_of_unix_seconds": s.taken_unix_seconds,
        "streams": streams,
    })
}

fn elements_by_type(t: &Topology, pipeline: &str) -> Map<String, Value> {
    let mut counts: std::collections::BTreeMap<&str, u64> = Default::default();
    for e in t.pipeline_elements(pipeline) {
        *counts.entry(e.element_type.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(ty, n)| (ty.to_owned(), Value::from(n)))
        .collect()
}

/// A per-media map of optional flags: `{"audio": true, "video": null}`.
fn per_media(values: &[Option<bool>; 2]) -> Value {
    Media::ALL
        .into_iter()
        .map(|m| (m.label().to_owned(), json!(values[m as usize])))
        .collect::<Map<String, Value>>()
        .into()
}

fn element(e: &ElementState, zombies: Option<&ZombieReport>) -> Value {
    let zombie = zombies.and_then(|z| z.elements.iter().find(|z| *z.id == *e.id));
    let mut out = json!({
        "id": e.id,
        "type": e.element_type,
        "hub": e.hub(),
        "zombie": zombie.map(|z| json!({"reason": z.reason, "since_unix_seconds": z.zombie_since})),
        "read": e.reading.is_some(),
    });
    if let (Some(reading), Value::Object(fields)) = (&e.reading, &mut out) {
        fields.extend(reading_fields(reading, &e.rates));
    }
    out
}

/// What the cycle read of an element: states, flow, transcoding, selected pairs, streams.
fn reading_fields(r: &ElementReading, rates: &[StreamRates]) -> Map<String, Value> {
    let label = |l: Option<&'static str>| json!(l);
    let flowing: Map<String, Value> = Flow::ALL
        .into_iter()
        .map(|f| {
            let values = match f {
                Flow::In => &r.flowing_in,
                Flow::Out => &r.flowing_out,
            };
            (f.label().to_owned(), per_media(values))
        })
        .collect();
    let pairs: Vec<Value> = r
        .selected_pairs
        .iter()
        .map(|p| {
            json!({
                "local_type": p.local.map(|c| c.label()),
                "local_address": p.local_address,
                "remote_type": p.remote.map(|c| c.label()),
                "remote_address": p.remote_address,
            })
        })
        .collect();
    let streams: Vec<Value> = r
        .streams
        .iter()
        .zip(
            rates
                .iter()
                .copied()
                .chain(std::iter::repeat(StreamRates::default())),
        )
        .map(|(stream, rates)| stream_fields(r, stream, &rates))
        .collect();
    let latency = |list: &[(Media, f64)]| -> Vec<Value> {
        list.iter()
            .map(|(m, seconds)| json!({"media": m.label(), "seconds": seconds}))
            .collect()
    };
    let fields = json!({
        "media_state": label(r.media_state.map(|s| s.label())),
        "connection_state": label(r.connection_state.map(|s| s.label())),
        "ice_state": label(r.ice_state.map(|s| s.label())),
        "uri_state": label(r.uri_state.map(|s| s.label())),
        "flowing": flowing,
        "transcoding": per_media(&r.transcoding),
        "selected_pairs": pairs,
        "worst_mos": worst_mos(r),
        "connections": r.connections,
        "streams": streams,
        "e2e_latency": latency(&r.e2e_latency),
        "input_latency": latency(&r.input_latency),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A stream's estimated MOS (README "Call quality"), `None` when it cannot be scored.
fn stream_mos(reading: &ElementReading, stream: &RtpStream) -> Option<f64> {
    stream.media?;
    quality::inputs_of(reading, stream).and_then(quality::mos)
}

/// The lowest MOS among an element's streams.
fn worst_mos(reading: &ElementReading) -> Option<f64> {
    reading
        .streams
        .iter()
        .filter_map(|s| stream_mos(reading, s))
        .min_by(f64::total_cmp)
}

fn stream_fields(reading: &ElementReading, s: &RtpStream, rates: &StreamRates) -> Value {
    json!({
        "mos": stream_mos(reading, s),
        "media": s.media.map(|m| m.label()),
        "direction": s.direction.map(|d| d.label()),
        "stats_id": s.stats_id,
        "bytes": s.bytes,
        "packets": s.packets,
        "packets_lost": s.packets_lost,
        "bitrate_bps": rates.bits_per_second,
        "packets_per_second": rates.packets_per_second,
        "nacks_per_second": rates.nacks_per_second,
        "plis_per_second": rates.plis_per_second,
        "firs_per_second": rates.firs_per_second,
        // KMS's fractionLost is 0–255 over the last RTCP interval.
        "loss_ratio": s.fraction_lost.map(|f| f / 256.0),
        "jitter_seconds": s.jitter_seconds,
        "round_trip_seconds": s.round_trip_seconds.filter(|rtt| *rtt > 0.0),
        "remb_bps": (s.remb_bps > 0).then_some(s.remb_bps),
        "target_bitrate_bps": s.target_bitrate_bps,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::analysis::model::{Direction, IceState};
    use crate::analysis::snapshot::ObjectsState;
    use crate::analysis::zombie::{ZombieElement, ZombiePipeline, ZombieReason};
    use crate::kurento::connections::SinkConnection;

    const P: &str = "P_kurento.MediaPipeline";
    const A: &str = "P_kurento.MediaPipeline/A_kurento.WebRtcEndpoint";
    const HUB: &str = "P_kurento.MediaPipeline/H_kurento.Composite";
    const PORT: &str = "P_kurento.MediaPipeline/H_kurento.Composite/X_kurento.HubPort";

    fn snapshot() -> TargetSnapshot {
        let mut snap = TargetSnapshot::initial("kms");
        snap.up = true;
        snap.taken_unix_seconds = 1_000.0;
        snap.objects = Some(ObjectsState {
            pipelines: vec![PipelineState {
                id: P.into(),
                name: Some("<script>room".into()),
                created_unix_seconds: Some(900),
                elements: 3,
            }],
            elements_by_type: Default::default(),
        });
        let a = ElementReading {
            id: A.into(),
            element_type: "WebRtcEndpoint".into(),
            flowing_out: [Some(true), Some(false)],
            ice_state: Some(IceState::Ready),
            sinks: Some(vec![SinkConnection::new(PORT, "AUDIO")].into()),
            streams: vec![RtpStream {
                media: Some(Media::Audio),
                direction: Some(Direction::Inbound),
                stats_id: "s".into(),
                bytes: 40_000,
                fraction_lost: Some(64.0),
                round_trip_seconds: Some(0.0),
                ..RtpStream::default()
            }],
            ..ElementReading::default()
        };
        // 40,000 bytes since the cycle 10 s before: 32 kbit/s.
        let inventory = [(A, "WebRtcEndpoint"), (HUB, "Composite"), (PORT, "HubPort")];
        let mut before = a.clone();
        before.streams[0].bytes = 0;
        let previous = Topology::new(inventory, vec![before], None, 990.0);
        snap.topology = Some(Arc::new(Topology::new(
            inventory,
            vec![a],
            Some(&previous),
            1_000.0,
        )));
        let element = ZombieElement {
            id: A.into(),
            element_type: "WebRtcEndpoint".into(),
            pipeline: P.into(),
            reason: ZombieReason::NoMedia,
            zombie_since: 950.0,
        };
        snap.zombies = Some(ZombieReport {
            pipelines: vec![ZombiePipeline {
                id: P.into(),
                name: None,
                reason: ZombieReason::NoMedia,
                zombie_since: 950.0,
                age_seconds: Some(100.0),
                elements: vec![element.clone()],
            }],
            elements: vec![element],
        });
        snap
    }

    #[test]
    fn the_pipeline_list_says_what_each_pipeline_is_doing() {
        let list = pipelines(&snapshot());
        let p = &list["pipelines"][0];
        assert_eq!(p["id"], P);
        assert_eq!(p["name"], "<script>room", "JSON carries names as they are");
        assert_eq!(p["age_seconds"], 100.0);
        assert_eq!(p["elements_by_type"]["HubPort"], 1);
        assert_eq!(p["zombie"]["reason"], "no_media");
        assert_eq!(p["flowing"], json!({"in": false, "out": true}));
        assert_eq!(p["transcoding"], false);
        // Unreachable: nothing known.
        let mut down = snapshot();
        down.objects = None;
        assert_eq!(pipelines(&down)["pipelines"], Value::Null);
    }

    #[test]
    fn a_pipeline_graph_has_its_elements_links_streams_and_verdicts() {
        let graph = pipeline(&snapshot(), P).unwrap();
        let elements = graph["elements"].as_array().unwrap();
        let ids: Vec<&str> = elements.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [A, HUB, PORT]);
        let a = &elements[0];
        assert_eq!(a["zombie"]["reason"], "no_media");
        assert_eq!(a["ice_state"], "ready");
        assert_eq!(a["flowing"]["out"], json!({"audio": true, "video": false}));
        assert_eq!(a["flowing"]["in"], json!({"audio": null, "video": null}));
        let stream = &a["streams"][0];
        assert_eq!(stream["bitrate_bps"], 32_000.0);
        assert_eq!(stream["loss_ratio"], 0.25);
        assert_eq!(
            stream["round_trip_seconds"],
            Value::Null,
            "0 = no report yet"
        );
        assert_eq!(elements[2]["hub"], HUB);
        assert_eq!(elements[1]["read"], false, "hubs are not read");
        assert_eq!(graph["connections"][0]["sink"], PORT);
        assert_eq!(graph["connections"][0]["media"], "AUDIO");
        assert_eq!(pipeline(&snapshot(), "nope"), None);
    }

    #[test]
    fn the_worst_streams_link_to_their_element_and_pipeline() {
        let worst = worst_streams(&snapshot(), WORST_STREAMS);
        let streams = worst["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 1, "only scorable streams are ranked");
        assert_eq!(streams[0]["element"], A);
        assert_eq!(streams[0]["pipeline"], P);
        assert_eq!(streams[0]["pipeline_name"], "<script>room");
        assert_eq!(worst_streams(&snapshot(), 0)["streams"], json!([]));
        let (transcoding, worst) = target_media(&snapshot());
        assert_eq!(transcoding, Some(0));
        assert_eq!(worst, streams[0]["mos"].as_f64());
    }
}
