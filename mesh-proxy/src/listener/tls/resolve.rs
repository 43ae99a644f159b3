//! The server certificate by SNI. rustls' own `ResolvesServerCertUsingSni` checks that each
//! certificate is valid for its name as a DNS SAN, which Consul's URI-only leaves never are, so the
//! gateway maps names to leaves itself.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::load::{ServiceLeaf, TlsConfigError};
use crate::identity::ServiceIdentity;

/// One linked service as served.
#[derive(Debug, Clone)]
pub(super) struct Served {
    pub(super) identity: ServiceIdentity,
    pub(super) key: Arc<CertifiedKey>,
}

/// Lowercase SNI name → leaf; the whole map is swapped at once when leaves rotate, so a
/// handshake sees either the old set or the new one.
#[derive(Debug)]
pub(super) struct SniResolver {
    by_sni: RwLock<Arc<HashMap<String, Served>>>,
}

impl SniResolver {
    pub(super) fn new(leaves: &[ServiceLeaf]) -> Result<SniResolver, TlsConfigError> {
        Ok(SniResolver {
            by_sni: RwLock::new(Arc::new(index(leaves)?)),
        })
    }

    /// Serve `leaves` from the next handshake on.
    pub(super) fn replace(&self, leaves: &[ServiceLeaf]) -> Result<(), TlsConfigError> {
        let map = Arc::new(index(leaves)?);
        *self.by_sni.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// The service behind `sni` (any case).
    pub(super) fn lookup(&self, sni: &str) -> Option<Served> {
        let map = Arc::clone(&self.by_sni.read().unwrap_or_else(|e| e.into_inner()));
        map.get(&sni.to_ascii_lowercase()).cloned()
    }

    /// Every linked service, sorted by SNI name.
    pub(super) fn services(&self) -> Vec<ServiceIdentity> {
        let map = Arc::clone(&self.by_sni.read().unwrap_or_else(|e| e.into_inner()));
        let mut names: Vec<_> = map.iter().collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        names.into_iter().map(|(_, s)| s.identity.clone()).collect()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // `None` makes rustls refuse the handshake with an access_denied alert; the acceptor
        // reports it (at debug: scanners and health checks are not worth a warning).
        let served = self.lookup(client_hello.server_name()?)?;
        Some(served.key)
    }
}

fn index(leaves: &[ServiceLeaf]) -> Result<HashMap<String, Served>, TlsConfigError> {
    let mut map = HashMap::with_capacity(leaves.len());
    for leaf in leaves {
        let sni = leaf.identity().sni();
        let served = Served {
            identity: leaf.identity().clone(),
            key: leaf.certified_key(),
        };
        if map.insert(sni.clone(), served).is_some() {
            return Err(TlsConfigError::DuplicateSni { sni });
        }
    }
    Ok(map)
}
