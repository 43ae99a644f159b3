//! The one hop-by-hop header rule both ends apply (mesh-proxy on requests and results, the
//! extension on what it forwards to and from the service).

use http::header::{HeaderMap, HeaderName, CONNECTION};

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1, and the RFC 2616
/// list's `Proxy-Authenticate` / `Proxy-Authorization`), plus `Proxy-Connection`, which old
/// clients still send. `Transfer-Encoding` is framing of one hop too: the next hop frames anew.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including every header that `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}
