//! Which TLS versions and TLS 1.2 cipher suites the gateway's listener speaks: rustls's TLS 1.2
//! and 1.3 with every suite it has, unless the `mesh` config entry's `TLS.Incoming` narrows them.

use rustls::crypto::CryptoProvider;
use rustls::{NamedGroup, SupportedCipherSuite, SupportedProtocolVersion};

/// A TLS version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// The versions and TLS 1.2 suites a `ServerConfig` is built with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TlsPolicy {
    /// The lowest version accepted.
    pub min: TlsVersion,
    /// The highest version accepted (never below `min`).
    pub max: TlsVersion,
    /// The TLS 1.2 suites, in preference order; empty: all of rustls's. TLS 1.3 suites are not
    /// configurable (Consul's rule, and BoringSSL's in Envoy).
    pub tls12_suites: Vec<SupportedCipherSuite>,
    /// The key-exchange groups, in preference order; empty: rustls's defaults.
    pub kx_groups: Vec<NamedGroup>,
}

impl Default for TlsPolicy {
    fn default() -> TlsPolicy {
        TlsPolicy {
            min: TlsVersion::Tls12,
            max: TlsVersion::Tls13,
            tls12_suites: Vec::new(),
            kx_groups: Vec::new(),
        }
    }
}

impl TlsPolicy {
    /// The protocol versions, highest first.
    pub(crate) fn versions(&self) -> Vec<&'static SupportedProtocolVersion> {
        let mut versions = Vec::with_capacity(2);
        if self.min <= TlsVersion::Tls13 && self.max >= TlsVersion::Tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if self.min <= TlsVersion::Tls12 && self.max >= TlsVersion::Tls12 {
            versions.push(&rustls::version::TLS12);
        }
        versions
    }

    /// `provider` with its TLS 1.2 suites narrowed to ours (its TLS 1.3 suites all kept) and
    /// its key-exchange groups replaced by ours (from every group aws-lc-rs has).
    pub(crate) fn apply(&self, mut provider: CryptoProvider) -> CryptoProvider {
        if !self.kx_groups.is_empty() {
            provider.kx_groups = self
                .kx_groups
                .iter()
                .filter_map(|name| {
                    rustls::crypto::aws_lc_rs::ALL_KX_GROUPS
                        .iter()
                        .find(|group| group.name() == *name)
                        .copied()
                })
                .collect();
        }
        if !self.tls12_suites.is_empty() {
            provider
                .cipher_suites
                .retain(|suite| suite.version() == &rustls::version::TLS13);
            provider
                .cipher_suites
                .extend(self.tls12_suites.iter().copied());
        }
        provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::aws_lc_rs::cipher_suite;

    #[test]
    fn the_default_speaks_both_versions_and_every_suite() {
        let policy = TlsPolicy::default();
        assert_eq!(policy.versions().len(), 2);
        let all = rustls::crypto::aws_lc_rs::default_provider();
        let suites = |p: &CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| s.suite())
                .collect::<Vec<_>>()
        };
        assert_eq!(suites(&policy.apply(all.clone())), suites(&all));
    }

    #[test]
    fn named_suites_replace_only_the_tls12_ones() {
        let policy = TlsPolicy {
            min: TlsVersion::Tls12,
            max: TlsVersion::Tls12,
            tls12_suites: vec![cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256],
            kx_groups: vec![NamedGroup::secp384r1, NamedGroup::X25519],
        };
        let versions: Vec<_> = policy.versions().iter().map(|v| v.version).collect();
        assert_eq!(versions, [rustls::ProtocolVersion::TLSv1_2]);
        let provider = policy.apply(rustls::crypto::aws_lc_rs::default_provider());
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            [rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert_eq!(provider.cipher_suites.len(), 4, "three TLS 1.3 suites kept");
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, [NamedGroup::secp384r1, NamedGroup::X25519]);
    }
}
