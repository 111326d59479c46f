//! One pipeline's graph as SVG (`/api/v1/targets/{kms}/pipelines/{id}/graph.svg`), drawn from
//! the same snapshot as the JSON API: nodes are elements, edges are connections, one per media.
//!
//! An edge A→B of media m is **flowing** when KMS says media m flows out of A into the
//! pipeline (`isMediaFlowingOut`) and into B from the pipeline (`isMediaFlowingIn`); **not
//! flowing** when either says no; **unknown** otherwise (an element not read, a hub, DATA,
//! which KMS does not report). State is never shown by colour alone: flowing is a solid line,
//! not flowing a dashed one with a ✕, unknown a dotted one; zombies get a dashed border and a
//! text mark. Styling uses presentation attributes and no `<style>`, so a strict
//! Content-Security-Policy (`style-src 'self'`) does not strip it when the page inlines the
//! SVG. Everything from KMS is escaped: names and ids are user data.

use std::fmt::Write;

use super::escape::escape_html as esc;
use super::graph_layout::{LayoutNode, layout};
use crate::analysis::model::{Flow, Media};
use crate::analysis::snapshot::TargetSnapshot;
use crate::analysis::topology::ElementState;

const NODE_W: f64 = 190.0;
const NODE_H: f64 = 50.0;
const COLUMN_PITCH: f64 = 290.0;
const ROW_PITCH: f64 = 72.0;
const PORT_INDENT: f64 = 16.0;
const MARGIN: f64 = 24.0;
const LEGEND_H: f64 = 64.0;
const LEGEND_W: f64 = 720.0;

const INK: &str = "#1f2328";
const NODE_STROKE: &str = "#57606a";
const ZOMBIE: &str = "#a40e26";

/// Whether media crosses an edge (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeState {
    Flowing,
    NotFlowing,
    Unknown,
}

impl EdgeState {
    /// From the source's flowing-out and the sink's flowing-in flags for the edge's media.
    pub fn of(source_out: Option<bool>, sink_in: Option<bool>) -> EdgeState {
        match (source_out, sink_in) {
            (Some(false), _) | (_, Some(false)) => EdgeState::NotFlowing,
            (Some(true), Some(true)) => EdgeState::Flowing,
            _ => EdgeState::Unknown,
        }
    }

    fn class(self) -> &'static str {
        match self {
            EdgeState::Flowing => "flowing",
            EdgeState::NotFlowing => "not-flowing",
            EdgeState::Unknown => "unknown",
        }
    }

    fn label(self) -> &'static str {
        match self {
            EdgeState::Flowing => "media flowing",
            EdgeState::NotFlowing => "media not flowing",
            EdgeState::Unknown => "flow unknown",
        }
    }

    /// Colour (contrast ≥ 4.5:1 on white) and dash pattern.
    fn stroke(self) -> (&'static str, Option<&'static str>) {
        match self {
            EdgeState::Flowing => ("#1a7f37", None),
            EdgeState::NotFlowing => ("#c62828", Some("8 5")),
            EdgeState::Unknown => ("#656d76", Some("2 4")),
        }
    }
}

/// The media kinds KMS connects, in lane order.
const MEDIA: [(&str, &str, f64); 3] = [
    ("AUDIO", "audio", 2.0),
    ("VIDEO", "video", 3.0),
    ("DATA", "data", 1.25),
];

fn media_lane(kms: &str) -> usize {
    MEDIA.iter().position(|(k, _, _)| *k == kms).unwrap_or(2)
}

/// The SVG of pipeline `id`, or `None` when KMS has no such pipeline (or is unreachable).
pub fn pipeline_svg(s: &TargetSnapshot, id: &str) -> Option<String> {
    let state = s.objects.as_ref()?.pipelines.iter().find(|p| p.id == id)?;
    let topology = s.topology.as_deref();
    let elements: Vec<&ElementState> = topology
        .into_iter()
        .flat_map(|t| t.pipeline_elements(id))
        .collect();
    let connections = topology
        .map(|t| t.pipeline_connections(id))
        .unwrap_or_default();
    let nodes: Vec<LayoutNode<'_>> = elements
        .iter()
        .map(|e| LayoutNode {
            id: &e.id,
            hub: e.hub(),
        })
        .collect();
    let edges: Vec<(&str, &str)> = connections.iter().map(|c| (c.source, c.sink)).collect();
    let grid = layout(&nodes, &edges);
    let boxes: Vec<Box> = elements
        .iter()
        .zip(&grid.positions)
        .map(|(e, p)| {
            let indent = if e.hub().is_some() { PORT_INDENT } else { 0.0 };
            Box {
                column: p.column,
                x: MARGIN + p.column as f64 * COLUMN_PITCH + indent,
                y: MARGIN + LEGEND_H + p.row as f64 * ROW_PITCH,
                w: NODE_W - indent,
            }
        })
        .collect();
    let width = (2.0 * MARGIN + grid.columns.saturating_sub(1) as f64 * COLUMN_PITCH + NODE_W)
        .max(LEGEND_W);
    let height = 2.0 * MARGIN + LEGEND_H + grid.rows.max(1) as f64 * ROW_PITCH;
    let title = match &state.name {
        Some(name) => format!("Pipeline {name} ({id})"),
        None => format!("Pipeline {id}"),
    };

    let mut out = String::with_capacity(4096 + 700 * (elements.len() + connections.len()));
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="pipeline-graph" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-labelledby="graph-title" font-family="system-ui, sans-serif" font-size="12" data-nodes="{}" data-edges="{}"><title id="graph-title">{}</title><rect width="100%" height="100%" fill="#ffffff"/>"##,
        elements.len(),
        connections
            .iter()
            .filter(|c| position(&elements, c.source)
                .zip(position(&elements, c.sink))
                .is_some())
            .count(),
        esc(&title),
    );
    defs(&mut out);
    legend(&mut out);

    out.push_str(r#"<g class="edges">"#);
    for c in &connections {
        let (Some(si), Some(ti)) = (position(&elements, c.source), position(&elements, c.sink))
        else {
            continue; // an end outside this pipeline's last reading
        };
        let lane = media_lane(c.media);
        let media = Media::from_kms(c.media);
        let flow = EdgeState::of(
            media.and_then(|m| elements[si].flowing(m, Flow::Out)),
            media.and_then(|m| elements[ti].flowing(m, Flow::In)),
        );
        edge(
            &mut out,
            &boxes[si],
            &boxes[ti],
            si == ti,
            lane,
            flow,
            c,
            &elements[si].id,
            &elements[ti].id,
        );
    }
    out.push_str("</g><g class=\"nodes\">");
    for (e, b) in elements.iter().zip(&boxes) {
        node(&mut out, s, e, b);
    }
    out.push_str("</g></svg>");
    Some(out)
}

struct Box {
    column: usize,
    x: f64,
    y: f64,
    w: f64,
}

fn position(elements: &[&ElementState], id: &str) -> Option<usize> {
    elements.iter().position(|e| *e.id == *id)
}

fn defs(out: &mut String) {
    out.push_str("<defs>");
    for state in [
        EdgeState::Flowing,
        EdgeState::NotFlowing,
        EdgeState::Unknown,
    ] {
        let (colour, _) = state.stroke();
        let _ = write!(
            out,
            r#"<marker id="arrow-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>"#,
            state.class()
        );
    }
    out.push_str("</defs>");
}

fn legend(out: &mut String) {
    out.push_str(r#"<g class="legend" transform="translate(24,14)"><title>Legend</title>"#);
    let mut x = 0.0;
    for state in [
        EdgeState::Flowing,
        EdgeState::NotFlowing,
        EdgeState::Unknown,
    ] {
        let (colour, dash) = state.stroke();
        let dash = dash
            .map(|d| format!(r#" stroke-dasharray="{d}""#))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="8" x2="{}" y2="8" stroke="{colour}" stroke-width="2.5"{dash}/>"#,
            x + 36.0
        );
        if state == EdgeState::NotFlowing {
            cross(out, x + 18.0, 8.0, colour);
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="12" fill="{INK}">{}</text>"#,
            x + 42.0,
            state.label()
        );
        x += 175.0;
    }
    let _ = write!(
        out,
        r##"<rect x="{x}" y="0" width="26" height="16" rx="3" fill="#fff0f0" stroke="{ZOMBIE}" stroke-width="2.5" stroke-dasharray="5 3"/><text x="{}" y="12" fill="{INK}">zombie</text>"##,
        x + 32.0
    );
    x = 0.0;
    for (_, label, width) in MEDIA {
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="32" x2="{}" y2="32" stroke="{INK}" stroke-width="{width}"/><text x="{}" y="36" fill="{INK}">{label} ({})</text>"#,
            x + 36.0,
            x + 42.0,
            &label[..1]
        );
        x += 175.0;
    }
    out.push_str("</g>");
}

fn cross(out: &mut String, x: f64, y: f64, colour: &str) {
    let _ = write!(
        out,
        r##"<text class="x-mark" x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="14" font-weight="bold" fill="{colour}" stroke="#ffffff" stroke-width="3" paint-order="stroke">✕</text>"##,
        y + 5.0
    );
}

#[allow(clippy::too_many_arguments)]
fn edge(
    out: &mut String,
    from: &Box,
    to: &Box,
    self_loop: bool,
    lane: usize,
    flow: EdgeState,
    c: &crate::analysis::topology::Link<'_>,
    source: &str,
    sink: &str,
) {
    let forward = to.column > from.column;
    let backward = to.column < from.column;
    // Six lanes (3 media × 2 directions) 5 px apart, so audio, video and data between the same
    // pair, and the two directions between two elements, never coincide.
    let offset = (lane as f64 * 2.0 + if forward { 0.0 } else { 1.0 }) * 5.0 - 12.5;
    let mid = |b: &Box| b.y + NODE_H / 2.0 + offset;
    let (p0, p1, p2, p3) = if self_loop {
        let (x, y) = (from.x + from.w, mid(from));
        let bulge = 34.0 + lane as f64 * 8.0;
        (
            (x, y - 8.0),
            (x + bulge, y - 24.0),
            (x + bulge, y + 24.0),
            (x, y + 8.0),
        )
    } else if forward {
        let (x0, y0, x3, y3) = (from.x + from.w, mid(from), to.x, mid(to));
        let d = ((x3 - x0) / 2.0).max(40.0);
        ((x0, y0), (x0 + d, y0), (x3 - d, y3), (x3, y3))
    } else if backward {
        let (x0, y0, x3, y3) = (from.x, mid(from), to.x + to.w, mid(to));
        let d = ((x0 - x3) / 2.0).max(40.0);
        ((x0, y0), (x0 - d, y0), (x3 + d, y3), (x3, y3))
    } else {
        // Same column: out of the right side and back in on the right.
        let right = from.x.max(to.x) + from.w.max(to.w);
        let d = 40.0 + lane as f64 * 8.0;
        (
            (right, mid(from)),
            (right + d, mid(from)),
            (right + d, mid(to)),
            (right, mid(to)),
        )
    };
    let (colour, dash) = flow.stroke();
    let (_, media_label, width) = MEDIA[lane];
    let dash = dash
        .map(|d| format!(r#" stroke-dasharray="{d}""#))
        .unwrap_or_default();
    let _ = write!(
        out,
        r#"<g class="edge {} {media_label}" data-source="{}" data-sink="{}" data-media="{}"><title>{}: {} → {} ({})</title><path d="M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="{colour}" stroke-width="{width}"{dash} marker-end="url(#arrow-{})"/>"#,
        flow.class(),
        esc(source),
        esc(sink),
        esc(c.media),
        esc(c.media),
        esc(&short_label(source)),
        esc(&short_label(sink)),
        flow.label(),
        p0.0,
        p0.1,
        p1.0,
        p1.1,
        p2.0,
        p2.1,
        p3.0,
        p3.1,
        flow.class(),
    );
    // Points on the cubic: the ✕ at the middle, the media letter near the start.
    let at = |t: f64| {
        let u = 1.0 - t;
        let f = |a: f64, b: f64, c: f64, d: f64| {
            u * u * u * a + 3.0 * u * u * t * b + 3.0 * u * t * t * c + t * t * t * d
        };
        (f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1))
    };
    if flow == EdgeState::NotFlowing {
        let (x, y) = at(0.5);
        cross(out, x, y, colour);
    }
    let (x, y) = at(0.22);
    let _ = write!(
        out,
        r#"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="{colour}">{}</text></g>"#,
        y - 3.0,
        &media_label[..1]
    );
}

fn node(out: &mut String, s: &TargetSnapshot, e: &ElementState, b: &Box) {
    let zombie = s
        .zombies
        .as_ref()
        .and_then(|z| z.elements.iter().find(|z| *z.id == *e.id));
    let class = if zombie.is_some() {
        "node zombie"
    } else {
        "node"
    };
    let (fill, stroke, width, dash) = match zombie {
        Some(_) => ("#fff0f0", ZOMBIE, 3.0, r#" stroke-dasharray="6 3""#),
        None => ("#f6f8fa", NODE_STROKE, 1.5, ""),
    };
    let mut title = format!("{} {}", e.element_type, e.id);
    if let Some(z) = zombie {
        let _ = write!(title, " (zombie: {})", z.reason.label());
    }
    if e.reading.is_none() {
        title.push_str(" (not read)");
    }
    let _ = write!(
        out,
        r#"<g class="{class}" data-id="{}"><title>{}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/><text x="{:.1}" y="{:.1}" font-weight="bold" fill="{INK}">{}</text><text x="{:.1}" y="{:.1}" fill="{INK}" font-family="ui-monospace, monospace" font-size="11">{}</text>"#,
        esc(&e.id),
        esc(&title),
        b.x,
        b.y,
        b.w,
        b.x + 8.0,
        b.y + 17.0,
        esc(short_type(&e.element_type)),
        b.x + 8.0,
        b.y + 31.0,
        esc(short_id(&e.id)),
    );
    if let Some(z) = zombie {
        let _ = write!(
            out,
            r#"<text class="zombie-mark" x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="{ZOMBIE}">⚠ ZOMBIE: {}</text>"#,
            b.x + 8.0,
            b.y + 45.0,
            z.reason.label()
        );
    }
    out.push_str("</g>");
}

/// `WebRtcEndpoint` → `WebRtc`: the suffix every endpoint shares says nothing.
fn short_type(element_type: &str) -> &str {
    match element_type.strip_suffix("Endpoint") {
        Some(short) if !short.is_empty() => short,
        _ => element_type,
    }
}

/// The first 8 characters of an element's own id segment (`P/3f2a…_kurento.X` → `3f2a…`).
fn short_id(id: &str) -> &str {
    let own = id.rsplit('/').next().unwrap_or(id);
    let own = own.split('_').next().unwrap_or(own);
    match own.char_indices().nth(8) {
        Some((end, _)) => &own[..end],
        None => own,
    }
}

fn short_label(id: &str) -> String {
    let ty = id.rsplit('.').next().unwrap_or(id);
    format!("{} {}", short_type(ty), short_id(id))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::analysis::model::ElementReading;
    use crate::analysis::snapshot::{ObjectsState, PipelineState};
    use crate::analysis::topology::Topology;
    use crate::analysis::zombie::{ZombieElement, ZombieReason, ZombieReport};
    use crate::kurento::connections::SinkConnection;

    const P: &str = "P_kurento.MediaPipeline";
    const A: &str =
        "P_kurento.MediaPipeline/a\"><img src=x onerror=alert(1)>_kurento.WebRtcEndpoint";
    const B: &str = "P_kurento.MediaPipeline/b_kurento.WebRtcEndpoint";
    const R: &str = "P_kurento.MediaPipeline/r_kurento.RecorderEndpoint";
    const HUB: &str = "P_kurento.MediaPipeline/h_kurento.Composite";
    const PORT: &str = "P_kurento.MediaPipeline/h_kurento.Composite/p_kurento.HubPort";

    fn link(sink: &str, media: &str) -> SinkConnection {
        SinkConnection::new(sink, media)
    }

    fn snapshot() -> TargetSnapshot {
        let mut snap = TargetSnapshot::initial("kms");
        snap.up = true;
        snap.objects = Some(ObjectsState {
            pipelines: vec![PipelineState {
                id: P.into(),
                name: Some("<script>alert(1)</script>".into()),
                created_unix_seconds: Some(900),
                elements: 5,
            }],
            elements_by_type: Default::default(),
        });
        let a = ElementReading {
            id: A.into(),
            element_type: "WebRtcEndpoint".into(),
            flowing_out: [Some(true), Some(false)],
            sinks: Some(
                vec![
                    link(B, "AUDIO"),
                    link(B, "VIDEO"),
                    link(B, "DATA"),
                    link(R, "AUDIO"),
                    link(A, "VIDEO"),
                    link("elsewhere", "AUDIO"),
                ]
                .into(),
            ),
            ..ElementReading::default()
        };
        let b = ElementReading {
            id: B.into(),
            element_type: "WebRtcEndpoint".into(),
            flowing_in: [Some(true), Some(true)],
            sinks: Some(vec![link(A, "AUDIO"), link(PORT, "VIDEO")].into()),
            ..ElementReading::default()
        };
        snap.topology = Some(Arc::new(Topology::new(
            [
                (A, "WebRtcEndpoint"),
                (B, "WebRtcEndpoint"),
                (R, "RecorderEndpoint"),
                (HUB, "Composite"),
                (PORT, "HubPort"),
            ],
            vec![a, b],
            None,
            1_000.0,
        )));
        snap.zombies = Some(ZombieReport {
            pipelines: vec![],
            elements: vec![ZombieElement {
                id: R.into(),
                element_type: "RecorderEndpoint".into(),
                pipeline: P.into(),
                reason: ZombieReason::NoMedia,
                zombie_since: 950.0,
            }],
        });
        snap
    }

    #[test]
    fn the_flow_rule() {
        let cases = [
            (Some(true), Some(true), EdgeState::Flowing),
            (Some(false), Some(true), EdgeState::NotFlowing),
            (Some(true), Some(false), EdgeState::NotFlowing),
            (None, Some(false), EdgeState::NotFlowing),
            (Some(true), None, EdgeState::Unknown),
            (None, None, EdgeState::Unknown),
        ];
        for (out, into, want) in cases {
            assert_eq!(EdgeState::of(out, into), want, "{out:?} {into:?}");
        }
    }

    #[test]
    fn nodes_and_edges_with_their_states() {
        let svg = pipeline_svg(&snapshot(), P).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        let plain = svg.matches("<g class=\"node\"").count();
        assert_eq!(
            plain + svg.matches("<g class=\"node zombie\"").count(),
            5,
            "{svg}"
        );
        // The link to an element outside the pipeline is left out.
        assert_eq!(svg.matches("<g class=\"edge ").count(), 7, "{svg}");
        assert!(svg.contains(r#"data-nodes="5" data-edges="7""#));
        assert_eq!(svg.matches("<g class=\"edge flowing audio\"").count(), 1);
        assert_eq!(
            svg.matches("<g class=\"edge not-flowing video\"").count(),
            2,
            "A→B, A→A"
        );
        assert_eq!(svg.matches("<g class=\"edge unknown ").count(), 4);
        // One ✕ per not-flowing edge, plus the legend's.
        assert_eq!(svg.matches("class=\"x-mark\"").count(), 3);
        assert_eq!(svg.matches("<g class=\"node zombie\"").count(), 1);
        assert!(svg.contains("⚠ ZOMBIE: no_media"));
        assert!(svg.contains("<title id=\"graph-title\">"));
        assert!(svg.contains("class=\"legend\""));
        assert_eq!(pipeline_svg(&snapshot(), "nope"), None);
    }

    #[test]
    fn parallel_edges_do_not_overlap() {
        let svg = pipeline_svg(&snapshot(), P).unwrap();
        let paths: Vec<&str> = svg
            .split("<path d=\"M")
            .skip(4) // the three arrowheads' paths and the text before them
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        let unique: std::collections::BTreeSet<&&str> = paths.iter().collect();
        assert_eq!(paths.len(), 7);
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
    }

    #[test]
    fn hostile_names_and_ids_are_text() {
        let svg = pipeline_svg(&snapshot(), P).unwrap();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("Pipeline &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!svg.contains("<img"), "{svg}");
        assert!(svg.contains("data-id=\"P_kurento.MediaPipeline/a&quot;&gt;&lt;img src=x"));
    }

    #[test]
    fn short_labels() {
        assert_eq!(short_type("WebRtcEndpoint"), "WebRtc");
        assert_eq!(short_type("Endpoint"), "Endpoint");
        assert_eq!(short_type("HubPort"), "HubPort");
        assert_eq!(short_id(B), "b");
        assert_eq!(short_id("P/0123456789abcdef_kurento.X"), "01234567");
        assert_eq!(short_id("P/éééééééééé_k.X"), "éééééééé");
    }

    #[test]
    fn an_unreachable_kms_has_no_graph() {
        let mut down = snapshot();
        down.objects = None;
        assert_eq!(pipeline_svg(&down, P), None);
    }
}
