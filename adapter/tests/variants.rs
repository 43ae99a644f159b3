//! Hand-written event variants (test tools and other producers fill only some of the fields
//! AWS sends): the decoder merges what is there instead of trusting one map.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_adapter::{decode_event, DecodeOptions, EventShape};

fn request(event: &str) -> http::Request<lambda_mesh_adapter::Bytes> {
    decode_event(event.as_bytes(), &DecodeOptions::new())
        .unwrap()
        .request
}

#[test]
fn v1_with_empty_multi_value_maps_uses_the_single_value_ones() {
    let r = request(
        r#"{"httpMethod":"GET","path":"/p","requestContext":{},
            "headers":{"x-a":"1"},"multiValueHeaders":{},
            "queryStringParameters":{"q":"a b"},"multiValueQueryStringParameters":{}}"#,
    );
    assert_eq!(r.headers()["x-a"], "1");
    assert_eq!(r.uri().query(), Some("q=a%20b"));
}

#[test]
fn v1_multi_value_wins_per_name_and_single_fills_the_rest() {
    let r = request(
        r#"{"httpMethod":"GET","path":"/p","requestContext":{},
            "headers":{"x-a":"2","x-b":"b"},"multiValueHeaders":{"x-a":["1","2"]},
            "queryStringParameters":{"k":"2","o":"x"},"multiValueQueryStringParameters":{"k":["1","2"]}}"#,
    );
    let a: Vec<_> = r.headers().get_all("x-a").iter().collect();
    assert_eq!(a, ["1", "2"]);
    assert_eq!(r.headers()["x-b"], "b");
    assert_eq!(r.uri().query(), Some("k=1&k=2&o=x"));
}

#[test]
fn v2_without_raw_query_string_uses_the_parameters() {
    let r = request(
        r#"{"version":"2.0","rawPath":"/p","requestContext":{"http":{"method":"GET"}},
            "queryStringParameters":{"q":"a&b"}}"#,
    );
    assert_eq!(r.uri().query(), Some("q=a%26b"));
}

#[test]
fn v2_without_raw_path_uses_the_http_context_path() {
    let r = request(
        r#"{"version":"2.0","requestContext":{"http":{"method":"GET","path":"/from/context"}}}"#,
    );
    assert_eq!(r.uri().path(), "/from/context");
}

#[test]
fn null_maps_are_absent() {
    let event = r#"{"httpMethod":"POST","path":"/p","requestContext":{},"headers":null,"multiValueHeaders":null,
        "queryStringParameters":null,"multiValueQueryStringParameters":null,"body":null,"isBase64Encoded":false}"#;
    let decoded = decode_event(event.as_bytes(), &DecodeOptions::new()).unwrap();
    assert_eq!(decoded.shape, EventShape::ApiGatewayV1);
    assert_eq!(decoded.request.uri(), "/p");
    assert!(decoded.request.headers().is_empty());
    assert!(decoded.request.body().is_empty());
}
