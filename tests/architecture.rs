//! The import graph of `src/` has no circles: every module imports only
//! from modules below it, so a reader can tell which way the data flows
//! (docs/architecture.md draws the floors).
//!
//! The graph is read from the source text: each file is a node; `use`
//! declarations and paths in code (`crate::…`, `super::…`, `self::…`, and
//! a child module's name in its parent) are its edges, to the file of the
//! longest module prefix they name. A file inside a folder may use the
//! folder's face (`mod.rs`, or `a.rs` beside `a/`, or `lib.rs` for the
//! crate) — the traits and types it implements are declared there — and
//! that use is not an edge; the face's use of its children is one, so a
//! circle that leaves the folder and comes back through its face is found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path and its text.
struct File {
    path: PathBuf,
    module: Vec<String>,
    text: String,
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn files(src: &Path) -> Vec<File> {
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("main.rs") {
                out.push(File {
                    module: module_of(src, &p),
                    text: std::fs::read_to_string(&p).unwrap(),
                    path: p,
                });
            }
        }
    }
    out
}

/// The text without comments and string literals (a path in a doc comment
/// or a message is not an import).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"'.
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap().trim().to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// Every path a file names: its `use` trees, expanded, and the
/// `crate::`/`super::`/`self::` paths in its code.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let uses = regex::Regex::new(r"(?s)\buse\s+([^;]+);").unwrap();
    for m in uses.captures_iter(code) {
        out.extend(expand(
            &m[1].split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    let inline = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    out.extend(inline.find_iter(code).map(|m| m.as_str().to_owned()));
    out
}

/// The module a path names, from module `here`: absolute segments.
fn resolve(here: &[String], children: &BTreeSet<Vec<String>>, path: &str) -> Option<Vec<String>> {
    let segs: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut at: Vec<String>;
    let mut rest = &segs[..];
    match segs.first()? {
        &"crate" => {
            at = Vec::new();
            rest = &segs[1..];
        }
        &"self" => {
            at = here.to_vec();
            rest = &segs[1..];
        }
        &"super" => {
            at = here.to_vec();
            while rest.first() == Some(&"super") {
                at.pop()?;
                rest = &rest[1..];
            }
        }
        first => {
            // A child module of this one, used by name.
            let mut child = here.to_vec();
            child.push((*first).to_owned());
            if !children.contains(&child) {
                return None;
            }
            at = here.to_vec();
        }
    }
    for s in rest {
        at.push((*s).to_owned());
    }
    Some(at)
}

/// Each file's imports, as edges between files (by index).
fn graph(files: &[File]) -> BTreeMap<usize, BTreeSet<usize>> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let index: BTreeMap<&Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (&f.module, i))
        .collect();
    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let code = code_only(&f.text);
        let mut named = paths(&code);
        // A child module called by name in code (`cms::signed_data(…)`).
        for m in modules.iter().filter(|m| m.len() == f.module.len() + 1) {
            if !m.starts_with(&f.module) {
                continue;
            }
            let child = m.last().unwrap();
            let called = regex::Regex::new(&format!(r"(^|[^:A-Za-z0-9_]){child}::")).unwrap();
            if called.is_match(&code) {
                named.push(format!("self::{child}"));
            }
        }
        for p in named {
            let Some(mut target) = resolve(&f.module, &modules, &p) else {
                continue;
            };
            // The longest prefix that is a file of ours.
            while !target.is_empty() && !modules.contains(&target) {
                target.pop();
            }
            let Some(&j) = index.get(&target) else {
                continue;
            };
            // A file may use the faces of the folders it is in; nothing
            // uses itself.
            if j == i || f.module.starts_with(&target) {
                continue;
            }
            edges.entry(i).or_default().insert(j);
        }
    }
    edges
}

/// The strongly connected components with more than one file (Tarjan).
fn circles(n: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in t.edges.get(&v).into_iter().flatten() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

fn check(src: &Path) -> Result<usize, String> {
    let files = files(src);
    let edges = graph(&files);
    let found = circles(files.len(), &edges);
    if found.is_empty() {
        return Ok(edges.values().map(BTreeSet::len).sum());
    }
    let name = |i: usize| {
        files[i]
            .path
            .strip_prefix(src.parent().unwrap())
            .unwrap()
            .display()
            .to_string()
    };
    Err(found
        .iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|&i| name(i)).collect();
            names.sort();
            format!("circle: {}", names.join(" ↔ "))
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

#[test]
fn src_has_no_import_circles() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    match check(&src) {
        Ok(edges) => assert!(
            edges > 100,
            "only {edges} imports read: the reader is broken"
        ),
        Err(circles) => panic!("imports run in circles:\n{circles}"),
    }
}

/// The check finds a circle when there is one: through `crate::` paths,
/// `super::`, a brace group, and an inline path in code; and not in a
/// comment or a string, nor a face using its own child.
#[test]
fn a_circle_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod store;\n");
    write("a.rs", "use crate::b::{self, Thing};\n");
    write(
        "b.rs",
        "// crate::a::X in a comment\nfn f() { let _ = \"crate::a\"; }\n",
    );
    write("store/mod.rs", "mod sqlite;\npub use sqlite::Sqlite;\n");
    write("store/sqlite.rs", "use super::{Store, Bucket};\n");
    assert!(check(&src).is_ok(), "{:?}", check(&src));
    // b now calls into a: a ↔ b.
    write("b.rs", "fn f() { crate::a::go(); }\n");
    let err = check(&src).unwrap_err();
    assert_eq!(err, "circle: src/a.rs ↔ src/b.rs");
    // And through a face: b → store/mod.rs → store/sqlite.rs → b.
    write("b.rs", "use crate::store::Sqlite;\n");
    write(
        "store/sqlite.rs",
        "use super::Store;\nuse crate::b::Thing;\n",
    );
    let err = check(&src).unwrap_err();
    assert!(
        err.contains("src/b.rs ↔ src/store/mod.rs ↔ src/store/sqlite.rs"),
        "{err}"
    );
}
