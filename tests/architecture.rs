#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The layering of `src/` stays true (docs/architecture.md): every `crate::` or `super::` path in
//! a source file is an edge to the module it names; edges between top-level folders point only
//! down the layer order, and no set of files depends on itself in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, lowest layer first. Modules of one rank must not import each other.
const LAYERS: &[(&str, u32)] = &[
    ("kurento", 0),
    ("analysis", 1),
    ("sim", 1),
    ("poll", 2),
    ("metrics", 3),
    ("web", 4),
    ("app", 5),
    ("bench", 6),
    ("cli", 7),
];

type Module = Vec<String>;

/// Every module of the crate (`lib.rs` is the root `[]`; `main.rs` is a separate crate) and its
/// source text.
fn modules() -> BTreeMap<Module, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                if prefix.is_empty() && module == ["main"] {
                    continue;
                }
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

/// The identifiers of a path starting right after `start` in `text` (`a::b::{c, d}` gives
/// `[a, b]`: the braces' contents are names, resolved by the longest known module prefix).
fn path_segments(text: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segments.push(rest[..len].to_owned());
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    segments
}

/// The modules `module`'s source names through `crate::` and `super::` paths. Code after
/// `mod tests {` is the file's own test module, one level deeper for `super::`.
fn references(module: &Module, source: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let tests_start = source.find("\nmod tests {").unwrap_or(source.len());
    let mut out = BTreeSet::new();
    let mut resolve = |absolute: Vec<String>| {
        let target = (0..=absolute.len())
            .rev()
            .map(|n| absolute[..n].to_vec())
            .find(|m| known.contains(m))
            .unwrap();
        out.insert(target);
    };
    for (at, _) in source.match_indices("crate::") {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        resolve(path_segments(&source[at + "crate::".len()..]));
    }
    for (at, _) in source.match_indices("super::") {
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut base = module.clone();
        if at < tests_start {
            base.pop();
        }
        let mut rest = &source[at + "super::".len()..];
        while let Some(next) = rest.strip_prefix("super::") {
            base.pop();
            rest = next;
        }
        base.extend(path_segments(rest));
        resolve(base);
    }
    out.remove(module);
    out
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn rank(module: &Module) -> Option<u32> {
    let top = module.first()?;
    let rank = LAYERS.iter().find(|(name, _)| name == top).map(|(_, r)| *r);
    Some(rank.unwrap_or_else(|| panic!("{top} is not in LAYERS: give it a place")))
}

fn edges() -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules();
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, source)| (module.clone(), references(module, source, &known)))
        .collect()
}

/// Edges from a top-level folder to another that is not below it.
fn upward_edges(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, targets) in edges {
        let Some(from_rank) = rank(from) else {
            continue; // the crate root declares and re-exports
        };
        for to in targets {
            if to.first() == from.first() {
                continue;
            }
            match rank(to) {
                Some(to_rank) if to_rank < from_rank => {}
                _ => bad.push(format!("{} -> {}", name(from), name(to))),
            }
        }
    }
    bad
}

/// One cycle through the file graph, if any (depth-first search with colours).
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        done: &mut BTreeSet<Module>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = stack.iter().position(|m| m == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}

#[test]
fn every_top_level_module_has_a_layer() {
    for module in modules().keys() {
        rank(module);
    }
}

#[test]
fn layers_only_import_layers_below_them() {
    let bad = upward_edges(&edges());
    assert!(
        bad.is_empty(),
        "upward or sideways imports:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_module_depends_on_itself_through_others() {
    if let Some(cycle) = find_cycle(&edges()) {
        let names: Vec<_> = cycle.iter().map(name).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_checks_see_cycles_and_upward_edges() {
    let module = |s: &str| -> Module { s.split("::").map(str::to_owned).collect() };
    let known: BTreeSet<Module> = [
        "analysis",
        "analysis::model",
        "analysis::summary",
        "analysis::zombie",
        "kurento",
    ]
    .into_iter()
    .map(module)
    .collect();
    let source = "use crate::analysis::zombie::{A, B};\nuse super::model::X;\n\
                  fn f() -> crate::kurento::Y {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n";
    let refs = references(&module("analysis::summary"), source, &known);
    let want: BTreeSet<Module> = ["analysis::zombie", "analysis::model", "kurento"]
        .into_iter()
        .map(module)
        .collect();
    assert_eq!(refs, want);

    let mut graph = BTreeMap::new();
    graph.insert(
        module("analysis::model"),
        [module("analysis::zombie")].into(),
    );
    graph.insert(module("analysis::zombie"), [module("kurento")].into());
    graph.insert(module("kurento"), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
    assert!(upward_edges(&graph).is_empty());
    graph.insert(module("kurento"), [module("analysis::model")].into());
    assert!(find_cycle(&graph).is_some());
    assert_eq!(upward_edges(&graph), ["kurento -> analysis::model"]);
}
