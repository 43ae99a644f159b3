//! Consul-shaped test certificates, minted with rcgen.
//!
//! As Consul's built-in CA makes them (`agent/connect/ca/provider_consul.go`, `testing_ca.go`):
//! a root with URI SAN `spiffe://<trust-domain>` and a **critical** Name Constraints extension
//! permitting DNS `<trust-domain>`; leaves with an empty subject, a URI SAN only (no DNS SAN),
//! EKU clientAuth + serverAuth, P-256, valid 72 hours. Anything else a test needs to refuse
//! (another CA, another trust domain, agent IDs, no URI, expired) is one [`LeafSpec`] away.
//! [`client`] is the other end: an mTLS client presenting such a leaf, as a Consul sidecar does.

pub mod client;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, KeyUsagePurpose, NameConstraints,
    SanType, PKCS_ECDSA_P256_SHA256,
};

/// Consul's test cluster's trust domain (`connect.TestTrustDomain`).
pub const TRUST_DOMAIN: &str = "11111111-2222-3333-4444-555555555555.consul";
/// The datacenter test identities are in.
pub const DATACENTER: &str = "dc1";
/// Consul's default leaf lifetime (`LeafCertTTL`).
pub const LEAF_TTL: Duration = Duration::from_secs(72 * 3600);
/// How long test CAs are valid.
const CA_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaves start a minute in the past, as Consul backdates them for clock skew.
const BACKDATE: Duration = Duration::from_secs(60);

/// `spiffe://<td>/ns/default/dc/dc1/svc/<service>`.
pub fn service_id(trust_domain: &str, service: &str) -> String {
    format!("spiffe://{trust_domain}/ns/default/dc/{DATACENTER}/svc/{service}")
}

/// `<service>.default.dc1.internal.<td>`: the SNI name a sidecar sends for `service`.
pub fn service_sni(trust_domain: &str, service: &str) -> String {
    format!("{service}.default.{DATACENTER}.internal.{trust_domain}")
}

/// A Consul client agent's ID: `spiffe://<td>/agent/client/dc/dc1/id/<uuid>`.
pub fn agent_id(trust_domain: &str, uuid: &str) -> String {
    format!("spiffe://{trust_domain}/agent/client/dc/{DATACENTER}/id/{uuid}")
}

/// A certificate authority: a Consul-shaped root, or an intermediate beneath one.
pub struct TestCa {
    trust_domain: String,
    cert: Certificate,
    key: KeyPair,
    /// PEM of this CA and every intermediate above it, root excluded: what a leaf's chain file
    /// carries after the leaf.
    intermediates: Vec<String>,
}

/// What goes into a leaf.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// URI SANs (Consul: exactly one SPIFFE ID).
    pub uris: Vec<String>,
    /// DNS SANs (Consul's service leaves: none).
    pub dns_names: Vec<String>,
    /// Subject common name (Consul's service leaves: none).
    pub common_name: Option<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

/// A leaf and its key, as PEM.
#[derive(Debug, Clone)]
pub struct TestLeaf {
    /// The leaf alone.
    pub cert_pem: String,
    /// The leaf, then the intermediates up to (not including) the root.
    pub chain_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
    /// The leaf, DER.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A root shaped like Consul's: URI SAN `spiffe://<trust_domain>`, a critical name
    /// constraint permitting DNS `<trust_domain>`, key usage certSign + cRLSign +
    /// digitalSignature, P-256.
    pub fn consul(trust_domain: &str) -> TestCa {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let cert = ca_params(trust_domain, "root")
            .self_signed(&key)
            .expect("self-signed root");
        TestCa {
            trust_domain: trust_domain.to_owned(),
            cert,
            key,
            intermediates: Vec::new(),
        }
    }

    /// An intermediate CA signed by this one (Consul's secondary datacenters and external CAs
    /// sign leaves with one).
    pub fn intermediate(&self) -> TestCa {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let cert = ca_params(&self.trust_domain, "intermediate")
            .signed_by(&key, &self.cert, &self.key)
            .expect("intermediate signed");
        let mut intermediates = vec![cert.pem()];
        intermediates.extend(self.intermediates.iter().cloned());
        TestCa {
            trust_domain: self.trust_domain.clone(),
            cert,
            key,
            intermediates,
        }
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// This CA's certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// This CA's certificate, DER.
    pub fn cert_der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// The leaf Consul would issue to `service` in the default namespace of dc1: 72 hours.
    pub fn service_leaf(&self, service: &str) -> TestLeaf {
        self.leaf(&LeafSpec::uri(service_id(&self.trust_domain, service)))
    }

    /// A leaf as `spec` says, signed by this CA.
    pub fn leaf(&self, spec: &LeafSpec) -> TestLeaf {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial().into());
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = &spec.common_name {
            params
                .distinguished_name
                .push(DnType::CommonName, cn.as_str());
        }
        params.subject_alt_names = spec
            .uris
            .iter()
            .map(|uri| SanType::URI(uri.clone().try_into().expect("URI is IA5")))
            .chain(
                spec.dns_names
                    .iter()
                    .map(|dns| SanType::DnsName(dns.clone().try_into().expect("DNS is IA5"))),
            )
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::DataEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = spec.not_before.into();
        params.not_after = spec.not_after.into();
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf signed");
        let cert_pem = cert.pem();
        let mut chain_pem = cert_pem.clone();
        for pem in &self.intermediates {
            chain_pem.push_str(pem);
        }
        TestLeaf {
            cert_pem,
            chain_pem,
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl LeafSpec {
    /// A Consul-shaped leaf for `uri`, valid from a minute ago for 72 hours.
    pub fn uri(uri: impl Into<String>) -> LeafSpec {
        let now = SystemTime::now();
        LeafSpec {
            uris: vec![uri.into()],
            dns_names: Vec::new(),
            common_name: None,
            not_before: now - BACKDATE,
            not_after: now + LEAF_TTL,
        }
    }

    /// A leaf with no URI SAN at all (a DNS SAN instead, as a web server's would have).
    pub fn no_uri() -> LeafSpec {
        let mut spec = LeafSpec::uri("unused");
        spec.uris.clear();
        spec.dns_names.push("web.example.com".to_owned());
        spec.common_name = Some("web.example.com".to_owned());
        spec
    }

    /// The same leaf, but expired an hour ago (issued 73 hours ago).
    pub fn expired(mut self) -> LeafSpec {
        let now = SystemTime::now();
        self.not_after = now - Duration::from_secs(3600);
        self.not_before = self.not_after - LEAF_TTL;
        self
    }

    /// Valid from `not_before` to `not_after`.
    pub fn valid(mut self, not_before: SystemTime, not_after: SystemTime) -> LeafSpec {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }
}

impl TestLeaf {
    /// Write `<name>.pem` (the chain) and `<name>-key.pem` into `dir`; returns both paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = write_pem(dir, &format!("{name}.pem"), &self.chain_pem);
        let key = write_pem(dir, &format!("{name}-key.pem"), &self.key_pem);
        (cert, key)
    }
}

/// Write `pem` to `dir/file_name`; returns the path.
pub fn write_pem(dir: &Path, file_name: &str, pem: &str) -> PathBuf {
    let path = dir.join(file_name);
    std::fs::write(&path, pem).expect("write PEM");
    path
}

/// The trust-anchor file for `cas`: every CA certificate, concatenated (as Consul's
/// `/v1/agent/connect/ca/roots` lists several during a rotation).
pub fn roots_pem(cas: &[&TestCa]) -> String {
    cas.iter().map(|ca| ca.cert_pem()).collect()
}

fn ca_params(trust_domain: &str, role: &str) -> CertificateParams {
    let now = SystemTime::now();
    let mut params = CertificateParams::default();
    params.serial_number = Some(random_serial().into());
    params.distinguished_name = DistinguishedName::new();
    // Consul names its CA `pri-<id>.consul.ca.<cluster-id prefix>.consul`.
    let prefix = trust_domain.get(..8).unwrap_or(trust_domain);
    params.distinguished_name.push(
        DnType::CommonName,
        format!("{role}-{:08x}.consul.ca.{prefix}.consul", rand_u32()),
    );
    params.subject_alt_names = vec![SanType::URI(
        format!("spiffe://{trust_domain}")
            .try_into()
            .expect("URI is IA5"),
    )];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName(trust_domain.to_owned())],
        excluded_subtrees: Vec::new(),
    });
    params.use_authority_key_identifier_extension = true;
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_TTL).into();
    params
}

/// 16 random bytes, top bit clear (a positive serial, as RFC 5280 wants).
fn random_serial() -> Vec<u8> {
    let mut serial: Vec<u8> = (0..4).flat_map(|_| rand_u32().to_be_bytes()).collect();
    serial[0] &= 0x7f;
    serial
}

/// Randomness without another dependency: std's per-process random hash keys.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish() as u32
}
