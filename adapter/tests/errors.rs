//! Bad input gets a typed error naming the field, and no input makes the codec panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_adapter::{
    decode_event, decode_result, Bytes, DecodeError, DecodeOptions, PayloadFormat,
    StreamPreludeDecoder,
};
use proptest::prelude::*;

fn error(event: &str) -> DecodeError {
    decode_event(event.as_bytes(), &DecodeOptions::new()).unwrap_err()
}

const V2: &str = r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}"#;

#[test]
fn not_json() {
    assert!(matches!(
        error("{\"httpMethod\":"),
        DecodeError::InvalidJson(_)
    ));
    assert!(matches!(error(""), DecodeError::InvalidJson(_)));
    assert_eq!(error("nope").to_string(), "payload is not valid JSON");
}

#[test]
fn malformed_fields_are_named() {
    let cases = [
        (
            r#"{"httpMethod":7,"requestContext":{}}"#,
            "malformed field `httpMethod`: must be a string, found a number",
        ),
        (
            r#"{"httpMethod":"GET","requestContext":{},"headers":[1]}"#,
            "malformed field `headers`: must be an object, found an array",
        ),
        (
            r#"{"httpMethod":"GET","requestContext":{},"multiValueHeaders":{"x-a":[{}]}}"#,
            "malformed field `multiValueHeaders.x-a`: must be a string, found an object",
        ),
        (
            r#"{"httpMethod":"GET","requestContext":{},"body":{"a":1}}"#,
            "malformed field `body`: must be a string, found an object",
        ),
        (
            r#"{"httpMethod":"GET","requestContext":{},"isBase64Encoded":1}"#,
            "malformed field `isBase64Encoded`: must be a boolean, found a number",
        ),
        (
            r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}},"cookies":[1]}"#,
            "malformed field `cookies.0`: must be a string, found a number",
        ),
        (
            r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{}}}"#,
            "missing field `requestContext.http.method`",
        ),
        (r#"{"raw_path":"/x"}"#, "missing field `method`"),
        (
            r#"{"raw_path":"/x","method":"G T"}"#,
            "invalid http method in `method`",
        ),
        (
            r#"{"requestContext":{"elb":{}},"httpMethod":"GET","queryStringParameters":{"a":[1]}}"#,
            "malformed field `queryStringParameters.a`: must be a string, found an array",
        ),
    ];
    for (event, message) in cases {
        assert_eq!(error(event).to_string(), message, "{event}");
    }
}

#[test]
fn bad_base64() {
    let event = format!(r#"{V2},"body":"not base64!","isBase64Encoded":true}}"#);
    let err = error(&event);
    assert!(matches!(err, DecodeError::InvalidBase64 { .. }));
    assert_eq!(err.to_string(), "invalid base64 in `body`");
    let envoy = r#"{"raw_path":"/","method":"GET","body":"%%","is_base64_encoded":true}"#;
    assert!(matches!(error(envoy), DecodeError::InvalidBase64 { .. }));
}

#[test]
fn invalid_headers_including_cr_lf() {
    let cases = [
        (format!(r#"{V2},"headers":{{"x-a":"one\r\ntwo"}}}}"#), "invalid header value in `headers.x-a`"),
        (format!(r#"{V2},"headers":{{"x-a":"nul\u0000"}}}}"#), "invalid header value in `headers.x-a`"),
        (format!(r#"{V2},"headers":{{"bad name":"v"}}}}"#), "invalid header name in `headers.bad name`"),
        (format!(r#"{V2},"headers":{{"x-b\n":"v"}}}}"#), "invalid header name in `headers.x-b\n`"),
        (format!(r#"{V2},"cookies":["a=1\r\nx: y"]}}"#), "invalid header value in `cookies`"),
        (
            r#"{"httpMethod":"GET","requestContext":{},"multiValueHeaders":{"x-foo":["ok","bad\n"]}}"#.to_owned(),
            "invalid header value in `multiValueHeaders.x-foo`",
        ),
        (
            r#"{"raw_path":"/","method":"GET","headers":{"x":"a\rb"}}"#.to_owned(),
            "invalid header value in `headers.x`",
        ),
    ];
    for (event, message) in cases {
        assert_eq!(error(&event).to_string(), message, "{event}");
    }
}

#[test]
fn control_characters_in_paths_are_escaped_not_rejected() {
    let event =
        r#"{"version":"2.0","rawPath":"/a\r\nb c","requestContext":{"http":{"method":"GET"}}}"#;
    let decoded = decode_event(event.as_bytes(), &DecodeOptions::new()).unwrap();
    assert_eq!(decoded.request.uri().path(), "/a%0D%0Ab%20c");
}

#[test]
fn results_with_bad_fields() {
    let err = decode_result(
        Bytes::from_static(b"{\"statusCode\":200,\"cookies\":[\"a\\n\"]}"),
        PayloadFormat::V2,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid header value in `cookies.0`");
    let err = decode_result(
        Bytes::from_static(b"{\"statusCode\":1000}"),
        PayloadFormat::V2,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid status code 1000 in `statusCode`");
    let err = decode_result(Bytes::from_static(b"not json"), PayloadFormat::Envoy).unwrap_err();
    assert!(matches!(err, DecodeError::InvalidJson(_)));
}

#[test]
fn over_long_request_targets_are_an_error() {
    let long = "a".repeat(70_000);
    let event = format!(
        r#"{{"version":"2.0","rawPath":"/{long}","requestContext":{{"http":{{"method":"GET"}}}}}}"#
    );
    assert_eq!(
        error(&event).to_string(),
        "invalid path or query in `rawPath`"
    );
    let envoy = format!(r#"{{"raw_path":"/?{long}","method":"GET"}}"#);
    assert_eq!(
        error(&envoy).to_string(),
        "invalid path or query in `raw_path`"
    );
}

#[test]
fn non_utf8_header_values_cannot_be_encoded() {
    use lambda_mesh_adapter::{
        encode_request, encode_response, EncodeError, EventShape, RequestMeta,
    };
    let latin1 = http::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    let response = http::Response::builder()
        .header("x-latin1", latin1.clone())
        .body(Bytes::new())
        .unwrap();
    for shape in [
        EventShape::ApiGatewayV1,
        EventShape::ApiGatewayV2,
        EventShape::Alb { multi_value: false },
        EventShape::Envoy,
    ] {
        let err = encode_response(response.clone(), &shape).unwrap_err();
        assert!(
            matches!(&err, EncodeError::HeaderValueNotUtf8 { name } if name == "x-latin1"),
            "{shape:?}"
        );
        assert_eq!(
            err.to_string(),
            "header value of `x-latin1` is not valid UTF-8"
        );
    }
    let request = http::Request::builder()
        .header("x-latin1", latin1)
        .body(Bytes::new())
        .unwrap();
    for format in [PayloadFormat::V2, PayloadFormat::Envoy] {
        let err = encode_request(&request, format, &RequestMeta::default()).unwrap_err();
        assert!(matches!(err, EncodeError::HeaderValueNotUtf8 { .. }));
    }
}

/// JSON values of any shape, biased towards the field names the decoders look at.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let key = prop_oneof![
        Just("version".to_owned()),
        Just("rawPath".to_owned()),
        Just("rawQueryString".to_owned()),
        Just("raw_path".to_owned()),
        Just("method".to_owned()),
        Just("httpMethod".to_owned()),
        Just("path".to_owned()),
        Just("headers".to_owned()),
        Just("multiValueHeaders".to_owned()),
        Just("queryStringParameters".to_owned()),
        Just("multiValueQueryStringParameters".to_owned()),
        Just("cookies".to_owned()),
        Just("requestContext".to_owned()),
        Just("http".to_owned()),
        Just("elb".to_owned()),
        Just("domainName".to_owned()),
        Just("body".to_owned()),
        Just("isBase64Encoded".to_owned()),
        Just("is_base64_encoded".to_owned()),
        Just("statusCode".to_owned()),
        Just("status_code".to_owned()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from("2.0")),
        Just(Value::from("GET")),
        Just(Value::from("/a b?c#d")),
        Just(Value::from("x.lambda-url.y")),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_event(&bytes, &DecodeOptions::new());
        let _ = decode_result(Bytes::from(bytes.clone()), PayloadFormat::V2);
        let _ = decode_result(Bytes::from(bytes.clone()), PayloadFormat::Envoy);
        let _ = StreamPreludeDecoder::new().push(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        let decoded = decode_event(&bytes, &DecodeOptions::new());
        if let Ok(event) = decoded {
            // Whatever decodes must also answer in its shape.
            let response = http::Response::new(Bytes::from_static(b"{}"));
            prop_assert!(lambda_mesh_adapter::encode_response(response, &event.shape).is_ok());
        }
        let _ = decode_result(Bytes::from(bytes.clone()), PayloadFormat::V2);
        let mut prelude = bytes;
        prelude.extend_from_slice(&[0; 8]);
        let _ = StreamPreludeDecoder::new().push(&prelude);
    }
}
