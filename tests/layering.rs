//! The architecture guard: imports inside `src/` point down the layers and form no circles.
//!
//! Layers, bottom to top (a file may use its own layer and the ones below):
//!
//! ```text
//! 0 foundation   image  jobs  device  paths  rng
//! 1 io           io/
//! 2 science      fourier/  ctf/  metrics/
//! 3 models       models/  kernels/
//! 4 pipelines    restore/  denoise/  analysis/  screen/
//! 5 work         train/  picking/
//! 6 faces        cli/  gui/
//! ```
//!
//! The test reads every `crate::…`, `super::…` and `self::…` path in `src/` (in `use` trees,
//! grouped ones included, and inline paths), resolves each to the file of the deepest module it
//! names, and fails on (1) a path into a higher layer, (2) a circle between top-level modules,
//! (3) a circle between files. A `mod.rs` declaring or re-exporting its own children is
//! structure, not an import, so edges from a module file into its own sub-tree are not counted.
//! Comments are skipped; `#[cfg(test)]` code counts like any other code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of each top-level module of the crate (see the module docs).
const LAYERS: &[(&str, usize)] = &[
    ("image", 0),
    ("jobs", 0),
    ("device", 0),
    ("errors", 0),
    ("paths", 0),
    ("rng", 0),
    ("sampling", 0),
    ("io", 1),
    ("fourier", 2),
    ("ctf", 2),
    ("metrics", 2),
    ("simulate", 2),
    ("models", 3),
    ("kernels", 3),
    ("restore", 4),
    ("denoise", 4),
    ("analysis", 4),
    ("screen", 4),
    ("train", 5),
    ("picking", 5),
    ("cli", 6),
    ("gui", 6),
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().find(|(m, _)| *m == top).map(|&(_, l)| l)
}

/// A source tree in memory: module path (e.g. `["gui", "app"]`) → file text.
type Tree = BTreeMap<Vec<String>, String>;

fn read_tree(src: &Path) -> Tree {
    fn walk(dir: &Path, prefix: &[String], tree: &mut Tree) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, tree);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                if stem != "mod" {
                    module.push(stem.to_string());
                }
                let text = std::fs::read_to_string(&path).unwrap();
                tree.insert(module, text);
            }
        }
    }
    let mut tree = Tree::new();
    walk(src, &[], &mut tree);
    // The crate roots are not modules of a layer.
    tree.remove(&vec!["lib".to_string()]);
    tree.remove(&vec!["main".to_string()]);
    tree
}

/// The text without `//` comments (doc comments included) and without string literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '"' && prev != '\\' {
                    in_str = false;
                }
                prev = if prev == '\\' && c == '\\' { ' ' } else { c };
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\'' {
                in_str = true;
                prev = c;
                continue;
            }
            out.push(c);
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Every path starting at `crate::`, `super::` or `self::` in `code`, with `use` groups
/// (`crate::{a, b::{c, d}}`) expanded; each as its segments, the first being the anchor.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if starts_word {
            for anchor in ["crate", "super", "self"] {
                let a: Vec<char> = anchor.chars().collect();
                let end = i + a.len();
                if end + 2 <= bytes.len()
                    && bytes[i..end] == a[..]
                    && bytes[end] == ':'
                    && bytes[end + 1] == ':'
                {
                    let mut j = end + 2;
                    let mut out = Vec::new();
                    parse_tree(&bytes, &mut j, vec![anchor.to_string()], &mut out);
                    found.extend(out);
                    i = j;
                    break;
                }
            }
        }
        i += 1;
    }
    found
}

fn skip_ws(s: &[char], j: &mut usize) {
    while *j < s.len() && s[*j].is_whitespace() {
        *j += 1;
    }
}

/// Parses a use tree at `s[*j..]` (after `prefix::`), pushing every complete path.
fn parse_tree(s: &[char], j: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    skip_ws(s, j);
    if *j < s.len() && s[*j] == '{' {
        *j += 1;
        loop {
            skip_ws(s, j);
            if *j >= s.len() {
                return;
            }
            if s[*j] == '}' {
                *j += 1;
                return;
            }
            if s[*j] == ',' {
                *j += 1;
                continue;
            }
            let before = *j;
            parse_tree(s, j, prefix.clone(), out);
            // Skip `as alias` and anything else up to the next separator.
            while *j < s.len() && s[*j] != ',' && s[*j] != '}' {
                *j += 1;
            }
            if *j == before {
                *j += 1;
            }
        }
    }
    let start = *j;
    while *j < s.len() && (s[*j].is_alphanumeric() || s[*j] == '_') {
        *j += 1;
    }
    let ident: String = s[start..*j].iter().collect();
    let mut path = prefix;
    if !ident.is_empty() {
        path.push(ident);
    }
    if *j + 1 < s.len() && s[*j] == ':' && s[*j + 1] == ':' {
        *j += 2;
        parse_tree(s, j, path, out);
    } else {
        out.push(path);
    }
}

/// Resolves `path` used in the file of module `from` to the deepest module of `tree` it names.
fn resolve(tree: &Tree, from: &[String], path: &[String]) -> Option<Vec<String>> {
    // The module that `self` names inside this file (a `mod.rs` is its folder's module).
    let mut base: Vec<String> = from.to_vec();
    let mut rest = &path[1..];
    match path[0].as_str() {
        "crate" => base.clear(),
        "self" => {}
        "super" => {
            base.pop();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut best = None;
    let mut cur = base.clone();
    if tree.contains_key(&cur) {
        best = Some(cur.clone());
    }
    for seg in rest {
        cur.push(seg.clone());
        if tree.contains_key(&cur) {
            best = Some(cur.clone());
        } else {
            break;
        }
    }
    best
}

/// File → files it imports (self edges and edges into its own sub-tree removed).
fn file_graph(tree: &Tree) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut graph = BTreeMap::new();
    for (module, text) in tree {
        let code = code_only(text);
        let mut targets = BTreeSet::new();
        for path in paths_in(&code) {
            if let Some(t) = resolve(tree, module, &path)
                && t != *module
                && !t.starts_with(module)
            {
                targets.insert(t);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// One circle in `graph`, as the list of its nodes, if any.
fn find_cycle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<N: Ord + Clone>(
        n: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        marks: &mut BTreeMap<N, Mark>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        marks.insert(n.clone(), Mark::Open);
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            match marks.get(m).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let at = stack.iter().position(|x| x == m).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(m, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(n.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in graph.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Circles of `graph`, each reported once: after a circle is found its closing edge is
/// dropped and the search goes on (at most 50).
fn cycles<N: Ord + Clone>(mut graph: BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    let mut found = Vec::new();
    while found.len() < 50 {
        let Some(c) = find_cycle(&graph) else { break };
        let (a, b) = (&c[c.len() - 2], &c[c.len() - 1]);
        graph.get_mut(a).unwrap().remove(b);
        found.push(c);
    }
    found
}

/// Every problem of `tree`'s imports, one line each (empty when the architecture holds).
fn violations(tree: &Tree) -> Vec<String> {
    let mut problems = Vec::new();
    let files = file_graph(tree);
    let show = |m: &Vec<String>| m.join("::");
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in &files {
        let top = &from[0];
        let Some(from_layer) = layer_of(top) else {
            problems.push(format!(
                "{}: top-level module `{top}` has no layer in tests/layering.rs",
                show(from)
            ));
            continue;
        };
        modules.entry(top.clone()).or_default();
        for t in targets {
            let t_top = &t[0];
            if t_top != top {
                modules.get_mut(top).unwrap().insert(t_top.clone());
            }
            match layer_of(t_top) {
                Some(l) if l > from_layer => problems.push(format!(
                    "{} (layer {from_layer}) imports {} (layer {l}): imports must point down",
                    show(from),
                    show(t)
                )),
                _ => {}
            }
        }
    }
    for c in cycles(modules) {
        problems.push(format!("circle between modules: {}", c.join(" → ")));
    }
    for c in cycles(files) {
        let names: Vec<String> = c.iter().map(show).collect();
        problems.push(format!("circle between files: {}", names.join(" → ")));
    }
    problems
}

#[test]
fn imports_point_down_the_layers_without_circles() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = read_tree(&src);
    assert!(tree.len() > 50, "read only {} files from src/", tree.len());
    let problems = violations(&tree);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn tree_of(files: &[(&str, &str)]) -> Tree {
    files
        .iter()
        .map(|(m, text)| {
            (
                m.split("::").map(str::to_string).collect::<Vec<_>>(),
                (*text).to_string(),
            )
        })
        .collect()
}

#[test]
fn the_checker_finds_upward_imports_and_circles() {
    // A clean tree: grouped use trees, `super::`, a mod.rs re-exporting its child, comments.
    let clean = tree_of(&[
        ("image", "pub struct Image;"),
        ("io", "pub mod mrc;\npub use self::mrc::read;"),
        (
            "io::mrc",
            "use crate::{image::Image, rng};\nuse super::super::image;",
        ),
        ("rng", ""),
        (
            "gui",
            "pub mod app;\n// use crate::gui::app; in a comment\n",
        ),
        (
            "gui::app",
            "use crate::io::{self, mrc::{read}};\nlet s = \"crate::train\";",
        ),
    ]);
    assert_eq!(violations(&clean), Vec::<String>::new());

    // io importing gui points up a layer.
    let mut up = clean.clone();
    up.insert(
        vec!["io".into(), "mrc".into()],
        "use crate::{image, gui::app::App};".into(),
    );
    let p = violations(&up);
    assert!(
        p.iter()
            .any(|l| l.contains("io::mrc (layer 1) imports gui::app (layer 6)")),
        "{p:?}"
    );
    assert!(p.iter().any(|l| l.contains("circle between")), "{p:?}");

    // Two files of one layer importing each other.
    let mut circle = clean.clone();
    circle.insert(
        vec!["gui".into(), "compare".into()],
        "use super::app::View;".into(),
    );
    circle.insert(
        vec!["gui".into(), "app".into()],
        "use crate::gui::compare::Pane;".into(),
    );
    let p = violations(&circle);
    assert!(
        p.iter()
            .any(|l| l.contains("circle between files") && l.contains("gui::compare")),
        "{p:?}"
    );

    // A top-level module with no layer is reported rather than ignored.
    let mut stray = clean;
    stray.insert(vec!["halfmap".into()], String::new());
    assert!(violations(&stray)[0].contains("`halfmap` has no layer"));
}
