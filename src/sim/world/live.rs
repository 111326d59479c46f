//! Live elements: what application-created elements report follows negotiation, their UDP peer and
//! their connections (README "The simulated KMS"), not a profile. This part of the world keeps each
//! live pipeline's flows and peer states up to date and emits the events their changes cause.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use serde_json::json;

use super::World;
use crate::kurento::protocol::pipeline_id;
use crate::sim::classes::Kind;
use crate::sim::flow::{self, Flows, Graph, HubRule, Role};
use crate::sim::media_types::MediaType;
use crate::sim::peer::{IceState, Peer, PeerView};

/// Opens and closes the UDP sockets of negotiated endpoints. The simulator's server binds real
/// sockets; [`DetachedPorts`] hands out addresses without any, for pure tests.
pub trait PeerPorts: Send + std::fmt::Debug {
    /// Binds a socket for `endpoint` on the media address and returns its address.
    fn open(&mut self, endpoint: &str) -> std::io::Result<SocketAddr>;
    /// Closes `endpoint`'s socket (its datagrams are no longer read).
    fn close(&mut self, endpoint: &str);
}

/// Addresses without sockets: port 40000, 40001, … on the media address.
#[derive(Debug)]
pub struct DetachedPorts {
    ip: IpAddr,
    next: u16,
}

impl DetachedPorts {
    pub fn new(ip: IpAddr) -> DetachedPorts {
        DetachedPorts { ip, next: 40_000 }
    }
}

impl PeerPorts for DetachedPorts {
    fn open(&mut self, _endpoint: &str) -> std::io::Result<SocketAddr> {
        self.next = self.next.wrapping_add(1);
        Ok(SocketAddr::new(self.ip, self.next - 1))
    }

    fn close(&mut self, _endpoint: &str) {}
}

impl World {
    /// Installs the sockets provider (the server's real UDP one).
    pub fn set_ports(&mut self, ports: Box<dyn PeerPorts>) {
        self.ports = ports;
    }

    /// Binds a socket for a negotiating endpoint.
    pub fn open_port(&mut self, endpoint: &str) -> std::io::Result<SocketAddr> {
        self.ports.open(endpoint)
    }

    pub fn consent_ms(&self) -> u64 {
        self.scenario.peers.consent_timeout.as_millis() as u64
    }

    /// Notes that `id`'s pipeline must be settled, if `id` is a live element.
    pub fn mark_dirty(&mut self, id: &str) {
        if self.objects.get(id).is_some_and(|o| o.live) {
            self.dirty.insert(pipeline_id(id).to_owned());
        }
    }

    /// A datagram reached `endpoint`'s socket from `from`.
    pub fn peer_datagram(&mut self, endpoint: &str, from: SocketAddr, data: &[u8], now_ms: u64) {
        let consent = self.consent_ms();
        let Some(peer) = self.objects.get_mut(endpoint).and_then(|o| o.peer.as_mut()) else {
            return;
        };
        peer.receive(from, data, now_ms);
        // Most datagrams change nothing KMS reports; only a change (or a peer with no silence
        // check scheduled yet) needs its pipeline recomputed.
        if peer.view(now_ms, consent) != peer.reported || peer.scheduled_ms.is_none() {
            self.dirty.insert(pipeline_id(endpoint).to_owned());
            self.settle(now_ms);
        }
    }

    /// The packets `endpoint` sends to its peer now (media flowing into it from the pipeline).
    pub fn packets_to_peer(
        &mut self,
        endpoint: &str,
        now_ms: u64,
    ) -> Option<(SocketAddr, Vec<Vec<u8>>)> {
        let consent = self.consent_ms();
        let obj = self.objects.get_mut(endpoint)?;
        let flowing_in = obj.live_flows.flowing_in;
        obj.peer
            .as_mut()?
            .packets_to_send(flowing_in, now_ms, consent)
    }

    /// Settles the peers whose silence deadline has come.
    pub(super) fn run_peer_checks(&mut self, now_ms: u64) {
        while let Some(Reverse((due, _))) = self.peer_checks.peek()
            && *due <= now_ms
        {
            let Some(Reverse((_, id))) = self.peer_checks.pop() else {
                break;
            };
            if let Some(peer) = self.objects.get_mut(&id).and_then(|o| o.peer.as_mut()) {
                peer.scheduled_ms = None;
                self.dirty.insert(pipeline_id(&id).to_owned());
            }
        }
    }

    /// Recomputes the flows and peer states of every dirty pipeline's live elements and emits
    /// the events of what changed (peer states first, then flows, as KMS detects them).
    pub fn settle(&mut self, now_ms: u64) {
        while let Some(pipeline) = self.dirty.pop_first() {
            if self.objects.contains_key(&pipeline) {
                self.settle_pipeline(&pipeline, now_ms);
            }
        }
    }

    fn settle_pipeline(&mut self, pipeline: &str, now_ms: u64) {
        let consent = self.consent_ms();
        let members = self.subtree(pipeline);
        let mut live_peers = Vec::new();
        for id in &members {
            let Some(peer) = self.objects.get(id).and_then(|o| o.peer.as_ref()) else {
                continue;
            };
            let view = peer.view(now_ms, consent);
            if view != peer.reported {
                live_peers.push((id.clone(), peer.reported, view));
            }
            if let Some(next) = peer.next_change(now_ms, consent)
                && peer.scheduled_ms.is_none_or(|s| next < s)
            {
                self.peer_checks.push(Reverse((next, id.clone())));
                if let Some(p) = self.objects.get_mut(id).and_then(|o| o.peer.as_mut()) {
                    p.scheduled_ms = Some(next);
                }
            }
        }
        for (id, before, after) in live_peers {
            self.announce_peer(&id, before, after, now_ms);
        }
        let (graph, nodes) = self.flow_graph(&members, now_ms);
        let flows = flow::solve(&graph);
        for (id, new) in nodes.iter().zip(flows) {
            let Some(obj) = self.objects.get_mut(id) else {
                continue;
            };
            if !obj.live || obj.live_flows == new {
                continue;
            }
            let old = std::mem::replace(&mut obj.live_flows, new);
            for (i, media) in [MediaType::Audio, MediaType::Video].into_iter().enumerate() {
                for (was, is, event) in [
                    (
                        old.flowing_in[i],
                        new.flowing_in[i],
                        "MediaFlowInStateChanged",
                    ),
                    (
                        old.flowing_out[i],
                        new.flowing_out[i],
                        "MediaFlowOutStateChanged",
                    ),
                ] {
                    if was != is {
                        let state = if is { "FLOWING" } else { "NOT_FLOWING" };
                        let data = json!({"mediaType": media.as_str(), "padName": "default", "state": state});
                        self.emit(id, event, data, now_ms);
                    }
                }
            }
        }
    }

    /// Emits the events of a peer's state change and records it as announced.
    fn announce_peer(&mut self, id: &str, before: PeerView, after: PeerView, now_ms: u64) {
        let component = |state: &str| json!({"componentId":1,"state":state,"streamId":1});
        if before.ice != after.ice
            && let Some(state) = after.ice
        {
            if state == IceState::Ready {
                // libnice walks through the intermediate states and selects a pair on the way.
                if before.ice != Some(IceState::Connecting) {
                    self.emit(
                        id,
                        "IceComponentStateChanged",
                        component(IceState::Connecting.as_str()),
                        now_ms,
                    );
                }
                let pair = self
                    .objects
                    .get(id)
                    .and_then(|o| o.peer.as_ref())
                    .and_then(|p| p.selected_pair(self.scenario.server.dialect));
                if let Some(pair) = pair {
                    self.emit(
                        id,
                        "NewCandidatePairSelected",
                        json!({"candidatePair": pair}),
                        now_ms,
                    );
                }
                let connected = component("CONNECTED");
                self.emit(id, "IceComponentStateChanged", connected, now_ms);
            }
            self.emit(
                id,
                "IceComponentStateChanged",
                component(state.as_str()),
                now_ms,
            );
        }
        let word = |on: bool| if on { "CONNECTED" } else { "DISCONNECTED" };
        if before.connection_connected != after.connection_connected {
            let data = json!({"newState": word(after.connection_connected), "oldState": word(before.connection_connected)});
            self.emit(id, "ConnectionStateChanged", data, now_ms);
        }
        if before.media_connected != after.media_connected {
            let data = json!({"newState": word(after.media_connected), "oldState": word(before.media_connected)});
            self.emit(id, "MediaStateChanged", data, now_ms);
        }
        if let Some(peer) = self.objects.get_mut(id).and_then(|o| o.peer.as_mut()) {
            peer.reported = after;
        }
    }

    /// The pipeline's elements as a flow graph, with the node ids in graph order.
    fn flow_graph(&self, members: &[String], now_ms: u64) -> (Graph, Vec<String>) {
        let media_now = self.media_now(now_ms);
        let consent = self.consent_ms();
        let elements: Vec<&super::Object> = members
            .iter()
            .filter_map(|id| self.objects.get(id))
            .filter(|o| o.class.is_element())
            .collect();
        let index: HashMap<&str, usize> = elements
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.as_str(), i))
            .collect();
        let mut hubs: BTreeMap<&str, usize> = BTreeMap::new();
        let mut graph = Graph::default();
        for obj in &elements {
            let role = if !obj.live {
                let out = obj
                    .media_snapshot(media_now)
                    .map_or([false; 2], |s| s.flowing_out);
                Role::Source(out)
            } else {
                match obj.class.kind {
                    Kind::WebRtc | Kind::Rtp => Role::Source(
                        obj.peer
                            .as_ref()
                            .map_or([false; 2], |p| p.view(now_ms, consent).sending),
                    ),
                    Kind::Player => Role::Source([obj.uri_state == "START"; 2]),
                    Kind::Recorder | Kind::HttpPost => Role::Sink,
                    Kind::HubPort => {
                        let hub_id = obj.parent.as_deref().unwrap_or_default();
                        let next = hubs.len();
                        Role::Port(*hubs.entry(hub_id).or_insert(next))
                    }
                    _ => Role::Pass,
                }
            };
            graph.roles.push(role);
        }
        graph.hubs = vec![HubRule::Mix; hubs.len()];
        for (hub_id, slot) in hubs {
            let Some(hub) = self.objects.get(hub_id) else {
                continue;
            };
            let node = |id: &String| index.get(id.as_str()).copied();
            graph.hubs[slot] = match hub.class.name {
                "Dispatcher" => HubRule::Route(
                    hub.hub_routes
                        .iter()
                        .filter_map(|(a, b)| Some((node(a)?, node(b)?)))
                        .collect(),
                ),
                "DispatcherOneToMany" => HubRule::OneToMany(hub.hub_source.as_ref().and_then(node)),
                _ => HubRule::Mix,
            };
        }
        for (i, obj) in elements.iter().enumerate() {
            for link in &obj.sinks {
                let media = match link.media {
                    MediaType::Audio => 0,
                    MediaType::Video => 1,
                    MediaType::Data => continue,
                };
                if let Some(&sink) = index.get(link.sink.as_str()) {
                    graph.edges.push((i, sink, media));
                }
            }
        }
        let ids = elements.iter().map(|o| o.id.clone()).collect();
        (graph, ids)
    }

    /// The flows of a live element (`None` for others).
    pub fn live_flows(&self, id: &str) -> Option<Flows> {
        self.objects
            .get(id)
            .filter(|o| o.live)
            .map(|o| o.live_flows)
    }

    /// Gives `endpoint` its negotiated peer (the caller opened its socket) and the session
    /// descriptions so far.
    pub fn attach_peer(
        &mut self,
        endpoint: &str,
        peer: Peer,
        local_sdp: String,
        remote_sdp: Option<String>,
    ) {
        if let Some(o) = self.objects.get_mut(endpoint) {
            o.peer = Some(peer);
            o.local_sdp = Some(local_sdp);
            o.remote_sdp = remote_sdp;
        }
        self.mark_dirty(endpoint);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::sim::rpc::serve_frame;
    use crate::sim::scenario::Scenario;

    const T0: u64 = 1_700_000_000_000;

    struct App {
        world: World,
        next: u64,
    }

    impl App {
        fn new() -> App {
            let scenario = Scenario::from_toml_str("[peers]\nconsent_timeout = \"3s\"").unwrap();
            App {
                world: World::new(&scenario, T0, 0),
                next: 0,
            }
        }

        fn call(&mut self, method: &str, params: Value, now: u64) -> Value {
            self.next += 1;
            let req = json!({"jsonrpc":"2.0","id":self.next,"method":method,"params":params});
            let served = serve_frame(&mut self.world, 1, &req.to_string(), now);
            serde_json::from_str(&served.reply.unwrap()).unwrap()
        }

        fn create(&mut self, kind: &str, ctor: Value) -> String {
            let reply = self.call("create", json!({"type":kind,"constructorParams":ctor}), T0);
            reply["result"]["value"].as_str().unwrap().to_owned()
        }

        fn invoke(&mut self, object: &str, op: &str, params: Value, now: u64) -> Value {
            let reply = self.call(
                "invoke",
                json!({"object":object,"operation":op,"operationParams":params}),
                now,
            );
            reply["result"]["value"].clone()
        }

        fn flowing(&mut self, object: &str, direction: &str, now: u64) -> bool {
            let op = format!("isMediaFlowing{direction}");
            self.invoke(object, &op, json!({"mediaType":"VIDEO"}), now) == json!(true)
        }
    }

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn a_dispatcher_routes_a_live_peer_to_the_chosen_port_until_the_peer_falls_silent() {
        let mut app = App::new();
        let p = app.create("MediaPipeline", json!({}));
        let hub = app.create("Dispatcher", json!({"mediaPipeline": p}));
        let (mut endpoints, mut ports) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let e = app.create("WebRtcEndpoint", json!({"mediaPipeline": p}));
            let port = app.create("HubPort", json!({"hub": hub}));
            app.invoke(&e, "connect", json!({"sink": port}), T0);
            app.invoke(&port, "connect", json!({"sink": e}), T0);
            endpoints.push(e);
            ports.push(port);
        }
        let answer = app.invoke(&endpoints[0], "processOffer", json!({"offer": OFFER}), T0);
        assert!(answer.as_str().unwrap().contains("typ host"));
        let again = app.call(
            "invoke",
            json!({"object":endpoints[0],"operation":"processOffer","operationParams":{"offer":OFFER}}),
            T0,
        );
        assert_eq!(again["error"]["code"], 40208);
        app.invoke(
            &hub,
            "connect",
            json!({"source": ports[0], "sink": ports[2]}),
            T0,
        );
        let sub = app.call(
            "subscribe",
            json!({"object": endpoints[2], "type": "MediaFlowInStateChanged"}),
            T0,
        );
        assert!(sub["result"]["value"].is_string(), "{sub}");
        assert!(
            !app.flowing(&endpoints[0], "Out", T0),
            "negotiated, but no datagram yet"
        );

        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let rtp = crate::sim::rtp::packet(96, 1, 0, 7, 100);
        app.world.peer_datagram(&endpoints[0], peer, &rtp, T0 + 10);
        assert!(app.flowing(&endpoints[0], "Out", T0 + 10));
        assert!(
            app.flowing(&endpoints[2], "In", T0 + 10),
            "routed to port 2's endpoint"
        );
        assert!(
            !app.flowing(&endpoints[1], "In", T0 + 10),
            "port 1 gets nothing"
        );
        assert!(
            app.world.packets_to_peer(&endpoints[0], T0 + 10).is_none(),
            "nothing flows back to the publisher"
        );

        // Silence: the flow stops after the flow timeout, without any request.
        app.world.outbox.clear();
        let due = app.world.next_due_ms();
        assert_eq!(due, T0 + 10 + crate::sim::peer::FLOW_TIMEOUT_MS);
        app.world.advance(due);
        assert!(!app.flowing(&endpoints[2], "In", due));
        let events: Vec<Value> = app
            .world
            .outbox
            .iter()
            .map(|(_, f)| serde_json::from_str(f).unwrap())
            .collect();
        let states: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                let data = &e["params"]["value"]["data"];
                (
                    data["mediaType"].as_str().unwrap(),
                    data["state"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [("VIDEO", "NOT_FLOWING")],
            "only the routed video stopped: {events:?}"
        );
        app.call("release", json!({"object": p}), due);
        assert!(app.world.object_ids().is_empty());
    }
}
