//! A small layered layout for a pipeline's graph (pure): sources left, sinks right, hub ports
//! stacked under their hub, the same picture for the same graph.
//!
//! A hub and its ports move as one block (ports connect, the hub itself never does), so blocks
//! are what gets layered. KMS graphs often have cycles (two endpoints connected both ways, a
//! participant feeding a mixer port and fed by it): a depth-first search drops the edges that
//! close a cycle, and longest-path layering runs over what is left. Within a column, blocks are
//! ordered by the mean row of their neighbours in earlier columns (fewer crossings), then by id.

use std::collections::{BTreeMap, BTreeSet};

/// A node to place: its id, and the hub it belongs to (hub ports only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutNode<'a> {
    pub id: &'a str,
    pub hub: Option<&'a str>,
}

/// Where a node goes, in grid cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub column: usize,
    pub row: usize,
}

/// The positions of the nodes, in input order, and the grid's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub positions: Vec<Position>,
    pub columns: usize,
    pub rows: usize,
}

/// Lays out `nodes` given the directed `edges` (source id, sink id). Edges naming unknown ids
/// and self-loops are ignored.
pub fn layout(nodes: &[LayoutNode<'_>], edges: &[(&str, &str)]) -> Layout {
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    // Each node's block: its hub's index when the hub is a node, else its own.
    let block_of: Vec<usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| n.hub.and_then(|h| index.get(h).copied()).unwrap_or(i))
        .collect();
    // Blocks in id order, each with its members (the hub first, then its ports by id).
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, &b) in block_of.iter().enumerate() {
        members.entry(nodes[b].id).or_default().push(i);
    }
    let blocks: Vec<Vec<usize>> = members
        .into_values()
        .map(|mut m| {
            m.sort_by_key(|&i| (block_of[i] != i, nodes[i].id));
            m
        })
        .collect();
    let mut block_index = vec![0; nodes.len()];
    for (b, m) in blocks.iter().enumerate() {
        for &i in m {
            block_index[i] = b;
        }
    }
    let mut block_edges: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (source, sink) in edges {
        if let (Some(&s), Some(&t)) = (index.get(source), index.get(sink)) {
            let (s, t) = (block_index[s], block_index[t]);
            if s != t {
                block_edges.insert((s, t));
            }
        }
    }
    let dag = acyclic(blocks.len(), &block_edges);
    let layers = longest_path(blocks.len(), &dag);
    let columns = layers.iter().map(|l| l + 1).max().unwrap_or(0);

    let mut block_row = vec![0usize; blocks.len()];
    let mut placed = vec![false; blocks.len()];
    let mut rows = 0;
    for column in 0..columns {
        let mut in_column: Vec<(f64, usize)> = (0..blocks.len())
            .filter(|&b| layers[b] == column)
            .map(|b| (barycentre(b, &block_edges, &block_row, &placed), b))
            .collect();
        // Blocks are in id order already; a stable sort keeps it among equal keys.
        in_column.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut row = 0;
        for (_, b) in in_column {
            block_row[b] = row;
            placed[b] = true;
            row += blocks[b].len();
        }
        rows = rows.max(row);
    }

    let mut positions = vec![Position { column: 0, row: 0 }; nodes.len()];
    for (b, m) in blocks.iter().enumerate() {
        for (offset, &i) in m.iter().enumerate() {
            positions[i] = Position {
                column: layers[b],
                row: block_row[b] + offset,
            };
        }
    }
    Layout {
        positions,
        columns,
        rows,
    }
}

/// The mean row of a block's already placed neighbours (either direction); blocks without
/// one sort last.
fn barycentre(
    block: usize,
    edges: &BTreeSet<(usize, usize)>,
    row: &[usize],
    placed: &[bool],
) -> f64 {
    let rows: Vec<f64> = edges
        .iter()
        .filter_map(|&(s, t)| match (s == block, t == block) {
            (true, false) => Some(t),
            (false, true) => Some(s),
            _ => None,
        })
        .filter(|&other| placed[other])
        .map(|other| row[other] as f64)
        .collect();
    if rows.is_empty() {
        f64::INFINITY
    } else {
        rows.iter().sum::<f64>() / rows.len() as f64
    }
}

/// The edges minus those that close a cycle, found by a depth-first search that starts from
/// blocks nothing feeds (real sources stay left), then from the rest in order.
fn acyclic(n: usize, edges: &BTreeSet<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut successors = vec![Vec::new(); n];
    let mut fed = vec![false; n];
    for &(s, t) in edges {
        successors[s].push(t);
        fed[t] = true;
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    let mut kept = Vec::with_capacity(edges.len());
    let starts = (0..n)
        .filter(|&b| !fed[b])
        .chain((0..n).filter(|&b| fed[b]));
    for start in starts {
        if mark[start] != Mark::New {
            continue;
        }
        // (block, index of its next successor to visit): iterative, so deep graphs are safe.
        let mut stack = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let (block, next) = *top;
            let Some(&succ) = successors[block].get(next) else {
                mark[block] = Mark::Done;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match mark[succ] {
                Mark::Open => {} // closes a cycle: dropped
                Mark::Done => kept.push((block, succ)),
                Mark::New => {
                    kept.push((block, succ));
                    mark[succ] = Mark::Open;
                    stack.push((succ, 0));
                }
            }
        }
    }
    kept
}

/// Each block's column: the length of the longest path reaching it in the acyclic `edges`.
fn longest_path(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut successors = vec![Vec::new(); n];
    for &(s, t) in edges {
        successors[s].push(t);
        indegree[t] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).rev().filter(|&b| indegree[b] == 0).collect();
    while let Some(block) = ready.pop() {
        for &succ in &successors[block] {
            layer[succ] = layer[succ].max(layer[block] + 1);
            indegree[succ] -= 1;
            if indegree[succ] == 0 {
                ready.push(succ);
            }
        }
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> LayoutNode<'_> {
        LayoutNode { id, hub: None }
    }

    fn at(layout: &Layout, i: usize) -> (usize, usize) {
        (layout.positions[i].column, layout.positions[i].row)
    }

    #[test]
    fn a_chain_goes_left_to_right() {
        let nodes = [node("c"), node("a"), node("b")];
        let l = layout(&nodes, &[("a", "b"), ("b", "c")]);
        assert_eq!((l.columns, l.rows), (3, 1));
        assert_eq!(at(&l, 1), (0, 0), "the source is left");
        assert_eq!(at(&l, 2), (1, 0));
        assert_eq!(at(&l, 0), (2, 0), "the sink is right");
    }

    #[test]
    fn longest_path_puts_a_node_after_all_its_sources() {
        let nodes = [node("a"), node("b"), node("c"), node("d")];
        // a -> b -> c, a -> c, d alone.
        let l = layout(&nodes, &[("a", "b"), ("b", "c"), ("a", "c")]);
        assert_eq!(at(&l, 2).0, 2);
        assert_eq!(at(&l, 3), (0, 1), "unconnected nodes stack in column 0");
    }

    #[test]
    fn cycles_terminate_and_keep_every_node() {
        let nodes = [node("a"), node("b")];
        let l = layout(&nodes, &[("a", "b"), ("b", "a")]);
        assert_eq!(l.columns, 2);
        assert_ne!(at(&l, 0), at(&l, 1));
        // A longer cycle plus a self-loop and an unknown id.
        let nodes = [node("x"), node("y"), node("z")];
        let l = layout(
            &nodes,
            &[
                ("x", "y"),
                ("y", "z"),
                ("z", "x"),
                ("x", "x"),
                ("x", "nope"),
            ],
        );
        assert_eq!(l.columns, 3);
        let mut columns: Vec<usize> = l.positions.iter().map(|p| p.column).collect();
        columns.sort_unstable();
        assert_eq!(columns, [0, 1, 2]);
    }

    #[test]
    fn a_fed_cycle_starts_from_its_real_source() {
        // s feeds a, and a and b feed each other: s stays left of both.
        let nodes = [node("a"), node("b"), node("s")];
        let l = layout(&nodes, &[("b", "a"), ("a", "b"), ("s", "a")]);
        assert_eq!(at(&l, 2).0, 0);
        assert_eq!(at(&l, 0).0, 1);
        assert_eq!(at(&l, 1).0, 2);
    }

    #[test]
    fn hub_ports_stack_under_their_hub() {
        let nodes = [
            LayoutNode {
                id: "h/p2",
                hub: Some("h"),
            },
            node("w1"),
            node("h"),
            LayoutNode {
                id: "h/p1",
                hub: Some("h"),
            },
            node("w2"),
        ];
        // Each participant feeds a port and is fed by the other's (a cycle through the hub).
        let l = layout(
            &nodes,
            &[
                ("w1", "h/p1"),
                ("w2", "h/p2"),
                ("h/p1", "w2"),
                ("h/p2", "w1"),
            ],
        );
        let (hub_column, hub_row) = at(&l, 2);
        assert_eq!(
            at(&l, 3),
            (hub_column, hub_row + 1),
            "first port right under"
        );
        assert_eq!(at(&l, 0), (hub_column, hub_row + 2));
        assert_eq!(l.rows, 3);
    }

    #[test]
    fn the_same_graph_in_any_order_gets_the_same_picture() {
        let ids = ["a", "b", "c", "d", "e"];
        let edges = [("a", "b"), ("b", "c"), ("c", "a"), ("d", "e"), ("a", "e")];
        let first = layout(&ids.map(node), &edges);
        let mut reversed_edges = edges;
        reversed_edges.reverse();
        let mut reversed_ids = ids;
        reversed_ids.reverse();
        let second = layout(&reversed_ids.map(node), &reversed_edges);
        for (i, id) in ids.iter().enumerate() {
            let j = reversed_ids.iter().position(|r| r == id).unwrap();
            assert_eq!(first.positions[i], second.positions[j], "{id}");
        }
        assert_eq!(layout(&ids.map(node), &edges), first);
    }

    #[test]
    fn no_two_nodes_share_a_cell() {
        let ids: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
        let nodes: Vec<LayoutNode<'_>> = ids.iter().map(|id| node(id)).collect();
        let edges: Vec<(&str, &str)> = (0..30)
            .flat_map(|i| [(i, (i * 7 + 3) % 30), (i, (i * 11 + 5) % 30)])
            .map(|(s, t)| (ids[s].as_str(), ids[t].as_str()))
            .collect();
        let l = layout(&nodes, &edges);
        let cells: BTreeSet<(usize, usize)> =
            l.positions.iter().map(|p| (p.column, p.row)).collect();
        assert_eq!(cells.len(), 30);
        assert!(
            l.positions
                .iter()
                .all(|p| p.column < l.columns && p.row < l.rows)
        );
    }

    #[test]
    fn empty_graph() {
        let l = layout(&[], &[]);
        assert_eq!((l.columns, l.rows, l.positions.len()), (0, 0, 0));
    }
}
