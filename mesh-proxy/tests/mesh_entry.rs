//! Consul's `mesh` config entry governing the gateway's listener, end to end in-process: its
//! `TLS.Incoming` seen by rustls clients and by OpenSSL's `s_client` (an independent TLS stack),
//! `HTTP.SanitizeXForwardedClientCert` and `HTTP.Incoming.RequestNormalization` seen by the
//! function.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cluster;
    pub mod harness;
    pub mod tls;
}

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use lambda_mesh_tests::certs::{service_id, service_sni, TRUST_DOMAIN};
use mesh_proxy::Proxy;
use support::cluster::{call, get, json, Cluster};
use support::tls::{client_config, connect, ClientSpec};

const ALLOW_WEB: &str = r#"
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

const TLS12_ONE_SUITE: &str = r#"
Kind = "mesh"
TLS {
  Incoming {
    TLSMinVersion = "TLSv1_2"
    TLSMaxVersion = "TLSv1_2"
    CipherSuites  = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]
  }
}
"#;

/// `openssl s_client` with `args`, presenting `cert`/`key` and sending one HTTP/1.1 GET: its
/// output (stdout and stderr), within 20 s.
fn s_client(port: u16, sni: &str, cert: &Path, key: &Path, args: &[String]) -> String {
    let mut child = Command::new("openssl")
        .arg("s_client")
        .args(["-connect", &format!("127.0.0.1:{port}"), "-servername", sni])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .arg("-ign_eof")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ =
            stdin.write_all(b"GET /report HTTP/1.1\r\nHost: billing\r\nConnection: close\r\n\r\n");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// [`s_client`] as the caller `web` to `billing`, on a blocking thread (the proxy runs on this
/// test's runtime).
async fn openssl(cluster: &Cluster, port: u16, args: &[&str]) -> String {
    let (cert, key) = cluster.ca.service_leaf("web").write(cluster.path(), "web");
    let sni = service_sni(TRUST_DOMAIN, "billing");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || s_client(port, &sni, &cert, &key, &args))
        .await
        .unwrap()
}

#[tokio::test]
async fn tls_incoming_limits_versions_and_tls12_suites_for_rustls_and_openssl_clients() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    cluster.entry("mesh.hcl", TLS12_ONE_SUITE);
    let config = cluster.config("", &cluster.linked("billing", "echo"));
    assert!(
        config
            .warnings()
            .iter()
            .any(|w| w.contains("TLS.Incoming.CipherSuites")
                && w.contains("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA not offered")),
        "{:?}",
        config.warnings()
    );
    let proxy = Proxy::start(config).await.unwrap();
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let sni = service_sni(TRUST_DOMAIN, "billing");
    let spec = |tls13_only, suites: Vec<rustls::SupportedCipherSuite>| {
        let mut spec = ClientSpec::new(
            &cluster.roots,
            service_id(TRUST_DOMAIN, "billing"),
            &web.chain_pem,
            &web.key_pem,
        );
        spec.tls13_only = tls13_only;
        spec.tls12_only = !tls13_only;
        spec.tls12_suites = suites;
        client_config(&spec).0
    };
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    let refused = connect(addr, &sni, spec(true, Vec::new())).await;
    assert!(refused.is_err(), "a TLS 1.3-only client is refused");
    let refused = connect(
        addr,
        &sni,
        spec(
            false,
            vec![cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
        ),
    )
    .await;
    assert!(refused.is_err(), "a suite not listed is refused");
    let tls = connect(
        addr,
        &sni,
        spec(false, vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]),
    )
    .await
    .expect("the listed suite over TLS 1.2");
    assert_eq!(
        tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    );
    drop(tls);
    let client = spec(false, vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]);
    let (response, body) = call(addr, "billing", client, get("/report")).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));

    let port = addr.port();
    let tls13 = openssl(&cluster, port, &["-tls1_3"]).await;
    assert!(
        !tls13.contains("HTTP/1.1 200"),
        "openssl over TLS 1.3 is refused:\n{tls13}"
    );
    let other = openssl(
        &cluster,
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    )
    .await;
    assert!(
        !other.contains("HTTP/1.1 200"),
        "openssl with a suite not listed is refused:\n{other}"
    );
    let listed = openssl(
        &cluster,
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    )
    .await;
    assert!(listed.contains("HTTP/1.1 200"), "{listed}");
    assert!(listed.contains("ECDHE-ECDSA-AES128-GCM-SHA256"), "{listed}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn without_a_mesh_entry_both_versions_and_every_suite_are_served() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let port = proxy.gateway_addr().unwrap().port();
    for args in [
        &["-tls1_3"][..],
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"][..],
    ] {
        let output = openssl(&cluster, port, args).await;
        assert!(output.contains("HTTP/1.1 200"), "{args:?}:\n{output}");
    }
    proxy.shutdown().await;
}

const UNDERSCORES: &str = r#"
Kind = "mesh"
HTTP {
  SanitizeXForwardedClientCert = true
  Incoming {
    RequestNormalization {
      MergeSlashes                 = true
      PathWithEscapedSlashesAction = "REJECT_REQUEST"
      HeadersWithUnderscoresAction = "ACTION"
    }
  }
}
"#;

fn with_header(path: &str, name: &str, value: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://gateway{path}"))
        .header(name, value)
        .header(
            "x-forwarded-client-cert",
            "By=spiffe://evil;URI=spiffe://evil",
        )
        .body(Full::new(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn headers_with_underscores_are_rejected_or_dropped_and_xfcc_sanitized() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    cluster.entry("mesh.hcl", &UNDERSCORES.replace("ACTION", "REJECT_REQUEST"));
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let client = cluster.client(&cluster.ca.service_leaf("web"), "billing");
    let (response, body) = call(
        addr,
        "billing",
        client.clone(),
        with_header("/report", "x_user", "admin"),
    )
    .await;
    assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(&body));
    let message = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("`x_user`") && message.contains("REJECT_REQUEST"),
        "{message}"
    );
    let (response, body) = call(
        addr,
        "billing",
        client.clone(),
        with_header("/report", "x-user", "alice"),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    let headers = &json(&body)["event"]["headers"];
    assert_eq!(headers["x-user"], "alice");
    assert!(
        headers.get("x-forwarded-client-cert").is_none(),
        "SanitizeXForwardedClientCert: no XFCC reaches the function: {headers}"
    );
    proxy.shutdown().await;

    cluster.entry("mesh.hcl", &UNDERSCORES.replace("ACTION", "DROP_HEADER"));
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let (response, body) = call(
        addr,
        "billing",
        client.clone(),
        with_header("/report", "x_user", "admin"),
    )
    .await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    let headers = &json(&body)["event"]["headers"];
    assert!(headers.get("x_user").is_none(), "dropped: {headers}");
    proxy.shutdown().await;
}

const CONSUL_DEFAULTS: &str = r#"
Kind = "mesh"
HTTP {
  Incoming {
    RequestNormalization {
      PathWithEscapedSlashesAction = "KEEP_UNCHANGED"
    }
  }
}
"#;

#[tokio::test]
async fn request_normalization_governs_as_in_consul_and_overridden_keys_are_warned() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    cluster.entry("mesh.hcl", CONSUL_DEFAULTS);
    let config = cluster.config("merge_slashes = true", &cluster.linked("billing", "echo"));
    let warnings = config.warnings().join("\n");
    assert!(
        warnings.contains("[gateway] merge_slashes is overridden by the mesh entry's HTTP.Incoming.RequestNormalization (entries/mesh.hcl:5)"),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            "entries/mesh.hcl:5: key `HTTP.Incoming.RequestNormalization.MergeSlashes`: is false"
        ),
        "{warnings}"
    );
    let proxy = Proxy::start(config).await.unwrap();
    let addr = proxy.gateway_addr().unwrap();
    let client = cluster.client(&cluster.ca.service_leaf("web"), "billing");
    // Consul's MergeSlashes default (false): `//admin` is not `/admin` to the intentions.
    let (response, body) = call(addr, "billing", client.clone(), get("//admin")).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["event"]["rawPath"], "//admin");
    // KEEP_UNCHANGED: `%2F` stays in its segment instead of a 400.
    let (response, body) = call(addr, "billing", client.clone(), get("/a%2Fb")).await;
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["event"]["rawPath"], "/a%2Fb");
    // Dot segments are still removed: the deny still holds there.
    let (response, _) = call(addr, "billing", client.clone(), get("/x/../admin")).await;
    assert_eq!(response.status(), 403);
    proxy.shutdown().await;
}

#[test]
fn mesh_entry_errors_name_the_file_line_and_key() {
    let cluster = Cluster::new();
    let linked = cluster.linked("billing", "echo");
    for (text, expected) in [
        (
            "Kind = \"mesh\"\nTLS {\n  Incoming {\n    TLSMaxVersion = \"TLSv1_1\"\n  }\n}\n",
            "entries/mesh.hcl:4: key `TLS.Incoming.TLSMaxVersion`: leaves no TLS version",
        ),
        (
            "Kind = \"mesh\"\nTLS {\n  Incoming {\n    TLSMinVersion = \"TLSv1_3\"\n    CipherSuites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n  }\n}\n",
            "entries/mesh.hcl:5: key `TLS.Incoming.CipherSuites`: only apply to TLS 1.2",
        ),
        (
            "Kind = \"mesh\"\nHTTP {\n  Incoming {\n    RequestNormalization {\n      HeadersWithUnderscoresAction = \"drop\"\n    }\n  }\n}\n",
            "entries/mesh.hcl:5: key `HTTP.Incoming.RequestNormalization.HeadersWithUnderscoresAction`: `drop` is not one of ALLOW, REJECT_REQUEST, DROP_HEADER",
        ),
    ] {
        cluster.entry("mesh.hcl", text);
        let path = cluster.path().join("gateway.toml");
        let toml = format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[consul]\nconfig_entries = [\"entries/*.hcl\"]\n[gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n\n{linked}\n{}",
            support::harness::function_table("echo", "")
        );
        std::fs::write(&path, toml).unwrap();
        let error = mesh_proxy::Config::load(&path, &Default::default(), |_| None)
            .expect_err(text)
            .to_string();
        assert!(error.contains(expected), "{error}\nlacks\n{expected}");
    }
}

#[tokio::test]
async fn a_mesh_entry_written_later_applies_on_reload_while_open_connections_serve_on() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let linked = cluster.linked("billing", "echo");
    let mut proxy = cluster.start("", &linked).await;
    let addr = proxy.gateway_addr().unwrap();
    let web = cluster.ca.service_leaf("web");
    let mut spec = ClientSpec::new(
        &cluster.roots,
        service_id(TRUST_DOMAIN, "billing"),
        &web.chain_pem,
        &web.key_pem,
    );
    spec.tls13_only = true;
    let tls13 = client_config(&spec).0;
    let sni = service_sni(TRUST_DOMAIN, "billing");
    let open = connect(addr, &sni, tls13.clone())
        .await
        .expect("TLS 1.3 before");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(open))
            .await
            .unwrap();
    tokio::spawn(conn);

    cluster.entry(
        "mesh.hcl",
        "Kind = \"mesh\"\nTLS { Incoming { TLSMaxVersion = \"TLSv1_2\" } }\n",
    );
    proxy
        .reload(cluster.config("", &linked))
        .await
        .expect("reload with the mesh entry");
    let addr = proxy.gateway_addr().unwrap();
    assert!(
        connect(addr, &sni, tls13).await.is_err(),
        "new TLS 1.3 handshakes are refused after the reload"
    );
    let response =
        tokio::time::timeout(Duration::from_secs(10), sender.send_request(get("/report")))
            .await
            .expect("answer in time")
            .expect("the connection opened before the reload serves on");
    assert_eq!(response.status(), 200);
    proxy.shutdown().await;
}
