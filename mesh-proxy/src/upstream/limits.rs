//! Stage 1, limits: what can be refused from the request head alone, before any byte of the body
//! is read — `CONNECT`, `Upgrade`, oversized header sets, more than one `Host` — and the upstream's `max_concurrency`.

use http::header;
use http::{Method, Request};
use tokio::sync::OwnedSemaphorePermit;

use super::Upstream;
use crate::error::ProxyError;

/// Most request headers accepted (431 beyond). The one place this policy is enforced, for
/// HTTP/1.1 and h2 alike; the listener's parser limits sit above it, as a memory bound only.
pub const MAX_HEADERS: usize = 100;
/// Most request header bytes accepted, names and values (431 beyond).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Check the head, then take one of the upstream's concurrency slots for the request's life.
pub(super) fn admit<B>(
    upstream: &Upstream,
    request: &Request<B>,
) -> Result<OwnedSemaphorePermit, ProxyError> {
    check_head(request)?;
    upstream
        .limiter
        .clone()
        .try_acquire_owned()
        .map_err(|_| ProxyError::Overloaded {
            upstream: upstream.config.destination_name.clone(),
            limit: upstream.config.max_concurrency,
        })
}

fn check_head<B>(request: &Request<B>) -> Result<(), ProxyError> {
    if request.method() == Method::CONNECT {
        return Err(ProxyError::NotImplemented { what: "CONNECT" });
    }
    if request.headers().contains_key(header::UPGRADE) {
        return Err(ProxyError::NotImplemented { what: "Upgrade" });
    }
    let headers = request.headers();
    if headers.get_all(header::HOST).iter().nth(1).is_some() {
        // RFC 9112 §3.2: a request with more than one Host field line is a 400.
        return Err(ProxyError::BadRequest {
            message: "the request has more than one Host header".to_owned(),
        });
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(ProxyError::HeadersTooLarge {
            count: MAX_HEADERS,
            bytes: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_that_cannot_be_served_are_refused() {
        let connect = Request::builder()
            .method(Method::CONNECT)
            .uri("x:1")
            .body(())
            .unwrap();
        assert!(matches!(
            check_head(&connect),
            Err(ProxyError::NotImplemented { .. })
        ));
        let upgrade = Request::builder()
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(matches!(
            check_head(&upgrade),
            Err(ProxyError::NotImplemented { .. })
        ));
        let mut many = Request::builder();
        for i in 0..=MAX_HEADERS {
            many = many.header(format!("x-h{i}"), "v");
        }
        assert!(matches!(
            check_head(&many.body(()).unwrap()),
            Err(ProxyError::HeadersTooLarge { .. })
        ));
        let two_hosts = Request::builder()
            .header("host", "a")
            .header("host", "b")
            .body(())
            .unwrap();
        assert!(matches!(
            check_head(&two_hosts),
            Err(ProxyError::BadRequest { .. })
        ));
        let ok = Request::builder().header("x", "y").body(()).unwrap();
        assert!(check_head(&ok).is_ok());
    }
}
