//! Mesh side: the function's result → `http::Response`.
//!
//! For the v2 and Envoy formats, an object with `statusCode` (v1, v2, ALB) or `status_code`
//! (Envoy) is an HTTP result: `multiValueHeaders` wins over `headers` for a name present in both,
//! `cookies` become `Set-Cookie` headers, `body` is base64-decoded when `isBase64Encoded` /
//! `is_base64_encoded`. Any other valid JSON becomes `200`, `content-type: application/json`, the
//! payload as the body (API Gateway's rule for payload format 2.0). For pass-through the payload is
//! the body, unchanged. Either way `content-length` is recomputed and `transfer-encoding` dropped.
//!
//! Field types are checked as AWS documents them (`body` a string, `isBase64Encoded` a boolean,
//! `headers` an object, `multiValueHeaders` an object of lists, `cookies` a list of strings): a
//! wrong type is an error naming the field. Where API Gateway itself is lenient with what a
//! function returns, so is this: `statusCode` may be a numeric string, and header values numbers
//! or booleans (written as their JSON text).

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::body::decode_body;
use crate::headers::{append, from_multi_and_single, Values};
use crate::json::{opt_array, opt_bool, str_value, take_str, Node};
use crate::{DecodeError, PayloadFormat};

/// Mesh side: decode the function's result payload into the response for the caller.
pub fn decode_result(
    payload: Bytes,
    format: PayloadFormat,
) -> Result<Response<Bytes>, DecodeError> {
    if matches!(format, PayloadFormat::PassThrough) {
        return Ok(finish(StatusCode::OK, HeaderMap::new(), payload));
    }
    let mut node = Node::parse(&payload)?;
    let Some(status_field) = status_field(&node) else {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(finish(StatusCode::OK, headers, payload.clone()));
    };
    let (status, headers) = http_parts(&node, status_field)?;
    let base64_field = if node.get("is_base64_encoded").is_some() {
        "is_base64_encoded"
    } else {
        "isBase64Encoded"
    };
    let is_base64 = opt_bool(&node, base64_field, base64_field)?;
    let body = decode_body(take_str(&mut node, "body")?, is_base64, "body")?;
    Ok(finish(status, headers, body))
}

/// `statusCode` or `status_code`, whichever the object has.
pub(crate) fn status_field(node: &Node<'_>) -> Option<&'static str> {
    if !matches!(node, Node::Object(_)) {
        return None;
    }
    ["statusCode", "status_code"]
        .into_iter()
        .find(|f| node.field(f).is_some())
}

/// Status and headers of an HTTP-shaped result or stream prelude.
pub(crate) fn http_parts(
    node: &Node<'_>,
    status_field: &str,
) -> Result<(StatusCode, HeaderMap), DecodeError> {
    let invalid = |value: String| DecodeError::InvalidStatus {
        field: status_field.to_owned(),
        value,
    };
    let status = match node.field(status_field) {
        None => StatusCode::OK,
        Some(Node::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .and_then(|n| StatusCode::from_u16(n).ok())
            .ok_or_else(|| invalid(n.to_string()))?,
        Some(Node::Str(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .and_then(|n| StatusCode::from_u16(n).ok())
            .ok_or_else(|| invalid(format!("{s:?}")))?,
        Some(other) => return Err(invalid(format!("({})", other.kind()))),
    };
    let mut headers = from_multi_and_single(node, Values::Scalars)?;
    if let Some(cookies) = opt_array(node, "cookies", "cookies")? {
        for (i, cookie) in cookies.iter().enumerate() {
            let Some(text) = str_value(cookie, || format!("cookies.{i}"))? else {
                continue;
            };
            append(&mut headers, "cookies", SET_COOKIE.as_str(), text).map_err(|_| {
                DecodeError::InvalidHeaderValue {
                    field: format!("cookies.{i}"),
                }
            })?;
        }
    }
    Ok((status, headers))
}

fn finish(status: StatusCode, mut headers: HeaderMap, body: Bytes) -> Response<Bytes> {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Response<Bytes> {
        decode_result(Bytes::copy_from_slice(json.as_bytes()), PayloadFormat::V2).unwrap()
    }

    #[test]
    fn non_http_json_becomes_200_json() {
        for payload in [
            r#"{"hello":"world"}"#,
            r#""just a string""#,
            "[1,2]",
            "42",
            "null",
        ] {
            let r = decode(payload);
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
            assert_eq!(
                r.headers()[CONTENT_LENGTH],
                payload.len().to_string().as_str()
            );
            assert_eq!(r.body(), payload.as_bytes());
        }
    }

    #[test]
    fn http_results_of_every_shape() {
        let r = decode(
            r#"{"statusCode":201,"headers":{"a":"1","transfer-encoding":"chunked","content-length":"999"},"multiValueHeaders":{"a":["x","y"]},"cookies":["c=1","d=2"],"body":"aGk=","isBase64Encoded":true}"#,
        );
        assert_eq!(r.status(), 201);
        let a: Vec<_> = r.headers().get_all("a").iter().collect();
        assert_eq!(a, ["x", "y"]);
        let c: Vec<_> = r.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(c, ["c=1", "d=2"]);
        assert!(!r.headers().contains_key(TRANSFER_ENCODING));
        assert_eq!(r.headers()[CONTENT_LENGTH], "2");
        assert_eq!(r.body(), "hi");
        let r = decode(
            r#"{"status_code":"404","headers":{"x":"y"},"body":"nope","is_base64_encoded":false}"#,
        );
        assert_eq!(
            (r.status().as_u16(), r.body().as_ref()),
            (404, b"nope".as_ref())
        );
        let r = decode(r#"{"statusCode":200,"statusDescription":"200 OK","body":null}"#);
        assert_eq!(r.body().len(), 0);
    }

    #[test]
    fn bad_results_name_the_field() {
        let bad = |json: &str| {
            decode_result(
                Bytes::copy_from_slice(json.as_bytes()),
                PayloadFormat::Envoy,
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(bad("{not json"), "payload is not valid JSON");
        assert_eq!(
            bad(r#"{"statusCode":42}"#),
            "invalid status code 42 in `statusCode`"
        );
        assert_eq!(
            bad(r#"{"statusCode":200,"headers":{"x":"a\nb"}}"#),
            "invalid header value in `headers.x`"
        );
        assert_eq!(
            bad(r#"{"statusCode":200,"body":"@@","isBase64Encoded":true}"#),
            "invalid base64 in `body`"
        );
        assert_eq!(
            bad(r#"{"statusCode":200,"body":{}}"#),
            "malformed field `body`: must be a string, found an object"
        );
    }

    #[test]
    fn pass_through_is_unchanged() {
        let r = decode_result(
            Bytes::from_static(b"\x00not json"),
            PayloadFormat::PassThrough,
        )
        .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body(), &b"\x00not json"[..]);
        assert_eq!(r.headers().len(), 1);
    }
}
