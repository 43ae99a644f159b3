//! Reload on change. The directories holding the files a config was read from are watched (not
//! the files: editors and `mv` replace a file by renaming over it, and Kubernetes swaps a `..data`
//! symlink), and a change is reported once the events have been quiet for [`QUIET`] and what the
//! files hold differs from what the running config was read from, so a touch, an event about a
//! neighbouring file, or a rewrite with the same bytes reloads nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::config::Sources;

/// How long events must stop before the files are read (one save is often several events).
pub(crate) const QUIET: Duration = Duration::from_millis(200);
/// The longest a stream of events delays reading the files.
const MOST: Duration = Duration::from_secs(2);

/// What each source held when read: a hash of a file's bytes (`None`: unreadable or missing), or
/// of a directory's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot(Vec<(PathBuf, Option<u64>)>);

impl Snapshot {
    /// Read every source now.
    pub(crate) fn take(sources: &Sources) -> Snapshot {
        let files = sources.files.iter().map(|p| (p.clone(), file_hash(p)));
        let dirs = sources.dirs.iter().map(|p| (p.clone(), listing_hash(p)));
        Snapshot(files.chain(dirs).collect())
    }

    /// The sources whose contents differ between `self` and `other` (or are in one only).
    pub(crate) fn differing(&self, other: &Snapshot) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> = Vec::new();
        for (path, hash) in &self.0 {
            if other.0.iter().find(|(p, _)| p == path).map(|(_, h)| h) != Some(hash) {
                changed.push(path.clone());
            }
        }
        for (path, _) in &other.0 {
            if !self.0.iter().any(|(p, _)| p == path) {
                changed.push(path.clone());
            }
        }
        changed
    }
}

fn file_hash(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

fn listing_hash(path: &Path) -> Option<u64> {
    let mut names: Vec<_> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    let mut hasher = DefaultHasher::new();
    names.hash(&mut hasher);
    Some(hasher.finish())
}

/// The running config's sources, watched.
pub(crate) struct Watch {
    sources: Sources,
    /// What the running config was read from (or the last rejected attempt, so a bad file is
    /// retried only when it changes again).
    applied: Snapshot,
    /// Kept alive: dropping it stops the events.
    watcher: Option<RecommendedWatcher>,
    events: mpsc::UnboundedReceiver<()>,
    sender: mpsc::UnboundedSender<()>,
}

impl Watch {
    /// Watch `sources`, whose contents the running config was read from as `applied`.
    pub(crate) fn new(sources: &Sources, applied: Snapshot) -> Watch {
        let (sender, events) = mpsc::unbounded_channel();
        let mut watch = Watch {
            sources: Sources::default(),
            applied,
            watcher: None,
            events,
            sender,
        };
        watch.follow(sources);
        watch
    }

    /// From now on watch `sources` (a reload may have named other files).
    pub(crate) fn follow(&mut self, sources: &Sources) {
        if self.watcher.is_some() && self.sources == *sources {
            return;
        }
        self.sources = sources.clone();
        self.watcher = None;
        let relevant = Relevant::of(sources);
        let sender = self.sender.clone();
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) if relevant.matches(&event) => {
                let _ = sender.send(());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "watching the config's files"),
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the config's files: only SIGHUP reloads");
                return;
            }
        };
        for dir in watched_dirs(sources) {
            if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "cannot watch a directory of the config's files: a change there needs SIGHUP"
                );
            }
        }
        self.watcher = Some(watcher);
    }

    /// What the running config (or the last attempt) was read from.
    pub(crate) fn set_applied(&mut self, applied: Snapshot) {
        self.applied = applied;
    }

    /// The sources watched now.
    pub(crate) fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Wait until the sources hold something other than what was applied; returns what they hold
    /// and the paths that changed. Cancel-safe: events wait in the channel.
    pub(crate) async fn changed(&mut self) -> (Snapshot, Vec<PathBuf>) {
        loop {
            let now = Snapshot::take(&self.sources);
            let changed = now.differing(&self.applied);
            if !changed.is_empty() {
                return (now, changed);
            }
            if self.events.recv().await.is_none() {
                return std::future::pending().await;
            }
            let deadline = tokio::time::Instant::now() + MOST;
            loop {
                let quiet = tokio::time::Instant::now() + QUIET;
                match tokio::time::timeout_at(quiet.min(deadline), self.events.recv()).await {
                    Ok(Some(())) if quiet < deadline => continue,
                    _ => break,
                }
            }
        }
    }
}

/// The directories to watch: each file's, the directory its symlink points into, and each
/// pattern directory.
fn watched_dirs(sources: &Sources) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in &sources.files {
        if let Some(parent) = file.parent() {
            dirs.push(parent.to_path_buf());
        }
        if let Some(parent) = std::fs::canonicalize(file)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(parent);
        }
    }
    dirs.extend(sources.dirs.iter().cloned());
    dirs.retain(|d| !d.as_os_str().is_empty());
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Which events can matter: not reads, and only about a source, a file in a pattern directory,
/// or a Kubernetes-style `..data` swap beside a source.
struct Relevant {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Relevant {
    fn of(sources: &Sources) -> Relevant {
        let mut files = sources.files.clone();
        files.extend(
            sources
                .files
                .iter()
                .filter_map(|f| std::fs::canonicalize(f).ok()),
        );
        Relevant {
            files,
            dirs: sources.dirs.clone(),
        }
    }

    fn matches(&self, event: &notify::Event) -> bool {
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        event.paths.iter().any(|path| {
            self.files.contains(path)
                || path
                    .parent()
                    .is_some_and(|p| self.dirs.iter().any(|d| d == p))
                || path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".."))
        })
    }
}

#[cfg(test)]
mod tests;
