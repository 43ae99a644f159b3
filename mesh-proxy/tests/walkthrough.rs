//! Consul's documented Lambda walkthrough from the files in `examples/consul/`, unchanged but for
//! the port: `api`'s upstream `authentication` (a service definition) invokes the function its
//! service-defaults entry names, through the aws invoker (SigV4) against the emulator's Invoke API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
    pub mod process;
}

use std::path::{Path, PathBuf};

use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use support::harness::{function_dir, get, json};
use support::process::{check, AWS_ENV};

/// The example directory.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/consul")
}

/// A copy of the example directory in `dir`, with `edit` applied to `api.hcl`.
fn copy_examples(dir: &Path, edit: impl Fn(&str) -> String) {
    for name in ["mesh-proxy.toml", "authentication-defaults.hcl", "api.hcl"] {
        let text = std::fs::read_to_string(examples().join(name)).unwrap();
        let text = if name == "api.hcl" { edit(&text) } else { text };
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn the_example_files_pass_check_unchanged() {
    let (code, out) = check(&examples().join("mesh-proxy.toml"), &AWS_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("mesh-proxy.toml: ok"), "{out}");
}

#[test]
fn a_broken_service_file_fails_check_with_its_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path(), |text| {
        let broken = text.replace("local_bind_port  = 2345", "local_bind_port  = 70000");
        assert_ne!(broken, text, "the example's upstream port moved");
        broken
    });
    let (code, out) = check(&dir.path().join("mesh-proxy.toml"), &AWS_ENV);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains(
            "api.hcl:20: key `service.connect.sidecar_service.proxy.upstreams[0].local_bind_port`"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_calls_the_function_its_service_defaults_entry_names() {
    let mut function = FunctionConfig::new("authentication", function_dir());
    function.timeout = 10;
    let emulator = Emulator::start(EmulatorConfig {
        functions: vec![function],
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lambda = listener.local_addr().unwrap();
    let serving = emulator.clone();
    tokio::spawn(async move { serving.serve_invoke_api(listener).await });
    let (recorder, recorded) = lambda_mesh_tests::recorder::start(lambda).await;

    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path(), |text| {
        let free = text.replace("local_bind_port  = 2345", "local_bind_port  = 0");
        assert_ne!(free, text, "the example's upstream port moved");
        free
    });
    let endpoint = format!("http://{recorder}");
    let mut env = AWS_ENV.to_vec();
    env.push(("MESH_PROXY_AWS_ENDPOINT_URL", &endpoint));
    env.push(("MESH_PROXY_ADMIN_LISTEN", "127.0.0.1:0"));
    let proxy = support::process::start(&dir.path().join("mesh-proxy.toml"), &env);

    let (response, body) = get(proxy.upstream("authentication"), "/echo?user=ada&user=bob").await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    // Without PayloadPassthrough the function got Envoy's aws_lambda JSON, as behind Consul.
    let event = &json(&body)["event"];
    assert_eq!(event["raw_path"], "/echo?user=ada&user=bob", "{event}");
    assert_eq!(event["method"], "GET", "{event}");

    let recorded = recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    let (method, path, headers) = &recorded[0];
    assert_eq!(method, "POST");
    assert_eq!(
        path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aauthentication/invocations"
    );
    let authorization = headers["authorization"].to_str().unwrap();
    assert!(
        authorization.contains("/us-east-1/lambda/aws4_request"),
        "{authorization}"
    );
    let trace = headers["x-amzn-trace-id"].to_str().unwrap();
    assert!(trace.starts_with("Root=1-"), "{trace}");

    drop(proxy);
    emulator.shutdown().await;
}
