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

use crate::body::body_is_text;
use crate::headers::{push_joined, push_last, push_multi, push_set_cookies};
use crate::json::{push_escaped, push_key, push_str};
use crate::{EncodeError, EventShape};

/// Function side: encode the service's response in the event's shape; returns the JSON result
/// bytes (pass-through: the body itself, not copied). The body in one piece through the
/// [`ResultWriter`], as text or base64 by [`crate::body_is_text`].
pub fn encode_response(
    response: Response<Bytes>,
    shape: &EventShape,
) -> Result<Bytes, EncodeError> {
    let (parts, body) = response.into_parts();
    if matches!(shape, EventShape::PassThrough) {
        return Ok(body);
    }
    let encoding = if body_is_text(&parts.headers, &body) {
        Encoding::Text
    } else {
        Encoding::Base64
    };
    let mut writer = ResultWriter::start(&parts, shape, body.len(), Vec::new(), encoding)?;
    writer.push(&body);
    Ok(Bytes::from(writer.finish()))
}

/// A result written while the service's body arrives, for a body that travels base64-encoded
/// ([`crate::body_is_binary`]): [`ResultWriter::new`] writes the status and headers,
/// [`ResultWriter::push`] encodes each piece of the body straight into the result, and
/// [`ResultWriter::finish`] closes it. The result is the one [`encode_response`] gives for the
/// same non-empty binary body (it is the writer [`encode_response`] uses); for pass-through it is
/// the body itself.
#[derive(Debug)]
pub struct ResultWriter {
    out: Vec<u8>,
    /// Up to two bytes that did not fill a group of three yet (base64 only).
    carry: [u8; 3],
    carried: usize,
    /// `None` for pass-through (no JSON around the body).
    shape: Option<EventShape>,
    encoding: Encoding,
}

/// How the body goes into the result's `body` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Base64, three bytes at a time.
    Base64,
    /// JSON-escaped UTF-8 text, already checked to be UTF-8 ([`crate::body_is_text`]), which
    /// needs the whole body; so only [`encode_response`] writes it.
    Text,
}

impl ResultWriter {
    /// Starts the result for a response with these parts and a body of about `body_len` bytes,
    /// written into `out` (cleared first; pass a buffer kept from an earlier result to reuse it).
    pub fn new(
        parts: &http::response::Parts,
        shape: &EventShape,
        body_len: usize,
        out: Vec<u8>,
    ) -> Result<Self, EncodeError> {
        Self::start(parts, shape, body_len, out, Encoding::Base64)
    }

    fn start(
        parts: &http::response::Parts,
        shape: &EventShape,
        body_len: usize,
        mut out: Vec<u8>,
        encoding: Encoding,
    ) -> Result<Self, EncodeError> {
        out.clear();
        let shape = if matches!(shape, EventShape::PassThrough) {
            out.reserve(body_len);
            None
        } else {
            // Base64's length; room for a text body's escapes too.
            let encoded = base64_simd::STANDARD.encoded_length(body_len.min(usize::MAX / 4));
            out.reserve(encoded + 256 + parts.headers.len() * 64);
            push_head(&mut out, parts, shape)?;
            out.push(b'"');
            Some(shape.clone())
        };
        Ok(ResultWriter {
            out,
            carry: [0; 3],
            carried: 0,
            shape,
            encoding,
        })
    }

    /// Appends the next piece of the body.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.shape.is_none() {
            self.out.extend_from_slice(bytes);
            return;
        }
        if self.encoding == Encoding::Text {
            push_escaped(&mut self.out, bytes);
            return;
        }
        if self.carried > 0 {
            let take = (3 - self.carried).min(bytes.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&bytes[..take]);
            self.carried += take;
            bytes = &bytes[take..];
            if self.carried < 3 {
                return;
            }
            base64_simd::STANDARD.encode_append(self.carry, &mut self.out);
            self.carried = 0;
        }
        let whole = bytes.len() - bytes.len() % 3;
        base64_simd::STANDARD.encode_append(&bytes[..whole], &mut self.out);
        let rest = &bytes[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    /// Closes the result and returns it.
    pub fn finish(mut self) -> Vec<u8> {
        let Some(shape) = self.shape else {
            return self.out;
        };
        let base64 = self.encoding == Encoding::Base64;
        if base64 {
            base64_simd::STANDARD.encode_append(&self.carry[..self.carried], &mut self.out);
        }
        self.out.push(b'"');
        push_tail(&mut self.out, &shape, base64);
        self.out
    }
}

/// Everything before the body's value: `{`, the status, the headers in the shape's form, `"body":`.
fn push_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    shape: &EventShape,
) -> Result<(), EncodeError> {
    let headers = &parts.headers;
    let status = parts.status.as_u16();
    let mut first = true;
    out.push(b'{');
    let envoy = matches!(shape, EventShape::Envoy);
    push_key(
        out,
        &mut first,
        if envoy { "status_code" } else { "statusCode" },
    );
    out.extend_from_slice(status.to_string().as_bytes());
    match shape {
        EventShape::ApiGatewayV1 => {
            push_key(out, &mut first, "multiValueHeaders");
            push_multi(out, headers)?;
        }
        EventShape::Alb { multi_value } => {
            push_key(out, &mut first, "statusDescription");
            let reason = parts.status.canonical_reason().unwrap_or("Unknown");
            push_str(out, &format!("{status} {reason}"));
            if *multi_value {
                push_key(out, &mut first, "multiValueHeaders");
                push_multi(out, headers)?;
            } else {
                push_key(out, &mut first, "headers");
                push_last(out, headers)?;
            }
        }
        _ => {
            push_key(out, &mut first, "headers");
            push_joined(out, headers, &[])?;
            if headers.contains_key(SET_COOKIE) {
                push_key(out, &mut first, "cookies");
                push_set_cookies(out, headers)?;
            }
        }
    }
    push_key(out, &mut first, "body");
    Ok(())
}

/// Everything after the body's value: the base64 flag and `}`.
fn push_tail(out: &mut Vec<u8>, shape: &EventShape, base64: bool) {
    let mut first = false;
    let envoy = matches!(shape, EventShape::Envoy);
    push_key(
        out,
        &mut first,
        if envoy {
            "is_base64_encoded"
        } else {
            "isBase64Encoded"
        },
    );
    out.extend_from_slice(if base64 { b"true" } else { b"false" });
    out.push(b'}');
}
