//! The mesh-proxy binary as a child process (a `lambda_mesh_tests::process::Proc`): started with a
//! config file, its printed addresses read from stdout.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use lambda_mesh_tests::process::Proc;

/// A running mesh-proxy.
pub struct MeshProxy {
    process: Proc,
    /// `upstream NAME listening on ADDR` lines so far.
    pub upstreams: HashMap<String, SocketAddr>,
    /// `admin listening on ADDR`.
    pub admin: SocketAddr,
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
        command.arg("--config").arg(config).env("RUST_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let process = Proc::spawn(command);
        let mut upstreams = HashMap::new();
        let mut admin = None;
        for line in process.lines_until("admin listening on ", Duration::from_secs(30)) {
            if let Some(rest) = line.strip_prefix("upstream ") {
                let (name, addr) = rest.split_once(" listening on ").unwrap();
                upstreams.insert(name.to_owned(), addr.parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("admin listening on ") {
                admin = Some(addr.parse().unwrap());
            }
        }
        MeshProxy {
            process,
            upstreams,
            admin: admin.unwrap(),
        }
    }

    /// The upstream's address.
    pub fn upstream(&self, name: &str) -> SocketAddr {
        self.upstreams[name]
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Send a signal (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Wait (≤ `limit`) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.process.wait(limit)
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
