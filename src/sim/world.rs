//! The simulated KMS state as a plain struct: objects, owner sessions and GC (docs/kms-protocol.md
//! §4), connection bindings (§3), subscriptions and the event outbox. No I/O; time is passed in as
//! epoch milliseconds.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use serde_json::{Value, json};

mod live;

pub use live::{DetachedPorts, PeerPorts};

use super::classes::{self, Class, Kind};
use super::clock::MediaClock;
use super::dialect::Dialect;
use super::fault::{Fault, LoggedRequest};
use super::flow::Flows;
use super::media::{FlowSnapshot, Media};
use super::media_types::{MediaType, TotalsMap, empty_totals};
use super::peer::Peer;
use super::rng::{Rng, mix};
use super::scenario::{ConnectionRef, MediaProfile, PipelineSpec, Scenario};
use crate::kurento::protocol::{Event, SERVER_MANAGER};

/// Identifies one WebSocket connection.
pub type ConnId = u64;

/// A source → sink media connection (`ElementConnectionData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub source: String,
    pub sink: String,
    pub media: MediaType,
    pub source_description: String,
    pub sink_description: String,
}

impl Link {
    pub fn to_json(&self) -> Value {
        json!({"__module__":"kurento","__type__":"ElementConnectionData","sink":self.sink,
            "sinkDescription":self.sink_description,"source":self.source,
            "sourceDescription":self.source_description,"type":self.media.as_str()})
    }
}

/// One media object (the ServerManager included).
#[derive(Debug, Clone)]
pub struct Object {
    pub id: String,
    pub class: &'static Class,
    pub parent: Option<String>,
    pub children: Vec<String>,
    /// Sessions that reference the object (`reverseSessionMap`).
    pub owners: BTreeSet<String>,
    pub created_s: u64,
    pub name: String,
    pub tags: Vec<(String, String)>,
    /// Properties set through `setX` (getters fall back to class defaults).
    pub props: BTreeMap<String, Value>,
    /// Media behaviour; elements only.
    pub media: Option<Media>,
    /// Connections where this element is the source / the sink.
    pub sinks: Vec<Link>,
    pub sources: Vec<Link>,
    pub local_sdp: Option<String>,
    pub remote_sdp: Option<String>,
    pub uri: Option<String>,
    pub uri_state: &'static str,
    /// `MediaPipeline.latencyStats`.
    pub latency_stats: bool,
    /// Created by an application (not the scenario) without `dynamic_profile`: its flows follow
    /// its peer and connections ([`World::settle`]) instead of a profile.
    pub live: bool,
    /// The negotiated peer of a live WebRtcEndpoint/RtpEndpoint (`None` until negotiation).
    pub peer: Option<Peer>,
    /// A live element's flows as last computed and announced.
    pub live_flows: Flows,
    /// Dispatcher routes `(source port, sink port)`.
    pub hub_routes: Vec<(String, String)>,
    /// DispatcherOneToMany source port.
    pub hub_source: Option<String>,
}

impl Object {
    /// Flows, transcoding and states at media time `t`, as the element reports them (a
    /// UriEndpoint passes media only when started). `None` for non-elements.
    pub fn media_snapshot(&self, t: u64) -> Option<FlowSnapshot> {
        let media = self.media.as_ref()?;
        let mut snapshot = media.snapshot(t);
        if self.class.is_uri() && self.uri_state != "START" {
            snapshot.flowing_in = [false; 2];
            snapshot.flowing_out = [false; 2];
        }
        Some(snapshot)
    }

    /// `getState` of a UriEndpoint: the application's last command, except that a started one
    /// reports PAUSE while its media is paused.
    pub fn uri_state_at(&self, t: u64) -> &'static str {
        if self.uri_state == "START" && self.media.as_ref().is_some_and(|m| m.paused(t)) {
            "PAUSE"
        } else {
            self.uri_state
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SessionState {
    in_use: bool,
    objects: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    session: String,
    event: String,
}

/// A session the simulator keeps alive as if its application held a connection.
#[derive(Debug, Clone)]
struct AppSession {
    /// After this instant the application is gone and keep-alive stops.
    vanish_at_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct ChurnMeeting {
    pipeline: String,
    session: String,
    release_at_ms: u64,
}

/// The whole simulated server.
#[derive(Debug)]
pub struct World {
    pub scenario: Scenario,
    pub server_id: String,
    pub rng: Rng,
    pub started_ms: u64,
    objects: HashMap<String, Object>,
    sessions: BTreeMap<String, SessionState>,
    conn_session: HashMap<ConnId, String>,
    session_conn: HashMap<String, ConnId>,
    subscriptions: HashMap<String, Vec<Subscription>>,
    app_sessions: BTreeMap<String, AppSession>,
    churn: Vec<ChurnMeeting>,
    churn_seq: u64,
    next_ordinal: u64,
    next_keep_alive_ms: u64,
    next_gc_ms: u64,
    next_churn_ms: Option<u64>,
    /// Events waiting to be written, with the connection bound to their session at emission.
    pub outbox: Vec<(ConnId, String)>,
    pub log: Vec<LoggedRequest>,
    pub faults: Vec<Fault>,
    /// Requests served since the world was built (for `Fault::DropConnectionsAfter`).
    pub served: u64,
    /// `served` count at which every connection is dropped (`Fault::DropConnectionsAfter`).
    pub drop_at_served: Option<u64>,
    /// Extra delay before every reply (`Fault::SlowReplies`).
    pub extra_delay_ms: u64,
    /// Inner `transaction` operations run so far (service time is charged per operation).
    pub inner_ops: u64,
    /// The time media stats evolve on.
    media_clock: MediaClock,
    /// Media instants at which an element's flows or states change, for its events.
    transitions: BinaryHeap<Reverse<(u64, String)>>,
    /// New elements' media starts this long before their creation (the scenario's warm-up).
    backdate_ms: u64,
    /// Binds and closes the UDP sockets of negotiated endpoints.
    ports: Box<dyn PeerPorts>,
    /// Pipelines whose live elements' flows and peer states must be recomputed.
    dirty: BTreeSet<String>,
    /// Instants at which a peer's view changes by itself (silence), per endpoint.
    peer_checks: BinaryHeap<Reverse<(u64, String)>>,
}

impl World {
    /// A fresh KMS process: the scenario's world, built at `now_ms`. `generation` counts restarts
    /// so that every process gets different ids and a different `serverId`.
    pub fn new(scenario: &Scenario, now_ms: u64, generation: u64) -> World {
        let rng = Rng::new(mix(scenario.timing.seed ^ mix(generation)));
        // Random like KMS's own (one UUID per process), so two simulator processes started with
        // the same scenario still look like a restart to a client; object ids stay seeded.
        let server_id = uuid::Uuid::new_v4().to_string();
        let gc_ms = gc_period_ms(scenario);
        let mut world = World {
            scenario: scenario.clone(),
            server_id,
            rng,
            started_ms: now_ms,
            objects: HashMap::new(),
            sessions: BTreeMap::new(),
            conn_session: HashMap::new(),
            session_conn: HashMap::new(),
            subscriptions: HashMap::new(),
            app_sessions: BTreeMap::new(),
            churn: Vec::new(),
            churn_seq: 0,
            next_ordinal: 0,
            next_keep_alive_ms: now_ms + gc_ms / 4,
            next_gc_ms: now_ms + gc_ms,
            next_churn_ms: scenario
                .churn
                .as_ref()
                .map(|c| now_ms + c.every.as_millis() as u64),
            outbox: Vec::new(),
            log: Vec::new(),
            faults: Vec::new(),
            served: 0,
            drop_at_served: None,
            extra_delay_ms: 0,
            inner_ops: 0,
            media_clock: MediaClock::default(),
            transitions: BinaryHeap::new(),
            backdate_ms: scenario.timing.media_warmup.as_millis() as u64,
            ports: Box::new(DetachedPorts::new(scenario.peers.media_address)),
            dirty: BTreeSet::new(),
            peer_checks: BinaryHeap::new(),
        };
        world.objects.insert(
            SERVER_MANAGER.to_owned(),
            World::new_object(
                SERVER_MANAGER.to_owned(),
                classes::server_manager(),
                None,
                now_ms,
            ),
        );
        for spec in &scenario.pipelines {
            for n in 1..=spec.count {
                let session = world.rng.uuid();
                world.build_pipeline(&session, spec, n as u64, now_ms);
                let vanish_at_ms = spec.vanish_after.map(|d| now_ms + d.as_millis() as u64);
                world
                    .app_sessions
                    .insert(session, AppSession { vanish_at_ms });
            }
        }
        world.backdate_ms = 0;
        world
    }

    pub fn dialect(&self) -> Dialect {
        self.scenario.server.dialect
    }

    fn new_object(
        id: String,
        class: &'static Class,
        parent: Option<String>,
        now_ms: u64,
    ) -> Object {
        Object {
            name: id.clone(),
            id,
            class,
            parent,
            children: Vec::new(),
            owners: BTreeSet::new(),
            created_s: now_ms / 1000,
            tags: Vec::new(),
            props: BTreeMap::new(),
            media: None,
            sinks: Vec::new(),
            sources: Vec::new(),
            local_sdp: None,
            remote_sdp: None,
            uri: None,
            uri_state: "STOP",
            latency_stats: false,
            live: false,
            peer: None,
            live_flows: Flows::default(),
            hub_routes: Vec::new(),
            hub_source: None,
        }
    }

    // ----- objects -------------------------------------------------------------------------

    pub fn get(&self, id: &str) -> Option<&Object> {
        self.objects.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Object> {
        self.objects.get_mut(id)
    }

    pub fn exists(&self, id: &str) -> bool {
        self.objects.contains_key(id)
    }

    /// Every object id but the ServerManager's, sorted.
    pub fn object_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .objects
            .keys()
            .filter(|id| *id != SERVER_MANAGER)
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Live pipelines, in creation order of their ids' first sight (sorted for stability).
    pub fn pipeline_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .objects
            .values()
            .filter(|o| o.class.kind == Kind::Pipeline)
            .map(|o| o.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The owner sessions of an object (empty if it does not exist).
    pub fn owners(&self, id: &str) -> BTreeSet<String> {
        self.objects
            .get(id)
            .map(|o| o.owners.clone())
            .unwrap_or_default()
    }

    /// Creates an object for `session` under `parent`. The child inherits the parent's owners
    /// (MS `ref(MediaObjectImpl*)`); the creating session becomes an owner of it and its ancestors.
    pub fn create(
        &mut self,
        session: &str,
        class: &'static Class,
        parent: Option<&str>,
        profile: Option<MediaProfile>,
        now_ms: u64,
    ) -> String {
        let uuid = self.rng.uuid();
        let id = match parent {
            Some(p) => format!("{p}/{uuid}_kurento.{}", class.name),
            None => format!("{uuid}_kurento.{}", class.name),
        };
        let mut object = World::new_object(id.clone(), class, parent.map(str::to_owned), now_ms);
        let media_now = self.media_now(now_ms);
        let profile = profile.or_else(|| self.dynamic_profile());
        if class.is_element() {
            match profile {
                Some(profile) => {
                    let ordinal = self.next_ordinal;
                    self.next_ordinal += 1;
                    let started = media_now.saturating_sub(self.backdate_ms);
                    object.media = Some(Media::new(profile, ordinal, started, &mut self.rng));
                }
                None => object.live = true,
            }
        }
        if let Some(p) = parent.and_then(|p| self.objects.get_mut(p)) {
            p.children.push(id.clone());
            object.owners = p.owners.clone();
        }
        for owner in &object.owners {
            self.sessions
                .entry(owner.clone())
                .or_default()
                .objects
                .insert(id.clone());
        }
        self.objects.insert(id.clone(), object);
        self.schedule_transition(&id, media_now);
        self.reference(session, &id);
        if self.has_subscribers(SERVER_MANAGER) {
            let data = json!({"object": id});
            self.emit(SERVER_MANAGER, "ObjectCreated", data, now_ms);
        }
        id
    }

    /// The scenario's profile for application-created elements, if it sets one.
    fn dynamic_profile(&self) -> Option<MediaProfile> {
        self.scenario
            .server
            .dynamic_profile
            .as_ref()
            .and_then(|p| self.scenario.profiles.get(p))
            .cloned()
    }

    /// Makes `session` an owner of `id` and all its ancestors and marks it in use
    /// (`MediaSet::ref`, which every resolving request performs). Creates the session if needed.
    pub fn reference(&mut self, session: &str, id: &str) {
        if !self.sessions.contains_key(session) {
            self.sessions
                .insert(session.to_owned(), SessionState::default());
        }
        let Some(state) = self.sessions.get_mut(session) else {
            return;
        };
        state.in_use = true;
        // Ids nest (`P/H/X`): the ancestors are the prefixes before each '/'. Allocates only
        // for references not held yet (the common case of a poller re-reading is free).
        let mut ends: Vec<usize> = id.match_indices('/').map(|(i, _)| i).collect();
        ends.push(id.len());
        for end in ends.into_iter().rev() {
            let cur = &id[..end];
            let Some(obj) = self.objects.get_mut(cur) else {
                break;
            };
            if !obj.owners.contains(session) {
                obj.owners.insert(session.to_owned());
            }
            if !state.objects.contains(cur) {
                state.objects.insert(cur.to_owned());
            }
        }
    }

    /// Resolves `id` for `session`: refs it (as KMS does on every resolution) or 40101.
    /// Objects owned by nobody answer 40101 too; the ServerManager is exempt.
    pub fn resolve(&mut self, session: &str, id: &str) -> Option<&'static Class> {
        let obj = self.objects.get(id)?;
        if obj.owners.is_empty() && id != SERVER_MANAGER {
            return None;
        }
        let class = obj.class;
        self.reference(session, id);
        Some(class)
    }

    /// `unref`: drops `session` from `id` and its whole subtree (and the session's handlers
    /// there); objects left without owners are destroyed.
    pub fn unref(&mut self, session: &str, id: &str, now_ms: u64) {
        if !self.objects.contains_key(id) {
            return;
        }
        let subtree = self.subtree(id);
        for oid in &subtree {
            if let Some(o) = self.objects.get_mut(oid) {
                o.owners.remove(session);
            }
            if let Some(s) = self.sessions.get_mut(session) {
                s.objects.remove(oid);
            }
            if let Some(subs) = self.subscriptions.get_mut(oid) {
                subs.retain(|s| s.session != session);
            }
        }
        for oid in subtree {
            let orphan = self
                .objects
                .get(&oid)
                .is_some_and(|o| o.owners.is_empty() && oid != SERVER_MANAGER);
            if orphan {
                self.destroy(&oid, now_ms);
            }
        }
    }

    /// `release`: removes every owner and destroys the object and its subtree. Always succeeds.
    pub fn release(&mut self, id: &str, now_ms: u64) {
        if id == SERVER_MANAGER {
            return;
        }
        self.destroy(id, now_ms);
    }

    /// The object and all its descendants, parents first.
    fn subtree(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut i = 0;
        while i < out.len() {
            if let Some(o) = self.objects.get(&out[i]) {
                out.extend(o.children.iter().cloned());
            }
            i += 1;
        }
        out
    }

    /// Frees an object and its subtree (children first), emitting `ObjectDestroyed` for each.
    fn destroy(&mut self, id: &str, now_ms: u64) {
        let Some(obj) = self.objects.get(id) else {
            return;
        };
        for child in obj.children.clone() {
            self.destroy(&child, now_ms);
        }
        let Some(obj) = self.objects.remove(id) else {
            return;
        };
        if obj.peer.is_some() {
            self.ports.close(id);
        }
        if obj.live {
            self.dirty
                .insert(crate::kurento::protocol::pipeline_id(id).to_owned());
        }
        if let Some(p) = obj.parent.as_ref().and_then(|p| self.objects.get_mut(p)) {
            p.children.retain(|c| c != id);
        }
        for owner in &obj.owners {
            if let Some(s) = self.sessions.get_mut(owner) {
                s.objects.remove(id);
            }
        }
        for link in &obj.sinks {
            if let Some(peer) = self.objects.get_mut(&link.sink) {
                peer.sources.retain(|l| l.source != id);
            }
        }
        for link in &obj.sources {
            if let Some(peer) = self.objects.get_mut(&link.source) {
                peer.sinks.retain(|l| l.sink != id);
            }
        }
        self.subscriptions.remove(id);
        self.emit(
            SERVER_MANAGER,
            "ObjectDestroyed",
            json!({"objectId": id}),
            now_ms,
        );
    }

    // ----- connections between elements ---------------------------------------------------

    /// `connect(sink, mediaType?)`: without a media type, AUDIO, VIDEO and DATA are connected.
    pub fn connect_elements(
        &mut self,
        source: &str,
        sink: &str,
        media: Option<MediaType>,
        source_desc: &str,
        sink_desc: &str,
        now_ms: u64,
    ) {
        self.mark_dirty(source);
        self.mark_dirty(sink);
        let medias = match media {
            Some(m) => vec![m],
            None => vec![MediaType::Audio, MediaType::Video, MediaType::Data],
        };
        for media in medias {
            let link = Link {
                source: source.to_owned(),
                sink: sink.to_owned(),
                media,
                source_description: source_desc.to_owned(),
                sink_description: sink_desc.to_owned(),
            };
            let Some(src) = self.objects.get_mut(source) else {
                return;
            };
            if src.sinks.contains(&link) {
                continue;
            }
            src.sinks.push(link.clone());
            if let Some(dst) = self.objects.get_mut(sink) {
                dst.sources.push(link);
            }
            if self.has_subscribers(source) {
                let data = json!({"mediaType": media.as_str(), "sink": sink,
                    "sinkMediaDescription": sink_desc, "sourceMediaDescription": source_desc});
                self.emit(source, "ElementConnected", data, now_ms);
            }
        }
    }

    /// `disconnect(sink, mediaType?)`.
    pub fn disconnect_elements(
        &mut self,
        source: &str,
        sink: &str,
        media: Option<MediaType>,
        now_ms: u64,
    ) {
        self.mark_dirty(source);
        self.mark_dirty(sink);
        let matches =
            |l: &Link| l.source == source && l.sink == sink && media.is_none_or(|m| m == l.media);
        let removed: Vec<Link> = self
            .objects
            .get(source)
            .map(|o| o.sinks.iter().filter(|l| matches(l)).cloned().collect())
            .unwrap_or_default();
        if let Some(o) = self.objects.get_mut(source) {
            o.sinks.retain(|l| !matches(l));
        }
        if let Some(o) = self.objects.get_mut(sink) {
            o.sources.retain(|l| !matches(l));
        }
        for l in removed {
            let data = json!({"mediaType": l.media.as_str(), "sink": sink,
                "sinkMediaDescription": l.sink_description, "sourceMediaDescription": l.source_description});
            self.emit(source, "ElementDisconnected", data, now_ms);
        }
    }

    // ----- sessions -------------------------------------------------------------------------

    pub fn session_exists(&self, session: &str) -> bool {
        self.sessions.contains_key(session)
    }

    /// Marks a session in use (`keepAlive`); false if the MediaSet does not know it.
    pub fn keep_alive(&mut self, session: &str) -> bool {
        match self.sessions.get_mut(session) {
            Some(s) => {
                s.in_use = true;
                true
            }
            None => false,
        }
    }

    /// `getSessions` with the KMS padding bug: N empty strings, then the N ids.
    pub fn sessions_reply(&self) -> Value {
        let n = self.sessions.len();
        let mut out: Vec<Value> = vec![Value::from(""); n];
        out.extend(self.sessions.keys().map(|s| Value::from(s.as_str())));
        Value::Array(out)
    }

    /// `MediaSet::unrefSession`: the session's references and handlers are dropped, objects
    /// owned by nobody else are destroyed, and the session is forgotten.
    pub fn unref_session(&mut self, session: &str, now_ms: u64) {
        let Some(state) = self.sessions.remove(session) else {
            return;
        };
        for id in &state.objects {
            if let Some(o) = self.objects.get_mut(id) {
                o.owners.remove(session);
            }
        }
        for subs in self.subscriptions.values_mut() {
            subs.retain(|s| s.session != session);
        }
        // Parents first: destroying a parent takes its children with it.
        let mut orphans: Vec<&String> = state.objects.iter().collect();
        orphans.sort_by_key(|id| id.len());
        for id in orphans {
            let orphan = self
                .objects
                .get(id)
                .is_some_and(|o| o.owners.is_empty() && id != SERVER_MANAGER);
            if orphan {
                self.destroy(id, now_ms);
            }
        }
        self.app_sessions.remove(session);
    }

    /// `closeSession`: `release:true` releases every object the session references.
    pub fn close_session(&mut self, session: &str, release: bool, now_ms: u64) {
        if release {
            let objects: Vec<String> = self
                .sessions
                .get(session)
                .map(|s| s.objects.iter().cloned().collect())
                .unwrap_or_default();
            for id in objects {
                self.release(&id, now_ms);
            }
        }
        self.unref_session(session, now_ms);
    }

    // ----- connection bindings ------------------------------------------------------------

    pub fn bound_session(&self, conn: ConnId) -> Option<&str> {
        self.conn_session.get(&conn).map(String::as_str)
    }

    /// `storeConnection`: binds `conn` to `session`, dropping older bindings of either.
    pub fn bind(&mut self, conn: ConnId, session: &str) {
        if let Some(old) = self.conn_session.remove(&conn) {
            self.session_conn.remove(&old);
        }
        if let Some(old_conn) = self.session_conn.remove(session) {
            self.conn_session.remove(&old_conn);
        }
        self.conn_session.insert(conn, session.to_owned());
        self.session_conn.insert(session.to_owned(), conn);
    }

    /// The WebSocket closed: forget its binding (the session lives on until GC).
    pub fn connection_closed(&mut self, conn: ConnId) {
        if let Some(session) = self.conn_session.remove(&conn) {
            self.session_conn.remove(&session);
        }
    }

    /// Forget every binding (all connections dropped).
    pub fn drop_all_bindings(&mut self) {
        self.conn_session.clear();
        self.session_conn.clear();
    }

    // ----- events ---------------------------------------------------------------------------

    /// Adds a subscription; the caller has checked that the class has the event.
    pub fn subscribe(&mut self, session: &str, object: &str, event: &str) -> String {
        let id = self.rng.uuid();
        self.subscriptions
            .entry(object.to_owned())
            .or_default()
            .push(Subscription {
                id: id.clone(),
                session: session.to_owned(),
                event: event.to_owned(),
            });
        id
    }

    pub fn unsubscribe(&mut self, object: &str, subscription: &str) {
        if let Some(subs) = self.subscriptions.get_mut(object) {
            subs.retain(|s| s.id != subscription);
        }
    }

    /// Whether anyone subscribed to events of `object` (saves building events nobody gets).
    pub fn has_subscribers(&self, object: &str) -> bool {
        self.subscriptions
            .get(object)
            .is_some_and(|s| !s.is_empty())
    }

    /// Emits `event` from `object` to every subscribed session's bound connection (once per
    /// session and name; 6.x subscribers of the legacy names get it under that name).
    pub fn emit(&mut self, object: &str, event: &str, mut data: Value, now_ms: u64) {
        let Some(subs) = self.subscriptions.get(object) else {
            return;
        };
        let v6 = self.dialect() == Dialect::V6;
        let mut names = vec![event];
        if v6 {
            names.extend(classes::legacy_event_names(event));
        }
        let mut targets: BTreeSet<(ConnId, &str)> = BTreeSet::new();
        for sub in subs {
            if let Some(name) = names.iter().find(|n| **n == sub.event)
                && let Some(conn) = self.session_conn.get(&sub.session)
            {
                targets.insert((*conn, name));
            }
        }
        if targets.is_empty() {
            return;
        }
        if let Value::Object(map) = &mut data {
            map.insert("source".into(), object.into());
            map.insert("tags".into(), json!([]));
            map.insert("timestampMillis".into(), now_ms.to_string().into());
            if v6 {
                map.insert("timestamp".into(), (now_ms / 1000).to_string().into());
            }
        }
        for (conn, name) in targets {
            let mut data = data.clone();
            if is_media_event(name)
                && let Value::Object(map) = &mut data
            {
                map.insert("type".into(), name.into());
            }
            let event = Event {
                object: object.to_owned(),
                event_type: name.to_owned(),
                data,
            };
            let frame = json!({"jsonrpc": "2.0", "method": "onEvent", "params": event.to_params()});
            self.outbox.push((conn, frame.to_string()));
        }
    }

    // ----- time -----------------------------------------------------------------------------

    /// The next instant at which `advance` has work to do.
    pub fn next_due_ms(&self) -> u64 {
        let media = self
            .transitions
            .peek()
            .and_then(|Reverse((t, _))| self.media_clock.wall_at(*t));
        let peers = self.peer_checks.peek().map(|Reverse((t, _))| *t);
        self.next_tick_ms()
            .min(media.unwrap_or(u64::MAX))
            .min(peers.unwrap_or(u64::MAX))
    }

    /// The next keep-alive, GC or churn instant.
    fn next_tick_ms(&self) -> u64 {
        let mut due = self.next_keep_alive_ms.min(self.next_gc_ms);
        if let Some(c) = self.next_churn_ms {
            due = due.min(c);
        }
        if let Some(r) = self.churn.iter().map(|m| m.release_at_ms).min() {
            due = due.min(r);
        }
        due
    }

    /// Runs every keep-alive, GC and churn tick due at `now_ms`, in time order, then the media
    /// transitions due by then.
    pub fn advance(&mut self, now_ms: u64) {
        let gc_ms = gc_period_ms(&self.scenario);
        loop {
            let due = self.next_tick_ms();
            if due > now_ms {
                break;
            }
            if self.next_keep_alive_ms == due {
                self.keep_alive_tick(due);
                self.next_keep_alive_ms += (gc_ms / 4).max(1);
            }
            if self.next_gc_ms == due {
                self.gc_tick(due);
                self.next_gc_ms += gc_ms;
            }
            self.churn_tick(due);
        }
        self.run_media_transitions(now_ms);
        self.run_peer_checks(now_ms);
        self.settle(now_ms);
    }

    // ----- media time -----------------------------------------------------------------------

    /// Media time (epoch ms) at wall time `now_ms`.
    pub fn media_now(&self, now_ms: u64) -> u64 {
        self.media_clock.now(now_ms)
    }

    /// Stops media time: stats stop evolving until [`World::resume_media`].
    pub fn freeze_media(&mut self, now_ms: u64) {
        self.media_clock.freeze(now_ms);
    }

    /// Media time runs on (from where it stands) with the wall clock.
    pub fn resume_media(&mut self, now_ms: u64) {
        self.media_clock.resume(now_ms);
    }

    /// Moves media time forward by `by_ms` and emits the media events due by then.
    pub fn advance_media(&mut self, by_ms: u64, now_ms: u64) {
        self.media_clock.advance(by_ms);
        self.run_media_transitions(now_ms);
    }

    /// Replaces the media clock (a restarted KMS keeps a test's frozen clock).
    pub fn set_media_clock(&mut self, clock: MediaClock) {
        self.media_clock = clock;
    }

    pub fn media_clock(&self) -> MediaClock {
        self.media_clock
    }

    /// Sums of RTP counters over every BaseRtpEndpoint stream, exactly as `getStats` would
    /// report them now; keys `("audio"|"video", "inbound"|"outbound")`, all four present.
    pub fn rtp_totals(&self, now_ms: u64) -> TotalsMap {
        let t = self.media_now(now_ms);
        let mut totals = empty_totals();
        for o in self.objects.values().filter(|o| o.class.is_rtp()) {
            if let Some(media) = &o.media {
                media.add_rtp_totals(t, &mut totals);
            }
            if let Some(peer) = &o.peer {
                peer.add_totals(&mut totals);
            }
        }
        totals
    }

    fn schedule_transition(&mut self, id: &str, after_media_ms: u64) {
        let next = self
            .objects
            .get(id)
            .and_then(|o| o.media.as_ref())
            .and_then(|m| m.next_transition(after_media_ms));
        if let Some(next) = next {
            self.transitions.push(Reverse((next, id.to_owned())));
        }
    }

    /// Emits the events of every flow/transcoding/state change due by media time at `now_ms`.
    fn run_media_transitions(&mut self, now_ms: u64) {
        let media_now = self.media_now(now_ms);
        while let Some(Reverse((due, _))) = self.transitions.peek()
            && *due <= media_now
        {
            let Some(Reverse((due, id))) = self.transitions.pop() else {
                break;
            };
            let Some(obj) = self.objects.get(&id) else {
                continue;
            };
            let changes = media_changes(obj, due);
            for (event, data) in changes {
                self.emit(&id, event, data, now_ms);
            }
            self.schedule_transition(&id, due);
        }
    }

    /// Marks sessions bound to open connections and live application sessions as in use.
    fn keep_alive_tick(&mut self, now_ms: u64) {
        let mut live: Vec<String> = self.session_conn.keys().cloned().collect();
        live.extend(
            self.app_sessions
                .iter()
                .filter(|(_, a)| a.vanish_at_ms.is_none_or(|t| now_ms < t))
                .map(|(s, _)| s.clone()),
        );
        for s in live {
            if let Some(state) = self.sessions.get_mut(&s) {
                state.in_use = true;
            }
        }
    }

    /// The GC thread: sessions not in use since the last tick are dropped (`unrefSession`).
    fn gc_tick(&mut self, now_ms: u64) {
        let mut idle = Vec::new();
        for (s, state) in &mut self.sessions {
            if state.in_use {
                state.in_use = false;
            } else {
                idle.push(s.clone());
            }
        }
        for s in idle {
            self.unref_session(&s, now_ms);
        }
    }

    fn churn_tick(&mut self, now_ms: u64) {
        let due: Vec<ChurnMeeting> = self
            .churn
            .iter()
            .filter(|m| m.release_at_ms <= now_ms)
            .cloned()
            .collect();
        self.churn.retain(|m| m.release_at_ms > now_ms);
        for meeting in due {
            self.release(&meeting.pipeline, now_ms);
            self.unref_session(&meeting.session, now_ms);
        }
        let Some(churn) = self.scenario.churn.clone() else {
            return;
        };
        while let Some(next) = self.next_churn_ms.filter(|n| *n <= now_ms) {
            self.churn_seq += 1;
            let session = self.rng.uuid();
            let pipeline = self.build_pipeline(&session, &churn.pipeline, self.churn_seq, next);
            self.app_sessions
                .insert(session.clone(), AppSession { vanish_at_ms: None });
            self.churn.push(ChurnMeeting {
                pipeline,
                session,
                release_at_ms: next + churn.lifetime.as_millis() as u64,
            });
            self.next_churn_ms = Some(next + churn.every.as_millis().max(1) as u64);
        }
    }

    /// Builds one pipeline of a spec for `session`; returns the pipeline id.
    fn build_pipeline(
        &mut self,
        session: &str,
        spec: &PipelineSpec,
        n: u64,
        now_ms: u64,
    ) -> String {
        let pipeline_class = classes::factory("MediaPipeline").unwrap_or(classes::server_manager());
        let pipeline = self.create(session, pipeline_class, None, None, now_ms);
        if let Some(p) = self.objects.get_mut(&pipeline) {
            p.name = spec.name.replace("{n}", &n.to_string());
            p.latency_stats = spec.latency_stats;
        }
        let default_profile = spec.profile.as_deref();
        let mut by_type: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for e in &spec.elements {
            let Some(class) = classes::factory(&e.element_type) else {
                continue;
            };
            for _ in 0..e.count {
                let profile = self
                    .scenario
                    .profile(e.profile.as_deref().or(default_profile));
                let state = profile.uri_state.as_str();
                let id = self.create(session, class, Some(&pipeline), Some(profile), now_ms);
                if class.is_uri() {
                    let uri = format!("file:///var/media/{}.webm", self.rng.uuid());
                    if let Some(o) = self.objects.get_mut(&id) {
                        o.uri = Some(uri);
                        o.uri_state = state;
                    }
                }
                by_type.entry(class.name).or_default().push(id);
            }
        }
        for h in &spec.hubs {
            let Some(class) = classes::factory(&h.hub_type) else {
                continue;
            };
            let hub = self.create(session, class, Some(&pipeline), None, now_ms);
            let port_class = classes::factory("HubPort").unwrap_or(class);
            for _ in 0..h.ports {
                let profile = self
                    .scenario
                    .profile(h.profile.as_deref().or(default_profile));
                let port = self.create(session, port_class, Some(&hub), Some(profile), now_ms);
                by_type.entry("HubPort").or_default().push(port);
            }
        }
        let mut links = Vec::new();
        for text in &spec.connections {
            // Validated when the scenario was loaded.
            if let Ok(r) = ConnectionRef::parse(text) {
                let find = |(ty, i): &(String, usize)| {
                    by_type.get(ty.as_str()).and_then(|v| v.get(*i)).cloned()
                };
                if let (Some(a), Some(b)) = (find(&r.source), find(&r.sink)) {
                    links.push((a, b));
                }
            }
        }
        if spec.mesh {
            let webrtc = by_type.get("WebRtcEndpoint").cloned().unwrap_or_default();
            for a in &webrtc {
                for b in webrtc.iter().filter(|b| *b != a) {
                    links.push((a.clone(), b.clone()));
                }
            }
        }
        for (a, b) in links {
            self.connect_elements(&a, &b, None, "default", "default", now_ms);
        }
        pipeline
    }
}

/// The events an element emits as its media passes media time `t` (compared with just before).
fn media_changes(obj: &Object, t: u64) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let (Some(before), Some(after)) = (
        obj.media_snapshot(t.saturating_sub(1)),
        obj.media_snapshot(t),
    ) else {
        return out;
    };
    let flowing = |on: bool| if on { "FLOWING" } else { "NOT_FLOWING" };
    for (i, media) in [MediaType::Audio, MediaType::Video].into_iter().enumerate() {
        let m = media.as_str();
        if before.flowing_in[i] != after.flowing_in[i] {
            let data = json!({"mediaType": m, "padName": "default", "state": flowing(after.flowing_in[i])});
            out.push(("MediaFlowInStateChanged", data));
        }
        if before.flowing_out[i] != after.flowing_out[i] {
            let data = json!({"mediaType": m, "padName": "default", "state": flowing(after.flowing_out[i])});
            out.push(("MediaFlowOutStateChanged", data));
        }
        if before.transcoding[i] != after.transcoding[i] {
            let state = if after.transcoding[i] {
                "TRANSCODING"
            } else {
                "NOT_TRANSCODING"
            };
            let data = json!({"binName": "default", "mediaType": m, "state": state});
            out.push(("MediaTranscodingStateChanged", data));
        }
    }
    if obj.class.is_rtp() && before.media_state != after.media_state {
        let data = json!({"newState": after.media_state, "oldState": before.media_state});
        out.push(("MediaStateChanged", data));
    }
    if obj.class.is_uri() {
        let (old, new) = (obj.uri_state_at(t.saturating_sub(1)), obj.uri_state_at(t));
        if old != new {
            out.push(("UriEndpointStateChanged", json!({"state": new})));
            if obj.class.kind == Kind::Recorder {
                let event = if new == "PAUSE" {
                    "Paused"
                } else {
                    "Recording"
                };
                out.push((event, json!({})));
            }
        }
    }
    out
}

/// Events derived from `Media` carry `data.type` (= the event name).
fn is_media_event(name: &str) -> bool {
    !matches!(name, "ObjectCreated" | "ObjectDestroyed" | "Error")
}

pub fn gc_period_ms(scenario: &Scenario) -> u64 {
    (scenario.timing.gc_period.as_millis() as u64).max(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const T0: u64 = 1_700_000_000_000;

    fn scenario(text: &str) -> Scenario {
        let mut s = Scenario::from_toml_str(text).unwrap();
        s.timing.gc_period = Duration::from_secs(4);
        s
    }

    fn class(name: &str) -> &'static Class {
        classes::factory(name).unwrap()
    }

    fn manager_events(world: &mut World) -> Vec<String> {
        world.outbox.drain(..).map(|(_, f)| f).collect()
    }

    #[test]
    fn children_inherit_owners_and_refs_climb_to_ancestors() {
        let mut w = World::new(&scenario(""), T0, 0);
        let p = w.create("a", class("MediaPipeline"), None, None, T0);
        w.reference("b", &p);
        let e = w.create("c", class("WebRtcEndpoint"), Some(&p), None, T0);
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(w.owners(&e), set(&["a", "b", "c"]));
        assert_eq!(
            w.owners(&p),
            set(&["a", "b", "c"]),
            "creating a child refs its parent"
        );
        w.reference("d", &e);
        assert!(w.owners(&p).contains("d"));
    }

    #[test]
    fn unref_cascades_and_destroys_orphans() {
        let mut w = World::new(&scenario(""), T0, 0);
        let p = w.create("a", class("MediaPipeline"), None, None, T0);
        let e = w.create("a", class("WebRtcEndpoint"), Some(&p), None, T0);
        w.reference("x", &e);
        w.unref("a", &p, T0);
        assert!(w.exists(&p) && w.exists(&e), "x still owns both");
        assert_eq!(w.owners(&e).len(), 1);
        w.unref("x", &p, T0);
        assert!(!w.exists(&p) && !w.exists(&e));
    }

    #[test]
    fn release_destroys_the_subtree_whoever_owns_it() {
        let mut w = World::new(&scenario(""), T0, 0);
        let p = w.create("a", class("MediaPipeline"), None, None, T0);
        let hub = w.create("a", class("Composite"), Some(&p), None, T0);
        let port = w.create("b", class("HubPort"), Some(&hub), None, T0);
        w.subscribe("m", SERVER_MANAGER, "ObjectDestroyed");
        w.bind(7, "m");
        w.release(&p, T0);
        assert!(w.object_ids().is_empty());
        let frames = manager_events(&mut w);
        assert_eq!(frames.len(), 3);
        assert!(
            frames[0].contains(&format!("\"objectId\":\"{port}\"")),
            "children first"
        );
        w.release("no-such-object", T0);
        w.release(SERVER_MANAGER, T0);
        assert!(w.exists(SERVER_MANAGER));
    }

    #[test]
    fn gc_collects_sessions_idle_for_a_whole_period() {
        let mut w = World::new(&scenario(""), T0, 0);
        let kept = w.create("kept", class("MediaPipeline"), None, None, T0);
        let lost = w.create("lost", class("MediaPipeline"), None, None, T0);
        w.bind(1, "kept");
        // First GC tick only clears the marks set at creation; the second collects.
        w.advance(T0 + 4_000);
        assert!(w.exists(&lost));
        w.advance(T0 + 8_000);
        assert!(!w.exists(&lost));
        assert!(
            w.exists(&kept),
            "a bound open connection keeps its session alive"
        );
        assert!(!w.session_exists("lost"));
        w.connection_closed(1);
        w.advance(T0 + 16_000);
        assert!(!w.exists(&kept));
    }

    #[test]
    fn pseudo_session_keeps_everything_until_collected() {
        let mut w = World::new(&scenario(""), T0, 0);
        let p = w.create("app", class("MediaPipeline"), None, None, T0);
        w.reference("", &p);
        w.unref_session("app", T0);
        assert!(w.exists(&p), "\"\" owns it");
        w.advance(T0 + 8_000);
        assert!(!w.exists(&p));
    }

    #[test]
    fn close_session_without_release_frees_only_its_own_objects() {
        let mut w = World::new(&scenario(""), T0, 0);
        let mine = w.create("s", class("MediaPipeline"), None, None, T0);
        let shared = w.create("other", class("MediaPipeline"), None, None, T0);
        w.reference("s", &shared);
        w.close_session("s", false, T0);
        assert!(!w.exists(&mine));
        assert!(w.exists(&shared));
        w.close_session("other", true, T0);
        assert!(!w.exists(&shared));
    }

    #[test]
    fn bindings_follow_the_latest_connection() {
        let mut w = World::new(&scenario(""), T0, 0);
        w.bind(1, "s");
        w.bind(2, "s");
        assert_eq!(w.bound_session(1), None);
        assert_eq!(w.bound_session(2), Some("s"));
        w.bind(2, "t");
        assert_eq!(w.bound_session(2), Some("t"));
        w.subscribe("s", SERVER_MANAGER, "ObjectCreated");
        w.bind(3, "s");
        w.create("x", class("MediaPipeline"), None, None, T0);
        let targets: Vec<ConnId> = w.outbox.iter().map(|(c, _)| *c).collect();
        assert_eq!(targets, vec![3]);
        w.connection_closed(3);
        w.create("x", class("MediaPipeline"), None, None, T0);
        assert_eq!(
            w.outbox.len(),
            1,
            "no bound connection: the event is dropped"
        );
    }

    #[test]
    fn get_sessions_pads_with_empty_strings() {
        let mut w = World::new(&scenario(""), T0, 0);
        w.reference("a", SERVER_MANAGER);
        w.reference("b", SERVER_MANAGER);
        assert_eq!(w.sessions_reply(), json!(["", "", "a", "b"]));
    }

    #[test]
    fn scenario_builds_owned_pipelines_and_vanishing_apps_are_collected() {
        let text = r#"
            [[pipelines]]
            name = "kept-{n}"
            count = 2
            elements = [{ type = "PlayerEndpoint" }, { type = "RecorderEndpoint" }]
            hubs = [{ type = "Composite", ports = 2 }]
            connections = ["PlayerEndpoint -> RecorderEndpoint"]
            [[pipelines]]
            name = "gone"
            vanish_after = "1s"
            elements = [{ type = "WebRtcEndpoint", count = 2 }]
            mesh = true
        "#;
        let mut w = World::new(&scenario(text), T0, 0);
        assert_eq!(w.pipeline_ids().len(), 3);
        let names: BTreeSet<String> = w
            .pipeline_ids()
            .iter()
            .map(|p| w.get(p).unwrap().name.clone())
            .collect();
        assert!(names.contains("kept-1") && names.contains("kept-2") && names.contains("gone"));
        let player = w
            .object_ids()
            .into_iter()
            .find(|i| i.ends_with("PlayerEndpoint"))
            .unwrap();
        assert_eq!(
            w.get(&player).unwrap().sinks.len(),
            3,
            "audio, video and data"
        );
        let port = w
            .object_ids()
            .into_iter()
            .find(|i| i.ends_with("HubPort"))
            .unwrap();
        assert_eq!(
            port.matches('/').count(),
            2,
            "hub ports nest under their hub"
        );
        w.advance(T0 + 12_000);
        assert_eq!(
            w.pipeline_ids().len(),
            2,
            "the vanished app's pipeline is collected"
        );
    }

    #[test]
    fn churn_creates_and_releases_meetings() {
        let text = r#"
            [churn]
            every = "1s"
            lifetime = "3s"
            [churn.pipeline]
            name = "call-{n}"
            elements = [{ type = "WebRtcEndpoint", count = 2 }]
        "#;
        let mut w = World::new(&scenario(text), T0, 0);
        w.advance(T0 + 2_500);
        assert_eq!(w.pipeline_ids().len(), 2);
        w.advance(T0 + 10_000);
        assert_eq!(w.pipeline_ids().len(), 3, "steady state: lifetime / every");
    }

    #[test]
    fn restarts_get_new_ids_and_server_id() {
        let s = scenario("[[pipelines]]\nname = \"p\"");
        let (a, b) = (World::new(&s, T0, 0), World::new(&s, T0, 1));
        assert_ne!(a.server_id, b.server_id);
        assert_ne!(a.pipeline_ids(), b.pipeline_ids());
        assert_eq!(a.pipeline_ids(), World::new(&s, T0, 0).pipeline_ids());
    }
}
