//! Trace context across the Lambda hop. The Invoke call carries an X-Ray `X-Amzn-Trace-Id` made
//! from the caller's W3C `traceparent` (which wins), else from the caller's `X-Amzn-Trace-Id`, else
//! a new trace. The caller's own headers still travel in the event unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use rand::Rng as _;

/// W3C Trace Context.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// X-Ray's trace header (the Invoke API reads it; Lambda passes it to the runtime).
pub(crate) const XRAY: &str = "x-amzn-trace-id";

/// The `X-Amzn-Trace-Id` value for the Invoke call of a request with `headers`.
pub(crate) fn invoke_header(headers: &HeaderMap) -> HeaderValue {
    let lineage = single(headers, XRAY).and_then(|v| Xray::parse(v)?.lineage);
    let xray = match single(headers, TRACEPARENT).and_then(from_traceparent) {
        Some(mut xray) => {
            xray.lineage = lineage;
            xray
        }
        None => single(headers, XRAY)
            .and_then(Xray::parse)
            .unwrap_or_else(Xray::start),
    };
    // Every part is checked ASCII (hex digits, `0`/`1`/`?`, a visible-ASCII lineage).
    HeaderValue::from_str(&xray.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of a header present exactly once (W3C: several `traceparent`s are no context).
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

/// The fields of an X-Ray trace header that cross the hop.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Xray {
    /// `Root` without `1-`: 8 hex digits (epoch seconds), `-`, 24 hex digits.
    root: String,
    /// `Parent`: 16 hex digits.
    parent: Option<String>,
    /// `Sampled`: `0`, `1` or `?`.
    sampled: Option<char>,
    /// `Lineage`, kept as it came.
    lineage: Option<String>,
}

impl Xray {
    /// A new trace: its time part is now in epoch seconds, no parent and no sampling decision.
    fn start() -> Xray {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let unique: [u8; 12] = rand::thread_rng().gen();
        Xray {
            root: format!("{:08x}-{}", secs & 0xffff_ffff, hex(&unique)),
            parent: None,
            sampled: None,
            lineage: None,
        }
    }

    /// Parse `Root=1-…;Parent=…;Sampled=…;Lineage=…` (any order, other fields dropped); `None`
    /// unless `Root` is well formed, and a malformed optional field is left out.
    fn parse(value: &str) -> Option<Xray> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = None;
        let mut lineage = None;
        for field in value.split(';') {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "Root" => {
                    let rest = value.strip_prefix("1-")?;
                    let (time, unique) = rest.split_once('-')?;
                    if !is_hex(time, 8) || !is_hex(unique, 24) {
                        return None;
                    }
                    root = Some(rest.to_ascii_lowercase());
                }
                "Parent" if is_hex(value, 16) => parent = Some(value.to_ascii_lowercase()),
                "Sampled" if matches!(value, "0" | "1" | "?") => sampled = value.chars().next(),
                "Lineage"
                    if !value.is_empty()
                        && value.len() <= 200
                        && value.bytes().all(|b| b.is_ascii_graphic() && b != b';') =>
                {
                    lineage = Some(value.to_owned());
                }
                _ => {}
            }
        }
        Some(Xray {
            root: root?,
            parent,
            sampled,
            lineage,
        })
    }
}

impl std::fmt::Display for Xray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root=1-{}", self.root)?;
        if let Some(parent) = &self.parent {
            write!(f, ";Parent={parent}")?;
        }
        if let Some(sampled) = self.sampled {
            write!(f, ";Sampled={sampled}")?;
        }
        if let Some(lineage) = &self.lineage {
            write!(f, ";Lineage={lineage}")?;
        }
        Ok(())
    }
}

/// An X-Ray header from a W3C `traceparent` (`00-<trace-id>-<parent-id>-<flags>`): Root is the
/// trace id split 8 + 24, Parent the parent id, Sampled the flags' sampled bit.
fn from_traceparent(value: &str) -> Option<Xray> {
    let mut parts = value.split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    // Version 00 has exactly four parts; later versions may append more (W3C: parse the first four).
    let valid = is_lower_hex(version, 2)
        && version != "ff"
        && !(version == "00" && parts.next().is_some())
        && is_lower_hex(trace_id, 32)
        && is_lower_hex(parent, 16)
        && is_lower_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    if !valid {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some(Xray {
        root: format!("{}-{}", &trace_id[..8], &trace_id[8..]),
        parent: Some(parent.to_owned()),
        sampled: Some(if sampled { '1' } else { '0' }),
        lineage: None,
    })
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pairs: &[(&'static str, &str)]) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        invoke_header(&headers).to_str().unwrap().to_owned()
    }

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_becomes_root_parent_and_sampled() {
        assert_eq!(
            header(&[(TRACEPARENT, PARENT)]),
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
        );
        assert_eq!(
            header(&[(
                TRACEPARENT,
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
            )]),
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=0"
        );
    }

    #[test]
    fn traceparent_wins_over_xray_and_keeps_its_lineage() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:1|68fd508a:5";
        assert_eq!(
            header(&[(XRAY, xray), (TRACEPARENT, PARENT)]),
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1;Lineage=a87bd80c:1|68fd508a:5"
        );
    }

    #[test]
    fn an_xray_header_alone_is_carried_with_its_known_fields() {
        assert_eq!(
            header(&[(
                XRAY,
                "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
            )]),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        );
    }

    #[test]
    fn no_or_broken_context_starts_a_trace_of_now() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        for pairs in [
            vec![],
            vec![(
                TRACEPARENT,
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            )],
            vec![(
                TRACEPARENT,
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            )],
            vec![(
                TRACEPARENT,
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
            vec![(
                TRACEPARENT,
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            )],
            vec![(TRACEPARENT, PARENT), (TRACEPARENT, PARENT)],
            vec![(XRAY, "Root=1-zz-bd862e3fe1be46a994272793")],
            vec![(XRAY, "Parent=53995c3f42cd8ad8")],
        ] {
            let value = header(&pairs);
            let root = value.strip_prefix("Root=1-").expect("a root");
            let (time, unique) = root.split_once('-').unwrap();
            let secs = u64::from_str_radix(time, 16).unwrap();
            assert!(secs.abs_diff(now) <= 5, "{value} for {pairs:?}");
            assert!(is_hex(unique, 24), "{value} for {pairs:?}");
        }
        assert_ne!(header(&[]), header(&[]), "each new trace is its own");
    }

    #[test]
    fn a_later_traceparent_version_is_read_by_its_first_four_parts() {
        assert_eq!(
            header(&[(
                TRACEPARENT,
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03-extra"
            )]),
            "Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=b7ad6b7169203331;Sampled=1"
        );
    }
}
