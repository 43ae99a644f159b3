//! Reading every entry that a list of glob patterns names: one entry per file, as
//! `consul config write` takes them; one entry per Kind, Name, Namespace and Partition.

use std::path::{Path, PathBuf};

#[cfg(test)]
mod tests;

use super::entries::Decoded;
use super::{entries, read_tree, Entries, Entry, EntryError};

/// Read the files `patterns` match (relative to `base` unless absolute; `*` and `?` match within
/// one path component, and not a leading `.`), in sorted order. A pattern matching no file is a
/// warning; a Consul kind mesh-proxy does not read (`proxy-defaults`, `service-router` …) is skipped with a
/// warning, since users keep every entry in one directory.
pub(crate) fn load(patterns: &[String], base: &Path) -> Result<Entries, EntryError> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut entries = Entries::default();
    for pattern in patterns {
        let matched = glob(pattern, base).map_err(|message| EntryError {
            file: pattern.clone(),
            line: None,
            key: None,
            message,
        })?;
        if matched.is_empty() {
            entries.warnings.push(format!("{pattern}: matches no file"));
        }
        files.extend(matched);
    }
    files.sort();
    files.dedup();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (shown, path) in &files {
        let text = std::fs::read_to_string(path).map_err(|e| EntryError {
            file: shown.clone(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        let parsed = match entries::decode(&read_tree(&text, shown)?, shown)? {
            Decoded::Entry(parsed) => parsed,
            Decoded::OtherKind { kind, line } => {
                let warning =
                    format!("{shown}:{line}: kind `{kind}` is not read by mesh-proxy; skipped");
                entries.warnings.push(warning);
                continue;
            }
        };
        let identity = identity(&parsed.entry);
        if let Some((_, first)) = seen.iter().find(|(id, _)| *id == identity) {
            return Err(EntryError {
                file: shown.clone(),
                line: None,
                key: None,
                message: format!(
                    "{identity} is also defined in {first} (one entry per kind and name)"
                ),
            });
        }
        seen.push((identity, shown.clone()));
        entries.warnings.extend(parsed.warnings);
        match parsed.entry {
            Entry::ServiceIntentions(e) => entries.intentions.push(e),
            Entry::ServiceDefaults(e) => entries.service_defaults.push(e),
            Entry::TerminatingGateway(e) => entries.terminating_gateways.push(e),
            Entry::Mesh(e) => entries.meshes.push(e),
        }
    }
    Ok(entries)
}

/// `kind "name"` with its namespace and partition (`default` when absent).
pub(super) fn identity(entry: &Entry) -> String {
    let (kind, name, ns, ap): (_, &str, _, _) = match entry {
        Entry::ServiceIntentions(e) => ("service-intentions", &e.name, &e.namespace, &e.partition),
        Entry::ServiceDefaults(e) => ("service-defaults", &e.name, &e.namespace, &e.partition),
        Entry::TerminatingGateway(e) => {
            ("terminating-gateway", &e.name, &e.namespace, &e.partition)
        }
        Entry::Mesh(e) => ("mesh", "mesh", &None, &e.partition),
    };
    let ns = ns.as_deref().unwrap_or("default");
    let ap = ap.as_deref().unwrap_or("default");
    format!("{kind} {name:?} (namespace {ns:?}, partition {ap:?})")
}

/// The regular files `pattern` matches: (the path as the pattern spells it, the path to open).
pub(super) fn glob(pattern: &str, base: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    if pattern.is_empty() {
        return Err("an empty pattern".to_owned());
    }
    let absolute = pattern.starts_with('/');
    let mut found: Vec<(String, PathBuf)> = if absolute {
        vec![("/".to_owned(), PathBuf::from("/"))]
    } else {
        vec![(String::new(), base.to_path_buf())]
    };
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in parts {
        let mut next = Vec::new();
        for (shown, dir) in &found {
            let join = |name: &str| {
                if shown.is_empty() || shown.ends_with('/') {
                    format!("{shown}{name}")
                } else {
                    format!("{shown}/{name}")
                }
            };
            if !part.contains(['*', '?']) {
                let path = dir.join(part);
                if path.exists() {
                    next.push((join(part), path));
                }
                continue;
            }
            let Ok(listing) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in listing.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if matches(part, &name) {
                    next.push((join(&name), entry.path()));
                }
            }
        }
        found = next;
    }
    found.retain(|(_, path)| path.is_file());
    found.sort();
    Ok(found)
}

/// Whether `name` matches `pattern` (`*`: any run, `?`: one character; neither matches a
/// leading `.`).
fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some('?') => {
                i += 1;
                j += 1;
            }
            Some(c) if *c == n[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// What reading `patterns` depends on: the files they match now, and the directories whose
/// listing decides what they match (the last literal directory before each pattern's first
/// wildcard), so a new, renamed or removed file there is noticed.
pub(crate) fn sources(
    patterns: &[String],
    base: &Path,
    files: &mut Vec<PathBuf>,
    dirs: &mut Vec<PathBuf>,
) {
    for pattern in patterns {
        if let Ok(matched) = glob(pattern, base) {
            files.extend(matched.into_iter().map(|(_, path)| path));
        }
        let Some(wild) = pattern.find(['*', '?']) else {
            // A literal path: the file itself (also while it does not exist).
            files.push(base.join(pattern));
            continue;
        };
        let prefix = pattern[..wild].rsplit_once('/').map_or("", |(dir, _)| dir);
        let dir = match (pattern.starts_with('/'), prefix) {
            (true, "") => PathBuf::from("/"),
            (_, prefix) => base.join(prefix),
        };
        dirs.push(dir);
    }
}
