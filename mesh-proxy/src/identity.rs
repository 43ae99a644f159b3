//! Consul service identities: SPIFFE IDs `spiffe://<trust-domain>[/ap/<partition>]/ns/<ns>/dc/<dc>/svc/<svc>`
//! (Consul's `agent/connect/uri_service.go`, parsed as `agent/connect/uri.go` does) and the SNI
//! names sidecars send for them (`agent/connect/sni.go`).
//!
//! Only service IDs are identities here: the other SPIFFE IDs Consul issues (agents, servers, mesh
//! gateways, the CA's signing ID) are recognised so the error can say what was presented.

use std::fmt;
use std::str::FromStr;

/// The partition an ID without `/ap/<partition>` belongs to.
pub const DEFAULT_PARTITION: &str = "default";

/// A Consul service's SPIFFE identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceIdentity {
    trust_domain: String,
    partition: String,
    namespace: String,
    datacenter: String,
    service: String,
}

/// Why a URI is not a Consul service identity.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The URI does not start with `spiffe://`.
    #[error("`{uri}` is not a SPIFFE ID (scheme must be spiffe)")]
    NotSpiffe {
        /// The URI, shortened.
        uri: String,
    },
    /// A well-formed SPIFFE ID, but not of a service (agent, server, mesh gateway, CA signing ID).
    #[error("`{uri}` is a Consul {kind} ID, not a service ID")]
    NotAService {
        /// The URI.
        uri: String,
        /// What it identifies: `agent`, `server`, `mesh gateway`, `signing (CA)`.
        kind: &'static str,
    },
    /// The path is not `[/ap/<ap>]/ns/<ns>/dc/<dc>/svc/<svc>`.
    #[error("`{uri}` is not in Consul's service ID format ([/ap/<ap>]/ns/<ns>/dc/<dc>/svc/<svc>)")]
    BadFormat {
        /// The URI.
        uri: String,
    },
    /// The authority is empty or carries a port or user info, or the URI a query or fragment.
    #[error("`{uri}`: {reason}")]
    BadUri {
        /// The URI.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A segment's percent-encoding is invalid or does not decode to UTF-8.
    #[error("`{uri}`: invalid {segment}: bad percent-encoding")]
    BadEncoding {
        /// The URI.
        uri: String,
        /// `partition`, `namespace`, `datacenter` or `service`.
        segment: &'static str,
    },
}

/// Longest URI quoted back in an error.
const MAX_QUOTED: usize = 256;

impl ServiceIdentity {
    /// The identity of `service` in the default partition.
    pub fn new(
        trust_domain: impl Into<String>,
        namespace: impl Into<String>,
        datacenter: impl Into<String>,
        service: impl Into<String>,
    ) -> ServiceIdentity {
        ServiceIdentity {
            trust_domain: trust_domain.into(),
            partition: DEFAULT_PARTITION.to_owned(),
            namespace: namespace.into(),
            datacenter: datacenter.into(),
            service: service.into(),
        }
    }

    /// The same identity in `partition` (empty means the default partition, as in Consul).
    pub fn with_partition(mut self, partition: impl Into<String>) -> ServiceIdentity {
        let partition = partition.into();
        self.partition = if partition.is_empty() {
            DEFAULT_PARTITION.to_owned()
        } else {
            partition
        };
        self
    }

    /// Parse a SPIFFE URI as Consul does: percent-encoded segments are decoded; anything but a
    /// service ID is refused with the reason.
    pub fn parse(uri: &str) -> Result<ServiceIdentity, IdentityError> {
        let quoted = || quote(uri);
        let rest = strip_prefix_ignore_case(uri, "spiffe://")
            .ok_or_else(|| IdentityError::NotSpiffe { uri: quoted() })?;
        let bad = |reason| IdentityError::BadUri {
            uri: quoted(),
            reason,
        };
        if uri.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(bad("control, space or non-ASCII character"));
        }
        if rest.contains('?') {
            return Err(bad("a SPIFFE ID has no query"));
        }
        if rest.contains('#') {
            return Err(bad("a SPIFFE ID has no fragment"));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("empty trust domain"));
        }
        if authority.contains('@') {
            return Err(bad("a SPIFFE ID has no user info"));
        }
        if authority.contains(':') {
            return Err(bad("a SPIFFE ID has no port"));
        }
        if path.is_empty() || path == "/" {
            return Err(IdentityError::NotAService {
                uri: quoted(),
                kind: "signing (CA)",
            });
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        let (partition, tail) = match segments.as_slice() {
            ["ap", ap, tail @ ..] if !ap.is_empty() => (Some(*ap), tail),
            all => (None, all),
        };
        let value = |raw: &str, segment| {
            decode(raw).ok_or_else(|| IdentityError::BadEncoding {
                uri: quoted(),
                segment,
            })
        };
        match tail {
            ["ns", ns, "dc", dc, "svc", svc] if [ns, dc, svc].iter().all(|s| !s.is_empty()) => {
                let partition = match partition {
                    Some(ap) => value(ap, "partition")?,
                    None => DEFAULT_PARTITION.to_owned(),
                };
                Ok(ServiceIdentity {
                    trust_domain: authority.to_owned(),
                    partition,
                    namespace: value(ns, "namespace")?,
                    datacenter: value(dc, "datacenter")?,
                    service: value(svc, "service")?,
                })
            }
            ["agent", "client", "dc", dc, "id", id] if !dc.is_empty() && !id.is_empty() => {
                Err(IdentityError::NotAService {
                    uri: quoted(),
                    kind: "agent",
                })
            }
            ["agent", "server", "dc", dc] if partition.is_none() && !dc.is_empty() => {
                Err(IdentityError::NotAService {
                    uri: quoted(),
                    kind: "server",
                })
            }
            ["gateway", "mesh", "dc", dc] if !dc.is_empty() => Err(IdentityError::NotAService {
                uri: quoted(),
                kind: "mesh gateway",
            }),
            _ => Err(IdentityError::BadFormat { uri: quoted() }),
        }
    }

    /// The trust domain, `<cluster-id>.consul`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The admin partition (`default` unless the ID has `/ap/`).
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The datacenter.
    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether the identity belongs to `trust_domain` (compared ASCII case-insensitively: it is a
    /// host name).
    pub fn in_trust_domain(&self, trust_domain: &str) -> bool {
        self.trust_domain.eq_ignore_ascii_case(trust_domain)
    }

    /// The SNI name a Consul sidecar sends to reach this service:
    /// `<svc>.<ns>.<dc>.internal.<td>`, or `<svc>.<ns>.<ap>.<dc>.internal-v1.<td>` outside the
    /// default partition. Lowercase, as the gateway compares it.
    pub fn sni(&self) -> String {
        let name = if self.partition == DEFAULT_PARTITION {
            [
                self.service.as_str(),
                &self.namespace,
                &self.datacenter,
                "internal",
                &self.trust_domain,
            ]
            .join(".")
        } else {
            [
                self.service.as_str(),
                &self.namespace,
                &self.partition,
                &self.datacenter,
                "internal-v1",
                &self.trust_domain,
            ]
            .join(".")
        };
        name.to_ascii_lowercase()
    }
}

impl fmt::Display for ServiceIdentity {
    /// The SPIFFE URI, as Consul writes it (`/ap/` only outside the default partition).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spiffe://{}", self.trust_domain)?;
        if self.partition != DEFAULT_PARTITION {
            write!(f, "/ap/{}", Encoded(&self.partition))?;
        }
        write!(
            f,
            "/ns/{}/dc/{}/svc/{}",
            Encoded(&self.namespace),
            Encoded(&self.datacenter),
            Encoded(&self.service)
        )
    }
}

impl FromStr for ServiceIdentity {
    type Err = IdentityError;

    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        ServiceIdentity::parse(uri)
    }
}

/// A segment percent-encoded as Go's `url.URL` encodes a path (`encodePath`: unreserved
/// characters and `$&+,:;=@` stay, everything else becomes `%XX`), except that `/` is encoded
/// too so that the ID parses back to the same segments.
struct Encoded<'a>(&'a str);

impl fmt::Display for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            let keep = byte.is_ascii_alphanumeric()
                || matches!(
                    byte,
                    b'-' | b'_'
                        | b'.'
                        | b'~'
                        | b'$'
                        | b'&'
                        | b'+'
                        | b','
                        | b':'
                        | b';'
                        | b'='
                        | b'@'
                );
            if keep {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// Percent-decode as Go's `url.PathUnescape`: `None` for a `%` not followed by two hex digits,
/// or a result that is not UTF-8.
fn decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn quote(uri: &str) -> String {
    if uri.len() <= MAX_QUOTED {
        return uri.to_owned();
    }
    format!("{}…", lambda_mesh_adapter::truncate_utf8(uri, MAX_QUOTED))
}

#[cfg(test)]
mod tests;
