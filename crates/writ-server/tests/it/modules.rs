//! The server's shape (issue 14): one module per route family, shared helpers in modules of
//! their own, and no module importing one that imports it back — directly or through others.
//! Read from the sources: every `crate::NAME` (and each name of `crate::{A, B::…}`) in the
//! code of a module's files is an edge; comments (doc links) are not. The gate library's
//! modules are held to the same rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level module names `text` refers to as `crate::NAME` or `crate::{NAME, …}`, outside
/// comments.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
            .collect()
    };
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                // Top-level items of the group, up to its closing brace.
                let mut depth = 0;
                let mut item_start = true;
                for (k, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if item_start && !c.is_whitespace() => {
                            out.insert(ident(&group[k..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                out.insert(ident(rest));
            }
        }
    }
    out
}

/// Module name → the crate modules it refers to (`src/a.rs` and `src/a/**.rs` are module `a`),
/// for the crate whose sources are `src`.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = src.to_path_buf();
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
        for name in crate_refs(&text) {
            let is_module =
                src.join(format!("{name}.rs")).exists() || src.join(&name).join("mod.rs").exists();
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

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    graph
        .keys()
        .filter_map(|m| cycle_from(graph, m))
        .map(|c| c.join(" -> "))
        .collect()
}

#[test]
fn server_modules_import_no_module_that_imports_them_back() {
    let graph = import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    // The check sees edges: the router imports every route family.
    assert!(graph["api"].contains("admin") && graph["api"].contains("gate_api"));
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn gate_modules_import_no_module_that_imports_them_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../writ-gate/src");
    let graph = import_graph(&src);
    assert!(graph.len() >= 8, "read too few modules: {graph:?}");
    // Directory modules count (`mcp/mod.rs`): the gateway uses the gate and the client.
    assert!(graph["mcp"].contains("gate") && graph["mcp"].contains("client"));
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn references_are_read_from_code_paths_and_groups_not_comments() {
    let text = "use crate::{error::E, gate::{A, B}, metrics};\n\
        /// see [`crate::events::follow`]\n\
        let x = crate::client::new(); // crate::store\n";
    let got: Vec<String> = crate_refs(text).into_iter().collect();
    assert_eq!(got, ["client", "error", "gate", "metrics"]);
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
