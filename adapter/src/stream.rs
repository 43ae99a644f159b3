//! Response streaming with Lambda's `http-integration-response` framing: a JSON prelude
//! (`statusCode`, `headers`, `cookies`), eight NUL bytes, then the body bytes.

use bytes::{Bytes, BytesMut};
use http::header::SET_COOKIE;
use http::response::Parts;
use http::Response;

use crate::headers::{push_joined, push_set_cookies};
use crate::json::{push_key, Node};
use crate::result::{http_parts, status_field};
use crate::{DecodeError, EncodeError};

/// Content type of a streamed response that starts with an HTTP prelude.
pub const HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// The most prelude bytes [`StreamPreludeDecoder`] buffers before giving up (headers are small;
/// this bounds memory on a stream that never sends the separator).
pub const MAX_STREAM_PRELUDE_BYTES: usize = 1024 * 1024;

const SEPARATOR: [u8; 8] = [0; 8];

/// Encode status, headers and cookies (`Set-Cookie` headers become the `cookies` array) as the
/// prelude JSON followed by 8 NUL bytes.
pub fn encode_stream_prelude(parts: &Parts) -> Result<Bytes, EncodeError> {
    let mut out = Vec::with_capacity(128 + parts.headers.len() * 64);
    let mut first = true;
    out.push(b'{');
    push_key(&mut out, &mut first, "statusCode");
    out.extend_from_slice(parts.status.as_u16().to_string().as_bytes());
    push_key(&mut out, &mut first, "headers");
    push_joined(&mut out, &parts.headers, &[])?;
    if parts.headers.contains_key(SET_COOKIE) {
        push_key(&mut out, &mut first, "cookies");
        push_set_cookies(&mut out, &parts.headers)?;
    }
    out.push(b'}');
    out.extend_from_slice(&SEPARATOR);
    Ok(Bytes::from(out))
}

/// Incremental decoder for the prelude at the start of a stream: feed chunks; once it returns
/// `Some((parts, rest))`, `rest` is the first body bytes after the NULs.
#[derive(Debug, Default)]
pub struct StreamPreludeDecoder {
    buffer: BytesMut,
    /// Bytes already searched for a NUL, so small chunks are not rescanned.
    scanned: usize,
    done: bool,
}

impl StreamPreludeDecoder {
    /// A decoder waiting for the prelude.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next chunk of the stream. JSON cannot hold a raw NUL byte, so the first NUL
    /// starts the separator.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<(Parts, Bytes)>, DecodeError> {
        if self.done {
            return Err(DecodeError::malformed("prelude", "already decoded"));
        }
        self.buffer.extend_from_slice(chunk);
        let Some(nul) = memchr::memchr(0, &self.buffer[self.scanned..]).map(|i| self.scanned + i)
        else {
            self.scanned = self.buffer.len();
            return self.check_size();
        };
        self.scanned = nul;
        let end = nul + SEPARATOR.len();
        let available = self.buffer.len().min(end);
        if self.buffer[nul..available].iter().any(|b| *b != 0) {
            return Err(DecodeError::malformed(
                "prelude",
                "separator is not eight NUL bytes",
            ));
        }
        if self.buffer.len() < end {
            return self.check_size();
        }
        let mut all = std::mem::take(&mut self.buffer);
        let rest = all.split_off(end).freeze();
        self.done = true;
        let json = &all[..nul];
        let node = if json.iter().all(u8::is_ascii_whitespace) {
            Node::Object(Vec::new())
        } else {
            Node::parse(json)?
        };
        if !matches!(node, Node::Object(_)) {
            return Err(DecodeError::malformed(
                "prelude",
                format!("must be an object, found {}", node.kind()),
            ));
        }
        let (status, headers) = http_parts(&node, status_field(&node).unwrap_or("statusCode"))?;
        let (mut parts, ()) = Response::new(()).into_parts();
        parts.status = status;
        parts.headers = headers;
        Ok(Some((parts, rest)))
    }

    fn check_size(&self) -> Result<Option<(Parts, Bytes)>, DecodeError> {
        if self.buffer.len() > MAX_STREAM_PRELUDE_BYTES {
            return Err(DecodeError::PreludeTooLarge {
                limit: MAX_STREAM_PRELUDE_BYTES,
            });
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn prelude_round_trip_byte_by_byte() {
        let (mut parts, ()) = Response::new(()).into_parts();
        parts.status = http::StatusCode::CREATED;
        parts.headers.append("x-a", HeaderValue::from_static("1"));
        parts
            .headers
            .append(SET_COOKIE, HeaderValue::from_static("a=1"));
        parts
            .headers
            .append(SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
        let mut stream = encode_stream_prelude(&parts).unwrap().to_vec();
        stream.extend_from_slice(b"body\0bytes");
        let mut decoder = StreamPreludeDecoder::new();
        let mut result = None;
        for (i, byte) in stream.iter().enumerate() {
            if let Some((parts, rest)) = decoder.push(std::slice::from_ref(byte)).unwrap() {
                result = Some((parts, rest, i));
                break;
            }
        }
        let (got, rest, at) = result.unwrap();
        assert_eq!(got.status, 201);
        assert_eq!(got.headers["x-a"], "1");
        let cookies: Vec<_> = got.headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2; Path=/"]);
        assert!(rest.is_empty());
        assert_eq!(&stream[at + 1..], b"body\0bytes");
    }

    #[test]
    fn rest_of_the_chunk_is_returned() {
        let mut decoder = StreamPreludeDecoder::new();
        let (parts, rest) = decoder
            .push(b"{\"statusCode\":404}\0\0\0\0\0\0\0\0hello")
            .unwrap()
            .unwrap();
        assert_eq!((parts.status.as_u16(), &rest[..]), (404, &b"hello"[..]));
        assert!(decoder.push(b"more").is_err());
    }

    #[test]
    fn bad_preludes() {
        let mut d = StreamPreludeDecoder::new();
        assert!(d.push(b"{}\0\0x").is_err());
        let mut d = StreamPreludeDecoder::new();
        assert!(matches!(
            d.push(b"[1]\0\0\0\0\0\0\0\0"),
            Err(DecodeError::Malformed { .. })
        ));
        let mut d = StreamPreludeDecoder::new();
        let big = vec![b' '; MAX_STREAM_PRELUDE_BYTES + 1];
        assert!(matches!(
            d.push(&big),
            Err(DecodeError::PreludeTooLarge { .. })
        ));
    }
}
