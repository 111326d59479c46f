//! The object API of live (application-created) elements: negotiation, ICE, states, flows and
//! stats from the element's real peer and connections (`world::live`), with KMS's error codes
//! and texts for SDP mistakes (`SdpEndpointImpl.cpp`).

use serde_json::{Map, Value, json};

use super::classes::{Class, Kind};
use super::dialect::Dialect;
use super::invoke::{
    InvokeOutcome, audio_or_video, dtls_connection, flavour, media_param, str_param,
};
use super::media_types::MediaType;
use super::peer::{IceState, Peer};
use super::sdp;
use super::world::World;
use crate::kurento::protocol::{RpcError, codes};

/// KMS's SDP error codes (KurentoException.hpp).
const SDP_PARSE_ERROR: i64 = 40201;
const SDP_END_POINT_PROCESS_OFFER_ERROR: i64 = 40205;
const SDP_END_POINT_ALREADY_NEGOTIATED: i64 = 40208;
const SDP_END_POINT_NOT_OFFER_GENERATED: i64 = 40209;
const SDP_END_POINT_ANSWER_ALREADY_PROCCESED: i64 = 40210;
const ICE_GATHER_CANDIDATES_ERROR: i64 = 40400;

fn done(value: Value) -> Result<Option<InvokeOutcome>, RpcError> {
    Ok(Some(InvokeOutcome { value, delay_ms: 0 }))
}

/// Serves `operation` on a live element, or `None` to fall back to the common element methods.
pub fn live_op(
    w: &mut World,
    class: &'static Class,
    object: &str,
    operation: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<Option<InvokeOutcome>, RpcError> {
    // Connections made earlier in this frame (a transaction) must show in what is read now.
    w.settle(now_ms);
    let flows = w.live_flows(object).unwrap_or_default();
    let pick = |pair: [bool; 2], m: MediaType| json!(pair[usize::from(m == MediaType::Video)]);
    match operation {
        "isMediaFlowingIn" => return done(pick(flows.flowing_in, audio_or_video(params)?)),
        "isMediaFlowingOut" => return done(pick(flows.flowing_out, audio_or_video(params)?)),
        "isMediaTranscoding" => {
            audio_or_video(params)?;
            return done(json!(false));
        }
        "getStats" if !class.is_rtp() => return done(Value::Null),
        _ => {}
    }
    if !class.is_rtp() {
        return Ok(None);
    }
    let webrtc = class.kind == Kind::WebRtc;
    let dialect = w.dialect();
    let consent = w.consent_ms();
    let media_now = w.media_now(now_ms);
    let Some(obj) = w.get(object) else {
        return Ok(None);
    };
    let peer = obj.peer.as_ref();
    let view = peer.map(|p| p.view(now_ms, consent));
    let word = |on: bool| json!(if on { "CONNECTED" } else { "DISCONNECTED" });
    let value = match operation {
        "getStats" => {
            let filter = media_param(params, false)?;
            let stats = peer.map(|p| p.stats(filter, media_now, dialect));
            match stats {
                Some(map) if !map.is_empty() => Value::Object(map),
                _ => Value::Null,
            }
        }
        "getMediaState" => word(view.is_some_and(|v| v.media_connected)),
        "getConnectionState" => word(view.is_some_and(|v| v.connection_connected)),
        "getLocalSessionDescriptor" => match obj.local_sdp.as_ref() {
            Some(sdp) => json!(sdp),
            None => {
                return Err(RpcError::kms(
                    codes::SDP_END_POINT_NO_LOCAL_SDP_ERROR,
                    "No local SDP",
                ));
            }
        },
        "getRemoteSessionDescriptor" => match obj.remote_sdp.as_ref() {
            Some(s) => json!(s),
            None => {
                return Err(RpcError::kms(
                    codes::SDP_END_POINT_NO_REMOTE_SDP_ERROR,
                    "No remote SDP",
                ));
            }
        },
        "getICECandidatePairs" if webrtc => {
            peer.map_or(json!([]), |p| p.candidate_pairs(now_ms, consent, dialect))
        }
        "getIceConnectionState" if webrtc => {
            peer.map_or(json!([]), |p| p.ice_connection_state(now_ms, consent))
        }
        "getDtlsConnectionState" if webrtc && dialect == Dialect::V7 => {
            match view.and_then(|v| v.ice) {
                Some(IceState::Ready) => dtls_connection("CONNECTED"),
                Some(IceState::Failed) => dtls_connection("FAILED"),
                _ => json!([]),
            }
        }
        "processOffer" => json!(process_offer(w, class, object, params, now_ms)?),
        "generateOffer" => json!(generate_offer(w, class, object)?),
        "processAnswer" => json!(process_answer(w, object, params, now_ms)?),
        "gatherCandidates" if webrtc => {
            gather_candidates(w, object, now_ms)?;
            Value::Null
        }
        "addIceCandidate" if webrtc => {
            let line = params
                .get("candidate")
                .and_then(|c| c.get("candidate").or(Some(c)))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    RpcError::kms(codes::MARSHALL_ERROR, "'candidate' parameter is required")
                })?
                .to_owned();
            if let Some(peer) = w.get_mut(object).and_then(|o| o.peer.as_mut()) {
                peer.add_remote_candidate(&line);
            }
            w.mark_dirty(object);
            Value::Null
        }
        _ => return Ok(None),
    };
    done(value)
}

fn already_negotiated() -> RpcError {
    RpcError::kms(
        SDP_END_POINT_ALREADY_NEGOTIATED,
        "Endpoint already negotiated",
    )
}

fn parse_error(e: sdp::ParseError) -> RpcError {
    RpcError::kms(SDP_PARSE_ERROR, e.0)
}

/// Binds the endpoint's socket; a failure is KMS's "cannot process" error of the operation.
fn bind(
    w: &mut World,
    object: &str,
    code: i64,
    message: &str,
) -> Result<std::net::SocketAddr, RpcError> {
    w.open_port(object).map_err(|e| {
        tracing::warn!(endpoint = object, error = %e, "cannot bind a media socket");
        RpcError::kms(code, message)
    })
}

fn process_offer(
    w: &mut World,
    class: &Class,
    object: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<String, RpcError> {
    let offer = str_param(params, "offer")?.to_owned();
    let lines = sdp::parse_media(&offer, "Empty offer not valid").map_err(parse_error)?;
    if w.get(object).is_some_and(|o| o.peer.is_some()) {
        return Err(already_negotiated());
    }
    let local = bind(
        w,
        object,
        SDP_END_POINT_PROCESS_OFFER_ERROR,
        "Error processing offer",
    )?;
    let version = w.rng.next_u64() % 1_000_000_000;
    let mut peer = Peer::new(local, flavour(class), w.rng.next_u64());
    let candidates = peer.local_candidates(w.scenario.peers.local_candidates);
    let answer = sdp::answer(&offer, local, flavour(class), version, &candidates);
    peer.lines = lines;
    w.attach_peer(object, peer, answer.clone(), Some(offer));
    w.emit(object, "MediaSessionStarted", json!({}), now_ms);
    Ok(answer)
}

fn generate_offer(w: &mut World, class: &Class, object: &str) -> Result<String, RpcError> {
    if w.get(object).is_some_and(|o| o.peer.is_some()) {
        return Err(already_negotiated());
    }
    let local = bind(w, object, 40204, "Error generating offer")?;
    let version = w.rng.next_u64() % 1_000_000_000;
    let mut peer = Peer::new(local, flavour(class), w.rng.next_u64());
    let candidates = peer.local_candidates(w.scenario.peers.local_candidates);
    let offer = sdp::offer(local, flavour(class), version, &candidates);
    peer.offer_generated = true;
    w.attach_peer(object, peer, offer.clone(), None);
    Ok(offer)
}

/// `processAnswer`, with KMS's checks in KMS's order (`SdpEndpointImpl::processAnswer`).
fn process_answer(
    w: &mut World,
    object: &str,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<String, RpcError> {
    let answer = str_param(params, "answer")?.to_owned();
    if answer.is_empty() {
        return Err(RpcError::kms(SDP_PARSE_ERROR, "Empty answer not valid"));
    }
    let Some(obj) = w
        .get(object)
        .filter(|o| o.peer.as_ref().is_some_and(|p| p.offer_generated))
    else {
        return Err(RpcError::kms(
            SDP_END_POINT_NOT_OFFER_GENERATED,
            "Offer not generated. It is not possible to process an answer.",
        ));
    };
    let lines = sdp::parse_media(&answer, "Empty answer not valid").map_err(parse_error)?;
    if obj.remote_sdp.is_some() {
        return Err(RpcError::kms(
            SDP_END_POINT_ANSWER_ALREADY_PROCCESED,
            "Sdp Answer already processed",
        ));
    }
    let local_sdp = obj.local_sdp.clone().unwrap_or_default();
    if let Some(o) = w.get_mut(object) {
        o.remote_sdp = Some(answer);
        if let Some(peer) = o.peer.as_mut() {
            peer.lines = lines;
        }
    }
    w.mark_dirty(object);
    w.emit(object, "MediaSessionStarted", json!({}), now_ms);
    Ok(local_sdp)
}

/// `gatherCandidates`: GATHERING, one `IceCandidateFound` per local candidate, then
/// `IceGatheringDone`, in KMS's order (docs/kms-protocol.md §11).
fn gather_candidates(w: &mut World, object: &str, now_ms: u64) -> Result<(), RpcError> {
    let extra = w.scenario.peers.local_candidates;
    let Some(peer) = w.get_mut(object).and_then(|o| o.peer.as_mut()) else {
        return Err(RpcError::kms(
            ICE_GATHER_CANDIDATES_ERROR,
            "Error gathering candidates",
        ));
    };
    if peer.gathering {
        return Ok(());
    }
    peer.gathering = true;
    let candidates = peer.local_candidates(extra);
    let announce_gathering = peer.reported.ice.is_none();
    if announce_gathering {
        peer.reported.ice = Some(IceState::Gathering);
        let data = json!({"componentId":1,"state":"GATHERING","streamId":1});
        w.emit(object, "IceComponentStateChanged", data, now_ms);
    }
    for candidate in candidates {
        let data = json!({"candidate": {"__module__":"kurento","__type__":"IceCandidate",
            "candidate": candidate,"sdpMLineIndex":0,"sdpMid":"0"}});
        w.emit(object, "IceCandidateFound", data, now_ms);
    }
    w.emit(object, "IceGatheringDone", json!({}), now_ms);
    w.mark_dirty(object);
    Ok(())
}
