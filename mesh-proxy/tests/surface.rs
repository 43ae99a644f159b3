//! The public surface, pinned: every error kind with its status, headers and message; every
//! metric family with its labels; every config key and the errors bad values get. Rendered as
//! text and compared with `tests/data/surface.golden`, so a refactor that changes any of it fails
//! here. After a deliberate change, regenerate with `MESH_PROXY_BLESS=1 cargo test -p mesh-proxy
//! --test surface` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use http_body_util::BodyExt;
use mesh_proxy::{Config, Metrics, ProxyError};

const GOLDEN: &str = "tests/data/surface.golden";

#[tokio::test]
async fn the_public_surface_is_unchanged() {
    let mut out = String::new();
    errors(&mut out).await;
    metrics(&mut out);
    config(&mut out);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("MESH_PROXY_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("the golden file exists");
    if golden != out {
        let first = golden
            .lines()
            .zip(out.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| golden.lines().count().min(out.lines().count()));
        panic!(
            "the public surface changed (first difference at line {}):\n  golden: {:?}\n  now:    {:?}",
            first + 1,
            golden.lines().nth(first),
            out.lines().nth(first)
        );
    }
}

/// Every `ProxyError` variant as the caller sees it.
async fn errors(out: &mut String) {
    let f = || "fn-a".to_owned();
    let cases = [
        ProxyError::function_error(
            "fn-a",
            "Unhandled",
            br#"{"errorType":"ValueError","errorMessage":"boom"}"#,
        ),
        ProxyError::function_error("fn-a", "Handled", b"not json"),
        ProxyError::Throttled {
            function: f(),
            retry_after: Some(7),
        },
        ProxyError::Throttled {
            function: f(),
            retry_after: None,
        },
        ProxyError::FunctionNotFound {
            function: f(),
            message: "ResourceNotFoundException: Function not found".into(),
        },
        ProxyError::AccessDenied {
            function: f(),
            message: "AccessDeniedException: no".into(),
        },
        ProxyError::PayloadTooLarge { limit: 6_291_456 },
        ProxyError::Timeout {
            function: f(),
            timeout: Duration::from_millis(2500),
        },
        ProxyError::RequestTimeout {
            timeout: Duration::from_millis(2500),
        },
        ProxyError::Overloaded {
            upstream: "up".into(),
            limit: 3,
        },
        ProxyError::InvalidResult {
            function: f(),
            reason: "bad".into(),
        },
        ProxyError::Lambda {
            function: f(),
            message: "ServiceException: x".into(),
        },
        ProxyError::BadRequest {
            message: "cannot read".into(),
        },
        ProxyError::HeadersTooLarge {
            count: 100,
            bytes: 65536,
        },
        ProxyError::NotImplemented { what: "CONNECT" },
        ProxyError::IntentionDenied {
            caller: "spiffe://td.consul/ns/default/dc/dc1/svc/web".into(),
            destination: "spiffe://td.consul/ns/default/dc/dc1/svc/billing".into(),
            by: "default policy deny".into(),
        },
        ProxyError::MisdirectedRequest {
            host: "payments".into(),
            named: "payments".into(),
            service: "billing".into(),
        },
        ProxyError::NotLinked {
            service: "billing".into(),
        },
    ];
    out.push_str("# errors: status kind [headers] body\n");
    for error in cases {
        let response = error.into_response();
        let mut headers: Vec<String> = response
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().unwrap()))
            .collect();
        headers.sort();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let _ = writeln!(
            out,
            "{status} {} [{}] {}",
            error.kind(),
            headers.join(" "),
            String::from_utf8_lossy(&body)
        );
    }
}

/// Every metric family, after one of everything.
fn metrics(out: &mut String) {
    let metrics = Metrics::default();
    let m = metrics.upstream("orders");
    m.response(200);
    m.response(502);
    m.invoke_latency(Duration::from_millis(3));
    m.function_error();
    m.throttle();
    m.retry();
    m.stream_abort();
    let _in_flight = m.in_flight();
    out.push_str("# metrics\n");
    out.push_str(&metrics.render());
}

/// The keys a full config accepts, and what bad ones are told.
fn config(out: &mut String) {
    let code = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/python-fn");
    let good = r#"log_format = "json"
drain_timeout = 3
header_timeout = 5
idle_timeout = 20
write_timeout = 15
max_connections = 300

[admin]
listen = "127.0.0.1:0"

[aws]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:9001"
profile = "dev"

[[upstream]]
destination_name = "orders"
local_bind_address = "127.0.0.2"
local_bind_port = 8081
function = "arn:aws:lambda:us-east-2:123456789012:function:orders:live"
invocation_mode = "synchronous"
payload_format = "envoy"
response_streaming = true
timeout = 2.5
max_concurrency = 7
retries = 1

[[upstream]]
destination_name = "events"
local_bind_port = 0
function = "events"
qualifier = "3"
invocation_mode = "asynchronous"
payload_passthrough = true

[[function]]
name = "events"
code = "CODE"
"#
    .replace("CODE", code);
    out.push_str("# config: a file with every key\n");
    match Config::from_toml_str(&good, "mesh.toml", Path::new("/")) {
        Ok(config) => {
            let _ = writeln!(
                out,
                "log_format={:?} drain={:?} connections={:?} admin={} region={:?} endpoint={} profile={:?}",
                config.log_format,
                config.drain_timeout,
                config.connections,
                config.admin_listen,
                config.aws.region,
                config
                    .aws
                    .endpoint_url
                    .as_ref()
                    .map(|u| u.to_string())
                    .unwrap_or_default()
                    .trim_end_matches('/'),
                config.aws.profile
            );
            for u in &config.upstreams {
                let _ = writeln!(
                    out,
                    "upstream {} bind={} function={} qualifier={:?} region={:?} mode={:?} format={:?} streaming={} timeout={:?} max={} retries={}",
                    u.destination_name, u.bind, u.function, u.qualifier, u.arn_region,
                    u.invocation_mode, u.payload_format, u.response_streaming, u.timeout,
                    u.max_concurrency, u.retries
                );
            }
            let _ = writeln!(out, "functions {}", config.functions.len());
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
        }
    }
    let base = "[[upstream]]\ndestination_name = \"a\"\nlocal_bind_port = 1\nfunction = \"f\"\n";
    let bad: &[(&str, String)] = &[
        ("unknown top key", format!("colour = 1\n{base}")),
        ("unknown upstream key", format!("{base}retry_count = 3\n")),
        ("unknown consul key", format!("[consul]\nservice_file = []\n{base}")),
        ("missing service file", format!("[consul]\nservice_files = [\"nope.hcl\"]\n{base}")),
        ("bad consul address", format!("[consul]\naddress = \"ftp://x:1\"\n{base}")),
        ("consul address without port", format!("[consul]\naddress = \"consul\"\n{base}")),
        ("consul token without agent", format!("[consul]\ntoken = \"t\"\n{base}")),
        ("consul token and token_file", format!("[consul]\naddress = \"h:1\"\ntoken = \"t\"\ntoken_file = \"f\"\n{base}")),
        ("bad consul datacenter", format!("[consul]\naddress = \"h:1\"\ndatacenter = \"\"\n{base}")),
        ("wrong type", base.replace("local_bind_port = 1", "local_bind_port = \"x\"")),
        ("port out of range", base.replace("local_bind_port = 1", "local_bind_port = 70000")),
        ("syntax", "[admin]\nlisten = \n".into()),
        ("missing function", "[[upstream]]\ndestination_name = \"a\"\nlocal_bind_port = 1\n".into()),
        ("no upstreams", "[admin]\nlisten = \"127.0.0.1:0\"\n".into()),
        ("bad name", base.replace("\"a\"", "\"a b\"")),
        ("bad address", format!("{base}local_bind_address = \"nope\"\n")),
        ("bad arn", base.replace("\"f\"", "\"arn:aws:s3:::bucket\"")),
        ("bad function", base.replace("\"f\"", "\"f g\"")),
        ("short account", base.replace("\"f\"", "\"arn:aws:lambda:us-east-1:12345:function:f\"")),
        ("unknown region", base.replace("\"f\"", "\"arn:aws:lambda:mars-1:123456789012:function:f\"")),
        ("qualifier mismatch", base.replace("\"f\"", "\"arn:aws:lambda:us-east-1:123456789012:function:f:1\"") + "qualifier = \"2\"\n"),
        ("bad mode", format!("{base}invocation_mode = \"ASYNCHRONOUS\"\n")),
        ("passthrough vs format", format!("{base}payload_passthrough = true\npayload_format = \"envoy\"\n")),
        ("format vs passthrough", format!("{base}payload_passthrough = false\npayload_format = \"passthrough\"\n")),
        ("bad format", format!("{base}payload_format = \"v3\"\n")),
        ("streaming async", format!("{base}response_streaming = true\ninvocation_mode = \"asynchronous\"\n")),
        ("zero timeout", format!("{base}timeout = 0\n")),
        ("huge timeout", format!("{base}timeout = 901\n")),
        ("zero concurrency", format!("{base}max_concurrency = 0\n")),
        ("too many retries", format!("{base}retries = 11\n")),
        ("duplicate name", format!("{base}{}", base.replace("local_bind_port = 1", "local_bind_port = 2"))),
        ("duplicate port", format!("{base}{}", base.replace("\"a\"", "\"b\""))),
        ("admin port", format!("[admin]\nlisten = \"127.0.0.1:1\"\n{base}")),
        ("bad admin", format!("[admin]\nlisten = \"nope\"\n{base}")),
        ("bad log format", format!("log_format = \"xml\"\n{base}")),
        ("bad drain", format!("drain_timeout = -1\n{base}")),
        ("zero header timeout", format!("header_timeout = 0\n{base}")),
        ("huge idle timeout", format!("idle_timeout = 3601\n{base}")),
        ("bad write timeout", format!("write_timeout = \"30s\"\n{base}")),
        ("zero connections", format!("max_connections = 0\n{base}")),
        ("bad endpoint", format!("[aws]\nendpoint_url = \"ftp://x\"\n{base}")),
        ("function twice", format!("{base}[[function]]\nname = \"f\"\ncode = \"{code}\"\n[[function]]\nname = \"f\"\ncode = \"{code}\"\n")),
        ("missing code", format!("{base}[[function]]\nname = \"f\"\ncode = \"/nonexistent\"\n")),
        ("unknown discovery key", format!("[discovery]\naws_tag = true\n{base}")),
        ("discovery tags not bool", format!("[discovery]\naws_tags = \"yes\"\n{base}")),
        ("zero discovery interval", format!("[discovery]\naws_tags = true\ninterval = 0\n{base}")),
        ("huge discovery interval", format!("[discovery]\naws_tags = true\ninterval = 86401\n{base}")),
        ("discovery without gateway", format!("[discovery]\naws_tags = true\n{base}")),
    ];
    out.push_str("# config errors\n");
    for (what, text) in bad {
        let result = Config::from_toml_str(text, "mesh.toml", Path::new("/"));
        let line = match result {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        };
        let _ = writeln!(out, "{what}: {}", line.replace('\n', "\\n"));
    }
}
