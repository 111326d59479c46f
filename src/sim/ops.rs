//! The object API behind `invoke`: getters, setters and methods per class (docs/kms-protocol.md §7,
//! §14).

use serde_json::{Map, Value, json};

use super::classes::{Class, Kind};
use super::dialect::Dialect;
use super::invoke::{
    InvokeOutcome, audio_or_video, done, dtls_connection, flavour, marshall, media_param,
    not_found, opt_str, str_param, typed_param,
};
use super::media::{self, StatsContext};
use super::media_types::MediaType;
use super::peer_ops;
use super::scenario::IceOutcome;
use super::sdp;
use super::world::World;
use crate::kurento::protocol::{RpcError, SERVER_MANAGER, codes, pipeline_id};

/// The default value of a property and whether it has a setter, per class.
fn property(class: &Class, dialect: Dialect, name: &str) -> Option<(Value, bool)> {
    let element = class.is_element();
    let sdp = class.is_rtp();
    let webrtc = class.kind == Kind::WebRtc;
    Some(match name {
        "sendTagsInEvents" => (json!(false), true),
        "encoderBitrate" if element => (json!(300_000), true),
        "minEncoderBitrate" | "maxEncoderBitrate" if element => (json!(0), true),
        "maxAudioRecvBandwidth" | "maxVideoRecvBandwidth" | "minVideoRecvBandwidth" if sdp => {
            (json!(0), true)
        }
        "minVideoSendBandwidth" if sdp => (json!(100), true),
        "maxVideoSendBandwidth" if sdp => (json!(500), true),
        "mtu" if sdp => (json!(1200), true),
        "stunServerAddress" | "turnUrl" | "networkInterfaces" if webrtc => (json!(""), true),
        "externalIPv4" | "externalIPv6" if webrtc && dialect == Dialect::V7 => (json!(""), true),
        "externalAddress" if webrtc && dialect == Dialect::V6 => (json!(""), true),
        "stunServerPort" if webrtc => (json!(3478), true),
        "iceTcp" if webrtc => (json!(true), true),
        "networkCache" if class.kind == Kind::Player => (json!(2000), false),
        _ => return None,
    })
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Serves `invoke {object, operation, operationParams}` for `session` (already resolved by the
/// caller: the object exists and `session` now owns it).
pub fn invoke(
    w: &mut World,
    session: &str,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<InvokeOutcome, RpcError> {
    let dialect = w.dialect();
    if let Some(outcome) = media_object_op(w, object, operation, params, dialect)? {
        return Ok(outcome);
    }
    let result = match class.kind {
        Kind::ServerManager => manager_op(w, operation, params)?,
        Kind::Pipeline => pipeline_op(w, object, operation, params)?,
        Kind::Hub => hub_op(w, class, object, operation, params)?,
        _ => element_op(w, session, class, object, operation, params, now_ms)?,
    };
    if let Some(outcome) = result {
        return Ok(outcome);
    }
    // Generic properties: getFoo / setFoo {foo}.
    if let Some(prop) = operation.strip_prefix("get").map(lower_first)
        && let Some((default, _)) = property(class, dialect, &prop)
    {
        let stored = w.get(object).and_then(|o| o.props.get(&prop).cloned());
        return done(stored.unwrap_or(default));
    }
    if let Some(prop) = operation.strip_prefix("set").map(lower_first)
        && let Some((_, true)) = property(class, dialect, &prop)
    {
        let value = params
            .get(&prop)
            .cloned()
            .ok_or_else(|| marshall(format!("'{prop}' parameter is required")))?;
        if let Some(o) = w.get_mut(object) {
            o.props.insert(prop, value);
        }
        return done(Value::Null);
    }
    Err(RpcError::kms(
        codes::MALFORMED_TRANSACTION,
        format!(
            "Method '{operation}' with {} parameters not found",
            params.len()
        ),
    ))
}

/// MediaObject operations every object has.
fn media_object_op(
    w: &mut World,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    dialect: Dialect,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let value = match operation {
        "getId" => json!(obj.id),
        "getName" => json!(obj.name),
        "getCreationTime" => json!(obj.created_s),
        "getParent" => json!(obj.parent),
        "getChildren" => json!(obj.children),
        "getChilds" if dialect == Dialect::V6 => json!(obj.children),
        "getMediaPipeline" if object == SERVER_MANAGER => Value::Null,
        "getMediaPipeline" => json!(pipeline_id(object)),
        "getTags" => Value::Array(
            obj.tags
                .iter()
                .map(|(k, v)| json!({"__module__":"kurento","__type__":"Tag","key":k,"value":v}))
                .collect(),
        ),
        "getTag" => {
            let key = str_param(params, "key")?;
            let found = obj.tags.iter().find(|(k, _)| k == key);
            match found {
                Some((_, v)) => json!(v),
                None => {
                    return Err(RpcError::kms(40110, format!("Tag key '{key}' not found")));
                }
            }
        }
        "setName" => {
            let name = str_param(params, "name")?.to_owned();
            if let Some(o) = w.get_mut(object) {
                o.name = name;
            }
            Value::Null
        }
        "addTag" => {
            let key = str_param(params, "key")?.to_owned();
            let value = str_param(params, "value")?.to_owned();
            if let Some(o) = w.get_mut(object) {
                o.tags.retain(|(k, _)| *k != key);
                o.tags.push((key, value));
            }
            Value::Null
        }
        "removeTag" => {
            let key = str_param(params, "key")?.to_owned();
            if let Some(o) = w.get_mut(object) {
                o.tags.retain(|(k, _)| *k != key);
            }
            Value::Null
        }
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

fn manager_op(
    w: &mut World,
    operation: &str,
    params: &Map<String, Value>,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let server = w.scenario.server.clone();
    let value = match operation {
        "getInfo" => server_info(&server.version),
        "getPipelines" => {
            // ServerManagerImpl::getPipelines resolves every object into the pseudo-session "".
            for id in w.object_ids() {
                w.reference("", &id);
            }
            w.reference("", SERVER_MANAGER);
            json!(w.pipeline_ids())
        }
        "getSessions" => w.sessions_reply(),
        "getMetadata" => json!(""),
        "getCpuCount" => json!(server.cpu_count),
        "getUsedMemory" => json!(server.used_memory_kib),
        "getUsedCpu" => {
            let interval = params
                .get("interval")
                .and_then(Value::as_u64)
                .ok_or_else(|| marshall("'interval' parameter is required"))?;
            let wobble = 0.9 + 0.2 * super::rng::unit(&[w.rng.next_u64()]);
            return Ok(Some(InvokeOutcome {
                value: json!(server.used_cpu_percent * wobble),
                delay_ms: interval,
            }));
        }
        "getKmd" => {
            let module = str_param(params, "moduleName")?;
            if !["core", "elements", "filters"].contains(&module) {
                return Err(RpcError::kms(40500, format!("Module '{module}' not found")));
            }
            json!(format!(
                "{{\"name\":\"{module}\",\"version\":\"{}\"}}",
                server.version
            ))
        }
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

/// `ServerInfo` naming the core, elements and filters modules (kurento-client's strict mode).
fn server_info(version: &str) -> Value {
    let module = |name: &str| {
        let factories: Vec<&str> = super::classes::CLASSES
            .iter()
            .filter(|c| c.module == name && c.kind != Kind::ServerManager)
            .map(|c| c.name)
            .collect();
        json!({"__module__":"kurento","__type__":"ModuleInfo","factories":factories,
            "generationTime":"Jan  1 2024 00:00:00","name":name,"version":version})
    };
    json!({"__module__":"kurento","__type__":"ServerInfo","capabilities":["transactions"],
        "modules":[module("core"),module("elements"),module("filters")],"type":"KMS","version":version})
}

fn pipeline_op(
    w: &mut World,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let value = match operation {
        "getLatencyStats" => json!(w.get(object).is_some_and(|o| o.latency_stats)),
        "setLatencyStats" => {
            let on = params
                .get("latencyStats")
                .and_then(Value::as_bool)
                .ok_or_else(|| marshall("'latencyStats' parameter is required"))?;
            if let Some(o) = w.get_mut(object) {
                o.latency_stats = on;
            }
            Value::Null
        }
        "getGstreamerDot" => json!("digraph pipeline {}"),
        "dumpGstreamerDot" => Value::Null,
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

/// Hub methods. Dispatcher routes and the DispatcherOneToMany source are remembered: they decide
/// where media flows between live ports.
fn hub_op(
    w: &mut World,
    class: &Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let port = |name: &str| -> Result<String, RpcError> {
        let id = str_param(params, name)?;
        if w.get(id)
            .is_some_and(|o| o.parent.as_deref() == Some(object))
        {
            Ok(id.to_owned())
        } else {
            Err(not_found(id))
        }
    };
    let value = match (class.name, operation) {
        (_, "getGstreamerDot") => json!("digraph hub {}"),
        ("Dispatcher", "connect") => {
            let (source, sink) = (port("source")?, port("sink")?);
            if let Some(hub) = w.get_mut(object) {
                hub.hub_routes.retain(|(_, s)| *s != sink);
                hub.hub_routes.push((source, sink.clone()));
            }
            w.mark_dirty(&sink);
            Value::Null
        }
        ("DispatcherOneToMany", "setSource") => {
            let source = port("source")?;
            if let Some(hub) = w.get_mut(object) {
                hub.hub_source = Some(source.clone());
            }
            w.mark_dirty(&source);
            Value::Null
        }
        ("DispatcherOneToMany", "removeSource") => {
            let old = w.get_mut(object).and_then(|hub| hub.hub_source.take());
            if let Some(old) = old {
                w.mark_dirty(&old);
            }
            Value::Null
        }
        (_, "dumpGstreamerDot" | "connect" | "disconnect" | "setMaster" | "setPortProperties") => {
            Value::Null
        }
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

fn element_op(
    w: &mut World,
    session: &str,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let media_now = w.media_now(now_ms);
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let live = obj.live;
    if live {
        if let Some(outcome) = peer_ops::live_op(w, class, object, operation, params, now_ms)? {
            return Ok(Some(outcome));
        }
    } else if let Some(value) = profile_read(w, class, object, operation, params, media_now)? {
        // The reads every poller makes each cycle, served from borrowed state (no copies).
        return Ok(Some(InvokeOutcome { value, delay_ms: 0 }));
    }
    if let Some(value) = connection_op(w, session, object, operation, params, now_ms)? {
        return Ok(Some(InvokeOutcome { value, delay_ms: 0 }));
    }
    if class.is_uri() {
        return uri_op(w, class, object, operation, params, now_ms, media_now);
    }
    if class.is_rtp() && !live {
        let Some(media) = w.get(object).and_then(|o| o.media.clone()) else {
            return Ok(None);
        };
        return rtp_op(w, class, object, operation, params, &media, now_ms);
    }
    if class.kind == Kind::Filter {
        return filter_op(w, class, object, operation, params);
    }
    Ok(None)
}

/// Stats, flows and transcoding of a scenario (profile-driven) element.
fn profile_read(
    w: &World,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    media_now: u64,
) -> Result<Option<Value>, RpcError> {
    let ctx = StatsContext {
        now_ms: media_now,
        seed: w.scenario.timing.seed,
        dialect: w.dialect(),
        latency_stats: w.get(pipeline_id(object)).is_some_and(|p| p.latency_stats),
    };
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let (Some(media), Some(snapshot)) = (obj.media.as_ref(), obj.media_snapshot(media_now)) else {
        return Ok(None);
    };
    let index = |m: MediaType| usize::from(m == MediaType::Video);
    Ok(match operation {
        "getStats" => {
            let m = media_param(params, false)?;
            Some(if class.is_rtp() {
                media.rtp_stats(object, m, ctx)
            } else {
                media.element_stats(object, m, ctx, class.kind == Kind::Recorder)
            })
        }
        "isMediaFlowingIn" => Some(json!(snapshot.flowing_in[index(audio_or_video(params)?)])),
        "isMediaFlowingOut" => Some(json!(snapshot.flowing_out[index(audio_or_video(params)?)])),
        "isMediaTranscoding" => Some(json!(snapshot.transcoding[index(audio_or_video(params)?)])),
        _ => None,
    })
}

/// Connections and the MediaElement methods every element answers the same way.
fn connection_op(
    w: &mut World,
    session: &str,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<Option<Value>, RpcError> {
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let value = match operation {
        "connect" | "disconnect" => {
            let sink = str_param(params, "sink")?.to_owned();
            if w.resolve(session, &sink).is_none() {
                return Err(not_found(&sink));
            }
            let m = media_param(params, false)?;
            if operation == "connect" {
                let src_desc = opt_str(params, "sourceMediaDescription", "default").to_owned();
                let sink_desc = opt_str(params, "sinkMediaDescription", "default").to_owned();
                w.connect_elements(object, &sink, m, &src_desc, &sink_desc, now_ms);
            } else {
                w.disconnect_elements(object, &sink, m, now_ms);
            }
            Value::Null
        }
        "getSinkConnections" | "getSourceConnections" => {
            let m = media_param(params, false)?;
            let desc = params.get("description").and_then(Value::as_str);
            let links = if operation == "getSinkConnections" {
                &obj.sinks
            } else {
                &obj.sources
            };
            Value::Array(
                links
                    .iter()
                    .filter(|l| m.is_none_or(|m| m == l.media))
                    .filter(|l| {
                        desc.is_none_or(|d| {
                            if operation == "getSinkConnections" {
                                l.source_description == d
                            } else {
                                l.sink_description == d
                            }
                        })
                    })
                    .map(|l| l.to_json())
                    .collect(),
            )
        }
        "setAudioFormat" | "setVideoFormat" | "dumpGstreamerDot" | "requestKeyframe"
        | "addIceCandidate" | "createDataChannel" | "closeDataChannel" => Value::Null,
        "getGstreamerDot" => json!("digraph element {}"),
        _ => return Ok(None),
    };
    Ok(Some(value))
}

/// The placement arguments of the overlay filters' methods.
const OVERLAY_PERCENTS: [&str; 4] = [
    "offsetXPercent",
    "offsetYPercent",
    "widthPercent",
    "heightPercent",
];

/// The methods of the filters module (kms-filters kmd): overlays are accepted and not drawn,
/// `GStreamerFilter.getCommand` answers the constructor's `command`. Void methods answer null.
fn filter_op(
    w: &World,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let value = match (class.name, operation) {
        ("FaceOverlayFilter", "setOverlayedImage") => {
            str_param(params, "uri")?;
            for name in OVERLAY_PERCENTS {
                typed_param(params, name, "float", Value::as_f64)?;
            }
            Value::Null
        }
        ("FaceOverlayFilter", "unsetOverlayedImage") => Value::Null,
        ("ImageOverlayFilter", "addImage") => {
            str_param(params, "id")?;
            str_param(params, "uri")?;
            for name in OVERLAY_PERCENTS {
                typed_param(params, name, "float", Value::as_f64)?;
            }
            for name in ["keepAspectRatio", "center"] {
                typed_param(params, name, "boolean", Value::as_bool)?;
            }
            Value::Null
        }
        ("ImageOverlayFilter", "removeImage") => {
            str_param(params, "id")?;
            Value::Null
        }
        ("GStreamerFilter", "getCommand") => w
            .get(object)
            .and_then(|o| o.props.get("command").cloned())
            .unwrap_or_else(|| json!("")),
        ("GStreamerFilter", "setElementProperty") => {
            str_param(params, "propertyName")?;
            str_param(params, "propertyValue")?;
            Value::Null
        }
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

fn rtp_op(
    w: &mut World,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    media: &media::Media,
    now_ms: u64,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let webrtc = class.kind == Kind::WebRtc;
    let dialect = w.dialect();
    let session_version = w.rng.next_u64() % 1_000_000_000;
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let value = match operation {
        "getMediaState" => json!(media.media_state(w.media_now(now_ms))),
        "getConnectionState" => json!(media.connection_state()),
        "getLocalSessionDescriptor" => match &obj.local_sdp {
            Some(s) => json!(s),
            None => {
                return Err(RpcError::kms(
                    codes::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
                    "Local SDP is not set yet",
                ));
            }
        },
        "getRemoteSessionDescriptor" => match &obj.remote_sdp {
            Some(s) => json!(s),
            None => {
                return Err(RpcError::kms(
                    codes::SDP_END_POINT_NO_REMOTE_SDP_ERROR,
                    "Remote SDP is not set yet",
                ));
            }
        },
        "processOffer" => {
            let offer = str_param(params, "offer")?.to_owned();
            if !offer.contains("m=") {
                return Err(RpcError::kms(
                    40204,
                    "Error processing offer: no media sections",
                ));
            }
            let answer = sdp::answer(
                &offer,
                placeholder(w),
                flavour(class),
                session_version,
                &[sdp::host_candidate(placeholder(w))],
            );
            if let Some(o) = w.get_mut(object) {
                o.remote_sdp = Some(offer);
                o.local_sdp = Some(answer.clone());
            }
            json!(answer)
        }
        "generateOffer" => {
            let offer = sdp::offer(
                placeholder(w),
                flavour(class),
                session_version,
                &[sdp::host_candidate(placeholder(w))],
            );
            if let Some(o) = w.get_mut(object) {
                o.local_sdp = Some(offer.clone());
            }
            json!(offer)
        }
        "processAnswer" => {
            let answer = str_param(params, "answer")?.to_owned();
            let Some(local) = obj.local_sdp.clone() else {
                return Err(RpcError::kms(
                    codes::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
                    "Cannot process an answer before generating an offer",
                ));
            };
            if let Some(o) = w.get_mut(object) {
                o.remote_sdp = Some(answer);
            }
            json!(local)
        }
        "getICECandidatePairs" if webrtc => media.ice_candidate_pairs(dialect),
        "getIceConnectionState" if webrtc => media.ice_connection_state(),
        "getDtlsConnectionState" if webrtc && dialect == Dialect::V7 => {
            if media.profile.ice.connected() {
                dtls_connection("CONNECTED")
            } else {
                json!([])
            }
        }
        "gatherCandidates" if webrtc => {
            gather_candidates(w, object, media, now_ms);
            Value::Null
        }
        _ => return Ok(None),
    };
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

/// The address a profile-driven endpoint puts in its SDP: it has no socket, so the discard port
/// on the media address (never sent to).
fn placeholder(w: &World) -> std::net::SocketAddr {
    std::net::SocketAddr::new(w.scenario.peers.media_address, 9)
}

/// Emits what KMS emits while gathering, in the documented order (docs/kms-protocol.md §11).
fn gather_candidates(w: &mut World, object: &str, media: &media::Media, now_ms: u64) {
    let ice = media.profile.ice;
    let component = |state: &str| json!({"componentId":1,"state":state,"streamId":1});
    for candidate in media.local_candidates() {
        let data = json!({"candidate": {"__module__":"kurento","__type__":"IceCandidate",
            "candidate": candidate,"sdpMLineIndex":0,"sdpMid":"0"}});
        w.emit(object, "IceCandidateFound", data, now_ms);
    }
    w.emit(
        object,
        "IceComponentStateChanged",
        component("GATHERING"),
        now_ms,
    );
    if ice != IceOutcome::None {
        w.emit(
            object,
            "IceComponentStateChanged",
            component("CONNECTING"),
            now_ms,
        );
    }
    if ice.connected() {
        if let Some(pair) = media.ice_candidate_pairs(w.dialect()).get(0).cloned() {
            w.emit(
                object,
                "NewCandidatePairSelected",
                json!({"candidatePair": pair}),
                now_ms,
            );
        }
        w.emit(
            object,
            "IceComponentStateChanged",
            component("CONNECTED"),
            now_ms,
        );
    }
    w.emit(object, "IceGatheringDone", json!({}), now_ms);
    match ice {
        IceOutcome::Failed => w.emit(
            object,
            "IceComponentStateChanged",
            component("FAILED"),
            now_ms,
        ),
        i if i.connected() => {
            w.emit(
                object,
                "IceComponentStateChanged",
                component("READY"),
                now_ms,
            );
            let media_now = w.media_now(now_ms);
            for m in [MediaType::Audio, MediaType::Video] {
                for (flowing, event) in [
                    (media.flowing_in(m, media_now), "MediaFlowInStateChanged"),
                    (media.flowing_out(m, media_now), "MediaFlowOutStateChanged"),
                ] {
                    if flowing {
                        let data =
                            json!({"mediaType":m.as_str(),"padName":"default","state":"FLOWING"});
                        w.emit(object, event, data, now_ms);
                    }
                }
            }
            if media.media_state(media_now) == "CONNECTED" {
                let data = json!({"newState":"CONNECTED","oldState":"DISCONNECTED"});
                w.emit(object, "MediaStateChanged", data, now_ms);
            }
        }
        _ => {}
    }
}

fn uri_op(
    w: &mut World,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    now_ms: u64,
    media_now: u64,
) -> Result<Option<InvokeOutcome>, RpcError> {
    let player = class.kind == Kind::Player;
    let Some(obj) = w.get(object) else {
        return Err(not_found(object));
    };
    let new_state = match operation {
        "getUri" => {
            return Ok(Some(InvokeOutcome {
                value: json!(obj.uri),
                delay_ms: 0,
            }));
        }
        "getState" => {
            return Ok(Some(InvokeOutcome {
                value: json!(obj.uri_state_at(media_now)),
                delay_ms: 0,
            }));
        }
        "getVideoInfo" if player => {
            let value = json!({"__module__":"kurento","__type__":"VideoInfo","duration":600_000,
                "isSeekable":true,"seekableEnd":600_000,"seekableInit":0});
            return Ok(Some(InvokeOutcome { value, delay_ms: 0 }));
        }
        "getPosition" if player => {
            let pos = now_ms.saturating_sub(obj.created_s * 1000) % 600_000;
            return Ok(Some(InvokeOutcome {
                value: json!(pos),
                delay_ms: 0,
            }));
        }
        "setPosition" if player => {
            params
                .get("position")
                .ok_or_else(|| marshall("'position' parameter is required"))?;
            return Ok(Some(InvokeOutcome {
                value: Value::Null,
                delay_ms: 0,
            }));
        }
        "play" if player => ("START", None),
        "record" if !player => ("START", Some("Recording")),
        "pause" => ("PAUSE", (!player).then_some("Paused")),
        "stop" | "stopAndWait" if operation == "stop" || !player => {
            ("STOP", (!player).then_some("Stopped"))
        }
        _ => return Ok(None),
    };
    let (state, extra_event) = new_state;
    if let Some(o) = w.get_mut(object) {
        o.uri_state = state;
    }
    w.mark_dirty(object);
    w.emit(
        object,
        "UriEndpointStateChanged",
        json!({"state": state}),
        now_ms,
    );
    if let Some(e) = extra_event {
        w.emit(object, e, json!({}), now_ms);
    }
    Ok(Some(InvokeOutcome {
        value: Value::Null,
        delay_ms: 0,
    }))
}
