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

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal: {signal}"),
        _ => "exit status unknown".to_owned(),
    }
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
        assert_eq!(status.as_deref(), Some("signal: 9"));
    }
}
