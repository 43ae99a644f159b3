//! The terminating gateway end to end, in-process: Consul-shaped certificates minted here, the
//! user's config entries as files, a `[gateway]` config, and a client that does what a Consul
//! Envoy sidecar does (SNI = the destination's SNI name, the server's URI SAN checked against the
//! destination's SPIFFE ID, its own leaf presented). Functions run in the embedded emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cluster;
    pub mod harness;
    pub mod tls;
}

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use lambda_mesh_tests::certs::{service_id, service_sni, write_pem, TestCa, TRUST_DOMAIN};
use lambda_mesh_tests::metrics;
use mesh_proxy::Config;
use support::cluster::{call, call_as, get, json, Cluster};
use support::harness::function_table;
use support::tls::{client_config, connect, ClientSpec};

const ALLOW_WEB: &str = r#"
Kind = "service-intentions"
Name = "billing"
Sources = [
  {
    Name   = "web"
    Action = "allow"
  }
]
"#;

#[tokio::test]
async fn an_allowed_caller_reaches_the_function_with_its_identity_in_xfcc() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let request = Request::post("https://gateway/charge?x=1&x=2")
        .header(
            "x-forwarded-client-cert",
            "By=spiffe://evil/ns/default/dc/dc1/svc/billing;URI=spiffe://evil/x",
        )
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(Full::new(Bytes::from_static(b"\x00\xffbytes")))
        .unwrap();
    let (response, body) = call(addr, "billing", cluster.client(&web, "billing"), request).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    let event = &json(&body)["event"];
    assert_eq!(event["rawPath"], "/charge");
    assert_eq!(event["rawQueryString"], "x=1&x=2");
    assert_eq!(event["cookies"], serde_json::json!(["a=1", "b=2"]));
    let xfcc = event["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap();
    assert!(!xfcc.contains("evil"), "the client's XFCC is gone: {xfcc}");
    assert!(
        xfcc.starts_with(&format!("By={};Hash=", service_id(TRUST_DOMAIN, "billing"))),
        "{xfcc}"
    );
    assert!(
        xfcc.ends_with(&format!(";URI={}", service_id(TRUST_DOMAIN, "web"))),
        "{xfcc}"
    );
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &web.der);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert!(xfcc.contains(&format!(";Hash={hex};")), "{xfcc}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn append_forward_keeps_the_callers_xfcc_before_ours() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let proxy = cluster
        .start(
            "xfcc = \"append_forward\"",
            &cluster.linked("billing", "echo"),
        )
        .await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let request = Request::get("https://gateway/x")
        .header(
            "x-forwarded-client-cert",
            "By=spiffe://a/ns/default/dc/dc1/svc/web;URI=spiffe://a/ns/default/dc/dc1/svc/front",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (response, body) = call(addr, "billing", cluster.client(&web, "billing"), request).await;
    assert_eq!(response.status(), 200);
    let xfcc = json(&body)["event"]["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap()
        .to_owned();
    let elements: Vec<&str> = xfcc.split(",By=").collect();
    assert_eq!(elements.len(), 2, "{xfcc}");
    assert!(elements[0].contains("svc/front"), "{xfcc}");
    assert!(
        elements[1].contains(&format!(";URI={}", service_id(TRUST_DOMAIN, "web"))),
        "{xfcc}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_caller_without_an_intention_is_denied_by_the_default_policy_before_any_invoke() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let intruder = cluster.ca.service_leaf("intruder");
    let request = Request::post("https://gateway/charge")
        .body(Full::new(Bytes::from(vec![b'x'; 100_000])))
        .unwrap();
    let (response, body) = call(
        addr,
        "billing",
        cluster.client(&intruder, "billing"),
        request,
    )
    .await;
    assert_eq!(response.status(), 403);
    let answer = json(&body);
    assert_eq!(answer["error"], "intention_denied");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "{} -> {} denied by ",
            service_id(TRUST_DOMAIN, "intruder"),
            service_id(TRUST_DOMAIN, "billing")
        )),
        "{message}"
    );
    assert!(message.contains("default policy"), "{message}");
    let text = proxy.metrics().render();
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_intention_denials_total{destination=\"billing\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metrics::value(
            &text,
            "mesh_proxy_invoke_duration_seconds_count{upstream=\"billing\"}"
        ),
        Some(0.0),
        "no invoke for a denied request: {text}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn default_policy_allow_lets_a_caller_without_an_intention_through() {
    let cluster = Cluster::new();
    let proxy = cluster
        .start(
            "default_policy = \"allow\"",
            &cluster.linked("billing", "echo"),
        )
        .await;
    let addr = proxy.gateway_addr().unwrap();
    let anyone = cluster.ca.service_leaf("anyone");
    let (response, _) = call(
        addr,
        "billing",
        cluster.client(&anyone, "billing"),
        get("/"),
    )
    .await;
    assert_eq!(response.status(), 200);
    proxy.shutdown().await;
}

const ADMIN_DENIED: &str = r#"
Kind = "service-intentions"
Name = "billing"
Sources = [
  {
    Name = "web"
    Permissions = [
      {
        Action = "deny"
        HTTP {
          PathPrefix = "/admin"
        }
      },
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/"
        }
      }
    ]
  }
]
"#;

#[tokio::test]
async fn path_normalization_closes_the_bypasses_of_a_path_prefix_deny() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ADMIN_DENIED);
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let client = cluster.client(&web, "billing");
    for path in [
        "/admin",
        "/admin/users",
        "/public/../admin",
        "//admin",
        "/%61dmin",
        "/./admin",
        "/public/%2e%2e/admin",
    ] {
        let (response, body) = call(addr, "billing", client.clone(), get(path)).await;
        assert_eq!(
            response.status(),
            403,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        let message = json(&body)["message"].as_str().unwrap().to_owned();
        assert!(message.contains("Permissions[0]"), "{path}: {message}");
    }
    for path in ["/%2Fadmin", "/a%2fb", "/a\\b"] {
        let (response, body) = call(
            addr,
            "billing",
            client.clone(),
            get(&path.replace('\\', "%5C")),
        )
        .await;
        assert_eq!(
            response.status(),
            400,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let (response, body) = call(
        addr,
        "billing",
        client.clone(),
        get("/public/./x/../report?q=%2F"),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    let event = &json(&body)["event"];
    assert_eq!(
        event["rawPath"], "/public/report",
        "the function sees the normalized path"
    );
    assert_eq!(
        event["rawQueryString"], "q=%2F",
        "the query is not normalized"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn two_functions_behind_two_sni_names_and_a_host_naming_the_other_is_misdirected() {
    let cluster = Cluster::new();
    let services = format!(
        "{}{}",
        cluster.linked("billing", "echo"),
        cluster.linked("payments", "echo")
    );
    let proxy = cluster.start("default_policy = \"allow\"", &services).await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    for service in ["billing", "payments"] {
        // The client's verifier insists on the destination's own SPIFFE ID.
        let (response, body) = call(addr, service, cluster.client(&web, service), get("/")).await;
        assert_eq!(
            response.status(),
            200,
            "{service}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let billing = || cluster.client(&web, "billing");
    for host in [
        "payments",
        "PAYMENTS:8443",
        &service_sni(TRUST_DOMAIN, "payments"),
    ] {
        let request = Request::get("/")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (response, body) = call(addr, "billing", billing(), request).await;
        assert_eq!(response.status(), 421, "{host}");
        assert_eq!(json(&body)["error"], "misdirected_request");
    }
    for host in [
        "localhost:2345",
        "billing",
        &service_sni(TRUST_DOMAIN, "billing"),
    ] {
        let request = Request::get("/")
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (response, _) = call(addr, "billing", billing(), request).await;
        assert_eq!(response.status(), 200, "{host}");
    }
    // A client expecting billing's certificate on payments' SNI name refuses the handshake.
    let tls = connect(addr, &service_sni(TRUST_DOMAIN, "payments"), billing()).await;
    assert!(
        tls.is_err(),
        "payments presents its own leaf, not billing's"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn h2_over_alpn_and_a_function_error_through_the_gateway() {
    let cluster = Cluster::new();
    let proxy = cluster
        .start(
            "default_policy = \"allow\"",
            &cluster.linked("billing", "echo"),
        )
        .await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let (response, body) = call(
        addr,
        "billing",
        cluster.client(&web, "billing"),
        get("/raise"),
    )
    .await;
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), 502);
    assert_eq!(json(&body)["error"], "function_error");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_tls12_only_client_and_h2_without_alpn_reach_the_function() {
    let cluster = Cluster::new();
    let proxy = cluster
        .start(
            "default_policy = \"allow\"",
            &cluster.linked("billing", "echo"),
        )
        .await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let mut spec = ClientSpec::new(
        &cluster.roots,
        service_id(TRUST_DOMAIN, "billing"),
        &web.chain_pem,
        &web.key_pem,
    );
    spec.tls12_only = true;
    spec.alpn = Vec::new();
    let (tls12, _) = client_config(&spec);
    let (response, body) = call(addr, "billing", tls12.clone(), get("/echo")).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(response.version(), http::Version::HTTP_11);
    let (response, body) = call_as(addr, "billing", tls12, get("/echo"), true).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(response.version(), http::Version::HTTP_2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_client_without_a_certificate_or_of_another_ca_never_gets_a_session() {
    let cluster = Cluster::new();
    let proxy = cluster
        .start(
            "default_policy = \"allow\"",
            &cluster.linked("billing", "echo"),
        )
        .await;
    let addr = proxy.gateway_addr().unwrap();
    let sni = service_sni(TRUST_DOMAIN, "billing");
    let mut anonymous =
        ClientSpec::new(&cluster.roots, service_id(TRUST_DOMAIN, "billing"), "", "");
    anonymous.identity = None;
    let stranger = TestCa::consul(TRUST_DOMAIN).service_leaf("web");
    for client in [
        client_config(&anonymous).0,
        cluster.client(&stranger, "billing"),
    ] {
        // TLS 1.3 reports a refused client certificate on the first read after the handshake.
        let outcome = match connect(addr, &sni, client).await {
            Err(e) => Err(e),
            Ok(tls) => {
                let (response, _) = tokio::time::timeout(Duration::from_secs(5), try_get(tls))
                    .await
                    .expect("an answer or an error in time");
                response
            }
        };
        assert!(outcome.is_err(), "refused: {outcome:?}");
    }
    proxy.shutdown().await;
}

async fn try_get(
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> (Result<http::StatusCode, std::io::Error>, ()) {
    let io = TokioIo::new(tls);
    let result = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        let response = sender.send_request(get("/")).await?;
        Ok::<_, hyper::Error>(response.status())
    }
    .await
    .map_err(std::io::Error::other);
    (result, ())
}

#[test]
fn gateway_config_errors_name_the_file_and_key() {
    let cluster = Cluster::new();
    let services = cluster.linked("billing", "echo");
    let write = |gateway_extra: &str, services: &str| {
        let text = format!(
            "[gateway]\nname = \"tgw\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\n{gateway_extra}\n{services}\n"
        );
        let path = cluster.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, &Default::default(), |_| None)
            .expect_err("refused")
            .to_string()
    };
    let missing_ca = write("ca_file = \"nope.pem\"", &services);
    assert!(
        missing_ca.contains("bad.toml:")
            && missing_ca.contains("gateway.ca_file")
            && missing_ca.contains("nope.pem"),
        "{missing_ca}"
    );
    let other_key = cluster.ca.service_leaf("other");
    write_pem(cluster.path(), "billing-key.pem", &other_key.key_pem);
    let mismatch = write("ca_file = \"roots.pem\"", &services);
    assert!(
        mismatch.contains("gateway.service[0].key_file") && mismatch.contains("does not match"),
        "{mismatch}"
    );
    cluster
        .ca
        .service_leaf("billing")
        .write(cluster.path(), "billing");
    let wrong = services.replace("name = \"billing\"", "name = \"payments\"");
    let wrong_identity = write("ca_file = \"roots.pem\"", &wrong);
    assert!(
        wrong_identity.contains("gateway.service[0].cert_file")
            && wrong_identity.contains("svc/payments"),
        "{wrong_identity}"
    );
    let no_function = services.replace("function = \"echo\"\n", "");
    let unresolved = write("ca_file = \"roots.pem\"", &no_function);
    assert!(
        unresolved.contains("gateway.service[0].function")
            && unresolved.contains("service-defaults"),
        "{unresolved}"
    );
    let policy = write(
        "ca_file = \"roots.pem\"\ndefault_policy = \"maybe\"",
        &services,
    );
    assert!(
        policy.contains("gateway.default_policy") && policy.contains(":7"),
        "{policy}"
    );
}

#[test]
fn check_refuses_a_certificate_without_the_services_identity_with_exit_64() {
    let cluster = Cluster::new();
    let services = cluster.linked("billing", "echo");
    // billing.pem now holds a leaf for another service.
    cluster
        .ca
        .service_leaf("payments")
        .write(cluster.path(), "billing");
    let text = format!(
        "[gateway]\nname = \"tgw\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n\n{services}\n{}",
        function_table("echo", "")
    );
    let path = cluster.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_mesh-proxy"));
    let (code, output) = lambda_mesh_tests::mesh_proxy::check(&binary, &path, &[]);
    assert_eq!(code, 64, "{output}");
    assert!(
        output.contains("gateway.toml:") && output.contains("gateway.service[0].cert_file"),
        "{output}"
    );
    assert!(
        output.contains("svc/billing") && output.contains("svc/payments"),
        "{output}"
    );
    assert!(
        !output.contains("PRIVATE KEY"),
        "no key material in errors: {output}"
    );
}

#[test]
fn functions_come_from_service_defaults_and_the_terminating_gateway_entry_selects_services() {
    let cluster = Cluster::new();
    // billing: no `function`, so its service-defaults entry's builtin/aws/lambda ARN decides,
    // written as consul-lambda-registrator writes it (upper-case mode).
    cluster.entry(
        "billing-defaults.hcl",
        r#"
Kind     = "service-defaults"
Name     = "billing"
Protocol = "http"
EnvoyExtensions = [
  {
    Name = "builtin/aws/lambda"
    Arguments = {
      ARN                = "arn:aws:lambda:eu-west-1:123456789012:function:billing-fn:live"
      PayloadPassthrough = true
      InvocationMode     = "ASYNCHRONOUS"
    }
  }
]
"#,
    );
    // The gateway links billing and ghost (no certificate here), with TLS settings meant for
    // external services; payments has a table but is not linked.
    cluster.entry(
        "gateway.json",
        r#"{"Kind": "terminating-gateway", "Name": "terminating-gateway",
            "Services": [{"Name": "billing", "CAFile": "/etc/ext-ca.pem", "SNI": "billing.example"},
                         {"Name": "ghost"}]}"#,
    );
    let billing = cluster
        .linked("billing", "unused")
        .replace("function = \"unused\"\n", "");
    let payments = cluster.linked("payments", "echo");
    let config = cluster.config("", &format!("{billing}\n{payments}"));
    let gateway = config.gateway.as_ref().expect("a gateway");

    let served: Vec<&str> = gateway
        .services
        .iter()
        .map(|s| s.upstream.destination_name.as_str())
        .collect();
    assert_eq!(served, ["billing"]);
    let upstream = &gateway.services[0].upstream;
    assert_eq!(
        upstream.function,
        "arn:aws:lambda:eu-west-1:123456789012:function:billing-fn"
    );
    assert_eq!(upstream.qualifier.as_deref(), Some("live"));
    assert_eq!(upstream.arn_region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        upstream.invocation_mode,
        mesh_proxy::InvocationMode::Asynchronous
    );
    assert_eq!(
        upstream.payload_format,
        lambda_mesh_adapter::PayloadFormat::PassThrough
    );

    let warnings = config.warnings().join("\n");
    let has = |needles: &[&str]| {
        config
            .warnings()
            .iter()
            .any(|w| needles.iter().all(|n| w.contains(n)))
    };
    assert!(has(&["ASYNCHRONOUS", "billing-defaults.hcl"]), "{warnings}");
    assert!(has(&["`ghost`", "skipped"]), "{warnings}");
    assert!(has(&["`payments`", "not served"]), "{warnings}");
    assert!(has(&["Services[0].CAFile", "gateway.json"]), "{warnings}");
    assert!(has(&["Services[0].SNI", "gateway.json"]), "{warnings}");
    assert_eq!(config.warnings().len(), 5, "{warnings}");
}
