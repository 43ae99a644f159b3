//! Header names with `_`: Envoy's `headers_with_underscores_action`, set from the mesh entry's
//! `HTTP.Incoming.RequestNormalization.HeadersWithUnderscoresAction`. Applied before the
//! intentions read the headers (as Envoy's codec applies it before RBAC), since `x_user` and
//! `x-user` are the same variable to many frameworks (CGI, WSGI, Rack) and a header rule on one
//! is evaded with the other.

use http::header::{HeaderMap, HeaderName};

/// What happens to a request header whose name holds `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum HeadersWithUnderscores {
    /// `ALLOW` (Consul's and Envoy's default): passed on.
    #[default]
    Allow,
    /// `REJECT_REQUEST`: the request is refused with 400.
    Reject,
    /// `DROP_HEADER`: the header is removed, the request goes on.
    Drop,
}

impl HeadersWithUnderscores {
    /// The action a `HeadersWithUnderscoresAction` value names (`""` is `ALLOW`), `None` for
    /// any other value.
    pub(crate) fn from_consul(value: &str) -> Option<HeadersWithUnderscores> {
        match value {
            "" | "ALLOW" => Some(HeadersWithUnderscores::Allow),
            "REJECT_REQUEST" => Some(HeadersWithUnderscores::Reject),
            "DROP_HEADER" => Some(HeadersWithUnderscores::Drop),
            _ => None,
        }
    }

    /// Apply the action to `headers`: `Err` with the first offending name when rejecting.
    pub(crate) fn apply(self, headers: &mut HeaderMap) -> Result<(), HeaderName> {
        if self == HeadersWithUnderscores::Allow {
            return Ok(());
        }
        let offending: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().contains('_'))
            .cloned()
            .collect();
        if let (HeadersWithUnderscores::Reject, Some(first)) = (self, offending.first()) {
            return Err(first.clone());
        }
        for name in &offending {
            headers.remove(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append("x_user", HeaderValue::from_static("admin"));
        headers.append("x_user", HeaderValue::from_static("root"));
        headers.append("x-user", HeaderValue::from_static("alice"));
        headers.append("my_other", HeaderValue::from_static("1"));
        headers
    }

    #[test]
    fn allow_keeps_everything() {
        let mut h = headers();
        assert_eq!(HeadersWithUnderscores::Allow.apply(&mut h), Ok(()));
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn reject_names_the_first_offending_header() {
        let mut h = headers();
        let refused = HeadersWithUnderscores::Reject.apply(&mut h).unwrap_err();
        assert_eq!(refused.as_str(), "x_user");
        let mut clean = HeaderMap::new();
        clean.append("x-user", HeaderValue::from_static("alice"));
        assert_eq!(HeadersWithUnderscores::Reject.apply(&mut clean), Ok(()));
    }

    #[test]
    fn drop_removes_every_value_of_every_underscored_name() {
        let mut h = headers();
        assert_eq!(HeadersWithUnderscores::Drop.apply(&mut h), Ok(()));
        let left: Vec<_> = h
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(left, [("x-user", "alice")]);
    }

    #[test]
    fn consul_names() {
        assert_eq!(
            HeadersWithUnderscores::from_consul(""),
            Some(HeadersWithUnderscores::Allow)
        );
        assert_eq!(
            HeadersWithUnderscores::from_consul("DROP_HEADER"),
            Some(HeadersWithUnderscores::Drop)
        );
        assert_eq!(HeadersWithUnderscores::from_consul("drop_header"), None);
    }
}
