//! Header maps ⇄ JSON objects. Single-value JSON maps carry repeated headers comma-joined
//! (RFC 9110 §5.3), except `cookie`, joined with "; " (RFC 6265 §5.4), and `set-cookie`, which is
//! never joined: shapes with single-value maps carry it in a `cookies` array instead.

use std::borrow::Cow;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::json::{opt_object, push_key, push_str, scalar_text, str_value, wrong_type, Node};
use crate::{DecodeError, EncodeError};

/// Append one header, validating name and value; errors name `field.name`.
pub(crate) fn append(
    map: &mut HeaderMap,
    field: &str,
    name: &str,
    value: &str,
) -> Result<(), DecodeError> {
    let header =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| DecodeError::InvalidHeaderName {
            field: format!("{field}.{name}"),
        })?;
    let value = HeaderValue::from_str(value).map_err(|_| DecodeError::InvalidHeaderValue {
        field: format!("{field}.{name}"),
    })?;
    map.append(header, value);
    Ok(())
}

/// The JSON types a header value may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    /// Events: strings only, as AWS documents and sends them; anything else is an error.
    Strings,
    /// Function results: numbers and booleans too, as their JSON text. API Gateway takes
    /// `"access-control-allow-credentials": true` or `"x-count": 5` from a function and serves it,
    /// so mesh-proxy does; arrays and objects are errors.
    Scalars,
}

impl Values {
    /// The text of one value (`None` for null); an error naming `path` for a type not allowed.
    fn text<'n>(
        self,
        node: &'n Node<'_>,
        path: impl FnOnce() -> String,
    ) -> Result<Option<Cow<'n, str>>, DecodeError> {
        match self {
            Values::Strings => Ok(str_value(node, path)?.map(Cow::Borrowed)),
            Values::Scalars => scalar_text(node, path),
        }
    }
}

/// Headers from a single-value JSON object (`{"name": "value"}`); null values are skipped.
pub(crate) fn from_single(
    map: &mut HeaderMap,
    members: &[(Cow<'_, str>, Node<'_>)],
    field: &str,
    values: Values,
) -> Result<(), DecodeError> {
    for (name, value) in members {
        if let Some(text) = values.text(value, || format!("{field}.{name}"))? {
            append(map, field, name, &text)?;
        }
    }
    Ok(())
}

/// Headers from a multi-value JSON object (`{"name": ["v1", "v2"]}`); a null list or item is
/// none. Every value is a list, as AWS documents it for events and results alike.
pub(crate) fn from_multi(
    map: &mut HeaderMap,
    members: &[(Cow<'_, str>, Node<'_>)],
    field: &str,
    values: Values,
) -> Result<(), DecodeError> {
    for (name, list) in members {
        let items = match list {
            Node::Null => continue,
            Node::Array(items) => items,
            other => return Err(wrong_type(format!("{field}.{name}"), "an array", other)),
        };
        for item in items {
            if let Some(text) = values.text(item, || format!("{field}.{name}"))? {
                append(map, field, name, &text)?;
            }
        }
    }
    Ok(())
}

/// The headers of an event or result that may carry both maps (v1, ALB, results): every value of
/// `multiValueHeaders`, plus `headers` for the names the multi-value map lacks (API Gateway sends
/// both, consistent; hand-written events and results often fill only one).
pub(crate) fn from_multi_and_single(
    node: &Node<'_>,
    values: Values,
) -> Result<HeaderMap, DecodeError> {
    let mut headers = HeaderMap::new();
    if let Some(members) = opt_object(node, "multiValueHeaders", "multiValueHeaders")? {
        from_multi(&mut headers, members, "multiValueHeaders", values)?;
    }
    if let Some(members) = opt_object(node, "headers", "headers")? {
        let mut single = HeaderMap::new();
        from_single(&mut single, members, "headers", values)?;
        merge_missing(&mut headers, single);
    }
    Ok(headers)
}

/// Add the headers of `single` whose names `map` does not have yet.
fn merge_missing(map: &mut HeaderMap, single: HeaderMap) {
    let mut current = None;
    for (name, value) in single {
        if let Some(name) = name {
            current = (!map.contains_key(&name)).then_some(name);
        }
        if let Some(name) = &current {
            map.append(name.clone(), value);
        }
    }
}

fn utf8<'v>(name: &HeaderName, value: &'v HeaderValue) -> Result<&'v str, EncodeError> {
    std::str::from_utf8(value.as_bytes()).map_err(|_| EncodeError::HeaderValueNotUtf8 {
        name: name.as_str().to_owned(),
    })
}

/// The separator for joining repeated values of `name`.
pub(crate) fn separator(name: &HeaderName) -> &'static str {
    if name == COOKIE {
        "; "
    } else {
        ","
    }
}

/// Write `{"name":"v1,v2",...}`: one member per name, repeated values joined; `set-cookie` and
/// any name in `skip` left out.
pub(crate) fn push_joined(
    out: &mut Vec<u8>,
    headers: &HeaderMap,
    skip: &[HeaderName],
) -> Result<(), EncodeError> {
    out.push(b'{');
    let mut first = true;
    for name in headers.keys() {
        if name == SET_COOKIE || skip.contains(name) {
            continue;
        }
        push_key(out, &mut first, name.as_str());
        let mut values = headers.get_all(name).iter();
        let mut joined = String::new();
        if let Some(v) = values.next() {
            joined.push_str(utf8(name, v)?);
        }
        for v in values {
            joined.push_str(separator(name));
            joined.push_str(utf8(name, v)?);
        }
        push_str(out, &joined);
    }
    out.push(b'}');
    Ok(())
}

/// Write `{"name":["v1","v2"],...}` with every value, `set-cookie` included.
pub(crate) fn push_multi(out: &mut Vec<u8>, headers: &HeaderMap) -> Result<(), EncodeError> {
    out.push(b'{');
    let mut first = true;
    for name in headers.keys() {
        push_key(out, &mut first, name.as_str());
        out.push(b'[');
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_str(out, utf8(name, v)?);
        }
        out.push(b']');
    }
    out.push(b'}');
    Ok(())
}

/// Write `{"name":"last value",...}`: ALB's single-value mode keeps one value per name, the last.
pub(crate) fn push_last(out: &mut Vec<u8>, headers: &HeaderMap) -> Result<(), EncodeError> {
    out.push(b'{');
    let mut first = true;
    for name in headers.keys() {
        if let Some(last) = headers.get_all(name).iter().next_back() {
            push_key(out, &mut first, name.as_str());
            push_str(out, utf8(name, last)?);
        }
    }
    out.push(b'}');
    Ok(())
}

/// Write `["c1","c2"]` from every `set-cookie` value.
pub(crate) fn push_set_cookies(out: &mut Vec<u8>, headers: &HeaderMap) -> Result<(), EncodeError> {
    out.push(b'[');
    for (i, v) in headers.get_all(SET_COOKIE).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, utf8(&SET_COOKIE, v)?);
    }
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_keeps_cookies_apart() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2, 3"));
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        h.append("set-cookie", HeaderValue::from_static("s=1; Path=/"));
        h.append("set-cookie", HeaderValue::from_static("t=2"));
        let mut out = Vec::new();
        push_joined(&mut out, &h, &[]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"x-a":"1,2, 3","cookie":"a=1; b=2"}"#
        );
        let mut out = Vec::new();
        push_set_cookies(&mut out, &h).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"["s=1; Path=/","t=2"]"#);
        let mut out = Vec::new();
        push_last(&mut out, &h).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"x-a":"2, 3","cookie":"b=2","set-cookie":"t=2"}"#
        );
    }

    #[test]
    fn invalid_names_and_values_name_the_field() {
        let mut h = HeaderMap::new();
        let err = append(&mut h, "headers", "bad name", "v").unwrap_err();
        assert_eq!(err.to_string(), "invalid header name in `headers.bad name`");
        let err = append(&mut h, "multiValueHeaders", "x-foo", "a\r\nb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid header value in `multiValueHeaders.x-foo`"
        );
    }
}
