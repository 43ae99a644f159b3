//! mesh-proxy's config text and its binary as a child process (a [`Proc`]): started with a config
//! file, the addresses it prints read from stdout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::functions::python_fn;
use crate::process::Proc;
use crate::workspace::root;

/// Environment for the AWS SDK: static test credentials (which must never reach a log) and no
/// IMDS probing.
pub const AWS_ENV: [(&str, &str); 5] = [
    ("AWS_ACCESS_KEY_ID", "AKIDMESHTEST"),
    ("AWS_SECRET_ACCESS_KEY", "very-secret-key-do-not-log"),
    ("AWS_SESSION_TOKEN", "session-token-do-not-log"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
];

/// How long mesh-proxy may take to print its admin line (a cold start of every function first).
const START_LIMIT: Duration = Duration::from_secs(60);

/// An `[[upstream]]` table on a free port.
pub fn upstream_table(name: &str, function: &str, extra: &str) -> String {
    format!("[[upstream]]\ndestination_name = \"{name}\"\nlocal_bind_port = 0\nfunction = \"{function}\"\n{extra}\n")
}

/// A `[[function]]` table running the Python runtime client (`tests/data/python-fn`).
pub fn function_table(name: &str, extra: &str) -> String {
    format!(
        "[[function]]\nname = \"{name}\"\ncode = \"{}\"\ntimeout = 10\nconcurrency = 4\n{extra}\n",
        python_fn().display()
    )
}

/// A `[[function]]` table running examples/hello-python behind the lambda-mesh `layer`, as
/// `make demo` does; `extra_env` continues its `environment` inline table (`, KEY = "v"`).
pub fn hello_function_table(name: &str, layer: &Path, extra_env: &str) -> String {
    format!(
        r#"
[[function]]
name = "{name}"
code = "{code}"
runtime = "python3.12"
handler = "run.sh"
layers = ["{layer}"]
port_env = ["PORT"]
timeout = 10
concurrency = 4
environment = {{ AWS_LAMBDA_EXEC_WRAPPER = "/opt/bootstrap"{extra_env} }}
"#,
        code = root().join("examples/hello-python").display(),
        layer = layer.display(),
    )
}

/// A `[[function]]` table behind the lambda-mesh `layer` whose process only waits (`code` from
/// [`crate::layer::waiting_code`]): the service is the test's own server on `port` (as
/// [`crate::functions::rust_service_function`] for the emulator in-process); `extra` continues the
/// table (`timeout` 10 s and `concurrency` 2 unless `extra` sets them), `extra_env` its
/// `environment` inline table (`, KEY = "v"`).
pub fn service_function_table(
    name: &str,
    layer: &Path,
    code: &Path,
    port: u16,
    extra: &str,
    extra_env: &str,
) -> String {
    let mut table = format!(
        "\n[[function]]\nname = \"{name}\"\ncode = \"{code}\"\nruntime = \"provided.al2023\"\nhandler = \"wait.sh\"\nlayers = [\"{layer}\"]\nenvironment = {{ LAMBDA_MESH_PORT = \"{port}\"{extra_env} }}\n{extra}\n",
        code = code.display(),
        layer = layer.display(),
    );
    for (key, default) in [("timeout", "10"), ("concurrency", "2")] {
        if !extra.lines().any(|l| l.trim_start().starts_with(key)) {
            table.push_str(&format!("{key} = {default}\n"));
        }
    }
    table
}

/// A running mesh-proxy process.
pub struct MeshProxy {
    process: Proc,
    /// The `upstream NAME listening on ADDR` lines it printed.
    pub upstreams: HashMap<String, SocketAddr>,
    /// `admin listening on ADDR`.
    pub admin: SocketAddr,
    /// `gateway listening on ADDR`, when it serves one.
    pub gateway: Option<SocketAddr>,
}

impl MeshProxy {
    /// Writes `DIR/mesh.toml` (an admin listener on a free port, then `config`) and starts
    /// `BINARY` on it with [`AWS_ENV`].
    pub fn start_with_config(binary: &Path, dir: &Path, config: &str) -> MeshProxy {
        let path = dir.join("mesh.toml");
        std::fs::write(
            &path,
            format!("[admin]\nlisten = \"127.0.0.1:0\"\n{config}"),
        )
        .expect("write mesh.toml");
        MeshProxy::start(binary, &path, &AWS_ENV)
    }

    /// Starts `BINARY --config CONFIG` with `env` (`RUST_LOG=info` unless `env` sets it), waiting
    /// for its admin line.
    pub fn start(binary: &Path, config: &Path, env: &[(&str, &str)]) -> MeshProxy {
        let mut command = Command::new(binary);
        command.arg("--config").arg(config).env("RUST_LOG", "info");
        for (key, value) in env {
            command.env(key, value);
        }
        let process = Proc::spawn(command);
        let mut upstreams = HashMap::new();
        let mut admin = None;
        let mut gateway = None;
        for line in process.lines_until("admin listening on ", START_LIMIT) {
            if let Some(rest) = line.strip_prefix("upstream ") {
                let (name, addr) = rest
                    .split_once(" listening on ")
                    .unwrap_or_else(|| panic!("not an upstream line: {line}"));
                upstreams.insert(name.to_owned(), addr.parse().expect("upstream address"));
            } else if let Some(addr) = line.strip_prefix("gateway listening on ") {
                gateway = Some(addr.parse().expect("gateway address"));
            } else if let Some(addr) = line.strip_prefix("admin listening on ") {
                admin = Some(addr.parse().expect("admin address"));
            }
        }
        MeshProxy {
            process,
            upstreams,
            admin: admin.expect("an admin line"),
            gateway,
        }
    }

    /// The upstream's address.
    pub fn upstream(&self, name: &str) -> SocketAddr {
        *self
            .upstreams
            .get(name)
            .unwrap_or_else(|| panic!("no upstream {name}: {:?}", self.upstreams))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.process.stdout()
    }

    /// Sends a signal (`HUP`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        self.process.signal(name);
    }

    /// Waits (≤ `limit`) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.process.wait(limit)
    }
}

/// `BINARY --check --config CONFIG` with `env`: exit code and stdout + stderr.
pub fn check(binary: &Path, config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(binary);
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
