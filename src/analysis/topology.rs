//! The last cycle's view of every element, kept for the inspection API and page (which pipeline,
//! which element, which direction of which media): the readings themselves, their stream rates,
//! and the links between elements. Built from what the cycle already read, so looking at it
//! costs KMS nothing. Pure.

use std::collections::BTreeMap;

use super::model::{ElementReading, Flow, Media};
use super::rates::StreamRates;
use crate::kurento::connections::ElementConnection;
use crate::kurento::protocol::parent_id;

/// One element as the last cycle saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementState {
    pub id: String,
    pub element_type: String,
    /// What the cycle read; `None` for elements with nothing to read (hubs) and elements whose
    /// reads failed this cycle.
    pub reading: Option<ElementReading>,
    /// The rates of `reading.streams`, in the same order.
    pub rates: Vec<StreamRates>,
}

impl ElementState {
    /// The hub a hub port belongs to (its id's parent, when that is not the pipeline).
    pub fn hub(&self) -> Option<&str> {
        let parent = parent_id(&self.id)?;
        parent_id(parent).is_some().then_some(parent)
    }

    /// Whether media of `media` flows in the `flow` direction (`None` when not read).
    pub fn flowing(&self, media: Media, flow: Flow) -> Option<bool> {
        let reading = self.reading.as_ref()?;
        match flow {
            Flow::In => reading.flowing_in[media as usize],
            Flow::Out => reading.flowing_out[media as usize],
        }
    }
}

/// Which ways media flows through a pipeline's elements, and whether any transcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineFlow {
    /// Some element has media flowing in (from the pipeline into it).
    pub flowing_in: bool,
    /// Some element has media flowing out (into the pipeline).
    pub flowing_out: bool,
    pub transcoding: bool,
}

/// Every element of one KMS as of the last cycle, by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Topology {
    /// When the readings were taken (Unix seconds).
    pub taken_unix_seconds: f64,
    elements: BTreeMap<String, ElementState>,
}

impl Topology {
    /// `elements` are every element of the inventory (id, type); `readings` the cycle's, with
    /// `rates` parallel to them.
    pub fn new<'a>(
        elements: impl IntoIterator<Item = (&'a str, &'a str)>,
        readings: Vec<ElementReading>,
        rates: Vec<Vec<StreamRates>>,
        taken_unix_seconds: f64,
    ) -> Topology {
        let mut states: BTreeMap<String, ElementState> = elements
            .into_iter()
            .map(|(id, element_type)| {
                let state = ElementState {
                    id: id.to_owned(),
                    element_type: element_type.to_owned(),
                    reading: None,
                    rates: Vec::new(),
                };
                (id.to_owned(), state)
            })
            .collect();
        for (reading, rates) in readings.into_iter().zip(rates) {
            // An element destroyed between the listing and now has no place in the graph.
            if let Some(state) = states.get_mut(&reading.id) {
                state.reading = Some(reading);
                state.rates = rates;
            }
        }
        Topology {
            taken_unix_seconds,
            elements: states,
        }
    }

    /// The elements of one pipeline, hub ports right after their hub (ids nest: `P/H/port`).
    pub fn pipeline_elements<'a>(
        &'a self,
        pipeline_id: &str,
    ) -> impl Iterator<Item = &'a ElementState> + 'a {
        let prefix = format!("{pipeline_id}/");
        self.elements
            .range(prefix.clone()..)
            .take_while(move |(id, _)| id.starts_with(&prefix))
            .map(|(_, state)| state)
    }

    pub fn element(&self, id: &str) -> Option<&ElementState> {
        self.elements.get(id)
    }

    /// Every element.
    pub fn elements(&self) -> impl Iterator<Item = &ElementState> {
        self.elements.values()
    }

    /// The links of a pipeline's graph: every sink connection of its elements, in element order.
    pub fn pipeline_connections(&self, pipeline_id: &str) -> Vec<&ElementConnection> {
        self.pipeline_elements(pipeline_id)
            .filter_map(|e| e.reading.as_ref()?.sinks.as_ref())
            .flatten()
            .collect()
    }

    /// Flow and transcoding over a pipeline's elements.
    pub fn pipeline_flow(&self, pipeline_id: &str) -> PipelineFlow {
        let mut flow = PipelineFlow::default();
        for reading in self
            .pipeline_elements(pipeline_id)
            .filter_map(|e| e.reading.as_ref())
        {
            let any = |values: &[Option<bool>; 2]| values.contains(&Some(true));
            flow.flowing_in |= any(&reading.flowing_in);
            flow.flowing_out |= any(&reading.flowing_out);
            flow.transcoding |= any(&reading.transcoding);
        }
        flow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(id: &str) -> ElementReading {
        ElementReading {
            id: id.to_owned(),
            element_type: "WebRtcEndpoint".to_owned(),
            ..ElementReading::default()
        }
    }

    fn link(source: &str, sink: &str, media: &str) -> ElementConnection {
        ElementConnection {
            source: source.to_owned(),
            sink: sink.to_owned(),
            media: media.to_owned(),
            source_description: "default".to_owned(),
            sink_description: "default".to_owned(),
        }
    }

    #[test]
    fn elements_group_by_pipeline_with_hub_ports_under_their_hub() {
        let inventory = [
            ("p1/a", "WebRtcEndpoint"),
            ("p1/hub", "Composite"),
            ("p1/hub/port", "HubPort"),
            ("p10/x", "PlayerEndpoint"),
            ("p2/b", "RecorderEndpoint"),
        ];
        let mut a = reading("p1/a");
        a.flowing_out = [Some(true), None];
        a.sinks = Some(vec![link("p1/a", "p1/hub/port", "AUDIO")]);
        let mut port = reading("p1/hub/port");
        port.transcoding = [None, Some(true)];
        let gone = reading("p1/released-meanwhile");
        let readings = vec![a, port, gone];
        let rates = vec![vec![], vec![], vec![]];
        let topology = Topology::new(inventory, readings, rates, 42.0);

        let ids: Vec<&str> = topology
            .pipeline_elements("p1")
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["p1/a", "p1/hub", "p1/hub/port"],
            "p10 is another pipeline"
        );
        assert_eq!(
            topology.element("p1/hub/port").unwrap().hub(),
            Some("p1/hub")
        );
        assert_eq!(topology.element("p1/hub").unwrap().hub(), None);
        assert!(
            topology.element("p1/hub").unwrap().reading.is_none(),
            "hubs are not read"
        );
        assert!(topology.element("p1/released-meanwhile").is_none());
        assert_eq!(
            topology
                .element("p1/a")
                .unwrap()
                .flowing(Media::Audio, Flow::Out),
            Some(true)
        );
        assert_eq!(
            topology.pipeline_connections("p1"),
            [&link("p1/a", "p1/hub/port", "AUDIO")]
        );
        assert_eq!(
            topology.pipeline_flow("p1"),
            PipelineFlow {
                flowing_in: false,
                flowing_out: true,
                transcoding: true
            }
        );
        assert_eq!(topology.pipeline_flow("p2"), PipelineFlow::default());
    }
}
