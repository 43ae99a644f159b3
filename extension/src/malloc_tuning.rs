//! Opt-in glibc malloc tuning for large payloads (`LAMBDA_MESH_MALLOC_TUNING=true`).
//!
//! glibc serves allocations above its (adaptive) mmap threshold with `mmap` and trims freed heap
//! back to the kernel, so invocations with large events or responses used to fault their buffers
//! in afresh. Since bodies pass through in pieces of at most 64 KiB and the event and result
//! buffers are kept (BENCHMARKS.md), tuning no longer saves measurable time per 1 MiB invoke, and
//! it still adds 1–2 ms at start (one re-exec) and up to ~1 MiB of RSS, so it is off by default. glibc reads its tunables only at process start, so the extension
//! re-executes itself once with `GLIBC_TUNABLES` set (no `unsafe` needed).

/// The tunables added: allocations up to 16 MiB come from the heap, and up to 32 MiB of free heap
/// is kept instead of being returned to the kernel after each invocation.
pub(crate) const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=16777216:glibc.malloc.trim_threshold=33554432";

/// The `GLIBC_TUNABLES` value to re-execute with, or `None` when tuning is off (the default) or
/// already applied. `current` is the present `GLIBC_TUNABLES`, `setting` the value of
/// `LAMBDA_MESH_MALLOC_TUNING`.
pub(crate) fn tuned_tunables(current: Option<&str>, setting: Option<&str>) -> Option<String> {
    let off = !matches!(
        setting.map(|s| s.trim().to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes" | "on")
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

/// Re-executes this binary once with glibc's malloc tunables set when
/// `LAMBDA_MESH_MALLOC_TUNING` asks for it; on failure, carries on untuned. Runs first thing in
/// `main`, before logging and configuration: the process is replaced, so nothing read before
/// would survive.
pub fn reexec_with_malloc_tuning() {
    use std::os::unix::process::CommandExt;
    let current = std::env::var("GLIBC_TUNABLES").ok();
    let setting = std::env::var("LAMBDA_MESH_MALLOC_TUNING").ok();
    let Some(tunables) = tuned_tunables(current.as_deref(), setting.as_deref()) else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let error = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    eprintln!("lambda-mesh: re-executing with malloc tuning failed ({error}); continuing untuned");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunables_only_when_asked_and_only_once() {
        let on = Some("true");
        assert_eq!(tuned_tunables(None, None), None, "off by default");
        assert_eq!(tuned_tunables(None, Some("false")), None);
        assert_eq!(tuned_tunables(None, on).as_deref(), Some(MALLOC_TUNABLES));
        assert_eq!(
            tuned_tunables(None, Some("ON")).as_deref(),
            Some(MALLOC_TUNABLES)
        );
        assert_eq!(
            tuned_tunables(Some("glibc.cpu.x86_ibt=off"), on),
            Some(format!("glibc.cpu.x86_ibt=off:{MALLOC_TUNABLES}"))
        );
        assert_eq!(tuned_tunables(Some(MALLOC_TUNABLES), on), None);
        assert_eq!(
            tuned_tunables(Some("glibc.malloc.trim_threshold=1"), on),
            None
        );
    }
}
