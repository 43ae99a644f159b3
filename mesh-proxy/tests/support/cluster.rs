//! A Consul cluster for gateway tests: its PKI (Consul-shaped certificates minted here), a
//! directory of the user's files (config entries under `entries/`), a `[gateway]` config over
//! them, and a client that does what a Consul Envoy sidecar does (SNI = the destination's SNI
//! name, the server's URI SAN checked against the destination's SPIFFE ID, its own leaf
//! presented).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::new_without_default
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lambda_mesh_tests::certs::{
    roots_pem, service_id, service_sni, write_pem, TestCa, TestLeaf, TRUST_DOMAIN,
};
use mesh_proxy::{Config, Proxy};
use rustls::ClientConfig;

use super::harness::function_table;
use super::tls::{client_config, connect, ClientSpec};

/// A cluster's PKI and a directory of the user's files.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    pub roots: String,
}

impl Cluster {
    pub fn new() -> Cluster {
        let ca = TestCa::consul(TRUST_DOMAIN);
        let dir = tempfile::tempdir().unwrap();
        let roots = roots_pem(&[&ca]);
        write_pem(dir.path(), "roots.pem", &roots);
        std::fs::create_dir(dir.path().join("entries")).unwrap();
        Cluster { dir, ca, roots }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A config entry file under `entries/`.
    pub fn entry(&self, name: &str, text: &str) {
        std::fs::write(self.path().join("entries").join(name), text).unwrap();
    }

    /// A linked service's leaf written as `<service>.pem` / `<service>-key.pem`, and its table.
    pub fn linked(&self, service: &str, function: &str) -> String {
        self.ca.service_leaf(service).write(self.path(), service);
        format!(
            "[[gateway.service]]\nname = \"{service}\"\ncert_file = \"{service}.pem\"\nkey_file = \"{service}-key.pem\"\nfunction = \"{function}\"\ntimeout = 10\n"
        )
    }

    pub fn config(&self, gateway_extra: &str, services: &str) -> Config {
        let text = format!(
            "drain_timeout = 2\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[consul]\nconfig_entries = [\"entries/*.hcl\", \"entries/*.json\"]\n\n[gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n{gateway_extra}\n\n{services}\n{}",
            function_table("echo", "")
        );
        let path = self.path().join("gateway.toml");
        std::fs::write(&path, &text).unwrap();
        Config::load(&path, &Default::default(), |_| None).expect("gateway config is valid")
    }

    pub async fn start(&self, gateway_extra: &str, services: &str) -> Proxy {
        Proxy::start(self.config(gateway_extra, services))
            .await
            .expect("proxy starts")
    }

    /// A client holding `caller`'s leaf, expecting `destination`'s certificate.
    pub fn client(&self, caller: &TestLeaf, destination: &str) -> Arc<ClientConfig> {
        let spec = ClientSpec::new(
            &self.roots,
            service_id(TRUST_DOMAIN, destination),
            &caller.chain_pem,
            &caller.key_pem,
        );
        client_config(&spec).0
    }
}

/// One request over a fresh mTLS connection to `destination`, HTTP/1.1 unless ALPN chose h2.
pub async fn call(
    addr: SocketAddr,
    destination: &str,
    client: Arc<ClientConfig>,
    request: Request<Full<Bytes>>,
) -> (Response<()>, Bytes) {
    call_as(addr, destination, client, request, false).await
}

/// [`call`], speaking h2 without ALPN when `h2_by_preface` (as Consul's Envoy does for
/// `Protocol = "http2"` services).
pub async fn call_as(
    addr: SocketAddr,
    destination: &str,
    client: Arc<ClientConfig>,
    request: Request<Full<Bytes>>,
    h2_by_preface: bool,
) -> (Response<()>, Bytes) {
    let tls = tokio::time::timeout(
        Duration::from_secs(5),
        connect(addr, &service_sni(TRUST_DOMAIN, destination), client),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    let h2 = h2_by_preface || tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let exchange = async move {
        let response = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            sender.send_request(request).await.unwrap()
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            sender.send_request(request).await.unwrap()
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts, ()), body)
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .expect("answer in time")
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://gateway{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

pub fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}
