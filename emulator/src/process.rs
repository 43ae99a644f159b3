//! The processes of an execution environment: started in their own process group, output
//! captured, exit watched, signalled as a group.

use std::process::Stdio;
use std::sync::Arc;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use crate::logs::LogSink;

/// A started process: its process group id and its exit.
pub(crate) struct Process {
    pub(crate) pid: i32,
    pub(crate) exit: watch::Receiver<Option<String>>,
}

impl Process {
    pub(crate) fn exited(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Running right now: not reported exited, and not already dead in the kernel's eyes. The
    /// exit watch lags the real exit by the time it takes to reap the child (a few ms); in that
    /// window the process is a zombie, which `waitid(WNOWAIT)` sees at once without reaping it
    /// (one system call, cheap enough for every invocation's handoff).
    pub(crate) fn running(&self) -> bool {
        self.exited().is_none() && !is_dead(self.pid)
    }
}

/// Start `program` with exactly `env`, in `cwd`, in a new process group, its output into `logs`.
pub(crate) fn spawn(
    logs: &Arc<LogSink>,
    cwd: &std::path::Path,
    program: &std::ffi::OsStr,
    args: &[&std::ffi::OsStr],
    env: &std::collections::BTreeMap<String, String>,
) -> std::io::Result<Process> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    if let Some(stdout) = child.stdout.take() {
        logs.capture(stdout);
    }
    if let Some(stderr) = child.stderr.take() {
        logs.capture(stderr);
    }
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or(0);
    let (tx, exit) = watch::channel(None);
    tokio::spawn(async move {
        let description = match child.wait().await {
            Ok(status) => describe(status),
            Err(e) => format!("wait failed: {e}"),
        };
        let _ = tx.send(Some(description));
    });
    Ok(Process { pid, exit })
}

/// True when our child `pid` has exited: a zombie not yet reaped (or already reaped).
fn is_dead(pid: i32) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    if pid <= 0 {
        return false;
    }
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
        Ok(WaitStatus::StillAlive) => false,
        Ok(_) | Err(nix::errno::Errno::ECHILD) => true,
        Err(_) => false,
    }
}

/// Signal the process's group (SIGKILL even after the leader exited: children may remain).
pub(crate) fn signal(process: &Process, signal: Signal) {
    if process.pid > 0 && (process.exited().is_none() || signal == Signal::SIGKILL) {
        // The group may already be gone; nothing to do then.
        let _ = killpg(Pid::from_raw(process.pid), signal);
    }
}

/// Wait, up to `deadline`, for every process to exit.
pub(crate) async fn wait_exits(processes: &[Arc<Process>], deadline: tokio::time::Instant) {
    for process in processes {
        let mut exit = process.exit.clone();
        let _ = tokio::time::timeout_at(deadline, exit.wait_for(|e| e.is_some())).await;
    }
}

/// The exit as Lambda's runtime manager words it (Go's `os.ProcessState.String()`):
/// `exit status 3`, `signal: killed`, `signal: segmentation fault (core dumped)`.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => {
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            format!("signal: {}{core}", signal_name(signal))
        }
        _ => "exit status unknown".to_owned(),
    }
}

/// Go's names of the Linux signals (`syscall.Signal.String()`).
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        other => return format!("signal {other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawns_in_its_own_group_and_reports_the_exit_status() {
        let logs = Arc::new(LogSink::new("t"));
        let env =
            std::collections::BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]);
        let process = spawn(
            &logs,
            std::path::Path::new("/"),
            "sh".as_ref(),
            &["-c".as_ref(), "exit 3".as_ref()],
            &env,
        )
        .unwrap();
        let mut exit = process.exit.clone();
        let status = exit.wait_for(|e| e.is_some()).await.unwrap().clone();
        assert_eq!(status.as_deref(), Some("exit status 3"));
        let sleeper = spawn(
            &logs,
            std::path::Path::new("/"),
            "sleep".as_ref(),
            &["30".as_ref()],
            &env,
        )
        .unwrap();
        signal(&sleeper, Signal::SIGKILL);
        let mut exit = sleeper.exit.clone();
        let status = exit.wait_for(|e| e.is_some()).await.unwrap().clone();
        assert_eq!(status.as_deref(), Some("signal: killed"));
    }

    #[test]
    fn a_zombie_is_not_running_before_its_exit_is_reported() {
        // The window between a runtime's death and the emulator noticing it: an unreaped child.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (_tx, exit) = watch::channel(None);
        let process = Process { pid, exit };
        let dead = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            !process.running()
        });
        assert!(dead, "a zombie must not count as running");
        assert!(process.exited().is_none());
        child.wait().unwrap();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let (_tx, exit) = watch::channel(None);
        let alive = Process {
            pid: sleeper.id() as i32,
            exit,
        };
        assert!(alive.running());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert!(!alive.running());
    }
}
