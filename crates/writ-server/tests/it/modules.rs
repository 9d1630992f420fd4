//! The server's shape (issue 14): one module per route family, shared helpers in modules of
//! their own, and no module importing one that imports it back — directly or through others.
//! Read from the sources: every `crate::NAME` a module's files mention is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the crate modules it refers to (`src/a.rs` and `src/a/**.rs` are module `a`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![];
    let mut dirs = vec![src.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            let is_module = src.join(format!("{name}.rs")).exists();
            if is_module && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one (as the path of modules).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if d == start {
                let mut cycle = path.clone();
                cycle.push(d.clone());
                return Some(cycle);
            }
            if seen.insert(d.clone()) {
                let mut next = path.clone();
                next.push(d.clone());
                stack.push((d.clone(), next));
            }
        }
    }
    None
}

#[test]
fn server_modules_import_no_module_that_imports_them_back() {
    let graph = import_graph();
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    // The check sees edges: the router imports every route family.
    assert!(graph["api"].contains("admin") && graph["api"].contains("gate_api"));
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle_from(&graph, "a"), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle_from(&graph, "a").map(|c| c.join(" -> ")),
        Some("a -> b -> c -> a".into())
    );
}
