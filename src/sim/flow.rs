//! Media flow through a pipeline's connections, as KMS reports it (docs/kms-protocol.md §10): an
//! element flows **in** for a media when an element connected upstream of it flows **out** for that
//! media; what flows out depends on the element. Pure: a small graph in, flags out.

/// `[audio, video]` flags.
pub type Pair = [bool; 2];

/// What makes an element flow out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Flows out on its own, whatever comes in: an endpoint whose peer sends, a playing
    /// PlayerEndpoint, or a scenario element following its profile.
    Source(Pair),
    /// Consumes only (RecorderEndpoint): never flows out.
    Sink,
    /// Passes media through (filters, PassThrough): out = in.
    Pass,
    /// A port of the hub at this index in [`Graph::hubs`].
    Port(usize),
}

/// How a hub feeds its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRule {
    /// Composite, Mixer, AlphaBlending: every port gets the mix of whatever comes in at any port.
    Mix,
    /// Dispatcher: a port gets what its routed source port receives (`connect(source, sink)`,
    /// node indexes).
    Route(Vec<(usize, usize)>),
    /// DispatcherOneToMany: every other port gets what the source port receives.
    OneToMany(Option<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    pub roles: Vec<Role>,
    /// `(source node, sink node, media index 0 = audio, 1 = video)`.
    pub edges: Vec<(usize, usize, usize)>,
    pub hubs: Vec<HubRule>,
}

/// Flow flags of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flows {
    pub flowing_in: Pair,
    pub flowing_out: Pair,
}

/// The least fixed point of the flow rules: start with nothing flowing and propagate until
/// nothing changes (every rule only ever turns flags on, so this ends within one pass per node).
pub fn solve(graph: &Graph) -> Vec<Flows> {
    let n = graph.roles.len();
    let mut flows = vec![Flows::default(); n];
    for _ in 0..=n + 1 {
        let mut next = flows.clone();
        for f in &mut next {
            f.flowing_in = [false; 2];
        }
        for &(source, sink, media) in &graph.edges {
            if flows.get(source).is_some_and(|f| f.flowing_out[media])
                && let Some(f) = next.get_mut(sink)
            {
                f.flowing_in[media] = true;
            }
        }
        for (i, role) in graph.roles.iter().enumerate() {
            next[i].flowing_out = match role {
                Role::Source(out) => *out,
                Role::Sink => [false; 2],
                Role::Pass => next[i].flowing_in,
                Role::Port(hub) => hub_output(graph, &next, *hub, i),
            };
        }
        if next == flows {
            break;
        }
        flows = next;
    }
    flows
}

fn hub_output(graph: &Graph, flows: &[Flows], hub: usize, port: usize) -> Pair {
    let received = |p: usize| flows.get(p).map_or([false; 2], |f| f.flowing_in);
    let any = |ports: &mut dyn Iterator<Item = usize>| {
        ports.fold([false; 2], |acc, p| {
            let r = received(p);
            [acc[0] || r[0], acc[1] || r[1]]
        })
    };
    match graph.hubs.get(hub) {
        Some(HubRule::Mix) => any(&mut graph
            .roles
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == Role::Port(hub))
            .map(|(i, _)| i)),
        Some(HubRule::Route(routes)) => any(&mut routes
            .iter()
            .filter(|(_, sink)| *sink == port)
            .map(|(source, _)| *source)),
        Some(HubRule::OneToMany(Some(source))) if *source != port => received(*source),
        _ => [false; 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AV: Pair = [true, true];
    const NONE: Pair = [false, false];

    fn edges_av(pairs: &[(usize, usize)]) -> Vec<(usize, usize, usize)> {
        pairs
            .iter()
            .flat_map(|&(a, b)| [(a, b, 0), (a, b, 1)])
            .collect()
    }

    #[test]
    fn one_to_many_presenter_flows_out_and_viewers_in() {
        // 0 = presenter (its peer sends), 1..=3 viewers (their peers only receive).
        let graph = Graph {
            roles: vec![
                Role::Source(AV),
                Role::Source(NONE),
                Role::Source(NONE),
                Role::Source(NONE),
            ],
            edges: edges_av(&[(0, 1), (0, 2), (0, 3)]),
            hubs: vec![],
        };
        let flows = solve(&graph);
        assert_eq!(
            flows[0],
            Flows {
                flowing_in: NONE,
                flowing_out: AV
            }
        );
        for viewer in &flows[1..] {
            assert_eq!(
                *viewer,
                Flows {
                    flowing_in: AV,
                    flowing_out: NONE
                }
            );
        }
        let silent = Graph {
            roles: vec![Role::Source(NONE); 4],
            ..graph
        };
        assert!(
            solve(&silent).iter().all(|f| *f == Flows::default()),
            "presenter gone: nothing flows"
        );
    }

    #[test]
    fn loopback_and_pass_through_chains() {
        let looped = Graph {
            roles: vec![Role::Source([true, false])],
            edges: edges_av(&[(0, 0)]),
            hubs: vec![],
        };
        assert_eq!(
            solve(&looped)[0],
            Flows {
                flowing_in: [true, false],
                flowing_out: [true, false]
            }
        );
        // Magic mirror: endpoint -> filter -> endpoint; player -> recorder.
        let mirror = Graph {
            roles: vec![
                Role::Source(AV),
                Role::Pass,
                Role::Source([true, true]),
                Role::Sink,
            ],
            edges: edges_av(&[(0, 1), (1, 0), (2, 3)]),
            hubs: vec![],
        };
        let flows = solve(&mirror);
        assert_eq!(
            flows[1],
            Flows {
                flowing_in: AV,
                flowing_out: AV
            }
        );
        assert_eq!(flows[0].flowing_in, AV);
        assert_eq!(
            flows[3],
            Flows {
                flowing_in: AV,
                flowing_out: NONE
            },
            "a recorder only flows in"
        );
        let video_only = Graph {
            edges: vec![(2, 3, 1)],
            ..mirror
        };
        assert_eq!(
            solve(&video_only)[3].flowing_in,
            [false, true],
            "edges are per media"
        );
    }

    #[test]
    fn hubs_mix_route_and_fan_out() {
        // Endpoints 0..=2 each connected to their port 3..=5 and back.
        let roles = |rule_port: Role| {
            vec![
                Role::Source(AV),
                Role::Source(NONE),
                Role::Source(NONE),
                rule_port.clone(),
                rule_port.clone(),
                rule_port,
            ]
        };
        let edges = edges_av(&[(0, 3), (1, 4), (2, 5), (3, 0), (4, 1), (5, 2)]);
        let mix = solve(&Graph {
            roles: roles(Role::Port(0)),
            edges: edges.clone(),
            hubs: vec![HubRule::Mix],
        });
        assert!(
            mix[1].flowing_in == AV && mix[2].flowing_in == AV,
            "everyone gets the mix"
        );
        let routed = solve(&Graph {
            roles: roles(Role::Port(0)),
            edges: edges.clone(),
            hubs: vec![HubRule::Route(vec![(3, 5)])],
        });
        assert_eq!((routed[1].flowing_in, routed[2].flowing_in), (NONE, AV));
        let fan = solve(&Graph {
            roles: roles(Role::Port(0)),
            edges: edges.clone(),
            hubs: vec![HubRule::OneToMany(Some(3))],
        });
        assert_eq!(
            (fan[0].flowing_in, fan[1].flowing_in, fan[2].flowing_in),
            (NONE, AV, AV)
        );
        let no_source = solve(&Graph {
            roles: roles(Role::Port(0)),
            edges,
            hubs: vec![HubRule::OneToMany(None)],
        });
        assert_eq!(no_source[1].flowing_in, NONE);
    }
}
