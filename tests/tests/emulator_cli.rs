//! The `lambda-emulator` binary: its stdout contract, config errors (exit 64), serving
//! aws-sdk-lambda, and spinning down on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use lambda_mesh_tests::functions::python_fn;
use lambda_mesh_tests::workspace::binary;

const ECHO: &str = env!("CARGO_BIN_EXE_emulator-echo-fn");

/// `lambda-emulator`, built for this test run.
fn emulator_binary() -> PathBuf {
    binary("lambda-emulator")
}

/// SIGTERM (then SIGKILL) the child on drop, so it spins its functions down and nothing is left behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
        if wait_exit(&mut self.0, Duration::from_secs(5)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_listening_and_ready_serves_and_spins_down_on_sigterm() {
    let mut child = Child(
        Command::new(emulator_binary())
            .args(["--listen", "127.0.0.1:0", "--function"])
            .arg(format!("echo={ECHO}"))
            .arg("--function")
            .arg(format!("py={}", python_fn().display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(3) {
            let _ = tx.send(line.unwrap());
        }
    });
    let next_line = || rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let first = tokio::task::block_in_place(next_line);
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"));

    // Environments start on demand: each function's `ready` line comes with its first invoke.
    let client = lambda_mesh_tests::sdk::client(&format!("http://{addr}"));
    let out = client
        .invoke()
        .function_name("echo")
        .payload(Blob::new(r#"{"via":"cli"}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(out.payload().unwrap().as_ref(), br#"{"via":"cli"}"#);
    let out = client
        .invoke()
        .function_name("py")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);
    let lines = tokio::task::block_in_place(|| vec![next_line(), next_line()]);
    let mut ready: Vec<&str> = lines
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("function ").unwrap();
            let (name, ms) = rest.split_once(" ready in ").unwrap();
            ms.strip_suffix(" ms").unwrap().parse::<u64>().unwrap();
            name
        })
        .collect();
    ready.sort();
    assert_eq!(ready, ["echo", "py"]);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_exit(&mut child.0, Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn bad_config_names_file_and_key_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("functions.toml");
    std::fs::write(
        &file,
        "[[function]]\nname = \"a\"\ncode = \".\"\nmemory = 256\n",
    )
    .unwrap();
    let out = Command::new(emulator_binary())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("functions.toml"), "{stderr}");
    assert!(stderr.contains("memory"), "{stderr}");

    std::fs::write(
        &file,
        "[[function]]\nname = \"a\"\ncode = \"missing-dir\"\n",
    )
    .unwrap();
    let out = Command::new(emulator_binary())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`code`") && stderr.contains("missing-dir"),
        "{stderr}"
    );
}

#[tokio::test]
async fn config_file_with_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = python_fn();
    std::os::unix::fs::symlink(&fixture, dir.path().join("fn")).unwrap();
    let file = dir.path().join("functions.toml");
    std::fs::write(
        &file,
        "[[function]]\nname = \"py\"\ncode = \"fn\"\ntimeout = 2\nprovisioned_concurrency = 1\nqualifiers = [\"live\"]\n[function.environment]\nGREETING = \"hi\"\n",
    )
    .unwrap();
    // A bare file name: relative to the current directory, paths inside it too.
    let mut child = Child(
        Command::new(emulator_binary())
            .args(["--listen", "127.0.0.1:0", "--config", "functions.toml"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .map(|l| l.unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let addr = lines[0].strip_prefix("listening on ").unwrap();
    assert!(lines[1].starts_with("function py ready in "), "{lines:?}");
    let out = lambda_mesh_tests::sdk::client(&format!("http://{addr}"))
        .invoke()
        .function_name("py")
        .qualifier("live")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None);
}
