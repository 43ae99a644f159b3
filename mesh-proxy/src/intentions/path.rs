//! Request-path normalization, before intentions match a path and before the function sees it
//! (Consul normalizes by default since 1.20.1, after CVE-2024-10005 and CVE-2024-10006: without
//! it `/public/../admin` or `/%61dmin` pass a `PathPrefix = "/admin"` deny and reach `/admin`).
//!
//! What Envoy's `normalize_path` does (RFC 3986 §6.2.2: percent-encoded unreserved characters
//! decoded, the other escapes' hex digits uppercased, dot segments removed, a raw `\` read as
//! `/`), then its `merge_slashes`, with `path_with_escaped_slashes_action` deciding about `%2F`
//! and `%5C` first. The gateway matches the result (which has no query) and invokes the function
//! with it, so what was authorized is what runs.

/// Consul's mesh entry `HTTP.Incoming.RequestNormalization`, with safer defaults than Consul's:
///
/// | field | Consul's default | ours |
/// |---|---|---|
/// | `insecure_disable_path_normalization` | `false` | `false` |
/// | `merge_slashes` | `false` (`//admin` passes a `/admin` prefix deny) | `true` |
/// | `path_with_escaped_slashes_action` | keep unchanged (Envoy's default) | reject |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathNormalization {
    /// `InsecureDisablePathNormalization`: no decoding, no dot-segment removal, no `\` → `/`
    /// (slashes are still merged and escaped slashes still handled, as those are separate options).
    pub(crate) insecure_disable_path_normalization: bool,
    /// `MergeSlashes`: `//a///b` → `/a/b`.
    pub(crate) merge_slashes: bool,
    /// `PathWithEscapedSlashesAction`: what to do with `%2F`, `%5C` and a raw `\`.
    pub(crate) path_with_escaped_slashes_action: EscapedSlashes,
}

/// What to do with a path holding an escaped slash (`%2F`, `%2f`) or backslash (`%5C`, `%5c`,
/// and here also a raw `\`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum EscapedSlashes {
    /// `REJECT_REQUEST`: refuse the request (our default).
    #[default]
    Reject,
    /// `KEEP_UNCHANGED` (Consul's and Envoy's default): `%2F` and `%5C` stay escaped, so they
    /// are part of a segment, not separators; a raw `\` becomes `/` (as Envoy's normalization
    /// does).
    Keep,
    /// `UNESCAPE_AND_FORWARD` (and `UNESCAPE_AND_REDIRECT`, forwarded instead of redirected):
    /// `%2F` and `%5C` become separators, like a raw `\`.
    Unescape,
}

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    /// Asterisk form (`OPTIONS *`) or anything else that does not start with `/`.
    #[error("request target is not a path starting with `/`")]
    NotAPath,
    /// `%2F` or `%2f`, and escaped slashes are rejected.
    #[error("path contains an encoded slash (%2F)")]
    EncodedSlash,
    /// `%5C` or `%5c`, and escaped slashes are rejected.
    #[error("path contains an encoded backslash (%5C)")]
    EncodedBackslash,
    /// A raw `\`, and escaped slashes are rejected.
    #[error("path contains a backslash")]
    Backslash,
    /// A `%` without two hex digits after it.
    #[error("path contains `%` not followed by two hex digits")]
    BadPercentEncoding,
    /// A byte below 0x20, or DEL.
    #[error("path contains a control character")]
    ControlCharacter,
    /// `?` or `#`: the caller passed more than the path.
    #[error("path contains `{0}`: a path has no query or fragment")]
    NotOnlyAPath(char),
}

impl Default for PathNormalization {
    fn default() -> PathNormalization {
        PathNormalization {
            insecure_disable_path_normalization: false,
            merge_slashes: true,
            path_with_escaped_slashes_action: EscapedSlashes::Reject,
        }
    }
}

impl EscapedSlashes {
    /// The action a `PathWithEscapedSlashesAction` value names, `None` for any other value.
    /// `""` and `IMPLEMENTATION_SPECIFIC_DEFAULT` mean Envoy's default, `KEEP_UNCHANGED`; a
    /// missing key means ours (`EscapedSlashes::default()`, reject).
    pub(crate) fn from_consul(value: &str) -> Option<EscapedSlashes> {
        match value {
            "" | "IMPLEMENTATION_SPECIFIC_DEFAULT" | "KEEP_UNCHANGED" => Some(EscapedSlashes::Keep),
            "REJECT_REQUEST" => Some(EscapedSlashes::Reject),
            "UNESCAPE_AND_REDIRECT" | "UNESCAPE_AND_FORWARD" => Some(EscapedSlashes::Unescape),
            _ => None,
        }
    }
}

/// `raw`, the request target's path (as `http::Uri::path()` gives it, so an absolute-form target
/// is already reduced to its path; no query), normalized as `options` say. The empty path is `/`.
pub(crate) fn normalize_path(raw: &str, options: &PathNormalization) -> Result<String, PathError> {
    if raw.is_empty() {
        return Ok("/".to_owned());
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAPath);
    }
    let normalize = !options.insecure_disable_path_normalization;
    let decoded = decode(raw, normalize, options.path_with_escaped_slashes_action)?;
    Ok(join_segments(&decoded, normalize, options.merge_slashes))
}

/// The first pass, character by character: escapes decoded or canonicalized, backslashes and
/// characters a path may not hold raw handled.
fn decode(raw: &str, normalize: bool, escaped: EscapedSlashes) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{0}'..='\u{1f}' | '\u{7f}' => return Err(PathError::ControlCharacter),
            '?' | '#' => return Err(PathError::NotOnlyAPath(c)),
            '%' => {
                let (Some(high), Some(low)) = (chars.next(), chars.next()) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let (Some(h), Some(l)) = (high.to_digit(16), low.to_digit(16)) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let byte = (h * 16 + l) as u8;
                match (byte, escaped) {
                    (b'/', EscapedSlashes::Reject) => return Err(PathError::EncodedSlash),
                    (b'\\', EscapedSlashes::Reject) => return Err(PathError::EncodedBackslash),
                    (b'/', EscapedSlashes::Unescape) => out.push('/'),
                    (b'\\', EscapedSlashes::Unescape) => {
                        out.push(if normalize { '/' } else { '\\' })
                    }
                    _ if normalize && is_unreserved(byte) => out.push(char::from(byte)),
                    _ if normalize => push_escaped(&mut out, byte),
                    _ => {
                        out.push('%');
                        out.push(high);
                        out.push(low);
                    }
                }
            }
            '\\' if escaped == EscapedSlashes::Reject => return Err(PathError::Backslash),
            '\\' if normalize => out.push('/'),
            c if normalize && !(c.is_ascii() && may_stay_raw(c as u8)) => {
                let mut buf = [0; 4];
                for &byte in c.encode_utf8(&mut buf).as_bytes() {
                    push_escaped(&mut out, byte);
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The second pass, segment by segment: dot segments removed (RFC 3986 §5.2.4), empty segments
/// dropped when merging slashes. A trailing `/`, `/.` or `/..` leaves a trailing slash.
fn join_segments(path: &str, remove_dots: bool, merge_slashes: bool) -> String {
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.into_iter().enumerate() {
        match segment {
            "." if remove_dots => {}
            ".." if remove_dots => {
                kept.pop();
            }
            "" if merge_slashes && i != last => continue,
            _ => {
                kept.push(segment);
                continue;
            }
        }
        if i == last {
            kept.push("");
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// RFC 3986 unreserved: `ALPHA DIGIT - . _ ~`, the characters whose escapes are decoded.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Whether a path may hold `byte` unescaped: `pchar` (unreserved, sub-delims, `:`, `@`) or `/`.
fn may_stay_raw(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

/// `byte` as `%XX`, uppercase hex (RFC 3986 §6.2.2.1).
fn push_escaped(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

#[cfg(test)]
mod tests;
