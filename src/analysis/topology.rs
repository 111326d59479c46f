//! The last cycle's view of every element, kept for the inspection API and page (which pipeline,
//! which element, which direction of which media): the readings themselves, their stream rates,
//! and the links between elements. Built from what the cycle already read, so looking at it
//! costs KMS nothing. Pure.

use std::sync::Arc;

use super::model::{ElementReading, Flow, Media};
use super::rates::{self, StreamRates};
use crate::kurento::connections::SinkConnection;
use crate::kurento::protocol::parent_id;

/// One element as the last cycle saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementState {
    /// Shared with the inventory and the readings.
    pub id: Arc<str>,
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

/// One edge of a pipeline's graph: a sink connection with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub source: &'a str,
    pub sink: &'a str,
    pub media: &'a str,
    pub source_description: &'a str,
    pub sink_description: &'a str,
}

impl<'a> Link<'a> {
    fn of(source: &'a str, connection: &'a SinkConnection) -> Link<'a> {
        Link {
            source,
            sink: &connection.sink,
            media: connection.media(),
            source_description: connection.source_description(),
            sink_description: connection.sink_description(),
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
    /// Sorted by id (one copy of each id: a fleet keeps thousands of them).
    elements: Vec<ElementState>,
}

impl Topology {
    /// `elements` are every element of the inventory (id, type); `readings` the cycle's;
    /// `previous` the topology of the cycle before, for the stream rates.
    pub fn new<'a>(
        elements: impl IntoIterator<Item = (impl Into<Arc<str>>, &'a str)>,
        readings: Vec<ElementReading>,
        previous: Option<&Topology>,
        taken_unix_seconds: f64,
    ) -> Topology {
        let mut states: Vec<ElementState> = elements
            .into_iter()
            .map(|(id, element_type)| ElementState {
                id: id.into(),
                element_type: element_type.to_owned(),
                reading: None,
                rates: Vec::new(),
            })
            .collect();
        states.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        states.dedup_by(|a, b| a.id == b.id);
        let mut topology = Topology {
            taken_unix_seconds,
            elements: states,
        };
        for reading in readings {
            // An element destroyed between the listing and now has no place in the graph.
            let Some(index) = topology.position(&reading.id) else {
                continue;
            };
            let before = previous.and_then(|p| p.element(&reading.id)?.reading.as_ref());
            let seconds = previous.map_or(0.0, |p| taken_unix_seconds - p.taken_unix_seconds);
            let state = &mut topology.elements[index];
            state.rates = rates::stream_rates(&reading, before, seconds);
            state.reading = Some(reading);
        }
        topology
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.elements.binary_search_by(|e| (*e.id).cmp(id)).ok()
    }

    /// The elements of one pipeline, hub ports right after their hub (ids nest: `P/H/port`).
    pub fn pipeline_elements<'a>(
        &'a self,
        pipeline_id: &str,
    ) -> impl Iterator<Item = &'a ElementState> + 'a {
        let prefix = format!("{pipeline_id}/");
        let start = self.elements.partition_point(|e| *e.id < *prefix);
        self.elements[start..]
            .iter()
            .take_while(move |e| e.id.starts_with(&prefix))
    }

    pub fn element(&self, id: &str) -> Option<&ElementState> {
        self.position(id).map(|index| &self.elements[index])
    }

    /// Every element.
    pub fn elements(&self) -> impl Iterator<Item = &ElementState> {
        self.elements.iter()
    }

    /// The links of a pipeline's graph: every sink connection of its elements, in element order.
    pub fn pipeline_connections(&self, pipeline_id: &str) -> Vec<Link<'_>> {
        self.pipeline_elements(pipeline_id)
            .filter_map(|e| Some((&*e.id, e.reading.as_ref()?.sinks.as_ref()?)))
            .flat_map(|(source, sinks)| sinks.iter().map(move |c| Link::of(source, c)))
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
            id: id.into(),
            element_type: "WebRtcEndpoint".to_owned(),
            ..ElementReading::default()
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
        a.sinks = Some(vec![SinkConnection::new("p1/hub/port", "AUDIO")].into());
        let mut port = reading("p1/hub/port");
        port.transcoding = [None, Some(true)];
        let gone = reading("p1/released-meanwhile");
        let readings = vec![a, port, gone];
        let topology = Topology::new(inventory, readings, None, 42.0);

        let ids: Vec<&str> = topology.pipeline_elements("p1").map(|e| &*e.id).collect();
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
            [Link {
                source: "p1/a",
                sink: "p1/hub/port",
                media: "AUDIO",
                source_description: "default",
                sink_description: "default",
            }]
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

    #[test]
    fn stream_rates_come_from_the_previous_topology() {
        use crate::analysis::model::RtpStream;
        let with_bytes = |id: &str, bytes: u64| ElementReading {
            streams: vec![RtpStream {
                stats_id: "s1".to_owned(),
                bytes,
                ..RtpStream::default()
            }],
            ..reading(id)
        };
        let inventory = [("p/a", "WebRtcEndpoint"), ("p/b", "WebRtcEndpoint")];
        let first = Topology::new(inventory, vec![with_bytes("p/a", 1_000)], None, 100.0);
        let second = Topology::new(
            inventory,
            vec![with_bytes("p/a", 3_000), with_bytes("p/b", 9_000)],
            Some(&first),
            110.0,
        );
        let rate = |t: &Topology, id: &str| t.element(id).unwrap().rates[0].bits_per_second;
        assert_eq!(rate(&first, "p/a"), None, "nothing to compare yet");
        assert_eq!(rate(&second, "p/a"), Some(1_600.0), "2,000 bytes in 10 s");
        assert_eq!(rate(&second, "p/b"), None, "not read in the cycle before");
    }
}
