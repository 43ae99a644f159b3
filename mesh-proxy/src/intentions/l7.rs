//! L7 permissions: whether a request head meets a permission's `HTTP` criteria, as the Envoy
//! RBAC rules Consul generates decide it (`agent/xds/rbac.go`: every criterion given must hold;
//! header criteria are Envoy `HeaderMatcher`s).

use std::borrow::Cow;

use super::{HeaderMatch, HeaderTest, HttpMatch, PathMatch, Permission, RequestHead};

/// The index of the first of `permissions` whose criteria all match `request`.
pub(super) fn first_match(permissions: &[Permission], request: &RequestHead<'_>) -> Option<usize> {
    permissions
        .iter()
        .position(|permission| http_matches(&permission.http, request))
}

/// Whether every criterion in `http` holds (no criteria: every request, as Envoy's `any`).
pub(super) fn http_matches(http: &HttpMatch, request: &RequestHead<'_>) -> bool {
    let path = http
        .path
        .as_ref()
        .is_none_or(|path| path_matches(path, request.path));
    let method = http.methods.is_empty()
        || http
            .methods
            .iter()
            .any(|method| method == request.method.as_str());
    path && method
        && http
            .headers
            .iter()
            .all(|header| header_matches(header, request))
}

/// `PathExact`, `PathPrefix` (case-sensitive, as Envoy's) or `PathRegex` against the normalized
/// path without its query.
fn path_matches(path: &PathMatch, request_path: &str) -> bool {
    match path {
        PathMatch::Exact(exact) => request_path == exact,
        PathMatch::Prefix(prefix) => request_path.starts_with(prefix.as_str()),
        PathMatch::Regex(regex) => regex.is_match(request_path),
    }
}

/// One `Header` criterion, as Envoy's `HeaderUtility::matchHeaders` decides it: an absent header
/// matches only `Present` inverted (so `Exact` with `Invert` does NOT match a request without
/// the header); a present one matches when the test's result differs from `Invert`.
fn header_matches(header: &HeaderMatch, request: &RequestHead<'_>) -> bool {
    match header_value(request, &header.name) {
        None => header.invert && matches!(header.test, HeaderTest::Present),
        Some(value) => test_matches(&header.test, &value, header.ignore_case) != header.invert,
    }
}

/// The value Envoy would test: every field of that name joined with `,` (no space), the
/// pseudo-headers `:method` and `:authority` (the `Host` header) as HTTP/2 has them, `:path`
/// as the normalized path (Envoy's has the query too). `None` when absent.
fn header_value<'a>(request: &RequestHead<'a>, name: &str) -> Option<Cow<'a, [u8]>> {
    let name = match name {
        ":method" => return Some(Cow::Borrowed(request.method.as_str().as_bytes())),
        ":path" => return Some(Cow::Borrowed(request.path.as_bytes())),
        ":authority" => "host",
        other if other.starts_with(':') => return None,
        other => other,
    };
    let mut values = request.headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first.as_bytes()));
    };
    let mut joined = first.as_bytes().to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.push(b',');
        joined.extend_from_slice(value.as_bytes());
    }
    Some(Cow::Owned(joined))
}

/// The test itself on a present value; `IgnoreCase` is ASCII case folding (Envoy's
/// `ignore_case`) and does not apply to `Regex`, as in Envoy.
fn test_matches(test: &HeaderTest, value: &[u8], ignore_case: bool) -> bool {
    let fold = |bytes| fold_case(bytes, ignore_case);
    match test {
        HeaderTest::Present => true,
        HeaderTest::Exact(exact) => fold(value) == fold(exact.as_bytes()),
        HeaderTest::Prefix(prefix) => fold(value).starts_with(&fold(prefix.as_bytes())),
        HeaderTest::Suffix(suffix) => fold(value).ends_with(&fold(suffix.as_bytes())),
        HeaderTest::Contains(needle) => contains(&fold(value), &fold(needle.as_bytes())),
        HeaderTest::Regex(regex) => regex.is_match(&String::from_utf8_lossy(value)),
    }
}

/// `bytes` ASCII-lowercased when `ignore_case`.
fn fold_case(bytes: &[u8], ignore_case: bool) -> Cow<'_, [u8]> {
    if ignore_case {
        Cow::Owned(bytes.to_ascii_lowercase())
    } else {
        Cow::Borrowed(bytes)
    }
}

/// Whether `needle` occurs in `haystack` (the empty needle occurs everywhere).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests;
