//! Differential test of mesh-proxy's HCL 1 reader against pyhcl, an independent HCL 1
//! implementation (`make deps` installs it in the workspace's `.venv`). Each document under
//! `tests/data/consul/` is in the form of Consul's documentation examples; where pyhcl and
//! hashicorp/hcl v1 (what Consul runs) disagree, the document is read against its `.hcl1.json`
//! (what hashicorp/hcl v1 makes of it) instead, with the reason below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Documents pyhcl reads as hashicorp/hcl v1 does.
const COMPARED: &[&str] = &[
    "intentions-l4.hcl",
    "intentions-l7.hcl",
    "intentions-l7-headers.hcl",
    "intentions-namespaces.hcl",
    "service-defaults-lambda.hcl",
    "service-defaults-lambda-block.hcl",
    "terminating-gateway.hcl",
    "terminating-gateway-tls.hcl",
    "comments-and-literals.hcl",
    "escapes-quotes.hcl",
];

/// Documents pyhcl misreads, each checked against its `.hcl1.json` instead.
const EXCLUDED: &[(&str, &str)] = &[
    // pyhcl merges repeated blocks key by key (`Sources { Name Action } Sources { … }` comes out
    // as fragments); hashicorp/hcl v1 appends each block to one list.
    ("intentions-l4-blocks.hcl", "pyhcl merges repeated blocks"),
    // pyhcl drops a heredoc's final newline and does not unindent `<<-`; hashicorp/hcl v1
    // keeps the newline and removes the closing anchor's indentation.
    ("heredoc.hcl", "pyhcl heredocs differ"),
    // pyhcl leaves `\n`, `\t` and `\u` escapes as written; hashicorp/hcl v1 unquotes them as Go.
    ("escapes-control.hcl", "pyhcl does not unescape"),
];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/consul")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ours(name: &str) -> serde_json::Value {
    let json = mesh_proxy::hcl_to_json(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&json).unwrap()
}

/// pyhcl's reading of `text`; fails (never skips) when pyhcl is not installed.
fn pyhcl(name: &str, text: &str) -> serde_json::Value {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = workspace.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make deps`",
        python.display()
    );
    let mut child = Command::new(&python)
        .args([
            "-c",
            "import hcl,json,sys; print(json.dumps(hcl.loads(sys.stdin.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}: run `make deps`", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'hcl'"),
        "pyhcl is not installed in {}: run `make deps`",
        python.display()
    );
    assert!(output.status.success(), "pyhcl failed on {name}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn documents_read_as_pyhcl_reads_them() {
    for name in COMPARED {
        assert_eq!(ours(name), pyhcl(name, &read(name)), "{name}");
    }
}

#[test]
fn documents_pyhcl_misreads_read_as_hashicorp_hcl_v1_does() {
    for (name, why) in EXCLUDED {
        let expected = name.replace(".hcl", ".hcl1.json");
        let expected: serde_json::Value = serde_json::from_str(&read(&expected)).unwrap();
        assert_eq!(ours(name), expected, "{name}");
        // The reason for the exclusion still holds: if pyhcl starts agreeing, compare it.
        assert_ne!(
            pyhcl(name, &read(name)),
            expected,
            "{name}: {why} no longer holds"
        );
    }
}
