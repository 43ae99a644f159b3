//! The agent's Connect CA as the gateway uses it when `[gateway] ca_file` or a linked service's
//! `cert_file`/`key_file` are not set: the trust anchors from `GET /v1/agent/connect/ca/roots`
//! (every `Roots[].RootCert`, so leaves of a root being rotated out still verify) and each
//! service's leaf from `GET /v1/agent/connect/ca/leaf/<service>` (`CertPEM`, `PrivateKeyPEM`),
//! both followed with blocking queries as the entries are.

use serde_json::Value;

use super::entries::{AgentEntries, Observed};
use crate::listener::tls::PemFile;

/// The CA roots.
pub(crate) const ROOTS_PATH: &str = "/v1/agent/connect/ca/roots";

/// The leaf path of `service`.
pub(crate) fn leaf_path(service: &str) -> String {
    format!("/v1/agent/connect/ca/leaf/{}", super::encode(service))
}

impl AgentEntries {
    /// The roots as one PEM (`None`: not answered yet, or 404).
    pub(crate) fn roots(&self) -> Result<Option<PemFile>, String> {
        let Some(answer) = self.json(ROOTS_PATH)? else {
            return Ok(None);
        };
        let Some(roots) = answer.get("Roots").and_then(Value::as_array) else {
            return Err(format!("GET {ROOTS_PATH}: no `Roots` list in the answer"));
        };
        let mut pem = String::new();
        for (i, root) in roots.iter().enumerate() {
            let Some(cert) = root.get("RootCert").and_then(Value::as_str) else {
                return Err(format!(
                    "GET {ROOTS_PATH}: `Roots[{i}].RootCert` is not a string"
                ));
            };
            pem.push_str(cert.trim());
            pem.push('\n');
        }
        if pem.is_empty() {
            return Err(format!("GET {ROOTS_PATH}: the agent has no CA roots"));
        }
        Ok(Some(PemFile::from_bytes(
            format!("consul agent GET {ROOTS_PATH}"),
            pem,
        )))
    }

    /// `service`'s certificate chain and key (`None`: not answered yet, or 404).
    pub(crate) fn leaf(&self, service: &str) -> Result<Option<(PemFile, PemFile)>, String> {
        let path = leaf_path(service);
        let Some(answer) = self.json(&path)? else {
            return Ok(None);
        };
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("GET {path}: no `{name}` in the answer"))
        };
        let label = format!("consul agent GET {path}");
        Ok(Some((
            PemFile::from_bytes(label.clone(), field("CertPEM")?),
            PemFile::from_bytes(label, field("PrivateKeyPEM")?),
        )))
    }

    /// The answer at `path` as JSON.
    fn json(&self, path: &str) -> Result<Option<Value>, String> {
        match self.get(path) {
            Some(Observed::Found(body)) => serde_json::from_slice(body)
                .map(Some)
                .map_err(|e| format!("GET {path}: the answer is not JSON: {e}")),
            Some(Observed::Missing) | None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn every_root_is_an_anchor_and_a_leaf_has_its_cert_and_key() {
        let mut agent = AgentEntries::default();
        assert!(agent.roots().unwrap_or_else(|e| panic!("{e}")).is_none());
        let body = r#"{"ActiveRootID":"a","TrustDomain":"td.consul","Roots":[{"RootCert":"ONE\n"},{"RootCert":"TWO"}]}"#;
        agent.set(ROOTS_PATH.to_owned(), Observed::Found(Bytes::from(body)));
        let roots = agent.roots().unwrap_or_else(|e| panic!("{e}"));
        assert!(roots.is_some());
        let leaf = r#"{"CertPEM":"C","PrivateKeyPEM":"K","Service":"web"}"#;
        agent.set(leaf_path("web"), Observed::Found(Bytes::from(leaf)));
        assert!(agent
            .leaf("web")
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some());
        agent.set(
            leaf_path("api"),
            Observed::Found(Bytes::from(r#"{"CertPEM":"C"}"#)),
        );
        let error = agent.leaf("api").err().unwrap_or_default();
        assert!(error.contains("PrivateKeyPEM"), "{error}");
        assert!(!error.contains("\"C\""), "{error}");
    }
}
