//! Config entries read live from the Consul agent's HTTP API (a stand-in built from Consul's API
//! documentation: `lambda_mesh_tests::consul_agent`): a `service-intentions` change written there
//! is applied by the running binary within a couple of seconds, without a restart and without
//! dropping an open keep-alive connection; deleting an allow intention revokes it on that
//! connection's next request. Requests carry the token and the `dc` parameter, and block on
//! `X-Consul-Index`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod process;
}

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lambda_mesh_tests::consul_agent::ConsulAgent;
use lambda_mesh_tests::mesh_proxy::{function_table, upstream_table, AWS_ENV};
use serde_json::json;

/// How long an agent change may take to be served (the goal is ~1–2 s; slack for a loaded CI).
const APPLIED_WITHIN: Duration = Duration::from_secs(5);
const TOKEN: &str = "5ecret-t0ken";

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Connection {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Connection { sender }
    }

    /// GET `path` on this connection; panics if the connection was closed.
    async fn status(&mut self, path: &str) -> u16 {
        self.sender
            .ready()
            .await
            .expect("the connection is still open");
        let request = Request::get(path)
            .header("host", "billing")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self
            .sender
            .send_request(request)
            .await
            .expect("the connection is still open");
        let status = response.status().as_u16();
        response.into_body().collect().await.unwrap();
        status
    }

    /// Requests (≤ APPLIED_WITHIN) until one answers `want`; how long it took.
    async fn until(&mut self, want: u16, proxy: &support::process::MeshProxy) -> Duration {
        let started = Instant::now();
        loop {
            let status = self.status("/x").await;
            if status == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < APPLIED_WITHIN,
                "still {status}, not {want}: {}",
                proxy.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn allow_web() -> serde_json::Value {
    json!({
        "Kind": "service-intentions",
        "Name": "billing",
        "Sources": [{ "Name": "web", "Action": "allow", "Precedence": 9, "Type": "consul" }]
    })
}

/// mesh-proxy as `web`'s sidecar, upstream `billing`, default deny, reading `agent`.
fn start(agent: &ConsulAgent, dir: &std::path::Path) -> support::process::MeshProxy {
    let path = dir.join("mesh.toml");
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{}{}[consul]\naddress = \"http://{}\"\ndatacenter = \"dc1\"\n\n[service]\nname = \"web\"\ndefault_policy = \"deny\"\n",
        upstream_table("billing", "fn", ""),
        function_table("fn", ""),
        agent.addr(),
    );
    std::fs::write(&path, config).unwrap();
    let mut env: Vec<(&str, &str)> = AWS_ENV.to_vec();
    env.push(("CONSUL_HTTP_TOKEN", TOKEN));
    support::process::start(&path, &env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intention_written_to_the_agent_applies_on_an_open_connection() {
    let agent = ConsulAgent::start(Some(TOKEN)).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(&agent, dir.path());
    let mut connection = Connection::open(proxy.upstream("billing")).await;
    // No intention yet: the default policy denies.
    assert_eq!(connection.status("/x").await, 403);

    agent.write(allow_web());
    let took = connection.until(200, &proxy).await;
    eprintln!("allow applied after {took:?}");
    assert!(proxy
        .stderr()
        .contains("Consul agent entries changed: reloading"));

    // Every request carried the token and the datacenter; the later ones blocked on the index.
    let seen = agent.seen();
    assert!(seen.iter().all(|s| s.authorized), "{seen:?}");
    assert!(seen.iter().all(|s| s.query.contains("dc=dc1")), "{seen:?}");
    for path in [
        "/v1/config/service-intentions",
        "/v1/config/mesh/mesh",
        "/v1/config/service-defaults/billing",
    ] {
        assert!(seen.iter().any(|s| s.path == path), "{path}: {seen:?}");
        assert!(
            seen.iter()
                .any(|s| s.path == path && s.query.contains("index=") && s.query.contains("wait=")),
            "{path} never blocked: {seen:?}"
        );
    }
    assert!(!proxy.stderr().contains(TOKEN), "{}", proxy.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_intention_deleted_at_the_agent_is_revoked_on_the_next_request() {
    let agent = ConsulAgent::start(Some(TOKEN)).await;
    agent.write(allow_web());
    let dir = tempfile::tempdir().unwrap();
    let proxy = start(&agent, dir.path());
    let mut connection = Connection::open(proxy.upstream("billing")).await;
    // Served from the agent's entry from the first request: the start waited for its answer.
    assert_eq!(connection.status("/x").await, 200);

    agent.delete("service-intentions", "billing");
    let took = connection.until(403, &proxy).await;
    eprintln!("revoked after {took:?}");
    // And it stays revoked.
    assert_eq!(connection.status("/x").await, 403);

    // Written back: allowed again, same connection.
    agent.write(allow_web());
    connection.until(200, &proxy).await;
}
