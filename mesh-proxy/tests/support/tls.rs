//! The client side of the gateway's mTLS, as a Consul Envoy sidecar does it: the server's chain
//! verified against the CA roots and its URI SAN compared with the destination's SPIFFE ID
//! (no host name check: Consul's leaves have no DNS SAN); and a gateway under test that serves
//! a trivial echo of what the acceptor saw.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mesh_proxy::{HandshakeError, TlsAcceptor};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A gateway acceptor on `127.0.0.1:0` answering every request with what it saw.
pub struct Gateway {
    pub addr: SocketAddr,
    errors: mpsc::UnboundedReceiver<HandshakeError>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn start(acceptor: TlsAcceptor) -> Gateway {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (tx, errors) = mpsc::unbounded_channel();
        let acceptor = Arc::new(acceptor);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = socket.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = Arc::clone(&acceptor);
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(accepted) => {
                            let report = format!(
                                "peer={}\nservice={}\nsni={}\nalpn={}\ntls={:?}\nresumed={}\nsubject={}\n",
                                accepted.peer.identity,
                                accepted.service,
                                accepted.sni,
                                accepted
                                    .peer
                                    .alpn
                                    .as_deref()
                                    .map(String::from_utf8_lossy)
                                    .unwrap_or("none".into()),
                                accepted.peer.tls_version,
                                accepted.peer.resumed,
                                accepted.peer.subject,
                            );
                            let service = hyper::service::service_fn(move |request: Request<_>| {
                                let body = format!("{report}http={:?}\n", request.version());
                                async move {
                                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                        Bytes::from(body),
                                    )))
                                }
                            });
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(accepted.stream), service)
                                .await;
                        }
                        Err(e) => {
                            let _ = tx.send(e);
                        }
                    }
                });
            }
        });
        Gateway { addr, errors, task }
    }

    /// The next handshake failure (within 5 s).
    pub async fn next_error(&mut self) -> HandshakeError {
        tokio::time::timeout(Duration::from_secs(5), self.errors.recv())
            .await
            .expect("a handshake error within 5 s")
            .expect("gateway still running")
    }

    /// No handshake failure so far.
    pub fn no_errors(&mut self) -> bool {
        self.errors.try_recv().is_err()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the client's verifier saw of the server.
#[derive(Debug, Default)]
pub struct Seen {
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
    /// The TLS 1.2 suites offered; empty: all of rustls's.
    pub tls12_suites: Vec<rustls::SupportedCipherSuite>,
    /// ALPN protocols offered.
    pub alpn: Vec<Vec<u8>>,
}

impl<'a> ClientSpec<'a> {
    pub fn new(roots_pem: &'a str, expected_server: String, cert: &'a str, key: &'a str) -> Self {
        ClientSpec {
            roots_pem,
            expected_server,
            identity: Some((cert, key)),
            tls12_only: false,
            tls13_only: false,
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
    let versions: &[&rustls::SupportedProtocolVersion] = if spec.tls12_only {
        &[&rustls::version::TLS12]
    } else if spec.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
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
    (Arc::new(config), seen)
}

/// Connect and finish the client side of the handshake.
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

/// GET / over `tls`, h2 if `h2` (with or without ALPN), else HTTP/1.1; the body as text.
pub async fn get(
    tls: TlsStream<TcpStream>,
    h2: bool,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let io = TokioIo::new(tls);
    let request = Request::get("https://gateway/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        sender.send_request(request).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        sender.send_request(request).await?
    };
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Connect, then GET / speaking what ALPN chose (h2 unless it chose http/1.1 or nothing).
pub async fn request(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let tls = tokio::time::timeout(Duration::from_secs(5), connect(addr, sni, config)).await??;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    tokio::time::timeout(Duration::from_secs(5), get(tls, h2)).await?
}

/// The line `key=value` of an echo body.
pub fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}
