//! The object inventory of one KMS (docs/architecture.md "Transparency and economy"): built from
//! `getPipelines` + `getChildren` at (re)connect, kept current by `ObjectCreated` /
//! `ObjectDestroyed`, replaced by a rare reconciliation. Pure: the poller feeds it, nothing here
//! does I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use crate::analysis::snapshot::{ObjectsState, PipelineState};
use crate::kurento::protocol::{ManagerEvent, object_type, parent_id};

/// What the exporter remembers of an object beyond its id (read once, when first seen).
#[derive(Debug, Clone, Default, PartialEq)]
struct ObjectMeta {
    name: Option<String>,
    created_unix_seconds: Option<i64>,
}

/// The objects of one KMS, keyed by id. Ids nest (`P/H/X`), so a subtree is a key range.
///
/// Ids are shared (`Arc<str>`): the readings, the topology and every sink connection pointing at
/// an element hold the inventory's copy of its id instead of one of their own (ids are ~120
/// bytes, and a mesh endpoint is named by about ten connections).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    objects: BTreeMap<Arc<str>, ObjectMeta>,
    /// Pipelines left out of every view: the health probe's (README "Health probe"). Their
    /// objects stay known, so their events and later listings do not bring them back as new.
    excluded: BTreeSet<String>,
}

/// An element of the inventory, as the media reads need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryElement<'a> {
    pub id: &'a Arc<str>,
    pub element_type: &'a str,
    pub pipeline: &'a str,
    /// The pipeline's name, else its id.
    pub pipeline_label: &'a str,
}

/// The type of the object an event was about, for the created/destroyed counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Created(String),
    Destroyed(String),
}

impl Inventory {
    /// An inventory of exactly these ids (pipelines and all their descendants).
    pub fn from_listing(ids: impl IntoIterator<Item = String>) -> Self {
        Inventory {
            objects: ids
                .into_iter()
                .map(|id| (Arc::from(id), ObjectMeta::default()))
                .collect(),
            excluded: BTreeSet::new(),
        }
    }

    /// Leaves `pipeline` and everything in it out of every view, if it is known.
    pub fn exclude(&mut self, pipeline: &str) {
        if self.objects.contains_key(pipeline) {
            self.excluded.insert(pipeline.to_owned());
        }
    }

    /// Whether `id` is in an excluded pipeline.
    fn hidden(&self, id: &str) -> bool {
        !self.excluded.is_empty()
            && self
                .excluded
                .contains(crate::kurento::protocol::pipeline_id(id))
    }

    /// Replaces the object set with a fresh listing, keeping what was known of surviving objects.
    pub fn reconcile(&mut self, ids: impl IntoIterator<Item = String>) {
        let fresh_objects = ids
            .into_iter()
            .map(|id| match self.objects.get_key_value(id.as_str()) {
                // The known id (and its sharers) stay the same allocation.
                Some((known, meta)) => (Arc::clone(known), meta.clone()),
                None => (Arc::from(id), ObjectMeta::default()),
            })
            .collect();
        let mut fresh = Inventory {
            objects: fresh_objects,
            excluded: BTreeSet::new(),
        };
        fresh.excluded = std::mem::take(&mut self.excluded);
        fresh
            .excluded
            .retain(|id| fresh.objects.contains_key(id.as_str()));
        *self = fresh;
    }

    /// Applies a ServerManager event. Destroying an object removes its whole subtree (KMS sends
    /// one event per object, but a dropped or reordered event must not leave orphans behind).
    pub fn apply(&mut self, event: &ManagerEvent) -> Applied {
        match event {
            ManagerEvent::Created(id) => {
                if !self.objects.contains_key(id.as_str()) {
                    self.objects
                        .insert(Arc::from(id.as_str()), ObjectMeta::default());
                }
                Applied::Created(type_label(id))
            }
            ManagerEvent::Destroyed(id) => {
                self.remove_subtree(id);
                Applied::Destroyed(type_label(id))
            }
        }
    }

    fn remove_subtree(&mut self, id: &str) {
        self.objects.remove(id);
        self.excluded.remove(id);
        let prefix = format!("{id}/");
        let doomed: Vec<Arc<str>> = self
            .objects
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| Arc::clone(k))
            .collect();
        for k in doomed {
            self.objects.remove(&k);
        }
    }

    /// Ids of the pipelines (objects without a parent).
    pub fn pipeline_ids(&self) -> impl Iterator<Item = &str> {
        self.objects
            .keys()
            .map(|id| &**id)
            .filter(|id| parent_id(id).is_none() && !self.hidden(id))
    }

    /// Pipelines whose name and creation time have not been read yet.
    pub fn pipelines_missing_metadata(&self) -> Vec<String> {
        self.pipeline_ids()
            .filter(|id| {
                self.objects
                    .get(*id)
                    .is_some_and(|m| m.created_unix_seconds.is_none())
            })
            .map(str::to_owned)
            .collect()
    }

    /// Records what was read about an object; ignored if it vanished meanwhile.
    pub fn set_metadata(&mut self, id: &str, name: Option<String>, created_unix_seconds: i64) {
        if let Some(meta) = self.objects.get_mut(id) {
            meta.name = name;
            meta.created_unix_seconds = Some(created_unix_seconds);
        }
    }

    /// Every object inside a pipeline, with its type and its pipeline's id and label (name,
    /// else id). Hubs are included (the reader skips what has nothing to read).
    pub fn media_elements(&self) -> Vec<InventoryElement<'_>> {
        self.objects
            .keys()
            .filter(|id| parent_id(id).is_some() && !self.hidden(id))
            .map(|id| {
                let pipeline = crate::kurento::protocol::pipeline_id(id);
                let pipeline_label = self
                    .objects
                    .get(pipeline)
                    .and_then(|m| m.name.as_deref())
                    .unwrap_or(pipeline);
                InventoryElement {
                    id,
                    element_type: object_type(id).unwrap_or(UNKNOWN_TYPE),
                    pipeline,
                    pipeline_label,
                }
            })
            .collect()
    }

    /// Every id (for forgetting what belonged to destroyed objects).
    pub fn ids(&self) -> std::collections::BTreeSet<&str> {
        self.objects.keys().map(|id| &**id).collect()
    }

    #[cfg(test)]
    fn contains(&self, id: &str) -> bool {
        self.objects.contains_key(id)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.objects.len()
    }

    /// The view the metrics render: pipelines with their element counts, elements by type.
    pub fn state(&self) -> ObjectsState {
        let mut pipelines: BTreeMap<&str, PipelineState> = BTreeMap::new();
        let mut elements_by_type: BTreeMap<String, u64> = BTreeMap::new();
        for (id, meta) in &self.objects {
            if parent_id(id).is_none() && !self.hidden(id) {
                pipelines.insert(
                    id,
                    PipelineState {
                        id: id.to_string(),
                        name: meta.name.clone(),
                        created_unix_seconds: meta.created_unix_seconds,
                        elements: 0,
                    },
                );
            }
        }
        for id in self.objects.keys() {
            if parent_id(id).is_none() || self.hidden(id) {
                continue;
            }
            *elements_by_type.entry(type_label(id)).or_default() += 1;
            let pipeline = crate::kurento::protocol::pipeline_id(id);
            if let Some(p) = pipelines.get_mut(pipeline) {
                p.elements += 1;
            }
        }
        ObjectsState {
            pipelines: pipelines.into_values().collect(),
            elements_by_type,
        }
    }
}

/// The bounded `element_type` label of an object: its class name, or `unknown` for an id whose
/// type cannot be read.
/// The type label of an id that names no type.
const UNKNOWN_TYPE: &str = "unknown";

pub fn type_label(id: &str) -> String {
    object_type(id).unwrap_or(UNKNOWN_TYPE).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "p1_kurento.MediaPipeline";
    const P2: &str = "p2_kurento.MediaPipeline";

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn meeting() -> Inventory {
        Inventory::from_listing(ids(&[
            P1,
            "p1_kurento.MediaPipeline/a_kurento.WebRtcEndpoint",
            "p1_kurento.MediaPipeline/b_kurento.WebRtcEndpoint",
            "p1_kurento.MediaPipeline/h_kurento.Composite",
            "p1_kurento.MediaPipeline/h_kurento.Composite/x_kurento.HubPort",
            "p1_kurento.MediaPipeline/h_kurento.Composite/y_kurento.HubPort",
            P2,
        ]))
    }

    #[test]
    fn counts_pipelines_elements_and_types_including_hub_ports() {
        let state = meeting().state();
        assert_eq!(state.pipelines.len(), 2);
        assert_eq!(state.pipelines[0].id, P1);
        assert_eq!(state.pipelines[0].elements, 5);
        assert_eq!(state.pipelines[1].elements, 0);
        let types: Vec<(&str, u64)> = state
            .elements_by_type
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            types,
            vec![("Composite", 1), ("HubPort", 2), ("WebRtcEndpoint", 2)]
        );
    }

    #[test]
    fn destroying_a_pipeline_removes_its_subtree_only() {
        let mut inv = meeting();
        // A sibling whose id shares the pipeline id as a string prefix must survive.
        inv.apply(&ManagerEvent::Created("p1_kurento.MediaPipelineX".into()));
        let applied = inv.apply(&ManagerEvent::Destroyed(P1.into()));
        assert_eq!(applied, Applied::Destroyed("MediaPipeline".into()));
        let left: Vec<&str> = inv.objects.keys().map(|id| &**id).collect();
        assert_eq!(left, vec![P1.to_owned() + "X", P2.to_owned()]);
    }

    #[test]
    fn events_are_idempotent_and_report_types() {
        let mut inv = Inventory::default();
        let id = "p1_kurento.MediaPipeline/a_kurento.PlayerEndpoint";
        assert_eq!(
            inv.apply(&ManagerEvent::Created(id.into())),
            Applied::Created("PlayerEndpoint".into())
        );
        inv.apply(&ManagerEvent::Created(id.into()));
        assert_eq!(inv.len(), 1);
        inv.apply(&ManagerEvent::Destroyed(
            "never-seen_kurento.WebRtcEndpoint".into(),
        ));
        assert_eq!(inv.len(), 1);
        assert_eq!(
            inv.apply(&ManagerEvent::Destroyed("garbage".into())),
            Applied::Destroyed("unknown".into())
        );
    }

    #[test]
    fn metadata_is_read_once_and_survives_reconciliation() {
        let mut inv = meeting();
        assert_eq!(inv.pipelines_missing_metadata(), ids(&[P1, P2]));
        inv.set_metadata(P1, Some("room-1".into()), 1_700_000_000);
        inv.set_metadata("gone_kurento.MediaPipeline", None, 1);
        assert_eq!(inv.pipelines_missing_metadata(), ids(&[P2]));
        inv.reconcile(ids(&[P1, "p3_kurento.MediaPipeline"]));
        assert_eq!(
            inv.pipelines_missing_metadata(),
            ids(&["p3_kurento.MediaPipeline"])
        );
        let state = inv.state();
        assert_eq!(state.pipelines[0].name.as_deref(), Some("room-1"));
        assert_eq!(state.pipelines[0].created_unix_seconds, Some(1_700_000_000));
        assert!(!inv.contains(P2));
    }

    #[test]
    fn an_excluded_pipeline_is_in_no_view_and_stays_out_across_reconciliation() {
        let mut inv = meeting();
        inv.exclude(P1);
        inv.exclude("unknown_kurento.MediaPipeline");
        let state = inv.state();
        assert_eq!(state.pipelines.len(), 1);
        assert_eq!(state.pipelines[0].id, P2);
        assert!(state.elements_by_type.is_empty());
        assert!(inv.media_elements().is_empty());
        assert!(inv.pipelines_missing_metadata() == vec![P2.to_owned()]);
        // A later event about it or a new listing does not bring it back.
        inv.apply(&ManagerEvent::Created(format!(
            "{P1}/c_kurento.WebRtcEndpoint"
        )));
        assert!(inv.media_elements().is_empty());
        inv.reconcile(ids(&[P1, P2]));
        assert_eq!(inv.state().pipelines.len(), 1);
        // Once destroyed, the id is forgotten.
        inv.apply(&ManagerEvent::Destroyed(P1.to_owned()));
        assert!(inv.excluded.is_empty());
    }
}
