//! The client certificate check: webpki's chain verification against the trust anchors, then the
//! leaf's SPIFFE ID, which must be a service ID of our trust domain. Both run inside the
//! handshake, so a refused certificate never reaches HTTP.

use std::fmt::Write as _;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::identity::{IdentityError, ServiceIdentity};

/// Why a client certificate that chains to an anchor is still refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerRejected {
    /// The leaf has no URI SAN, so no SPIFFE ID.
    #[error("client certificate has no URI SAN (no SPIFFE ID)")]
    NoUri,
    /// An X.509-SVID carries exactly one URI SAN.
    #[error("client certificate has {0} URI SANs; a SPIFFE ID needs exactly one")]
    SeveralUris(usize),
    /// The URI SAN is not a Consul service ID.
    #[error("client certificate: {0}")]
    NotAService(#[from] IdentityError),
    /// A service ID of another trust domain.
    #[error("client certificate {found} is not of trust domain {expected}")]
    OtherTrustDomain {
        /// The client's SPIFFE ID.
        found: String,
        /// Ours.
        expected: String,
    },
    /// The leaf does not parse.
    #[error("client certificate does not parse: {0}")]
    Unparsable(String),
}

/// What the leaf says about its holder.
pub(super) struct PeerCertificate {
    pub(super) identity: ServiceIdentity,
    pub(super) subject: String,
}

/// webpki's verifier, then the SPIFFE check.
#[derive(Debug)]
pub(super) struct SpiffeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: String,
}

impl SpiffeClientVerifier {
    pub(super) fn new(inner: Arc<dyn ClientCertVerifier>, trust_domain: String) -> Self {
        SpiffeClientVerifier {
            inner,
            trust_domain,
        }
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        peer_certificate(end_entity, &self.trust_domain).map_err(|rejected| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
                rejected,
            ))))
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The holder's service identity (its one URI SAN, a service ID of `trust_domain`) and subject.
pub(super) fn peer_certificate(
    leaf: &CertificateDer<'_>,
    trust_domain: &str,
) -> Result<PeerCertificate, PeerRejected> {
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| PeerRejected::Unparsable(e.to_string()))?;
    let uris = uris_of(&cert).map_err(PeerRejected::Unparsable)?;
    let uri = match uris.as_slice() {
        [] => return Err(PeerRejected::NoUri),
        [uri] => uri,
        several => return Err(PeerRejected::SeveralUris(several.len())),
    };
    let identity = ServiceIdentity::parse(uri)?;
    if !identity.in_trust_domain(trust_domain) {
        return Err(PeerRejected::OtherTrustDomain {
            found: identity.to_string(),
            expected: trust_domain.to_owned(),
        });
    }
    Ok(PeerCertificate {
        identity,
        subject: subject_rfc2253(&cert),
    })
}

/// The URI SANs of a DER certificate.
pub(super) fn uri_sans(der: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
    uris_of(&cert)
}

fn uris_of(cert: &X509Certificate<'_>) -> Result<Vec<String>, String> {
    let san = cert.subject_alternative_name().map_err(|e| e.to_string())?;
    Ok(san
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The subject as RFC 2253 writes it (last RDN first, `,` between RDNs, `+` inside one), the
/// form Envoy puts in XFCC's `Subject`. Consul's leaves have an empty subject: `""`.
fn subject_rfc2253(cert: &X509Certificate<'_>) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = cert.subject().iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            out.push_str(short_name(&oid).unwrap_or(&oid));
            out.push('=');
            match attr.as_str() {
                Ok(value) => escape_rfc2253(value, &mut out),
                Err(_) => {
                    out.push('#');
                    for byte in attr.attr_value().data.iter() {
                        let _ = write!(out, "{byte:02x}");
                    }
                }
            }
        }
    }
    out
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// RFC 2253 §2.4 escaping; also every byte outside printable ASCII as `\XX`, so the result is
/// always a valid header value.
fn escape_rfc2253(value: &str, out: &mut String) {
    let last = value.len().saturating_sub(1);
    for (i, byte) in value.bytes().enumerate() {
        match byte {
            b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'=' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            b'#' if i == 0 => out.push_str("\\#"),
            b' ' if i == 0 || i == last => out.push_str("\\ "),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:02X}");
            }
        }
    }
}
