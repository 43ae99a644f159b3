//! glibc malloc tuning for large payloads.
//!
//! By default glibc serves allocations above 128 KiB with `mmap` and gives them back to the kernel
//! when freed, so every invocation with a large event or response faults its buffers in afresh:
//! measured here, 1 MiB bodies cost ~4.5 ms more per invoke that way (see BENCHMARKS.md). glibc
//! reads its tunables only at process start, so the extension re-executes itself once with
//! `GLIBC_TUNABLES` set (no `unsafe` needed). `LAMBDA_MESH_MALLOC_TUNING=false` turns this off.

/// The tunables added: allocations up to 16 MiB come from the heap, and up to 32 MiB of free heap
/// is kept instead of being returned to the kernel after each invocation.
pub const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=33554432";

/// The `GLIBC_TUNABLES` value to re-execute with, or `None` when tuning is off or already applied.
/// `current` is the present `GLIBC_TUNABLES`, `setting` the value of `LAMBDA_MESH_MALLOC_TUNING`.
pub fn tuned_tunables(current: Option<&str>, setting: Option<&str>) -> Option<String> {
    let off = matches!(
        setting.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("false" | "0" | "no" | "off")
    );
    let current = current.unwrap_or("").trim();
    if off
        || current.contains("glibc.malloc.mmap_threshold")
        || current.contains("glibc.malloc.trim_threshold")
    {
        return None;
    }
    Some(if current.is_empty() {
        MALLOC_TUNABLES.to_owned()
    } else {
        format!("{current}:{MALLOC_TUNABLES}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunables_added_once_and_respect_opt_out() {
        assert_eq!(tuned_tunables(None, None).as_deref(), Some(MALLOC_TUNABLES));
        assert_eq!(
            tuned_tunables(Some("glibc.cpu.x86_ibt=off"), None),
            Some(format!("glibc.cpu.x86_ibt=off:{MALLOC_TUNABLES}"))
        );
        assert_eq!(tuned_tunables(Some(MALLOC_TUNABLES), None), None);
        assert_eq!(
            tuned_tunables(Some("glibc.malloc.trim_threshold=1"), None),
            None
        );
        assert_eq!(tuned_tunables(None, Some("false")), None);
        assert_eq!(tuned_tunables(None, Some("OFF")), None);
        assert!(tuned_tunables(None, Some("true")).is_some());
    }
}
