//! Interoperability with lambda_http (aws-lambda-rust-runtime): functions built on it serve the
//! events mesh-proxy sends (`encode_request`), and the results they produce decode
//! (`decode_result`) to the response they meant.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use futures_util::FutureExt;
use http::{Request, Response};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Service};
use lambda_mesh_adapter::{decode_result, encode_request, Bytes, PayloadFormat, RequestMeta};

fn values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn lambda_http_serves_our_v2_events() {
    for (content_type, body) in [
        (
            "application/octet-stream",
            Bytes::from_static(b"\x00\x01\xfe\xff binary"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"caf\xc3\xa9\":true}"),
        ),
    ] {
        let request = Request::builder()
            .method("PATCH")
            .uri("/orders/%E2%9C%93/items?tag=a&tag=b&empty=")
            .header("host", "orders.internal")
            .header("content-type", content_type)
            .header("x-multi", "1")
            .header("x-multi", "2")
            .header("cookie", "a=1; b=2")
            .body(body.clone())
            .unwrap();
        let meta = RequestMeta {
            source_ip: Some("192.0.2.7".parse().unwrap()),
            request_id: Some("req-1".to_owned()),
            time_epoch_ms: Some(1_700_000_000_000),
        };
        let event = encode_request(&request, PayloadFormat::V2, &meta).unwrap();
        let parsed: LambdaRequest = serde_json::from_slice(&event).unwrap();
        assert!(matches!(parsed, LambdaRequest::ApiGatewayV2(_)));
        let got: http::Request<Body> = parsed.into();
        assert_eq!(got.method(), "PATCH");
        assert_eq!(got.uri().path(), "/orders/%E2%9C%93/items");
        assert_eq!(got.uri().query(), Some("tag=a&tag=b&empty="));
        assert_eq!(values(got.headers(), "x-multi").join(","), "1,2");
        assert_eq!(values(got.headers(), "cookie"), ["a=1; b=2"]);
        assert_eq!(got.body().as_ref(), body.as_ref());
    }
}

fn lambda_http_result(event: &str) -> Vec<u8> {
    let service = lambda_http::service_fn(|_request: lambda_http::Request| async {
        let response = Response::builder()
            .status(418)
            .header("content-type", "image/png")
            .header("x-multi", "a")
            .header("set-cookie", "s=1; Path=/")
            .header("set-cookie", "t=2")
            .body(Body::from(&b"\x89PNG\r\n"[..]))
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let mut adapter = lambda_http::Adapter::from(service);
    let request: LambdaRequest = serde_json::from_str(event).unwrap();
    let response = adapter
        .call(LambdaEvent::new(request, lambda_http::Context::default()))
        .now_or_never()
        .unwrap()
        .unwrap();
    serde_json::to_vec(&response).unwrap()
}

#[test]
fn lambda_http_results_decode() {
    for event in [
        include_str!("data/apigw_v2.json"),
        include_str!("data/apigw_v1.json"),
        include_str!("data/alb_multi.json"),
    ] {
        let result = lambda_http_result(event);
        let response = decode_result(Bytes::from(result), PayloadFormat::V2).unwrap();
        assert_eq!(response.status(), 418);
        assert_eq!(values(response.headers(), "content-type"), ["image/png"]);
        assert_eq!(values(response.headers(), "x-multi"), ["a"]);
        assert_eq!(
            values(response.headers(), "set-cookie"),
            ["s=1; Path=/", "t=2"]
        );
        assert_eq!(response.body().as_ref(), b"\x89PNG\r\n");
    }
}
