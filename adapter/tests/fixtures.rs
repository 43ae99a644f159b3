//! One fixture per event shape (`tests/data/*.json`, written from the AWS documentation's
//! descriptions), each decoded and answered in its shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, Method, Response};
use lambda_mesh_adapter::{
    decode_event, decode_result, encode_response, Bytes, DecodeOptions, DecodedEvent, EventShape,
    PayloadFormat,
};

fn decode(event: &str) -> DecodedEvent {
    decode_event(event.as_bytes(), &DecodeOptions::new()).unwrap()
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn result_json(bytes: &Bytes) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn sample_response() -> Response<Bytes> {
    Response::builder()
        .status(201)
        .header("content-type", "text/plain")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header("set-cookie", "s=1; Path=/")
        .header("set-cookie", "t=2; HttpOnly")
        .body(Bytes::from_static(b"created"))
        .unwrap()
}

#[test]
fn api_gateway_v1() {
    let event = decode(include_str!("data/apigw_v1.json"));
    assert_eq!(event.shape, EventShape::ApiGatewayV1);
    let r = &event.request;
    assert_eq!(r.method(), Method::PUT);
    // Decoded path re-escaped, stage never added; v1's decoded parameters encoded once.
    assert_eq!(r.uri().path(), "/orders/summer%20sale/100%");
    assert_eq!(r.uri().query(), Some("color=blue&color=red&q=a%20b%26c"));
    assert_eq!(values(r.headers(), "x-tag"), ["first", "second"]);
    assert_eq!(values(r.headers(), "cookie"), ["session=abc; theme=dark"]);
    assert_eq!(r.body(), "{\"quantity\":3,\"note\":\"ünïcødé\"}".as_bytes());
    assert_eq!(event.request_context.unwrap()["stage"], "prod");

    let result = result_json(&encode_response(sample_response(), &event.shape).unwrap());
    assert_eq!(result["statusCode"], 201);
    assert_eq!(
        result["multiValueHeaders"]["x-multi"],
        serde_json::json!(["a", "b"])
    );
    assert_eq!(
        result["multiValueHeaders"]["set-cookie"],
        serde_json::json!(["s=1; Path=/", "t=2; HttpOnly"])
    );
    assert_eq!(result["body"], "created");
    assert_eq!(result["isBase64Encoded"], false);
}

#[test]
fn api_gateway_v2() {
    let event = decode(include_str!("data/apigw_v2.json"));
    assert_eq!(event.shape, EventShape::ApiGatewayV2);
    let r = &event.request;
    assert_eq!(r.method(), Method::POST);
    // rawPath delivered decoded: space, `?` and `#` re-escaped, never split.
    assert_eq!(r.uri().path(), "/search/a%20b%3Fc%23d");
    assert_eq!(r.uri().query(), Some("tag=x&tag=y&empty=&flag"));
    assert_eq!(values(r.headers(), "cookie"), ["session=abc; theme=dark"]);
    assert_eq!(
        values(r.headers(), "accept"),
        ["text/html,application/json"]
    );
    assert_eq!(r.body(), "hello, world");
    assert_eq!(
        event.request_context.unwrap()["http"]["sourceIp"],
        "203.0.113.9"
    );

    let result = result_json(&encode_response(sample_response(), &event.shape).unwrap());
    assert_eq!(result["statusCode"], 201);
    assert_eq!(result["headers"]["x-multi"], "a,b");
    assert!(result["headers"].get("set-cookie").is_none());
    assert_eq!(
        result["cookies"],
        serde_json::json!(["s=1; Path=/", "t=2; HttpOnly"])
    );
}

#[test]
fn function_url_binary_body() {
    let event = decode(include_str!("data/function_url.json"));
    assert_eq!(event.shape, EventShape::FunctionUrl);
    let r = &event.request;
    assert_eq!(r.method(), Method::PUT);
    assert_eq!(r.uri().path(), "/upload/%E2%9C%93");
    assert_eq!(r.uri().query(), Some("name=photo%20one.png"));
    assert_eq!(r.body().len(), 68);
    assert_eq!(&r.body()[..4], b"\x89PNG");

    let png = Response::builder()
        .header("content-type", "image/png")
        .body(r.body().clone())
        .unwrap();
    let bytes = encode_response(png, &event.shape).unwrap();
    let result = result_json(&bytes);
    assert_eq!(result["isBase64Encoded"], true);
    let back = decode_result(bytes, PayloadFormat::V2).unwrap();
    assert_eq!(back.body(), r.body());
}

#[test]
fn alb_single_value() {
    let event = decode(include_str!("data/alb_single.json"));
    assert_eq!(event.shape, EventShape::Alb { multi_value: false });
    let r = &event.request;
    assert_eq!(r.method(), Method::GET);
    assert_eq!(r.uri().path(), "/items/list");
    // ALB passes query strings still encoded: not decoded twice, not encoded twice.
    assert_eq!(r.uri().query(), Some("q=caf%C3%A9%20au%20lait&page=2"));
    assert_eq!(values(r.headers(), "cookie"), ["a=1; b=2"]);
    assert!(r.body().is_empty());
    assert!(event.request_context.unwrap()["elb"]["targetGroupArn"].is_string());

    let result = result_json(&encode_response(sample_response(), &event.shape).unwrap());
    assert_eq!(result["statusDescription"], "201 Created");
    // Single-value mode keeps the last value per name.
    assert_eq!(result["headers"]["x-multi"], "b");
    assert_eq!(result["headers"]["set-cookie"], "t=2; HttpOnly");
    assert!(result.get("multiValueHeaders").is_none());
}

#[test]
fn alb_multi_value() {
    let event = decode(include_str!("data/alb_multi.json"));
    assert_eq!(event.shape, EventShape::Alb { multi_value: true });
    let r = &event.request;
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.uri().query(), Some("id=1&id=2&name=J%C3%BCrgen"));
    assert_eq!(values(r.headers(), "x-custom"), ["one", "two, three"]);
    assert_eq!(r.body(), "field=value&other=%20");

    let result = result_json(&encode_response(sample_response(), &event.shape).unwrap());
    assert_eq!(result["statusDescription"], "201 Created");
    assert_eq!(
        result["multiValueHeaders"]["x-multi"],
        serde_json::json!(["a", "b"])
    );
    assert_eq!(
        result["multiValueHeaders"]["set-cookie"],
        serde_json::json!(["s=1; Path=/", "t=2; HttpOnly"])
    );
}

#[test]
fn envoy() {
    let event = decode(include_str!("data/envoy.json"));
    assert_eq!(event.shape, EventShape::Envoy);
    assert!(event.request_context.is_none());
    let r = &event.request;
    assert_eq!(r.method(), Method::DELETE);
    assert_eq!(r.uri().path(), "/api/v1/items");
    assert_eq!(r.uri().query(), Some("limit=10&limit=20&q=%2Fslash"));
    assert_eq!(values(r.headers(), "accept-encoding"), ["gzip, br"]);
    assert_eq!(values(r.headers(), "host"), ["orders.internal"]);

    let result = result_json(&encode_response(sample_response(), &event.shape).unwrap());
    assert_eq!(result["status_code"], 201);
    assert_eq!(result["headers"]["x-multi"], "a,b");
    assert_eq!(
        result["cookies"],
        serde_json::json!(["s=1; Path=/", "t=2; HttpOnly"])
    );
    assert_eq!(result["is_base64_encoded"], false);
}

#[test]
fn pass_through_events() {
    for raw in [
        include_str!("data/sqs.json"),
        include_str!("data/eventbridge.json"),
    ] {
        let options = DecodeOptions::new().with_pass_through_path("queue");
        let event = decode_event(raw.as_bytes(), &options).unwrap();
        assert_eq!(event.shape, EventShape::PassThrough);
        assert!(event.request_context.is_none());
        let r = &event.request;
        assert_eq!(r.method(), Method::POST);
        assert_eq!(r.uri().path(), "/queue");
        assert_eq!(values(r.headers(), "content-type"), ["application/json"]);
        assert_eq!(r.body(), raw.as_bytes());
        let answer = Response::new(Bytes::from_static(b"{\"batchItemFailures\":[]}"));
        assert_eq!(
            encode_response(answer, &event.shape).unwrap(),
            "{\"batchItemFailures\":[]}"
        );
    }
    let default = decode(include_str!("data/sqs.json"));
    assert_eq!(default.request.uri().path(), "/events");
}

#[test]
fn v2_cookie_header_and_cookies_array_are_merged() {
    let event = r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}},
        "headers":{"cookie":"läng=ü"},"cookies":["a=1","b=2"]}"#;
    let decoded = decode(event);
    assert_eq!(
        decoded.request.headers().get_all("cookie").iter().count(),
        1
    );
    assert_eq!(
        decoded.request.headers()["cookie"].as_bytes(),
        "läng=ü; a=1; b=2".as_bytes()
    );
}
