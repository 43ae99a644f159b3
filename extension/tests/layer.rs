//! The layer's scripts: `bootstrap` starts `$LAMBDA_TASK_ROOT/$_HANDLER`, and `check-glibc.sh`
//! (run by `make layer`) rejects a binary that needs a newer glibc than allowed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("layer")
        .join(name)
}

fn bootstrap(task_root: &Path, handler: &str, args: &[&str]) -> Output {
    Command::new(script("bootstrap"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LAMBDA_TASK_ROOT", task_root)
        .env("_HANDLER", handler)
        .output()
        .expect("bootstrap runs")
}

#[test]
fn bootstrap_execs_the_handler_and_ignores_the_runtime_command() {
    let code = tempfile::tempdir().unwrap();
    let handler = code.path().join("run.sh");
    std::fs::write(
        &handler,
        "#!/bin/sh\necho \"started $# $LAMBDA_TASK_ROOT\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).unwrap();
    // As AWS_LAMBDA_EXEC_WRAPPER, Lambda passes the managed runtime's command line.
    let output = bootstrap(
        code.path(),
        "run.sh",
        &["/var/lang/bin/python3", "-m", "awslambdaric"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("started 0 {}", code.path().display())
    );
}

#[test]
fn bootstrap_runs_a_handler_without_the_executable_bit() {
    let code = tempfile::tempdir().unwrap();
    let handler = code.path().join("run.sh");
    std::fs::write(&handler, "echo plain\n").unwrap();
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = bootstrap(code.path(), "run.sh", &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "plain");
}

#[test]
fn bootstrap_says_which_handler_is_missing() {
    let code = tempfile::tempdir().unwrap();
    let output = bootstrap(code.path(), "missing.sh", &[]);
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing.sh") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn glibc_check_rejects_newer_symbols_and_accepts_older() {
    let binary = env!("CARGO_BIN_EXE_lambda-mesh-extension");
    // Every x86_64 glibc binary needs at least GLIBC_2.2.5, so a limit below it must fail.
    let strict = Command::new(script("check-glibc.sh"))
        .args([binary, "2.2"])
        .output()
        .unwrap();
    assert!(!strict.status.success(), "{strict:?}");
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("newer than GLIBC_2.2"),
        "{strict:?}"
    );
    let lenient = Command::new(script("check-glibc.sh"))
        .args([binary, "99.0"])
        .output()
        .unwrap();
    assert!(lenient.status.success(), "{lenient:?}");
}
