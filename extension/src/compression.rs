//! Compression of buffered responses the client accepts compressed: gzip always, br and zstd when
//! built with the `br` / `zstd` features (they cost binary size; see BENCHMARKS.md).

use std::io::Write;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{Method, Response, StatusCode};

/// A content coding the extension can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `gzip`.
    Gzip,
    /// `br` (feature `br`).
    #[cfg(feature = "br")]
    Brotli,
    /// `zstd` (feature `zstd`).
    #[cfg(feature = "zstd")]
    Zstd,
}

impl Coding {
    /// The token used in `Accept-Encoding` and `Content-Encoding`.
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            #[cfg(feature = "br")]
            Coding::Brotli => "br",
            #[cfg(feature = "zstd")]
            Coding::Zstd => "zstd",
        }
    }

    /// The codings built in, most preferred first.
    pub(crate) fn available() -> &'static [Coding] {
        &[
            #[cfg(feature = "zstd")]
            Coding::Zstd,
            #[cfg(feature = "br")]
            Coding::Brotli,
            Coding::Gzip,
        ]
    }

    fn compress(self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Coding::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(body)?;
                encoder.finish()
            }
            #[cfg(feature = "br")]
            Coding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    writer.write_all(body)?;
                }
                Ok(out)
            }
            #[cfg(feature = "zstd")]
            Coding::Zstd => zstd::stream::encode_all(body, 3),
        }
    }
}

/// The coding to use for a client that sent `accept_encoding`: the client's highest `q` among
/// the built-in codings, ties going to the extension's preference; `None` when none is acceptable.
pub(crate) fn negotiate(request_headers: &HeaderMap) -> Option<Coding> {
    let mut best: Option<(Coding, u32, usize)> = None;
    let offers: Vec<(String, u32)> = request_headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut params = item.split(';');
            let token = params.next()?.trim().to_ascii_lowercase();
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .next()
                .map_or(1000, |q| quality(&q));
            (!token.is_empty()).then_some((token, q))
        })
        .collect();
    for (rank, coding) in Coding::available().iter().enumerate() {
        let q = offers
            .iter()
            .find(|(token, _)| token == coding.token())
            .or_else(|| offers.iter().find(|(token, _)| token == "*"))
            .map_or(0, |(_, q)| *q);
        if q == 0 {
            continue;
        }
        if best.is_none_or(|(_, best_q, best_rank)| q > best_q || (q == best_q && rank < best_rank))
        {
            best = Some((*coding, q, rank));
        }
    }
    best.map(|(coding, _, _)| coding)
}

/// `q` in thousandths; anything unparsable counts as 0 (not acceptable).
fn quality(text: &str) -> u32 {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|q| (0.0..=1.0).contains(q))
        .map_or(0, |q| (q * 1000.0).round() as u32)
}

/// Compresses `response`'s body in place when the client accepts a coding, the body is at least
/// `min_bytes`, not already encoded, and not a type that is already compressed or streamed
/// (images, `text/event-stream`, gRPC), as aws-lambda-web-adapter decides.
pub(crate) fn compress_response(
    method: &Method,
    request_headers: &HeaderMap,
    response: &mut Response<Bytes>,
    min_bytes: usize,
) {
    let status = response.status();
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
        || response.body().len() < min_bytes.max(1)
        || response.headers().contains_key(CONTENT_ENCODING)
    {
        return;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("image/")
        || content_type.starts_with("text/event-stream")
        || content_type.starts_with("application/grpc")
    {
        return;
    }
    let Some(coding) = negotiate(request_headers) else {
        return;
    };
    let compressed = match coding.compress(response.body()) {
        Ok(compressed) => compressed,
        Err(error) => {
            tracing::warn!(%error, coding = coding.token(), "compression failed; sending the body as it is");
            return;
        }
    };
    *response.body_mut() = Bytes::from(compressed);
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    headers.remove(http::header::ACCEPT_RANGES);
    // A strong validator names the identity representation; the compressed one differs.
    if let Some(etag) = headers.get(http::header::ETAG).cloned() {
        if let Ok(text) = etag.to_str() {
            if !text.starts_with("W/") {
                if let Ok(weak) = HeaderValue::from_str(&format!("W/{text}")) {
                    headers.insert(http::header::ETAG, weak);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn negotiation_respects_q() {
        assert_eq!(negotiate(&accept("gzip, deflate")), Some(Coding::Gzip));
        assert_eq!(negotiate(&accept("gzip;q=0")), None);
        assert_eq!(negotiate(&accept("identity")), None);
        assert_eq!(negotiate(&accept("*")), Some(Coding::available()[0]));
        // gzip refused explicitly: never gzip, whatever `*` allows.
        assert_ne!(
            negotiate(&accept("*;q=0.5, gzip;q=0")).map(|c| c.token()),
            Some("gzip")
        );
        assert_eq!(negotiate(&HeaderMap::new()), None);
    }

    #[test]
    fn compresses_large_text_only() {
        let body = Bytes::from("hello ".repeat(500));
        let mut response = Response::new(body.clone());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        compress_response(&Method::GET, &accept("gzip"), &mut response, 1024);
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&response.body()[..]),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(decoded, body);

        let mut small = Response::new(Bytes::from_static(b"tiny"));
        compress_response(&Method::GET, &accept("gzip"), &mut small, 1024);
        assert!(!small.headers().contains_key(CONTENT_ENCODING));

        let mut image = Response::new(body);
        image
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
        compress_response(&Method::GET, &accept("gzip"), &mut image, 1024);
        assert!(!image.headers().contains_key(CONTENT_ENCODING));
    }
}
