//! No two modules of the adapter or the emulator use each other, directly or around a loop.
//!
//! The edges are the `crate::…` and `super::…` paths in each module's source (its `use` lines and
//! any path written inline, `#[cfg(test)] mod tests` left out). A file `foo/bar.rs` is part of
//! `foo`: a module and its own submodules are one unit (`mod bar;` and `use super::…` in it are the
//! way Rust nests modules, not a dependency loop), so an edge joins the two sibling modules under
//! the deepest module the two ends share, and siblings are checked at every level.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path, `["json", "parse"]` for `src/json/parse.rs`.
type ModulePath = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every module file under `src`, by module path (`lib.rs` and `main.rs` are the root, left out:
/// the root only declares modules and re-exports them).
fn modules(src: &Path) -> BTreeMap<ModulePath, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let module: ModulePath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module == ["lib"] || module == ["main"] {
                continue;
            }
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// The source without its test module and line comments.
fn code(source: &str) -> String {
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    source
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                return "";
            }
            // A comment after code: `//` after whitespace (a URL's `//` follows a `:`).
            match line.find(" //") {
                Some(at) => &line[..at],
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn skip_space(text: &str, at: usize) -> usize {
    text.len() - text[at..].trim_start().len()
}

/// The paths a `use` tree or an inline path at the start of `text` names, each after `prefix`:
/// `a::b` → `[a, b]`; `{a, b::{c, d as e}}` → `[a]`, `[b, c]`, `[b, d]` (the longest prefix that
/// is a module is taken later, so items and `self` may stay on the end). Returns the length read.
fn tree(text: &str, prefix: &[String], out: &mut Vec<ModulePath>) -> usize {
    let mut path = prefix.to_vec();
    let mut at = skip_space(text, 0);
    loop {
        if text[at..].starts_with('{') {
            at += 1;
            loop {
                at = skip_space(text, at);
                if text[at..].starts_with('}') {
                    return at + 1;
                }
                at += tree(&text[at..], &path, out);
                at = skip_space(text, at);
                match text[at..].chars().next() {
                    Some(',') => at += 1,
                    Some('}') => return at + 1,
                    _ => return at,
                }
            }
        }
        let (name, _) = ident(&text[at..]);
        if name.is_empty() {
            out.push(path);
            return at;
        }
        path.push(name.to_owned());
        at += name.len();
        if text[at..].starts_with("::") {
            at += 2;
            continue;
        }
        out.push(path);
        let after = skip_space(text, at);
        if let Some(alias) = text[after..].strip_prefix("as ") {
            let alias_at = skip_space(alias, 0);
            return text.len() - alias.len() + alias_at + ident(&alias[alias_at..]).0.len();
        }
        return at;
    }
}

/// The module paths `module`'s code names through `crate::` and `super::`.
fn references(module: &ModulePath, code: &str) -> Vec<ModulePath> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (keyword, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len() - 1].to_vec()),
    ] {
        let mut from = 0;
        while let Some(found) = code[from..].find(keyword) {
            let start = from + found;
            from = start + keyword.len();
            let preceded = start > 0 && {
                let b = bytes[start - 1];
                b.is_ascii_alphanumeric() || b == b'_' || b == b':'
            };
            if preceded {
                continue;
            }
            tree(&code[from..], &base, &mut out);
        }
    }
    out
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &[String], known: &BTreeSet<ModulePath>) -> Option<ModulePath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| known.contains(prefix))
}

/// The edges between sibling modules: `a::x → a::y` for a reference from `a::x::…` to `a::y::…`.
fn edges(src: &Path) -> BTreeSet<(ModulePath, ModulePath)> {
    let modules = modules(src);
    let known: BTreeSet<ModulePath> = modules.keys().cloned().collect();
    let mut edges = BTreeSet::new();
    for (module, source) in &modules {
        for path in references(module, &code(source)) {
            let Some(target) = resolve(&path, &known) else {
                continue;
            };
            let shared = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if shared == module.len() || shared == target.len() {
                // The same module, or a module and its own descendant.
                continue;
            }
            edges.insert((module[..=shared].to_vec(), target[..=shared].to_vec()));
        }
    }
    edges
}

/// Every cycle's modules (strongly connected components of more than one module).
fn cycles(edges: &BTreeSet<(ModulePath, ModulePath)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&ModulePath> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reaches = |from: &ModulePath, to: &ModulePath| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for (a, b) in edges {
                if a == &node && seen.insert(b.clone()) {
                    stack.push(b.clone());
                }
            }
        }
        seen.contains(to)
    };
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for node in &nodes {
        if done.contains(*node) {
            continue;
        }
        let component: Vec<&ModulePath> = nodes
            .iter()
            .copied()
            .filter(|other| other == node || (reaches(node, other) && reaches(other, node)))
            .collect();
        for member in &component {
            done.insert((*member).clone());
        }
        if component.len() > 1 {
            found.push(component.iter().map(|m| m.join("::")).collect());
        }
    }
    found
}

fn check(crate_dir: &str) -> (usize, Vec<Vec<String>>) {
    let edges = edges(&workspace().join(crate_dir).join("src"));
    let cycles = cycles(&edges);
    println!("{crate_dir}: {} edges between sibling modules", edges.len());
    for (a, b) in &edges {
        println!("  {} -> {}", a.join("::"), b.join("::"));
    }
    for cycle in &cycles {
        println!("  CYCLE: {}", cycle.join(" <-> "));
    }
    (edges.len(), cycles)
}

#[test]
fn the_adapters_modules_have_no_cycle() {
    let (edges, cycles) = check("adapter");
    assert!(edges > 10, "the scan found too few edges to be working");
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn the_emulators_modules_have_no_cycle() {
    let (edges, cycles) = check("emulator");
    assert!(edges > 10, "the scan found too few edges to be working");
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn a_cycle_is_found_directly_and_around_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("d")).unwrap();
    for (file, text) in [
        ("lib.rs", "mod a; mod b; mod c; mod d; mod e;"),
        ("a.rs", "use crate::b::Thing;\n"),
        ("b.rs", "use crate::{c, e::{X, Y}};\n"),
        ("c.rs", "fn f() { crate::a::g() }\n"),
        ("d.rs", "mod x; mod y; use crate::e;\n"),
        // `super::` from a submodule: siblings x and y use each other, and y its parent d.
        ("d/x.rs", "use super::y::Z;\n"),
        (
            "d/y.rs",
            "use super::{x, Parent};\n// use crate::a; (a comment)\n",
        ),
        (
            "e.rs",
            "// crate::d is only mentioned\n#[cfg(test)]\nmod tests { use crate::d; }\n",
        ),
    ] {
        std::fs::write(src.join(file), text).unwrap();
    }
    let edges = edges(src);
    let mut cycles = cycles(&edges);
    cycles.sort();
    assert_eq!(
        cycles,
        [
            vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            vec!["d::x".to_owned(), "d::y".to_owned()],
        ]
    );
    assert!(edges.contains(&(vec!["d".to_owned()], vec!["e".to_owned()])));
    assert!(!edges.iter().any(|(a, _)| a == &["e".to_owned()]));
}
