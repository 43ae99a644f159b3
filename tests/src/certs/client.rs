//! The client side of the gateway's mTLS, as a Consul Envoy sidecar does it: the server's chain
//! verified against the CA roots and its URI SAN compared with the destination's SPIFFE ID (no
//! host name check: Consul's leaves have no DNS SAN), the caller's own leaf presented. Shared by
//! mesh-proxy's gateway tests and its gateway benchmark.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What the client's verifier saw of the server.
#[derive(Debug, Default)]
pub struct Seen {
    /// The last server leaf presented (DER).
    pub server_leaf: Option<Vec<u8>>,
}

/// Verifies the server like an Envoy sidecar configured by Consul: chain to the roots, then the
/// leaf's URI SAN equal to the expected SPIFFE ID.
#[derive(Debug)]
pub struct SpiffeServerVerifier {
    anchors: Vec<TrustAnchor<'static>>,
    expected_uri: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Arc<Mutex<Seen>>,
}

/// How a test client is built.
pub struct ClientSpec<'a> {
    /// Root PEM(s) the server must chain to.
    pub roots_pem: &'a str,
    /// The server's expected SPIFFE ID.
    pub expected_server: String,
    /// Client chain and key PEM; `None` sends no certificate.
    pub identity: Option<(&'a str, &'a str)>,
    /// TLS 1.2 only.
    pub tls12_only: bool,
    /// TLS 1.3 only.
    pub tls13_only: bool,
    /// Keep sessions (TLS 1.3 tickets, TLS 1.2 session ids) in rustls's in-memory store, as
    /// rustls does by default; `false` makes every handshake a full one.
    pub resumption: bool,
    /// The TLS 1.2 suites offered; empty: all of rustls's.
    pub tls12_suites: Vec<rustls::SupportedCipherSuite>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.seen.lock().unwrap().server_leaf = Some(end_entity.to_vec());
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("server leaf: {e}")))?;
        cert.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &self.anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| rustls::Error::General(format!("server chain: {e}")))?;
        let (_, parsed) = X509Certificate::from_der(end_entity.as_ref())
            .map_err(|e| rustls::Error::General(format!("server leaf: {e}")))?;
        let uris: Vec<String> = parsed
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::URI(u) => Some((*u).to_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if uris != [self.expected_uri.clone()] {
            return Err(rustls::Error::General(format!(
                "server URI SANs {uris:?}, expected {}",
                self.expected_uri
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl<'a> ClientSpec<'a> {
    /// A client presenting `cert` (chain PEM) and `key`, trusting `roots_pem`, expecting the
    /// server to be `expected_server`; TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, resumption on.
    pub fn new(roots_pem: &'a str, expected_server: String, cert: &'a str, key: &'a str) -> Self {
        ClientSpec {
            roots_pem,
            expected_server,
            identity: Some((cert, key)),
            tls12_only: false,
            tls13_only: false,
            resumption: true,
            tls12_suites: Vec::new(),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// A client config, and what its verifier records.
pub fn client_config(spec: &ClientSpec<'_>) -> (Arc<ClientConfig>, Arc<Mutex<Seen>>) {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !spec.tls12_suites.is_empty() {
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13);
        provider
            .cipher_suites
            .extend(spec.tls12_suites.iter().copied());
    }
    let provider = Arc::new(provider);
    let anchors = CertificateDer::pem_slice_iter(spec.roots_pem.as_bytes())
        .map(|der| {
            webpki::anchor_from_trusted_cert(&der.unwrap())
                .unwrap()
                .to_owned()
        })
        .collect();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let verifier = Arc::new(SpiffeServerVerifier {
        anchors,
        expected_uri: spec.expected_server.clone(),
        provider: Arc::clone(&provider),
        seen: Arc::clone(&seen),
    });
    let versions: &[&rustls::SupportedProtocolVersion] = match (spec.tls12_only, spec.tls13_only) {
        (true, false) => &[&rustls::version::TLS12],
        (false, true) => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match spec.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = spec.alpn.clone();
    if !spec.resumption {
        config.resumption = Resumption::disabled();
    }
    (Arc::new(config), seen)
}

/// Connect (`TCP_NODELAY`) and finish the client side of the handshake.
pub async fn connect(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(sni.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}
