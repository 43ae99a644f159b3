//! Codec throughput, ours beside lambda_http's, on the same HTTP API (v2) events: bodies of 0,
//! 1 KiB, 64 KiB, 1 MiB and 6 MiB, text (`text/plain`) and binary (`application/octet-stream`,
//! base64 in the event). Throughput counts body bytes.
//!
//! * `decode`: event bytes → `http::Request` (ours: `decode_event`; lambda_http:
//!   `LambdaRequest` deserialization + `http::Request<Body>` conversion).
//! * `encode`: `http::Response` → result bytes (ours only: `encode_response`; lambda_http's
//!   response conversion is crate-private, so it is measured inside `round_trip`).
//! * `round_trip`: decode, an echo service, encode (lambda_http: its `Adapter` service, i.e.
//!   `LambdaRequest` → `IntoResponse` → `LambdaResponse` → JSON).
//!
//! Run: `cargo bench -p lambda-mesh-adapter --bench codec -- --warm-up-time 1 --measurement-time 2`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::FutureExt;
use http::{Request, Response};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Service};
use lambda_mesh_adapter::{
    decode_event, encode_request, encode_response, Bytes, DecodeOptions, PayloadFormat, RequestMeta,
};

const SIZES: [(usize, &str); 5] = [
    (0, "0"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (6 << 20, "6MiB"),
];

fn body(len: usize, text: bool) -> Bytes {
    if text {
        let line = b"the quick brown fox jumps over the lazy dog 0123456789\n";
        line.iter()
            .copied()
            .cycle()
            .take(len)
            .collect::<Vec<u8>>()
            .into()
    } else {
        (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>()
            .into()
    }
}

fn content_type(text: bool) -> &'static str {
    if text {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// A v2 event as mesh-proxy sends it.
fn event(len: usize, text: bool) -> Vec<u8> {
    let request = Request::builder()
        .method("POST")
        .uri("/bench/upload?x=1&y=2")
        .header("host", "bench.internal")
        .header("content-type", content_type(text))
        .header("user-agent", "criterion")
        .header("cookie", "a=1; b=2")
        .body(body(len, text))
        .unwrap();
    encode_request(&request, PayloadFormat::V2, &RequestMeta::default())
        .unwrap()
        .to_vec()
}

fn ours_decode(event: &[u8], options: &DecodeOptions) -> Request<Bytes> {
    decode_event(event, options).unwrap().request
}

fn ours_round_trip(event: &[u8], options: &DecodeOptions) -> Bytes {
    let decoded = decode_event(event, options).unwrap();
    let (parts, body) = decoded.request.into_parts();
    let mut response = Response::new(body);
    if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, ct.clone());
    }
    encode_response(response, &decoded.shape).unwrap()
}

fn lambda_http_decode(event: &[u8]) -> http::Request<Body> {
    let request: LambdaRequest = serde_json::from_slice(event).unwrap();
    request.into()
}

fn lambda_http_round_trip(event: &[u8]) -> Vec<u8> {
    let echo = lambda_http::service_fn(|request: lambda_http::Request| async move {
        let (parts, body) = request.into_parts();
        let mut response = Response::new(body);
        if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, ct.clone());
        }
        Ok::<_, Infallible>(response)
    });
    let mut adapter = lambda_http::Adapter::from(echo);
    let request: LambdaRequest = serde_json::from_slice(event).unwrap();
    let event = LambdaEvent::new(request, lambda_http::Context::default());
    let response = adapter.call(event).now_or_never().unwrap().unwrap();
    serde_json::to_vec(&response).unwrap()
}

fn codec(c: &mut Criterion) {
    let options = DecodeOptions::new();
    for text in [false, true] {
        let kind = if text { "text" } else { "binary" };
        for (len, label) in SIZES {
            let event = event(len, text);
            // Both codecs must agree on the body before their speed means anything.
            assert_eq!(
                ours_decode(&event, &options).body().as_ref(),
                body(len, text).as_ref()
            );
            assert_eq!(
                lambda_http_decode(&event).body().as_ref(),
                body(len, text).as_ref()
            );
            let response = Response::builder()
                .header("content-type", content_type(text))
                .body(body(len, text))
                .unwrap();

            let mut group = c.benchmark_group(format!("{kind}/{label}"));
            group.throughput(Throughput::Bytes(len.max(1) as u64));
            if len >= 1 << 20 {
                group.sample_size(10);
            }
            group.bench_function(BenchmarkId::new("decode", "ours"), |b| {
                b.iter(|| ours_decode(black_box(&event), &options))
            });
            group.bench_function(BenchmarkId::new("decode", "lambda_http"), |b| {
                b.iter(|| lambda_http_decode(black_box(&event)))
            });
            group.bench_function(BenchmarkId::new("encode", "ours"), |b| {
                b.iter(|| {
                    encode_response(
                        black_box(response.clone()),
                        &lambda_mesh_adapter::EventShape::ApiGatewayV2,
                    )
                })
            });
            group.bench_function(BenchmarkId::new("round_trip", "ours"), |b| {
                b.iter(|| ours_round_trip(black_box(&event), &options))
            });
            group.bench_function(BenchmarkId::new("round_trip", "lambda_http"), |b| {
                b.iter(|| lambda_http_round_trip(black_box(&event)))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
