//! The mesh-proxy binary as a child process: started with a config file, its printed addresses
//! read from stdout, its stderr kept, killed on drop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running mesh-proxy.
pub struct MeshProxy {
    child: Child,
    /// `upstream NAME listening on ADDR` lines so far.
    pub upstreams: HashMap<String, SocketAddr>,
    /// `admin listening on ADDR`.
    pub admin: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// Environment for the AWS SDK: static test credentials and no IMDS probing.
pub const AWS_ENV: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "AKIDMESHTEST"),
    ("AWS_SECRET_ACCESS_KEY", "very-secret-key-do-not-log"),
    ("AWS_SESSION_TOKEN", "session-token-do-not-log"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
];

impl MeshProxy {
    /// Start `mesh-proxy --config PATH` with `env`, waiting (≤ 30 s) for its admin line.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> MeshProxy {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mesh-proxy"));
        command
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("mesh-proxy starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut upstreams = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let admin = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no admin line within 30 s; stderr:\n{}",
                    stderr.lock().unwrap()
                )
            });
            if let Some(rest) = line.strip_prefix("upstream ") {
                let (name, addr) = rest.split_once(" listening on ").unwrap();
                upstreams.insert(name.to_owned(), addr.parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("admin listening on ") {
                break addr.parse().unwrap();
            }
        };
        MeshProxy {
            child,
            upstreams,
            admin,
            stderr,
        }
    }

    /// The upstream's address.
    pub fn upstream(&self, name: &str) -> SocketAddr {
        self.upstreams[name]
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
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
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for MeshProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mesh-proxy --check --config PATH` with `env`: exit code and stdout + stderr.
pub fn check(config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh-proxy"));
    command.arg("--check").arg("--config").arg(config);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("mesh-proxy runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}
