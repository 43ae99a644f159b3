//! The gateway's mTLS acceptor, standing where Consul's Envoy terminating gateway stands.
//!
//! TLS 1.2 and 1.3 (Envoy clients default to 1.2 at most); ALPN `h2` and `http/1.1` offered (no
//! ALPN is fine: the HTTP server tells h2 by its preface); one server leaf per linked service,
//! chosen by SNI; a client certificate required, chained to a trust anchor, valid now, and
//! carrying a SPIFFE service ID of our trust domain. The identity reported for a connection is
//! always read from the peer certificates rustls holds after the handshake, and a resumed session
//! has its client chain verified again against the current anchors (rustls skips the verifier
//! when it resumes).

mod load;
pub(crate) mod policy;
mod resolve;
mod verify;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

pub use load::{PemFile, ServiceLeaf, TlsConfigError, TrustAnchors};
pub use verify::PeerRejected;

use crate::identity::ServiceIdentity;
use policy::TlsPolicy;
use resolve::SniResolver;
use verify::SpiffeClientVerifier;

/// How long a client may take from connect to a finished handshake. Envoy's own default
/// (`transport_socket_connect_timeout`) is unset; Consul's health check only connects.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// ALPN protocols offered, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Accepts TLS connections for the gateway's linked services.
#[derive(Debug)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    resolver: Arc<SniResolver>,
    verifier: Arc<SpiffeClientVerifier>,
    trust_domain: String,
    handshake_timeout: Duration,
}

/// A finished handshake.
#[derive(Debug)]
pub struct Accepted<IO> {
    /// The TLS stream, ready for HTTP.
    pub stream: TlsStream<IO>,
    /// The SNI name the client sent (lowercase).
    pub sni: String,
    /// The linked service that name selected (whose leaf was presented).
    pub service: ServiceIdentity,
    /// Who the client is.
    pub peer: PeerIdentity,
}

/// The verified client, as the request path sees it (a request extension).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The client's SPIFFE service identity.
    pub identity: ServiceIdentity,
    /// The client's leaf certificate (DER): XFCC's `Hash` is its SHA-256.
    pub leaf_der: CertificateDer<'static>,
    /// The leaf's subject in RFC 2253 form (empty for Consul's leaves).
    pub subject: String,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The negotiated TLS version.
    pub tls_version: ProtocolVersion,
    /// Whether the session was resumed.
    pub resumed: bool,
}

/// Why a connection did not become a TLS session.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer closed (or reset) before sending a ClientHello: Consul's TCP health check.
    #[error("closed before a TLS ClientHello")]
    Closed,
    /// The handshake did not finish in time.
    #[error("TLS handshake not done within {0:?}")]
    Timeout(Duration),
    /// No linked service has the SNI name (or none was sent); refused with an alert.
    #[error("no linked service for SNI {}", sni.as_deref().unwrap_or("(none)"))]
    UnknownSni {
        /// The name sent, if any.
        sni: Option<String>,
    },
    /// The client's certificate chains to an anchor but is not a service of our trust domain.
    #[error("{0}")]
    PeerRejected(PeerRejected),
    /// No client certificate, or one that does not chain to an anchor, is expired, or is
    /// otherwise invalid.
    #[error("client certificate refused: {0}")]
    BadCertificate(rustls::Error),
    /// Any other TLS failure (not TLS at all, no common version, cipher or ALPN protocol, …).
    #[error("TLS handshake failed: {0}")]
    Tls(rustls::Error),
    /// I/O failed during the handshake.
    #[error("I/O error during the TLS handshake: {0}")]
    Io(#[source] io::Error),
}

impl TlsAcceptor {
    /// An acceptor for `services`, trusting client certificates that chain to `anchors` and carry
    /// a service ID of `trust_domain`.
    pub fn new(
        trust_domain: impl Into<String>,
        anchors: &TrustAnchors,
        services: &[ServiceLeaf],
    ) -> Result<TlsAcceptor, TlsConfigError> {
        let trust_domain = trust_domain.into();
        let webpki =
            WebPkiClientVerifier::builder_with_provider(anchors.roots(), Arc::new(provider()))
                .build()?;
        let verifier = Arc::new(SpiffeClientVerifier::new(webpki, trust_domain.clone()));
        let resolver = Arc::new(SniResolver::new(services)?);
        let config = server_config(verifier.clone(), resolver.clone(), &TlsPolicy::default())?;
        Ok(TlsAcceptor {
            config,
            resolver,
            verifier,
            trust_domain,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }

    /// Bound the handshake by `timeout` instead of [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsAcceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// Speak only the versions and TLS 1.2 suites of `policy` (the `mesh` entry's
    /// `TLS.Incoming`). Builds a new `ServerConfig`, so its session caches start empty too.
    pub(crate) fn with_policy(mut self, policy: &TlsPolicy) -> Result<TlsAcceptor, TlsConfigError> {
        self.config = server_config(self.verifier.clone(), self.resolver.clone(), policy)?;
        Ok(self)
    }

    /// Serve these leaves from the next handshake on (leaf rotation; open connections keep
    /// theirs). Trust changes need a new acceptor: its `ServerConfig` starts with empty session
    /// caches, so nothing resumes across them.
    pub fn replace_leaves(&self, services: &[ServiceLeaf]) -> Result<(), TlsConfigError> {
        self.resolver.replace(services)
    }

    /// The linked services served, sorted by SNI name.
    pub fn services(&self) -> Vec<ServiceIdentity> {
        self.resolver.services()
    }

    /// The trust domain clients must belong to.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// Run the server side of a handshake on `io` (set `TCP_NODELAY` on it first).
    pub async fn accept<IO>(&self, io: IO) -> Result<Accepted<IO>, HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(self.handshake_timeout, self.handshake(io)).await {
            Ok(result) => result,
            Err(_) => Err(HandshakeError::Timeout(self.handshake_timeout)),
        }
    }

    async fn handshake<IO>(&self, io: IO) -> Result<Accepted<IO>, HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
            .await
            .map_err(|e| classify(e, true))?;
        let sni = start
            .client_hello()
            .server_name()
            .map(str::to_ascii_lowercase);
        let served = sni.as_deref().and_then(|sni| self.resolver.lookup(sni));
        // Continue even for an unknown name: the resolver then refuses it and rustls sends
        // the alert.
        let handshake = start.into_stream(Arc::clone(&self.config)).await;
        let (Some(sni), Some(served)) = (sni.clone(), served) else {
            return Err(HandshakeError::UnknownSni { sni });
        };
        let stream = handshake.map_err(|e| classify(e, false))?;
        let peer = self.peer(stream.get_ref().1)?;
        Ok(Accepted {
            stream,
            sni,
            service: served.identity,
            peer,
        })
    }

    /// The client as rustls holds it after the handshake (also for resumed sessions, where
    /// the certificates come from the session and are verified again here).
    fn peer(&self, conn: &rustls::ServerConnection) -> Result<PeerIdentity, HandshakeError> {
        let certs = conn.peer_certificates().unwrap_or_default();
        let Some((leaf, intermediates)) = certs.split_first() else {
            return Err(HandshakeError::BadCertificate(
                rustls::Error::NoCertificatesPresented,
            ));
        };
        let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
        if resumed {
            self.verifier
                .verify_client_cert(leaf, intermediates, UnixTime::now())
                .map_err(classify_tls)?;
        }
        let found = verify::peer_certificate(leaf, &self.trust_domain)
            .map_err(HandshakeError::PeerRejected)?;
        Ok(PeerIdentity {
            identity: found.identity,
            leaf_der: leaf.clone().into_owned(),
            subject: found.subject,
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            tls_version: conn
                .protocol_version()
                .unwrap_or(ProtocolVersion::Unknown(0)),
            resumed,
        })
    }
}

impl HandshakeError {
    /// Whether this is routine noise (health checks, scanners, slow or vanished clients), to be
    /// logged at debug. Refused client certificates are not.
    pub fn is_routine(&self) -> bool {
        matches!(
            self,
            HandshakeError::Closed
                | HandshakeError::Timeout(_)
                | HandshakeError::UnknownSni { .. }
                | HandshakeError::Io(_)
        )
    }

    /// Log the failure for `peer`: routine ones at debug, other TLS failures (not TLS at all, no
    /// common version or cipher) at info, refused client certificates at warn.
    pub fn log(&self, peer: std::net::SocketAddr) {
        match self {
            e if e.is_routine() => {
                tracing::debug!(peer = %peer, error = %e, "TLS handshake did not complete")
            }
            e @ HandshakeError::Tls(_) => {
                tracing::info!(peer = %peer, error = %e, "TLS handshake failed")
            }
            e => tracing::warn!(peer = %peer, error = %e, "client certificate refused"),
        }
    }
}

/// The one place the gateway's `ServerConfig` is built. A reload calls it again, which also
/// gives fresh session storage and ticketer, so no session resumes across a trust change.
fn server_config(
    verifier: Arc<dyn ClientCertVerifier>,
    resolver: Arc<dyn ResolvesServerCert>,
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(policy.apply(provider())))
        .with_protocol_versions(&policy.versions())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn classify(e: io::Error, before_hello: bool) -> HandshakeError {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return classify_tls(tls.clone());
    }
    let closed = matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    );
    if before_hello && closed {
        HandshakeError::Closed
    } else {
        HandshakeError::Io(e)
    }
}

fn classify_tls(e: rustls::Error) -> HandshakeError {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(ref other)) => {
            match other.0.downcast_ref::<PeerRejected>() {
                Some(rejected) => HandshakeError::PeerRejected(rejected.clone()),
                None => HandshakeError::BadCertificate(e),
            }
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            HandshakeError::BadCertificate(e)
        }
        e => HandshakeError::Tls(e),
    }
}
