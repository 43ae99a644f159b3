//! The mesh-proxy binary reloads when a file its config was read from changes, without SIGHUP:
//! the config file itself, and a linked service's leaf rotated on disk as Consul's tooling
//! rotates it (new files renamed over the old), with open connections kept, a bad file rejected
//! while the old configuration serves, and a deleted intention revoked on an open connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod harness;
    pub mod process;
    pub mod tls;
}

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lambda_mesh_tests::certs::{
    roots_pem, service_id, service_sni, TestCa, TestLeaf, TRUST_DOMAIN,
};
use lambda_mesh_tests::mesh_proxy::{function_table, upstream_table};
use rustls::ClientConfig;
use support::harness::{get, json};
use support::tls::{client_config, connect, ClientSpec, Seen};

/// How long a change on disk may take to be served.
const APPLIED_WITHIN: Duration = Duration::from_secs(20);

/// Replace `path` as `mv` and Consul's tooling do: write a sibling, rename it over.
fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// Waits (≤ 10 s) for `needle` in the process's stderr.
async fn logged(proxy: &support::process::MeshProxy, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.stderr().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "`{needle}` never logged: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_config_file_is_applied_without_sighup_and_a_bad_edit_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mesh.toml");
    let admin = "drain_timeout = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let first = format!(
        "{admin}{}{}",
        upstream_table("fn", "fn", ""),
        function_table("fn", "")
    );
    std::fs::write(&path, &first).unwrap();
    let proxy = support::process::start(&path, &[]);
    let addr = proxy.upstream("fn");
    let (_, body) = get(addr, "/echo").await;
    assert_eq!(json(&body)["event"]["version"], "2.0");

    // Edited in place, as an editor without atomic saves writes it.
    let port = addr.port();
    let second = format!(
        "{admin}{}{}",
        upstream_table("fn", "fn", "payload_format = \"envoy\"")
            .replace("local_bind_port = 0", &format!("local_bind_port = {port}")),
        function_table("fn", "")
    );
    std::fs::write(&path, &second).unwrap();
    let deadline = Instant::now() + APPLIED_WITHIN;
    loop {
        let (_, body) = get(addr, "/echo").await;
        if json(&body)["event"].get("raw_path").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "change not applied: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    logged(&proxy, "files changed: reloading").await;
    assert!(proxy.stderr().contains("mesh.toml"), "{}", proxy.stderr());

    // A bad edit: rejected, naming the file and the key; the last good config keeps serving.
    replace(&path, &second.replace("payload_format", "payload_fromat"));
    logged(&proxy, "reload rejected").await;
    let rejected = proxy.stderr();
    assert!(rejected.contains("payload_fromat"), "{rejected}");
    let (response, body) = get(addr, "/echo").await;
    assert_eq!(response.status(), 200);
    assert!(json(&body)["event"].get("raw_path").is_some());
}

/// The gateway's files: roots, an intention letting `web` call `billing`, and a config.
struct Gateway {
    dir: tempfile::TempDir,
    ca: TestCa,
    roots: String,
}

impl Gateway {
    fn new() -> Gateway {
        let ca = TestCa::consul(TRUST_DOMAIN);
        let dir = tempfile::tempdir().unwrap();
        let roots = roots_pem(&[&ca]);
        std::fs::write(dir.path().join("roots.pem"), &roots).unwrap();
        std::fs::create_dir(dir.path().join("entries")).unwrap();
        std::fs::write(
            dir.path().join("entries/billing.hcl"),
            "Kind = \"service-intentions\"\nName = \"billing\"\nSources = [\n  {\n    Name   = \"web\"\n    Action = \"allow\"\n  }\n]\n",
        )
        .unwrap();
        Gateway { dir, ca, roots }
    }

    fn config(&self) -> std::path::PathBuf {
        let text = format!(
            "drain_timeout = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[consul]\nconfig_entries = [\"entries/*.hcl\"]\n\n[gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n\n[[gateway.service]]\nname = \"billing\"\ncert_file = \"billing.pem\"\nkey_file = \"billing-key.pem\"\nfunction = \"echo\"\ntimeout = 10\n\n{}",
            function_table("echo", "")
        );
        let path = self.dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `billing`'s leaf, rotated in: key first, then certificate, each renamed over the old.
    fn rotate(&self, leaf: &TestLeaf) {
        replace(&self.dir.path().join("billing-key.pem"), &leaf.key_pem);
        replace(&self.dir.path().join("billing.pem"), &leaf.chain_pem);
    }

    /// `web`'s client for `billing`, and what its verifier sees of the server.
    fn client(&self, web: &TestLeaf) -> (Arc<ClientConfig>, Arc<Mutex<Seen>>) {
        let spec = ClientSpec::new(
            &self.roots,
            service_id(TRUST_DOMAIN, "billing"),
            &web.chain_pem,
            &web.key_pem,
        );
        client_config(&spec)
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// A new mTLS connection to `billing`: its request sender and the leaf the server presented.
async fn open(addr: SocketAddr, gateway: &Gateway, web: &TestLeaf) -> (Sender, Vec<u8>) {
    let (config, seen) = gateway.client(web);
    let tls = tokio::time::timeout(
        Duration::from_secs(5),
        connect(addr, &service_sni(TRUST_DOMAIN, "billing"), config),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let leaf = seen
        .lock()
        .unwrap()
        .server_leaf
        .clone()
        .expect("a server leaf");
    (sender, leaf)
}

/// One request on an open connection; its status.
async fn status(sender: &mut Sender) -> u16 {
    let request = Request::get("https://billing/charge")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let exchange = async {
        let response = sender.send_request(request).await.expect("answered");
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .expect("answer in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaf_rotated_on_disk_is_presented_at_once_and_open_connections_stay() {
    let gateway = Gateway::new();
    let first = gateway.ca.service_leaf("billing");
    first.write(gateway.dir.path(), "billing");
    let proxy = support::process::start(&gateway.config(), &[]);
    let addr = proxy.gateway.expect("a gateway line");
    let web = gateway.ca.service_leaf("web");
    let (mut held, leaf) = open(addr, &gateway, &web).await;
    assert_eq!(leaf, first.der);
    assert_eq!(status(&mut held).await, 200);

    let second = gateway.ca.service_leaf("billing");
    gateway.rotate(&second);
    let deadline = Instant::now() + APPLIED_WITHIN;
    loop {
        let (_, leaf) = open(addr, &gateway, &web).await;
        if leaf == second.der {
            break;
        }
        assert_eq!(leaf, first.der, "the old leaf or the new one, nothing else");
        assert!(
            Instant::now() < deadline,
            "new leaf not served: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(&mut held).await,
        200,
        "the connection from before the rotation serves on"
    );

    // A certificate that is not one: rejected with the file's key; the rotated leaf serves on.
    replace(
        &gateway.dir.path().join("billing.pem"),
        "not a certificate\n",
    );
    logged(&proxy, "reload rejected").await;
    let rejected = proxy.stderr();
    assert!(rejected.contains("cert_file"), "{rejected}");
    let (mut fresh, leaf) = open(addr, &gateway, &web).await;
    assert_eq!(leaf, second.der);
    assert_eq!(status(&mut fresh).await, 200);
    assert_eq!(status(&mut held).await, 200);
    assert!(!rejected.contains("PRIVATE KEY"), "no key material in logs");

    // The good leaf back, then the intention deleted: revoked for the connection already open,
    // at its next request.
    gateway.rotate(&second);
    std::fs::remove_file(gateway.dir.path().join("entries/billing.hcl")).unwrap();
    let deadline = Instant::now() + APPLIED_WITHIN;
    while status(&mut held).await != 403 {
        assert!(
            Instant::now() < deadline,
            "intention not revoked: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
