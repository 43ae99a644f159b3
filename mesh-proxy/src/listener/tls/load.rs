//! Reading the gateway's certificates: the trust anchors (every certificate in `ca_file`) and one
//! leaf and key per linked service, each checked before it is served.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::verify::uri_sans;
use crate::identity::ServiceIdentity;

/// The contents of a PEM file and the path it came from (named in every error about it).
#[derive(Clone)]
pub struct PemFile {
    path: PathBuf,
    contents: Vec<u8>,
}

/// Why the gateway's TLS material cannot be used. Every variant names the file.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no PEM block of the kind expected, or a malformed one.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong (`no CERTIFICATE block`, `malformed PEM: ...`).
        what: String,
    },
    /// A certificate does not parse as X.509.
    #[error("{}: certificate {index} is not valid X.509: {detail}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Which certificate in the file (0 = first).
        index: usize,
        /// The parser's message.
        detail: String,
    },
    /// The private key is of a kind the TLS library cannot sign with.
    #[error("{}: unusable private key: {source}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// The private key is not the one the certificate was issued for.
    #[error("{}: the private key does not match the certificate in {}", key_path.display(), cert_path.display())]
    KeyMismatch {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
    },
    /// The leaf's URI SAN is not the linked service's SPIFFE ID.
    #[error("{}: certificate is not for {expected} (its URI SANs: {})", path.display(), if found.is_empty() { "none".to_owned() } else { found.join(", ") })]
    WrongIdentity {
        /// The certificate file.
        path: PathBuf,
        /// The service's SPIFFE ID.
        expected: String,
        /// The URI SANs the leaf carries.
        found: Vec<String>,
    },
    /// A trust anchor is not usable as a root.
    #[error("{}: certificate {index} is not usable as a trust anchor: {source}", path.display())]
    BadAnchor {
        /// The CA file.
        path: PathBuf,
        /// Which certificate in the file (0 = first).
        index: usize,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// Two linked services have the same SNI name.
    #[error("two linked services have the SNI name {sni}")]
    DuplicateSni {
        /// The name.
        sni: String,
    },
    /// The client verifier cannot be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The TLS library refused the server configuration.
    #[error("TLS server configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The trust anchors client certificates must chain to.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    path: PathBuf,
    roots: Arc<RootCertStore>,
}

/// A linked service's leaf and key, checked to match each other and to carry the service's
/// SPIFFE ID.
#[derive(Debug, Clone)]
pub struct ServiceLeaf {
    identity: ServiceIdentity,
    cert_path: PathBuf,
    key: Arc<CertifiedKey>,
}

impl PemFile {
    /// Read `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<PemFile, TlsConfigError> {
        let path = path.as_ref().to_path_buf();
        match std::fs::read(&path) {
            Ok(contents) => Ok(PemFile { path, contents }),
            Err(source) => Err(TlsConfigError::Read { path, source }),
        }
    }

    /// PEM already in memory; `path` is what errors will name.
    pub fn from_bytes(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> PemFile {
        PemFile {
            path: path.into(),
            contents: contents.into(),
        }
    }

    /// The path errors name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every `CERTIFICATE` block, in order; at least one.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
        let certs = CertificateDer::pem_slice_iter(&self.contents)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.pem_error(format!("malformed PEM: {e}")))?;
        if certs.is_empty() {
            return Err(self.pem_error("no CERTIFICATE block".to_owned()));
        }
        Ok(certs)
    }

    /// The first private key block (`PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY`).
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
        PrivateKeyDer::from_pem_slice(&self.contents).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                self.pem_error("no PRIVATE KEY block".to_owned())
            }
            // The message names the problem, never the key's bytes.
            e => self.pem_error(format!("malformed PEM: {e}")),
        })
    }

    fn pem_error(&self, what: String) -> TlsConfigError {
        TlsConfigError::Pem {
            path: self.path.clone(),
            what,
        }
    }
}

impl std::fmt::Debug for PemFile {
    // The contents may be a private key: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .finish()
    }
}

impl TrustAnchors {
    /// Every certificate in `pem` becomes an anchor (several while a CA rotates).
    pub fn from_pem(pem: &PemFile) -> Result<TrustAnchors, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        for (index, cert) in pem.certificates()?.into_iter().enumerate() {
            roots
                .add(cert)
                .map_err(|source| TlsConfigError::BadAnchor {
                    path: pem.path.clone(),
                    index,
                    source,
                })?;
        }
        Ok(TrustAnchors {
            path: pem.path.clone(),
            roots: Arc::new(roots),
        })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The file they came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }
}

impl ServiceLeaf {
    /// `cert` holds the service's leaf first, then any intermediates; `key` its private key.
    pub fn from_pem(
        identity: ServiceIdentity,
        cert: &PemFile,
        key: &PemFile,
    ) -> Result<ServiceLeaf, TlsConfigError> {
        let chain = cert.certificates()?;
        let found = chain
            .first()
            .map(|leaf| uri_sans(leaf))
            .transpose()
            .map_err(|detail| TlsConfigError::BadCertificate {
                path: cert.path.clone(),
                index: 0,
                detail,
            })?
            .unwrap_or_default();
        let matches = found
            .iter()
            .any(|uri| ServiceIdentity::parse(uri).is_ok_and(|id| same_identity(&id, &identity)));
        if !matches {
            return Err(TlsConfigError::WrongIdentity {
                path: cert.path.clone(),
                expected: identity.to_string(),
                found,
            });
        }
        let private_key = super::provider()
            .key_provider
            .load_private_key(key.private_key()?)
            .map_err(|source| TlsConfigError::BadKey {
                path: key.path.clone(),
                source,
            })?;
        let certified = CertifiedKey::new(chain, private_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => {
                return Err(TlsConfigError::KeyMismatch {
                    cert_path: cert.path.clone(),
                    key_path: key.path.clone(),
                })
            }
        }
        Ok(ServiceLeaf {
            identity,
            cert_path: cert.path.clone(),
            key: Arc::new(certified),
        })
    }

    /// The service it identifies.
    pub fn identity(&self) -> &ServiceIdentity {
        &self.identity
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    pub(super) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.key)
    }
}

/// Equal identities, the trust domain compared case-insensitively (it is a host name).
fn same_identity(a: &ServiceIdentity, b: &ServiceIdentity) -> bool {
    a.in_trust_domain(b.trust_domain())
        && a.partition() == b.partition()
        && a.namespace() == b.namespace()
        && a.datacenter() == b.datacenter()
        && a.service() == b.service()
}
