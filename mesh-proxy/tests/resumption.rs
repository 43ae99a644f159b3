//! TLS session resumption never outlives trust: rustls resumes TLS 1.3 tickets and TLS 1.2
//! session ids without running the client verifier, so the gateway verifies a resumed client's
//! leaf and chain again against the current anchors, and every reload installs a fresh
//! `ServerConfig` (new session storage and ticketer). Through the whole gateway, in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cluster;
    pub mod harness;
    pub mod tls;
}

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use lambda_mesh_tests::certs::{
    roots_pem, service_id, service_sni, write_pem, LeafSpec, TestCa, TestLeaf, TRUST_DOMAIN,
};
use rustls::{ClientConfig, HandshakeKind};
use support::cluster::{get, Cluster};
use support::tls::{client_config, connect, ClientSpec};

const ALLOW_WEB: &str = "Kind = \"service-intentions\"\nName = \"billing\"\nSources = [{ Name = \"web\", Action = \"allow\" }]\n";

/// A session-caching client as `caller`, TLS 1.2 only or TLS 1.3 only.
fn client(cluster: &Cluster, caller: &TestLeaf, tls12: bool) -> Arc<ClientConfig> {
    let mut spec = ClientSpec::new(
        &cluster.roots,
        service_id(TRUST_DOMAIN, "billing"),
        &caller.chain_pem,
        &caller.key_pem,
    );
    spec.tls12_only = tls12;
    spec.tls13_only = !tls12;
    spec.alpn = vec![b"http/1.1".to_vec()];
    client_config(&spec).0
}

/// Connect and GET /report over HTTP/1.1: how the handshake went (client side) and the status,
/// or the error that ended the exchange.
async fn attempt(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
) -> (Option<HandshakeKind>, Result<u16, String>) {
    let sni = service_sni(TRUST_DOMAIN, "billing");
    let tls = match tokio::time::timeout(Duration::from_secs(5), connect(addr, &sni, config)).await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return (None, Err(format!("handshake: {e}"))),
        Err(_) => return (None, Err("handshake timed out".to_owned())),
    };
    let kind = tls.get_ref().1.handshake_kind();
    let exchange = async move {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let response = sender
            .send_request(get("/report"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within 10 s".to_owned()));
    (kind, outcome)
}

#[tokio::test]
async fn a_session_does_not_resume_past_the_client_leafs_expiry() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    let proxy = cluster.start("", &cluster.linked("billing", "echo")).await;
    let addr = proxy.gateway_addr().unwrap();
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(3);
    let short = cluster.ca.leaf(
        &LeafSpec::uri(service_id(TRUST_DOMAIN, "web"))
            .valid(now - Duration::from_secs(60), expires),
    );
    let clients = [
        client(&cluster, &short, false),
        client(&cluster, &short, true),
    ];
    for config in &clients {
        let (kind, status) = attempt(addr, config.clone()).await;
        assert_eq!(kind, Some(HandshakeKind::Full));
        assert_eq!(status, Ok(200));
        let (kind, status) = attempt(addr, config.clone()).await;
        assert_eq!(
            kind,
            Some(HandshakeKind::Resumed),
            "the session resumes while valid"
        );
        assert_eq!(status, Ok(200));
    }
    let wait = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_millis(1500);
    tokio::time::sleep(wait).await;
    for (config, version) in clients.iter().zip(["TLS 1.3", "TLS 1.2"]) {
        let (kind, status) = attempt(addr, config.clone()).await;
        assert!(
            status.is_err(),
            "{version}: an expired leaf got {status:?} (handshake {kind:?})"
        );
    }
    assert_eq!(
        attempt(
            addr,
            client(&cluster, &cluster.ca.service_leaf("web"), true)
        )
        .await
        .1,
        Ok(200),
        "a valid client is still served"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_session_does_not_resume_after_its_root_left_ca_file() {
    let cluster = Cluster::new();
    cluster.entry("billing.hcl", ALLOW_WEB);
    // The callers' CA is trusted beside the cluster's, then removed (a CA rotation finished).
    let old = TestCa::consul(TRUST_DOMAIN);
    write_pem(
        cluster.path(),
        "roots.pem",
        &roots_pem(&[&cluster.ca, &old]),
    );
    let linked = cluster.linked("billing", "echo");
    let mut proxy = cluster.start("", &linked).await;
    let addr = proxy.gateway_addr().unwrap();
    let web = old.service_leaf("web");
    let clients = [client(&cluster, &web, false), client(&cluster, &web, true)];
    for config in &clients {
        assert_eq!(attempt(addr, config.clone()).await.1, Ok(200));
        let (kind, status) = attempt(addr, config.clone()).await;
        assert_eq!((kind, status), (Some(HandshakeKind::Resumed), Ok(200)));
    }
    write_pem(cluster.path(), "roots.pem", &cluster.roots);
    proxy
        .reload(cluster.config("", &linked))
        .await
        .expect("reload with the old root removed");
    let addr = proxy.gateway_addr().unwrap();
    for (config, version) in clients.iter().zip(["TLS 1.3", "TLS 1.2"]) {
        let (kind, status) = attempt(addr, config.clone()).await;
        assert!(
            status.is_err(),
            "{version}: a client of the removed root got {status:?} (handshake {kind:?})"
        );
        assert_ne!(
            kind,
            Some(HandshakeKind::Resumed),
            "{version}: nothing resumes across a trust change"
        );
    }
    let current = cluster.ca.service_leaf("web");
    assert_eq!(
        attempt(addr, client(&cluster, &current, false)).await.1,
        Ok(200)
    );
    proxy.shutdown().await;
}
