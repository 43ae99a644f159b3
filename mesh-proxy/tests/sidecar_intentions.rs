//! Intentions on the sidecar path: `[service]` (or the one service a service file registers)
//! names the caller, and the `service-intentions` entries of `[consul] config_entries` decide
//! each upstream's requests before any invoke, with `[service] default_policy` (`allow` unless
//! set) where none does. A reload applies new intentions to upstreams it keeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
}

use std::path::Path;

use lambda_mesh_tests::metrics;
use support::harness::{config, function_table, get, json, start, upstream_table};

/// `api` may call `billing` under `/public` only; `web` anything (line 6: the permission).
const INTENTIONS: &str = r#"Kind = "service-intentions"
Name = "billing"
Sources = [
  { Name = "web", Action = "allow" },
  { Name = "api", Permissions = [
      { Action = "allow", HTTP = { PathPrefix = "/public" } },
    ] },
]
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Upstreams `billing` and `orders` on one function, the intentions file and `[service]`.
fn config_body(entries: &str, service: &str) -> String {
    format!(
        "{}{}{}[consul]\nconfig_entries = [\"{entries}\"]\n\n{service}\n",
        upstream_table("billing", "fn", ""),
        upstream_table("orders", "fn", ""),
        function_table("fn", ""),
    )
}

fn denials(text: &str, destination: &str) -> Option<f64> {
    metrics::value(
        text,
        &format!("mesh_proxy_intention_denials_total{{destination=\"{destination}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_intentions_decide_on_the_normalized_path() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write(dir.path(), "billing.hcl", INTENTIONS);
    let mut proxy = start(&config_body(
        &entries,
        "[service]\nname = \"api\"\ndefault_policy = \"deny\"",
    ))
    .await;
    let billing = proxy.upstream_addr("billing").unwrap();

    let (response, body) = get(billing, "/public/report?x=1&x=2").await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["event"]["rawPath"], "/public/report");

    // Outside the permission: the default policy decides, before any invoke.
    let (response, body) = get(billing, "/private").await;
    assert_eq!(response.status(), 403);
    let error = json(&body);
    assert_eq!(error["error"], "intention_denied", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("api -> billing denied by intention api -> billing ("),
        "{message}"
    );
    assert!(
        message.ends_with("Sources[1]): no permission matched, default policy deny"),
        "{message}"
    );
    // A dot segment cannot climb out of the allowed prefix: the path is normalized first.
    let (response, _) = get(billing, "/public/../private").await;
    assert_eq!(response.status(), 403);
    // No intention names `orders`: the default policy, deny here.
    let (response, body) = get(proxy.upstream_addr("orders").unwrap(), "/public").await;
    assert_eq!(response.status(), 403);
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .ends_with("denied by default policy deny"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (_, text) = get(proxy.admin_addr(), "/metrics").await;
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert_eq!(denials(&text, "billing"), Some(2.0), "{text}");
    assert_eq!(denials(&text, "orders"), Some(1.0), "{text}");
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_requests_total{upstream=\"billing\",status=\"403\"}"
        ),
        Some(2.0),
        "{text}"
    );

    // As `web`, with the default allow: everything passes; the upstreams were kept (same ports).
    let next = config(&config_body(&entries, "[service]\nname = \"web\""));
    assert!(proxy.reload(next).await.unwrap().is_empty());
    assert_eq!(proxy.upstream_addr("billing").unwrap(), billing);
    assert_eq!(get(billing, "/private").await.0.status(), 200);
    assert_eq!(
        get(proxy.upstream_addr("orders").unwrap(), "/x")
            .await
            .0
            .status(),
        200
    );
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_file_names_the_caller_and_allow_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write(dir.path(), "billing.hcl", INTENTIONS);
    let service = write(
        dir.path(),
        "api.hcl",
        "service {\n  name = \"api\"\n  connect { sidecar_service { proxy { upstreams = [\n    { destination_name = \"billing\", local_bind_port = 0 },\n  ] } } }\n}\n",
    );
    // The service file's upstream takes its function from the [[upstream]] of the same name.
    let proxy = start(&format!(
        "{}{}[consul]\nconfig_entries = [\"{entries}\"]\nservice_files = [\"{service}\"]\n",
        upstream_table("billing", "fn", ""),
        function_table("fn", ""),
    ))
    .await;
    let billing = proxy.upstream_addr("billing").unwrap();
    assert_eq!(get(billing, "/public").await.0.status(), 200);
    // `api`'s intention applies; no permission matched, so the default policy decides: allow.
    assert_eq!(get(billing, "/private").await.0.status(), 200);
    proxy.shutdown().await;

    // Without intentions or a deny default, nothing is checked: no path is rewritten.
    let proxy = start(&format!(
        "{}{}[service]\nname = \"api\"\n",
        upstream_table("billing", "fn", ""),
        function_table("fn", ""),
    ))
    .await;
    let (response, body) = get(proxy.upstream_addr("billing").unwrap(), "/a/../b").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&body)["event"]["rawPath"], "/a/../b");
    proxy.shutdown().await;
}

#[test]
fn service_table_errors_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let entries = write(dir.path(), "billing.hcl", INTENTIONS);
    let parse = |service: &str| {
        let text = format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n{}",
            config_body(&entries, service)
        );
        mesh_proxy::Config::from_toml_str(&text, "test.toml", Path::new("/"))
    };
    let e = parse("[service]\nname = \"api\"\ndefault_policy = \"maybe\"").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("key `service.default_policy`") && text.contains("\"maybe\""),
        "{text}"
    );
    let e = parse("[service]\nname = \"a pi\"").unwrap_err();
    assert!(e.to_string().contains("key `service.name`"), "{e}");
    let e = parse("[service]\nnam = \"api\"").unwrap_err();
    assert!(e.to_string().contains("nam"), "{e}");
    // With intentions but no caller: each upstream is unchecked, and the config says so.
    let config = parse("").unwrap();
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("upstream `billing` has no caller identity")),
        "{:?}",
        config.warnings
    );
}
