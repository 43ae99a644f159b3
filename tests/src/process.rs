//! Child processes (the workspace's binaries, from [`crate::workspace::binary`] or
//! `CARGO_BIN_EXE_*`): stdout read line by line (and kept), stderr kept, stopped on drop
//! (SIGTERM, then SIGKILL).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running child process.
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start `binary` with `args` and `env`.
    pub fn start(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut command = Command::new(binary);
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Proc::spawn(command)
    }

    /// Spawn `command` with stdin closed and stdout and stderr piped.
    pub fn spawn(mut command: Command) -> Proc {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{:?} starts: {e}", command.get_program()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().expect("stderr lock").push_str(&text);
            }
        });
        let (tx, lines) = channel();
        let out = child.stdout.take().expect("stdout piped");
        let stdout = Arc::new(Mutex::new(String::new()));
        let kept = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                {
                    let mut kept = kept.lock().expect("stdout lock");
                    kept.push_str(&line);
                    kept.push('\n');
                }
                // Nobody waiting for lines any more is fine: the text is kept above.
                let _ = tx.send(line);
            }
        });
        Proc {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// Stdout lines up to and including the first that starts with `prefix` (≤ `limit`).
    pub fn lines_until(&self, prefix: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with(prefix);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!(
                    "no `{prefix}` line within {limit:?}; stdout so far: {seen:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Everything written to stdout so far (also the lines [`Proc::lines_until`] returned).
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout lock").clone()
    }

    /// Send a signal (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Wait (≤ `limit`) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    /// SIGTERM first, so an emulator (standalone or inside mesh-proxy) spins its environments down
    /// and their services with them (SIGKILL would orphan them); SIGKILL if it has not exited
    /// within the emulator's 2 s shutdown grace plus a margin.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            // No panics in drop (it may run while a test is already panicking): poll quietly.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address at the end of a `... listening on ADDR` line.
pub fn address(line: &str) -> std::net::SocketAddr {
    line.rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
}

/// The processes descended from `pid` (children, their children …) whose name (`comm`, at most
/// 15 bytes) is `name`, read from /proc.
pub fn descendants_named(pid: u32, name: &str) -> Vec<u32> {
    let mut parents = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split at the last `)`.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.insert(id, ppid);
            names.insert(id, stat[open + 1..close].to_owned());
        }
    }
    let descends = |mut id: u32| {
        // Bounded: a parent chain is never longer than the process table.
        for _ in 0..parents.len() {
            match parents.get(&id) {
                Some(&parent) if parent == pid => return true,
                Some(&parent) if parent > 1 => id = parent,
                _ => return false,
            }
        }
        false
    };
    let mut found: Vec<u32> = names
        .iter()
        .filter(|(id, comm)| comm.as_str() == name && descends(**id))
        .map(|(id, _)| *id)
        .collect();
    found.sort_unstable();
    found
}

/// SIGKILL `pid` with kill(1); whether it was there to kill.
pub fn kill(pid: u32) -> bool {
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
