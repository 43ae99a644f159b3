//! The gateway's mTLS acceptor over real sockets: Consul-shaped certificates (critical DNS name
//! constraint on the root, URI-only leaves), identities, refusals at the handshake, SNI, TLS
//! versions, ALPN, and clients that are not rustls (`openssl s_client`, Python's `ssl`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod tls;
}

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use lambda_mesh_tests::certs::{
    agent_id, roots_pem, service_id, service_sni, write_pem, LeafSpec, TestCa, TestLeaf,
    TRUST_DOMAIN,
};
use mesh_proxy::{
    HandshakeError, PeerRejected, PemFile, ServiceIdentity, ServiceLeaf, TlsAcceptor,
    TlsConfigError, TrustAnchors,
};
use support::tls::{client_config, connect, field, get, request, ClientSpec, Gateway};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

const OTHER_TD: &str = "99999999-8888-7777-6666-555555555555.consul";

/// A CA, its roots file, and linked services' leaves on disk.
struct Pki {
    dir: TempDir,
    ca: TestCa,
    roots: String,
    roots_path: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let ca = TestCa::consul(TRUST_DOMAIN);
        let dir = tempfile::tempdir().unwrap();
        let roots = ca.cert_pem();
        let roots_path = write_pem(dir.path(), "roots.pem", &roots);
        Pki {
            dir,
            ca,
            roots,
            roots_path,
        }
    }

    /// Trust `extra` beside our CA (a CA rotation, a federated trust domain).
    fn trust_also(&mut self, extra: &TestCa) {
        self.roots = roots_pem(&[&self.ca, extra]);
        self.roots_path = write_pem(self.dir.path(), "roots.pem", &self.roots);
    }

    fn anchors(&self) -> TrustAnchors {
        TrustAnchors::from_pem(&PemFile::read(&self.roots_path).unwrap()).unwrap()
    }

    fn linked(&self, service: &str) -> ServiceLeaf {
        let (cert, key) = self
            .ca
            .service_leaf(service)
            .write(self.dir.path(), service);
        ServiceLeaf::from_pem(
            identity(service),
            &PemFile::read(cert).unwrap(),
            &PemFile::read(key).unwrap(),
        )
        .unwrap()
    }

    fn acceptor(&self, services: &[&str]) -> TlsAcceptor {
        let leaves: Vec<_> = services.iter().map(|s| self.linked(s)).collect();
        TlsAcceptor::new(TRUST_DOMAIN, &self.anchors(), &leaves).unwrap()
    }

    async fn gateway(&self, services: &[&str]) -> Gateway {
        Gateway::start(self.acceptor(services)).await
    }

    fn client<'a>(&'a self, leaf: &'a TestLeaf, server: &str) -> ClientSpec<'a> {
        ClientSpec::new(
            &self.roots,
            service_id(TRUST_DOMAIN, server),
            &leaf.chain_pem,
            &leaf.key_pem,
        )
    }
}

fn identity(service: &str) -> ServiceIdentity {
    ServiceIdentity::new(TRUST_DOMAIN, "default", "dc1", service)
}

fn sni(service: &str) -> String {
    service_sni(TRUST_DOMAIN, service)
}

/// A client holding `leaf` must fail, and the gateway must report why.
async fn refused(pki: &Pki, leaf: &TestLeaf) -> HandshakeError {
    let mut gateway = pki.gateway(&["authentication"]).await;
    let (config, _) = client_config(&pki.client(leaf, "authentication"));
    let result = request(gateway.addr, &sni("authentication"), config).await;
    assert!(
        result.is_err(),
        "a refused client got an answer: {result:?}"
    );
    gateway.next_error().await
}

#[tokio::test]
async fn an_allowed_client_gets_through_and_its_identity_is_reported() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let (config, _) = client_config(&pki.client(&web, "authentication"));
    let body = request(gateway.addr, &sni("authentication"), config)
        .await
        .unwrap();
    assert_eq!(
        field(&body, "peer"),
        Some(service_id(TRUST_DOMAIN, "web").as_str())
    );
    assert_eq!(
        field(&body, "service"),
        Some(service_id(TRUST_DOMAIN, "authentication").as_str())
    );
    assert_eq!(field(&body, "sni"), Some(sni("authentication").as_str()));
    assert_eq!(field(&body, "tls"), Some("TLSv1_3"));
    assert_eq!(field(&body, "alpn"), Some("h2"));
    assert_eq!(field(&body, "http"), Some("HTTP/2.0"));
    // Consul's leaves have an empty subject.
    assert_eq!(field(&body, "subject"), Some(""));
}

#[tokio::test]
async fn the_consul_root_carries_a_critical_dns_name_constraint() {
    let pki = Pki::new();
    let der = pki.ca.cert_der();
    let (_, root) = x509_parser::parse_x509_certificate(&der).unwrap();
    let nc = root
        .extensions()
        .iter()
        .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS)
        .expect("name constraints");
    assert!(nc.critical);
    let text = format!("{:?}", nc.parsed_extension());
    assert!(text.contains(TRUST_DOMAIN), "{text}");
}

#[tokio::test]
async fn no_client_certificate_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let mut spec = pki.client(&web, "authentication");
    spec.identity = None;
    let (config, _) = client_config(&spec);
    assert!(request(gateway.addr, &sni("authentication"), config)
        .await
        .is_err());
    let err = gateway.next_error().await;
    assert!(
        matches!(
            err,
            HandshakeError::BadCertificate(rustls::Error::NoCertificatesPresented)
        ),
        "{err:?}"
    );
    assert!(!err.is_routine());
}

#[tokio::test]
async fn a_leaf_of_another_ca_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let stranger = TestCa::consul(TRUST_DOMAIN).service_leaf("web");
    let err = refused(&pki, &stranger).await;
    assert!(
        matches!(
            err,
            HandshakeError::BadCertificate(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_leaf_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let expired = pki
        .ca
        .leaf(&LeafSpec::uri(service_id(TRUST_DOMAIN, "web")).expired());
    let err = refused(&pki, &expired).await;
    assert!(
        matches!(
            err,
            HandshakeError::BadCertificate(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_leaf_of_another_trust_domain_is_refused_even_when_its_root_is_trusted() {
    let mut pki = Pki::new();
    let other = TestCa::consul(OTHER_TD);
    pki.trust_also(&other);
    let foreign = other.service_leaf("web");
    let err = refused(&pki, &foreign).await;
    assert!(
        matches!(
            err,
            HandshakeError::PeerRejected(PeerRejected::OtherTrustDomain { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_agent_id_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let agent = pki.ca.leaf(&LeafSpec::uri(agent_id(
        TRUST_DOMAIN,
        "adf4238a-882b-9ddc-4a9d-5b6758e4159e",
    )));
    let err = refused(&pki, &agent).await;
    assert!(
        matches!(
            err,
            HandshakeError::PeerRejected(PeerRejected::NotAService(
                mesh_proxy::IdentityError::NotAService { kind: "agent", .. }
            ))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_leaf_without_a_uri_san_is_refused_at_the_handshake() {
    let pki = Pki::new();
    // A DNS SAN inside the root's name constraint, so the chain verifies and the SPIFFE check
    // is what refuses it.
    let mut spec = LeafSpec::no_uri();
    spec.dns_names = vec![format!("web.{TRUST_DOMAIN}")];
    spec.common_name = None;
    let plain = pki.ca.leaf(&spec);
    let err = refused(&pki, &plain).await;
    assert!(
        matches!(err, HandshakeError::PeerRejected(PeerRejected::NoUri)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dns_name_outside_the_roots_name_constraint_is_refused() {
    let pki = Pki::new();
    let outside = pki.ca.leaf(&LeafSpec::no_uri());
    let err = refused(&pki, &outside).await;
    assert!(
        matches!(
            err,
            HandshakeError::BadCertificate(rustls::Error::InvalidCertificate(_))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("NameConstraint"), "{err}");
}

#[tokio::test]
async fn an_unknown_sni_is_refused_with_an_alert() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let (config, _) = client_config(&pki.client(&web, "authentication"));
    let err = connect(gateway.addr, &sni("billing"), config)
        .await
        .expect_err("unknown SNI refused");
    let alert = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .cloned();
    assert_eq!(
        alert,
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::AccessDenied
        ))
    );
    let err = gateway.next_error().await;
    assert!(
        matches!(&err, HandshakeError::UnknownSni { sni: Some(name) } if *name == sni("billing")),
        "{err:?}"
    );
    assert!(err.is_routine());
}

#[tokio::test]
async fn a_missing_sni_is_refused_with_an_alert() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let (config, _) = client_config(&pki.client(&web, "authentication"));
    let mut config = (*config).clone();
    config.enable_sni = false;
    let err = connect(gateway.addr, &sni("authentication"), config.into())
        .await
        .expect_err("no SNI refused");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    let err = gateway.next_error().await;
    assert!(
        matches!(err, HandshakeError::UnknownSni { sni: None }),
        "{err:?}"
    );
}

#[tokio::test]
async fn each_sni_name_presents_its_own_services_leaf() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication", "billing"]).await;
    let web = pki.ca.service_leaf("web");
    for service in ["authentication", "billing"] {
        let (config, _) = client_config(&pki.client(&web, service));
        let body = request(gateway.addr, &sni(service), config).await.unwrap();
        assert_eq!(
            field(&body, "service"),
            Some(service_id(TRUST_DOMAIN, service).as_str())
        );
    }
    // A sidecar expecting billing but routed to authentication's name refuses the server.
    let (config, _) = client_config(&pki.client(&web, "billing"));
    let err = connect(gateway.addr, &sni("authentication"), config)
        .await
        .expect_err("the URI SAN check fails");
    assert!(err.to_string().contains("expected"), "{err}");
}

#[tokio::test]
async fn sni_is_matched_case_insensitively() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let (config, _) = client_config(&pki.client(&web, "authentication"));
    let body = request(gateway.addr, &sni("authentication").to_uppercase(), config)
        .await
        .unwrap();
    assert_eq!(field(&body, "sni"), Some(sni("authentication").as_str()));
}

#[tokio::test]
async fn a_tls12_only_client_is_served() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    let mut spec = pki.client(&web, "authentication");
    spec.tls12_only = true;
    let (config, _) = client_config(&spec);
    let body = request(gateway.addr, &sni("authentication"), config)
        .await
        .unwrap();
    assert_eq!(field(&body, "tls"), Some("TLSv1_2"));
    assert_eq!(
        field(&body, "peer"),
        Some(service_id(TRUST_DOMAIN, "web").as_str())
    );
}

#[tokio::test]
async fn h2_works_with_alpn_and_without_it_by_preface() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    for (alpn, h2, expect_alpn, expect_http) in [
        (vec![b"h2".to_vec()], true, "h2", "HTTP/2.0"),
        (vec![], true, "none", "HTTP/2.0"),
        (vec![b"http/1.1".to_vec()], false, "http/1.1", "HTTP/1.1"),
        (vec![], false, "none", "HTTP/1.1"),
    ] {
        let mut spec = pki.client(&web, "authentication");
        spec.alpn = alpn;
        let (config, _) = client_config(&spec);
        let tls = connect(gateway.addr, &sni("authentication"), config)
            .await
            .unwrap();
        let body = get(tls, h2).await.unwrap();
        assert_eq!(field(&body, "alpn"), Some(expect_alpn), "{body}");
        assert_eq!(field(&body, "http"), Some(expect_http), "{body}");
    }
}

#[tokio::test]
async fn a_bare_tcp_connect_is_a_quiet_close() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    tcp.shutdown().await.unwrap();
    drop(tcp);
    let err = gateway.next_error().await;
    assert!(matches!(err, HandshakeError::Closed), "{err:?}");
    assert!(err.is_routine());
}

#[tokio::test]
async fn a_silent_client_times_out() {
    let pki = Pki::new();
    let acceptor = pki
        .acceptor(&["authentication"])
        .with_handshake_timeout(Duration::from_millis(200));
    let mut gateway = Gateway::start(acceptor).await;
    let _tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let err = gateway.next_error().await;
    assert!(matches!(err, HandshakeError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_a_tls_error() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let err = gateway.next_error().await;
    assert!(matches!(err, HandshakeError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn a_resumed_session_reports_the_same_identity() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let web = pki.ca.service_leaf("web");
    for tls12_only in [false, true] {
        let mut spec = pki.client(&web, "authentication");
        spec.tls12_only = tls12_only;
        let (config, _) = client_config(&spec);
        let first = request(gateway.addr, &sni("authentication"), config.clone())
            .await
            .unwrap();
        assert_eq!(field(&first, "resumed"), Some("false"));
        let second = request(gateway.addr, &sni("authentication"), config)
            .await
            .unwrap();
        assert_eq!(
            field(&second, "resumed"),
            Some("true"),
            "tls12_only={tls12_only}"
        );
        assert_eq!(
            field(&second, "peer"),
            Some(service_id(TRUST_DOMAIN, "web").as_str())
        );
    }
}

#[tokio::test]
async fn replaced_leaves_serve_the_next_handshake() {
    let pki = Pki::new();
    let acceptor = pki.acceptor(&["authentication"]);
    let rotated = pki.ca.service_leaf("authentication");
    let (cert, key) = rotated.write(pki.dir.path(), "authentication-rotated");
    let leaf = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(cert).unwrap(),
        &PemFile::read(key).unwrap(),
    )
    .unwrap();
    acceptor.replace_leaves(&[leaf]).unwrap();
    let gateway = Gateway::start(acceptor).await;
    let web = pki.ca.service_leaf("web");
    let (config, seen) = client_config(&pki.client(&web, "authentication"));
    request(gateway.addr, &sni("authentication"), config)
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().server_leaf.as_deref(),
        Some(&rotated.der[..])
    );
}

#[tokio::test]
async fn a_leaf_issued_by_an_intermediate_is_served_and_accepted() {
    let pki = Pki::new();
    let intermediate = pki.ca.intermediate();
    let (cert, key) = intermediate
        .service_leaf("authentication")
        .write(pki.dir.path(), "authentication-int");
    let leaf = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(cert).unwrap(),
        &PemFile::read(key).unwrap(),
    )
    .unwrap();
    let gateway =
        Gateway::start(TlsAcceptor::new(TRUST_DOMAIN, &pki.anchors(), &[leaf]).unwrap()).await;
    let web = intermediate.service_leaf("web");
    let (config, _) = client_config(&pki.client(&web, "authentication"));
    let body = request(gateway.addr, &sni("authentication"), config)
        .await
        .unwrap();
    assert_eq!(
        field(&body, "peer"),
        Some(service_id(TRUST_DOMAIN, "web").as_str())
    );
}

// --- loading errors name the file and what is wrong ---

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let pki = Pki::new();
    let (cert, _) = pki
        .ca
        .service_leaf("authentication")
        .write(pki.dir.path(), "a");
    let (_, other_key) = pki
        .ca
        .service_leaf("authentication")
        .write(pki.dir.path(), "b");
    let err = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(&cert).unwrap(),
        &PemFile::read(&other_key).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::KeyMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("b-key.pem"), "{err}");
    assert!(err.to_string().contains("a.pem"), "{err}");
}

#[test]
fn a_certificate_for_another_service_is_refused() {
    let pki = Pki::new();
    let (cert, key) = pki
        .ca
        .service_leaf("billing")
        .write(pki.dir.path(), "billing");
    let err = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(&cert).unwrap(),
        &PemFile::read(&key).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TlsConfigError::WrongIdentity { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("billing.pem"), "{message}");
    assert!(
        message.contains(&service_id(TRUST_DOMAIN, "authentication")),
        "{message}"
    );
    assert!(
        message.contains(&service_id(TRUST_DOMAIN, "billing")),
        "{message}"
    );
}

#[test]
fn a_certificate_without_a_uri_san_is_refused() {
    let pki = Pki::new();
    let (cert, key) = pki
        .ca
        .leaf(&LeafSpec::no_uri())
        .write(pki.dir.path(), "plain");
    let err = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(&cert).unwrap(),
        &PemFile::read(&key).unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("none"), "{err}");
}

#[test]
fn unreadable_and_non_pem_files_are_refused_naming_them() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.pem");
    let err = PemFile::read(&missing).unwrap_err();
    assert!(matches!(err, TlsConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let junk = write_pem(pki.dir.path(), "junk.pem", "not a certificate\n");
    let err = TrustAnchors::from_pem(&PemFile::read(&junk).unwrap()).unwrap_err();
    assert!(err.to_string().contains("junk.pem"), "{err}");
    assert!(err.to_string().contains("no CERTIFICATE"), "{err}");

    let (cert, _) = pki
        .ca
        .service_leaf("authentication")
        .write(pki.dir.path(), "c");
    let err = ServiceLeaf::from_pem(
        identity("authentication"),
        &PemFile::read(&cert).unwrap(),
        &PemFile::read(&junk).unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("junk.pem"), "{err}");
    assert!(err.to_string().contains("no PRIVATE KEY"), "{err}");
}

#[test]
fn every_certificate_in_the_ca_file_is_an_anchor() {
    let mut pki = Pki::new();
    let next = TestCa::consul(TRUST_DOMAIN);
    pki.trust_also(&next);
    assert_eq!(pki.anchors().len(), 2);
}

#[test]
fn two_services_with_one_sni_name_are_refused() {
    let pki = Pki::new();
    let a = pki.linked("authentication");
    let err = TlsAcceptor::new(TRUST_DOMAIN, &pki.anchors(), &[a.clone(), a]).unwrap_err();
    assert!(
        matches!(err, TlsConfigError::DuplicateSni { .. }),
        "{err:?}"
    );
}

// --- clients that are not rustls ---

async fn run_with_timeout(
    mut command: tokio::process::Command,
    stdin: &[u8],
) -> (bool, String, String) {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn client");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("client finished within 20 s")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn openssl_s_client_is_served_over_tls12_and_tls13() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let (cert, key) = pki.ca.service_leaf("web").write(pki.dir.path(), "web");
    for (flag, version) in [("-tls1_2", "TLSv1_2"), ("-tls1_3", "TLSv1_3")] {
        let mut command = tokio::process::Command::new("openssl");
        command
            .arg("s_client")
            .arg("-connect")
            .arg(gateway.addr.to_string())
            .arg("-servername")
            .arg(sni("authentication"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .arg("-CAfile")
            .arg(&pki.roots_path)
            .arg("-verify_return_error")
            .arg("-alpn")
            .arg("http/1.1")
            .arg("-quiet")
            .arg(flag);
        let (_, stdout, stderr) = run_with_timeout(
            command,
            b"GET / HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            stdout.starts_with("HTTP/1.1 200"),
            "{flag}: {stdout}\n{stderr}"
        );
        assert!(
            stdout.contains(&format!("peer={}", service_id(TRUST_DOMAIN, "web"))),
            "{flag}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("tls={version}")),
            "{flag}: {stdout}"
        );
    }
}

#[tokio::test]
async fn openssl_s_client_without_a_certificate_is_refused() {
    let pki = Pki::new();
    let mut gateway = pki.gateway(&["authentication"]).await;
    let mut command = tokio::process::Command::new("openssl");
    command
        .arg("s_client")
        .arg("-connect")
        .arg(gateway.addr.to_string())
        .arg("-servername")
        .arg(sni("authentication"))
        .arg("-CAfile")
        .arg(&pki.roots_path)
        .arg("-quiet")
        .arg("-tls1_2");
    let (_, stdout, _) = run_with_timeout(
        command,
        b"GET / HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!stdout.contains("HTTP/1.1 200"), "{stdout}");
    let err = gateway.next_error().await;
    assert!(matches!(err, HandshakeError::BadCertificate(_)), "{err:?}");
}

const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, sni, ca, cert, key, version = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False  # Consul's leaves have no DNS SAN; the URI SAN is checked below
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=sni) as tls:
        uris = [v for k, v in tls.getpeercert()["subjectAltName"] if k == "URI"]
        print("server-uri=" + ",".join(uris))
        print("version=" + tls.version())
        tls.sendall(b"GET / HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
        sys.stdout.write(data.decode())
"#;

#[tokio::test]
async fn pythons_ssl_module_is_served_over_tls12_and_tls13() {
    let pki = Pki::new();
    let gateway = pki.gateway(&["authentication"]).await;
    let (cert, key) = pki.ca.service_leaf("web").write(pki.dir.path(), "web");
    for (version, python_name) in [("1.2", "TLSv1.2"), ("1.3", "TLSv1.3")] {
        let mut command = tokio::process::Command::new("python3");
        command
            .arg("-c")
            .arg(PYTHON_CLIENT)
            .arg(gateway.addr.port().to_string())
            .arg(sni("authentication"))
            .arg(&pki.roots_path)
            .arg(&cert)
            .arg(&key)
            .arg(version);
        let (ok, stdout, stderr) = run_with_timeout(command, b"").await;
        assert!(ok, "{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!(
                "server-uri={}",
                service_id(TRUST_DOMAIN, "authentication")
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("version={python_name}")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("peer={}", service_id(TRUST_DOMAIN, "web"))),
            "{stdout}"
        );
    }
}
