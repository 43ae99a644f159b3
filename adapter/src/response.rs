//! Function side: the service's `http::Response` → the result JSON in the event's shape.
//!
//! | shape | result |
//! |---|---|
//! | v1 | `statusCode`, `multiValueHeaders` (every value), `body`, `isBase64Encoded` |
//! | v2, Function URL | `statusCode`, `headers` (repeated values comma-joined), `cookies` (every `Set-Cookie`), `body`, `isBase64Encoded` |
//! | ALB | `statusCode`, `statusDescription` ("200 OK"), `multiValueHeaders` or `headers` (the last value per name) matching the request's mode, `body`, `isBase64Encoded` |
//! | Envoy | `status_code`, `headers` (comma-joined), `cookies`, `body`, `is_base64_encoded` |
//! | pass-through | the body itself |

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::Response;

use crate::body::push_body;
use crate::headers::{push_joined, push_last, push_multi, push_set_cookies};
use crate::json::{push_key, push_str};
use crate::{EncodeError, EventShape};

/// Function side: encode the service's response in the event's shape; returns the JSON result
/// bytes (pass-through: the body itself).
pub fn encode_response(
    response: Response<Bytes>,
    shape: &EventShape,
) -> Result<Bytes, EncodeError> {
    let (parts, body) = response.into_parts();
    if matches!(shape, EventShape::PassThrough) {
        return Ok(body);
    }
    let headers = &parts.headers;
    let status = parts.status.as_u16();
    let mut out = Vec::with_capacity(body.len() / 3 * 4 + 256 + headers.len() * 64);
    let mut first = true;
    out.push(b'{');
    let envoy = matches!(shape, EventShape::Envoy);
    push_key(
        &mut out,
        &mut first,
        if envoy { "status_code" } else { "statusCode" },
    );
    out.extend_from_slice(status.to_string().as_bytes());
    match shape {
        EventShape::ApiGatewayV1 => {
            push_key(&mut out, &mut first, "multiValueHeaders");
            push_multi(&mut out, headers)?;
        }
        EventShape::Alb { multi_value } => {
            push_key(&mut out, &mut first, "statusDescription");
            let reason = parts.status.canonical_reason().unwrap_or("Unknown");
            push_str(&mut out, &format!("{status} {reason}"));
            if *multi_value {
                push_key(&mut out, &mut first, "multiValueHeaders");
                push_multi(&mut out, headers)?;
            } else {
                push_key(&mut out, &mut first, "headers");
                push_last(&mut out, headers)?;
            }
        }
        _ => {
            push_key(&mut out, &mut first, "headers");
            push_joined(&mut out, headers, &[])?;
            if headers.contains_key(SET_COOKIE) {
                push_key(&mut out, &mut first, "cookies");
                push_set_cookies(&mut out, headers)?;
            }
        }
    }
    push_key(&mut out, &mut first, "body");
    let base64 = push_body(&mut out, headers, &body);
    push_key(
        &mut out,
        &mut first,
        if envoy {
            "is_base64_encoded"
        } else {
            "isBase64Encoded"
        },
    );
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    out.push(b'}');
    Ok(Bytes::from(out))
}
