//! Which labelled series each element's data goes to, at the configured detail level (README
//! "Detail levels"). Pure.
//!
//! At `pipeline` detail, every pipeline selected by the name filter gets its own `pipeline`
//! series; at `element` detail, every element of those pipelines gets `element` and
//! `element_type` labels too. At most `max_series` pipelines (or elements) are labelled per KMS:
//! the ones already labelled keep their label, new ones are added in id order, and the rest fold
//! into the remainder series (labels set to ""), so no data is lost and `sum()` over a family is
//! the KMS total at every level. Each folded pipeline or element counts once per cycle in
//! `kurento_exporter_series_dropped_total`.

use std::collections::{BTreeSet, HashMap};

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::model::Scope;

/// How much detail the media and state families carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetailLevel {
    /// One series per KMS (and media/direction/state): bounded whatever the load.
    #[default]
    Aggregated,
    /// Adds series labelled with the pipeline (its name, else its id).
    Pipeline,
    /// Adds series labelled with the pipeline, the element id and its type.
    Element,
}

/// The detail configuration of one target.
#[derive(Debug, Clone)]
pub struct DetailPolicy {
    pub level: DetailLevel,
    pub max_series: usize,
    pub pipelines: Option<Regex>,
}

/// An element to place: its id, type, and its pipeline's id and label (name, else id).
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub element: &'a str,
    pub element_type: &'a str,
    pub pipeline: &'a str,
    pub pipeline_label: &'a str,
}

/// The scopes of one cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    pub scopes: HashMap<String, Scope>,
    /// Every scope in use this cycle (for dropping the counters of vanished ones).
    pub live: BTreeSet<Scope>,
    /// Pipelines or elements folded into the remainder because of `max_series`.
    pub dropped: u64,
}

/// Assigns scopes cycle after cycle, keeping labels stable while the cap bites.
#[derive(Debug, Clone)]
pub struct ScopeAssigner {
    policy: DetailPolicy,
    /// Pipeline ids (pipeline detail) or element ids (element detail) labelled last cycle.
    labelled: BTreeSet<String>,
}

/// The short id of an element for its label: its own UUID, without the pipeline path and type.
pub fn element_label(id: &str) -> &str {
    let own = id.rsplit('/').next().unwrap_or(id);
    own.split('_').next().unwrap_or(own)
}

impl ScopeAssigner {
    pub fn new(policy: DetailPolicy) -> Self {
        ScopeAssigner {
            policy,
            labelled: BTreeSet::new(),
        }
    }

    fn remainder(&self) -> Scope {
        match self.policy.level {
            DetailLevel::Aggregated => Scope::default(),
            DetailLevel::Pipeline => Scope {
                pipeline: Some(String::new()),
                element: None,
            },
            DetailLevel::Element => Scope {
                pipeline: Some(String::new()),
                element: Some((String::new(), String::new())),
            },
        }
    }

    pub fn assign(&mut self, elements: &[Placement]) -> Assignment {
        let remainder = self.remainder();
        let mut assignment = Assignment::default();
        if self.policy.level == DetailLevel::Aggregated {
            for e in elements {
                assignment
                    .scopes
                    .insert(e.element.to_owned(), remainder.clone());
            }
            assignment.live.insert(remainder);
            return assignment;
        }
        let by_element = self.policy.level == DetailLevel::Element;
        let key = |e: &Placement<'_>| -> String {
            if by_element {
                e.element.to_owned()
            } else {
                e.pipeline.to_owned()
            }
        };
        let wanted: BTreeSet<String> = elements
            .iter()
            .filter(|e| {
                self.policy
                    .pipelines
                    .as_ref()
                    .is_none_or(|re| re.is_match(e.pipeline_label))
            })
            .map(key)
            .collect();
        // Keep what was labelled and still wanted, then fill up in id order.
        let mut labelled: BTreeSet<String> = self
            .labelled
            .intersection(&wanted)
            .take(self.policy.max_series)
            .cloned()
            .collect();
        for candidate in &wanted {
            if labelled.len() >= self.policy.max_series {
                break;
            }
            labelled.insert(candidate.clone());
        }
        assignment.dropped = (wanted.len() - labelled.len()) as u64;
        for e in elements {
            let scope = if labelled.contains(&key(e)) {
                Scope {
                    pipeline: Some(e.pipeline_label.to_owned()),
                    element: by_element.then(|| {
                        (
                            element_label(e.element).to_owned(),
                            e.element_type.to_owned(),
                        )
                    }),
                }
            } else {
                remainder.clone()
            };
            assignment.live.insert(scope.clone());
            assignment.scopes.insert(e.element.to_owned(), scope);
        }
        assignment.live.insert(remainder);
        self.labelled = labelled;
        assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(level: DetailLevel, max_series: usize, filter: Option<&str>) -> DetailPolicy {
        DetailPolicy {
            level,
            max_series,
            pipelines: filter.map(|f| Regex::new(f).unwrap()),
        }
    }

    const P1: &str = "p1_kurento.MediaPipeline";
    const P2: &str = "p2_kurento.MediaPipeline";

    fn world() -> Vec<Placement<'static>> {
        vec![
            Placement {
                element: "p1_kurento.MediaPipeline/a1_kurento.WebRtcEndpoint",
                element_type: "WebRtcEndpoint",
                pipeline: P1,
                pipeline_label: "room-1",
            },
            Placement {
                element: "p1_kurento.MediaPipeline/a2_kurento.WebRtcEndpoint",
                element_type: "WebRtcEndpoint",
                pipeline: P1,
                pipeline_label: "room-1",
            },
            Placement {
                element: "p2_kurento.MediaPipeline/b1_kurento.RecorderEndpoint",
                element_type: "RecorderEndpoint",
                pipeline: P2,
                pipeline_label: "rec-2",
            },
        ]
    }

    fn scope_of(a: &Assignment, element: &str) -> Scope {
        a.scopes[element].clone()
    }

    #[test]
    fn aggregated_puts_everything_in_one_unlabelled_scope() {
        let mut assigner = ScopeAssigner::new(policy(DetailLevel::Aggregated, 1, None));
        let a = assigner.assign(&world());
        assert!(a.scopes.values().all(|s| *s == Scope::default()));
        assert_eq!(a.dropped, 0);
    }

    #[test]
    fn pipeline_detail_labels_by_name_and_folds_beyond_the_cap() {
        let mut assigner = ScopeAssigner::new(policy(DetailLevel::Pipeline, 1, None));
        let a = assigner.assign(&world());
        let room = scope_of(&a, "p1_kurento.MediaPipeline/a1_kurento.WebRtcEndpoint");
        assert_eq!(room.pipeline.as_deref(), Some("room-1"));
        let rec = scope_of(&a, "p2_kurento.MediaPipeline/b1_kurento.RecorderEndpoint");
        assert_eq!(
            rec.pipeline.as_deref(),
            Some(""),
            "beyond the cap: remainder"
        );
        assert_eq!(a.dropped, 1);
        assert_eq!(a.live.len(), 2);
    }

    #[test]
    fn labels_stay_with_their_owners_when_new_ones_arrive() {
        let mut assigner = ScopeAssigner::new(policy(DetailLevel::Pipeline, 1, None));
        // Only rec-2 exists at first: it gets the label.
        let a = assigner.assign(&world()[2..]);
        assert_eq!(a.dropped, 0);
        // room-1 (sorting first) appears: rec-2 keeps its label, room-1 folds.
        let a = assigner.assign(&world());
        let rec = scope_of(&a, "p2_kurento.MediaPipeline/b1_kurento.RecorderEndpoint");
        assert_eq!(rec.pipeline.as_deref(), Some("rec-2"));
        assert_eq!(a.dropped, 1);
    }

    #[test]
    fn element_detail_uses_short_ids_and_the_pipeline_filter() {
        let mut assigner = ScopeAssigner::new(policy(DetailLevel::Element, 10, Some("^room-")));
        let a = assigner.assign(&world());
        let e = scope_of(&a, "p1_kurento.MediaPipeline/a2_kurento.WebRtcEndpoint");
        assert_eq!(
            e,
            Scope {
                pipeline: Some("room-1".into()),
                element: Some(("a2".into(), "WebRtcEndpoint".into())),
            }
        );
        let filtered = scope_of(&a, "p2_kurento.MediaPipeline/b1_kurento.RecorderEndpoint");
        assert_eq!(filtered.element, Some((String::new(), String::new())));
        assert_eq!(a.dropped, 0, "filtered out is not dropped");
    }
}
