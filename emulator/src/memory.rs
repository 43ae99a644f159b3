//! `memory_mb`, enforced without privileges: the summed resident memory of an environment's
//! process groups is sampled from `/proc`, and the runtime is killed when it exceeds the limit,
//! as Lambda's cgroup limit kills it (`Runtime.OutOfMemory`).
//!
//! Sampling is not a cgroup: a spike shorter than the interval can pass unseen, shared pages
//! (libraries mapped by several processes) are counted once per process, and page cache is not
//! counted at all. A cgroup would be exact, but needs privileges the emulator does not ask for.
//! All of `/proc` is scanned for the groups' processes once a second ([`SCAN_INTERVAL`]); the
//! samples in between read only the processes found, so a process started since is counted
//! from the next scan on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How often memory is sampled while an invocation runs.
pub(crate) const BUSY_INTERVAL: Duration = Duration::from_millis(20);
/// How often memory is sampled while the environment is idle (or initialising).
pub(crate) const IDLE_INTERVAL: Duration = Duration::from_millis(250);
/// How often all of `/proc` is scanned for the processes of the environment's groups; samples in
/// between read only the processes found then (plus the group leaders), so a process started
/// since is counted from the next scan on.
pub(crate) const SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// One environment's memory readings.
#[derive(Default)]
pub(crate) struct Meter {
    /// The latest sample, bytes.
    last: AtomicU64,
    /// The highest sample since the current invocation began, bytes.
    peak: AtomicU64,
    busy: AtomicBool,
    exceeded: AtomicBool,
    wake: Notify,
    /// When the latest sample was taken.
    sampled_at: Mutex<Option<Instant>>,
}

impl Meter {
    /// An invocation begins: sample often; its peak starts from what the environment holds now.
    /// A sample is taken at once unless one was taken within [`BUSY_INTERVAL`], so back-to-back
    /// invocations cost at most one `/proc` scan per interval, never one each.
    pub(crate) fn begin(&self) {
        self.peak
            .store(self.last.load(Ordering::Relaxed), Ordering::Relaxed);
        self.busy.store(true, Ordering::Relaxed);
        let recent = self
            .sampled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < BUSY_INTERVAL);
        if !recent {
            self.wake.notify_one();
        }
    }

    /// The invocation is over: sample rarely.
    pub(crate) fn end(&self) {
        self.busy.store(false, Ordering::Relaxed);
    }

    /// The highest sample of the current (or last) invocation, in MB (MiB, as Lambda counts).
    pub(crate) fn peak_mb(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).div_ceil(1024 * 1024)
    }

    /// Whether the environment was killed for exceeding its memory.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::SeqCst)
    }

    fn record(&self, bytes: u64) {
        *self.sampled_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.last.store(bytes, Ordering::Relaxed);
        self.peak.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// Sample the process groups `groups()` names (`None` once the environment is gone) until their
/// memory exceeds `limit_bytes`; then mark the meter and call `exceeded` once.
pub(crate) fn watch(
    meter: Arc<Meter>,
    limit_bytes: u64,
    groups: impl Fn() -> Option<Vec<i32>> + Send + 'static,
    exceeded: impl FnOnce() + Send + 'static,
) {
    tokio::spawn(async move {
        let mut members: Vec<i32> = Vec::new();
        let mut scanned: Option<Instant> = None;
        loop {
            let Some(groups) = groups() else { return };
            let scan = scanned.is_none_or(|at| at.elapsed() >= SCAN_INTERVAL);
            let known = std::mem::take(&mut members);
            // Reading `/proc` blocks: never on the runtime thread that serves the APIs.
            let sampled = tokio::task::spawn_blocking(move || {
                if scan {
                    group_members(&groups)
                } else {
                    sample(&groups, known)
                }
            })
            .await;
            let Ok((bytes, found)) = sampled else { return };
            if scan {
                scanned = Some(Instant::now());
            }
            members = found;
            meter.record(bytes);
            if bytes > limit_bytes {
                meter.exceeded.store(true, Ordering::SeqCst);
                tracing::warn!(
                    used_mb = bytes / (1024 * 1024),
                    limit_mb = limit_bytes / (1024 * 1024),
                    "environment exceeded its memory: killing it"
                );
                exceeded();
                return;
            }
            let interval = if meter.busy.load(Ordering::Relaxed) {
                BUSY_INTERVAL
            } else {
                IDLE_INTERVAL
            };
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = meter.wake.notified() => {}
            }
        }
    });
}

/// Scan all of `/proc` (one read of `/proc/PID/stat` per process): the summed resident memory of
/// the processes in `groups` (children a runtime started included, as long as they stay in its
/// group), and their pids.
fn group_members(groups: &[i32]) -> (u64, Vec<i32>) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, Vec::new());
    };
    let page = page_size();
    let (mut total, mut members) = (0, Vec::new());
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some((group, pages)) = group_and_rss(pid) {
            if groups.contains(&group) {
                total += pages * page;
                members.push(pid);
            }
        }
    }
    (total, members)
}

/// Resident memory of the `known` members still in `groups` and of the group leaders (the
/// environment's runtime and extensions), without a scan; the pids still members.
fn sample(groups: &[i32], mut known: Vec<i32>) -> (u64, Vec<i32>) {
    for leader in groups {
        if !known.contains(leader) {
            known.push(*leader);
        }
    }
    let page = page_size();
    let mut total = 0;
    known.retain(|pid| match group_and_rss(*pid) {
        // A pid reused by a process outside the groups no longer counts.
        Some((group, pages)) if groups.contains(&group) => {
            total += pages * page;
            true
        }
        _ => false,
    });
    (total, known)
}

/// The kernel's page size in bytes.
fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

/// The process group and resident pages from `/proc/PID/stat` (`pgrp` and `rss`, fields 5 and
/// 24; `rss` is 0 for zombies).
fn group_and_rss(pid: i32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last `)`.
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    // state (3), parent (4), then the process group (5) ... resident pages (24).
    let group = fields.nth(2)?.parse().ok()?;
    let pages = fields.nth(18)?.parse().ok()?;
    Some((group, pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_group_has_resident_memory() {
        let (group, pages) = group_and_rss(std::process::id() as i32).unwrap();
        assert!(pages > 0);
        let bytes = group_members(&[group]).0;
        assert!(bytes > 1024 * 1024, "{bytes}");
        // The same count `VmRSS` gives, give or take what changed between the two reads.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let vm_rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let ours_kb = pages * page_size() / 1024;
        assert!(
            ours_kb.abs_diff(vm_rss_kb) < 4096,
            "{ours_kb} vs {vm_rss_kb} kB"
        );
        assert_eq!(group_members(&[-5]), (0, Vec::new()));
        // A sample of the members the scan found counts the same processes.
        let (scanned, members) = group_members(&[group]);
        assert!(members.contains(&(std::process::id() as i32)));
        let (sampled, still) = sample(&[group], members.clone());
        assert_eq!(still.len(), members.len());
        assert!(
            sampled.abs_diff(scanned) < 64 * 1024 * 1024,
            "{sampled} vs {scanned}"
        );
    }
}
