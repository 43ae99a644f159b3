//! Config entries read live from the Consul agent's HTTP API (a stand-in built from Consul's API
//! documentation: `lambda_mesh_tests::consul_agent`): a `service-intentions` change written there
//! is applied by the running binary within a couple of seconds, without a restart and without
//! dropping an open keep-alive connection; deleting an allow intention revokes it on that
//! connection's next request, on the sidecar listeners and on the terminating gateway (whose
//! `terminating-gateway` entry comes from the agent too). Requests carry the token and the `dc`
//! parameter, and block on `X-Consul-Index`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod process;
    pub mod tls;
}

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lambda_mesh_tests::certs::{roots_pem, service_id, service_sni, TestCa, TRUST_DOMAIN};
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

    /// A keep-alive mTLS connection to the gateway at `addr` for `billing`, as `web` (whose leaf
    /// `web` is), trusting `roots`; and the leaf the gateway presented.
    async fn to_billing(
        addr: SocketAddr,
        roots: &str,
        web: &lambda_mesh_tests::certs::TestLeaf,
    ) -> (Connection, Vec<u8>) {
        let spec = support::tls::ClientSpec::new(
            roots,
            service_id(TRUST_DOMAIN, "billing"),
            &web.chain_pem,
            &web.key_pem,
        );
        let (tls_config, seen) = support::tls::client_config(&spec);
        let tls = tokio::time::timeout(
            Duration::from_secs(5),
            support::tls::connect(addr, &service_sni(TRUST_DOMAIN, "billing"), tls_config),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        let leaf = seen
            .lock()
            .unwrap()
            .server_leaf
            .clone()
            .expect("a server leaf");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        (Connection { sender }, leaf)
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

/// The config of [`start`].
fn sidecar_config(agent: &ConsulAgent, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("mesh.toml");
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{}{}[consul]\naddress = \"http://{}\"\ndatacenter = \"dc1\"\n\n[service]\nname = \"web\"\ndefault_policy = \"deny\"\n",
        upstream_table("billing", "fn", ""),
        function_table("fn", ""),
        agent.addr(),
    );
    std::fs::write(&path, config).unwrap();
    path
}

/// mesh-proxy as `web`'s sidecar, upstream `billing`, default deny, reading `agent`.
fn start(agent: &ConsulAgent, dir: &std::path::Path) -> support::process::MeshProxy {
    let path = sidecar_config(agent, dir);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_reads_its_entry_and_intentions_from_the_agent_and_revokes_on_delete() {
    let agent = ConsulAgent::start(None).await;
    agent.write(json!({
        "Kind": "terminating-gateway",
        "Name": "terminating-gateway",
        "Services": [{ "Name": "billing", "CAFile": "", "CertFile": "", "KeyFile": "", "SNI": "" }]
    }));
    agent.write(allow_web());
    let ca = TestCa::consul(TRUST_DOMAIN);
    let dir = tempfile::tempdir().unwrap();
    let roots = roots_pem(&[&ca]);
    std::fs::write(dir.path().join("roots.pem"), &roots).unwrap();
    ca.service_leaf("billing").write(dir.path(), "billing");
    let path = dir.path().join("gateway.toml");
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[consul]\naddress = \"{}\"\n\n[gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\nca_file = \"roots.pem\"\n\n[[gateway.service]]\nname = \"billing\"\ncert_file = \"billing.pem\"\nkey_file = \"billing-key.pem\"\nfunction = \"fn\"\ntimeout = 10\n\n{}",
        agent.addr(),
        function_table("fn", ""),
    );
    std::fs::write(&path, config).unwrap();
    let proxy = support::process::start(&path, &AWS_ENV);
    let addr = proxy.gateway.expect("a gateway line");

    let web = ca.service_leaf("web");
    let (mut held, _) = Connection::to_billing(addr, &roots, &web).await;
    assert_eq!(held.status("/charge").await, 200, "{}", proxy.stderr());
    let seen = agent.seen();
    assert!(
        seen.iter()
            .any(|s| s.path == "/v1/config/terminating-gateway/terminating-gateway"),
        "{seen:?}"
    );

    agent.delete("service-intentions", "billing");
    let started = Instant::now();
    loop {
        let now = held.status("/charge").await;
        if now == 403 {
            break;
        }
        assert_eq!(now, 200);
        assert!(
            started.elapsed() < APPLIED_WITHIN,
            "intention not revoked: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("revoked on the gateway after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_names_the_path_and_permission_never_the_token_and_nothing_serves_meanwhile() {
    let agent = ConsulAgent::start(Some(TOKEN)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = sidecar_config(&agent, dir.path());
    let mut command = std::process::Command::new(support::process::binary());
    command
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .env("CONSUL_HTTP_TOKEN", "not-the-t0ken");
    for (key, value) in AWS_ENV {
        command.env(key, value);
    }
    let mut process = lambda_mesh_tests::process::Proc::spawn(command);
    let deadline = Instant::now() + Duration::from_secs(10);
    let needle = "needs=intentions:read";
    while !process.stderr().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no 403 logged: {}",
            process.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = process.stderr();
    assert!(
        stderr.contains("path=/v1/config/service-intentions"),
        "{stderr}"
    );
    assert!(stderr.contains("403"), "{stderr}");
    assert!(!stderr.contains("not-the-t0ken"), "{stderr}");
    // Nothing serves on rules it could not read.
    assert!(
        !process.stdout().contains("listening on"),
        "{}",
        process.stdout()
    );
    assert!(agent.seen().iter().all(|s| !s.authorized));
    // SIGTERM while waiting for the agent: a clean, prompt exit.
    process.signal("TERM");
    let status = process
        .wait(Duration::from_secs(5))
        .expect("exited on SIGTERM");
    assert!(status.success(), "{status:?}: {}", process.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_named_only_by_the_agents_service_defaults_starts_and_is_invoked() {
    let agent = ConsulAgent::start(None).await;
    agent.write(json!({
        "Kind": "service-defaults",
        "Name": "billing",
        "Protocol": "http",
        "TransparentProxy": {},
        "MeshGateway": {},
        "Expose": {},
        "EnvoyExtensions": [{
            "Name": "builtin/aws/lambda",
            "Required": false,
            "Arguments": { "ARN": "arn:aws:lambda:us-east-1:123456789012:function:billing-fn" }
        }]
    }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.hcl"),
        "service {\n  name = \"web\"\n  connect { sidecar_service { proxy { upstreams = [\n    { destination_name = \"billing\", local_bind_port = 0 },\n  ] } } }\n}\n",
    )
    .unwrap();
    let path = dir.path().join("mesh.toml");
    // Nothing listens on port 1: the invoke fails, and says which function it tried.
    std::fs::write(
        &path,
        format!(
            "[admin]\nlisten = \"127.0.0.1:0\"\n[aws]\nendpoint_url = \"http://127.0.0.1:1\"\n[consul]\naddress = \"{}\"\nservice_files = [\"web.hcl\"]\n",
            agent.addr()
        ),
    )
    .unwrap();
    // The files alone are not a config (no function for `billing`): `--check` says so.
    let (code, output) = support::process::check(&path, &AWS_ENV);
    assert_eq!(code, 64, "{output}");
    assert!(output.contains("billing"), "{output}");

    let proxy = support::process::start(&path, &AWS_ENV);
    assert!(
        proxy
            .stderr()
            .contains("reading the Consul agent's entries first"),
        "{}",
        proxy.stderr()
    );
    let (response, body) = lambda_mesh_tests::client::get(proxy.upstream("billing"), "/x").await;
    let body = String::from_utf8_lossy(&body);
    assert!(
        response.status().is_server_error(),
        "{}: {body}",
        response.status()
    );
    assert!(body.contains("billing-fn"), "{body}");
    let seen = agent.seen();
    assert!(
        seen.iter()
            .any(|s| s.path == "/v1/config/service-defaults/billing"),
        "{seen:?}"
    );
}

/// A CA root set as `GET /v1/agent/connect/ca/roots` answers it.
fn roots_answer(ca: &TestCa) -> serde_json::Value {
    json!({
        "ActiveRootID": "root-1",
        "TrustDomain": TRUST_DOMAIN,
        "Roots": [{ "ID": "root-1", "Name": "Consul CA Root Cert", "RootCert": roots_pem(&[ca]), "IntermediateCerts": null, "Active": true }]
    })
}

/// A leaf as `GET /v1/agent/connect/ca/leaf/<service>` answers it.
fn leaf_answer(leaf: &lambda_mesh_tests::certs::TestLeaf, service: &str) -> serde_json::Value {
    json!({
        "SerialNumber": "01",
        "CertPEM": leaf.chain_pem,
        "PrivateKeyPEM": leaf.key_pem,
        "Service": service,
        "ServiceURI": service_id(TRUST_DOMAIN, service),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_takes_roots_and_leaves_from_the_agent_and_serves_a_rotated_leaf() {
    let agent = ConsulAgent::start(None).await;
    let ca = TestCa::consul(TRUST_DOMAIN);
    let first = ca.service_leaf("billing");
    agent.put("/v1/agent/connect/ca/roots", roots_answer(&ca));
    agent.put(
        "/v1/agent/connect/ca/leaf/billing",
        leaf_answer(&first, "billing"),
    );
    agent.write(allow_web());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    // No ca_file, cert_file or key_file: all three from the agent.
    let config = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[consul]\naddress = \"{}\"\n\n[gateway]\nname = \"terminating-gateway\"\nlisten = \"127.0.0.1:0\"\ntrust_domain = \"{TRUST_DOMAIN}\"\ndatacenter = \"dc1\"\n\n[[gateway.service]]\nname = \"billing\"\nfunction = \"fn\"\ntimeout = 10\n\n{}",
        agent.addr(),
        function_table("fn", ""),
    );
    std::fs::write(&path, config).unwrap();
    let proxy = support::process::start(&path, &AWS_ENV);
    let addr = proxy.gateway.expect("a gateway line");
    let roots = roots_pem(&[&ca]);
    let web = ca.service_leaf("web");
    let (mut held, leaf) = Connection::to_billing(addr, &roots, &web).await;
    assert_eq!(leaf, first.der, "the agent's leaf is presented");
    assert_eq!(held.status("/charge").await, 200, "{}", proxy.stderr());

    // Consul rotates the leaf: new handshakes get it; the open connection serves on.
    let second = ca.service_leaf("billing");
    agent.put(
        "/v1/agent/connect/ca/leaf/billing",
        leaf_answer(&second, "billing"),
    );
    let started = Instant::now();
    loop {
        let (_, leaf) = Connection::to_billing(addr, &roots, &web).await;
        if leaf == second.der {
            break;
        }
        assert_eq!(leaf, first.der, "the old leaf or the new one, nothing else");
        assert!(
            started.elapsed() < APPLIED_WITHIN,
            "new leaf not served: {}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held.status("/charge").await, 200);
    assert!(
        !proxy.stderr().contains("PRIVATE KEY"),
        "no key material in logs"
    );
    let seen = agent.seen();
    for path in [
        "/v1/agent/connect/ca/roots",
        "/v1/agent/connect/ca/leaf/billing",
    ] {
        assert!(
            seen.iter()
                .any(|s| s.path == path && s.query.contains("index=")),
            "{path} never blocked: {seen:?}"
        );
    }
}
