//! Event and result fields have the JSON types AWS documents for them: a wrong type is a typed
//! error naming the field, never coerced. Null stands for an absent field or value everywhere,
//! as AWS sends it (`"queryStringParameters": null`). Results keep what API Gateway itself
//! accepts from functions: a numeric string `statusCode`, numbers and booleans as header values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_adapter::{
    decode_event, decode_result, Bytes, DecodeError, DecodeOptions, PayloadFormat,
    StreamPreludeDecoder,
};

const V2: &str = r#""version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}"#;
const V1: &str = r#""httpMethod":"GET","path":"/","requestContext":{}"#;
const ALB: &str = r#""httpMethod":"GET","path":"/","requestContext":{"elb":{}}"#;
const ENVOY: &str = r#""raw_path":"/","method":"GET""#;

fn event_error(fields: &str, extra: &str) -> DecodeError {
    let event = format!("{{{fields},{extra}}}");
    match decode_event(event.as_bytes(), &DecodeOptions::new()) {
        Ok(decoded) => panic!("{event} decoded to {:?}", decoded.request),
        Err(e) => e,
    }
}

fn assert_malformed(err: &DecodeError, field: &str, message: &str) {
    match err {
        DecodeError::Malformed {
            field: f,
            message: m,
        } => {
            assert_eq!((f.as_str(), m.as_str()), (field, message), "{err}");
        }
        other => panic!("expected Malformed `{field}`, got {other:?}"),
    }
}

#[test]
fn header_values_in_events_must_be_strings() {
    for (base, key) in [
        (V2, "headers"),
        (V1, "headers"),
        (ALB, "headers"),
        (ENVOY, "headers"),
    ] {
        for (value, kind) in [
            ("5", "a number"),
            ("true", "a boolean"),
            ("1.5", "a number"),
        ] {
            let err = event_error(base, &format!(r#""{key}":{{"x-a":{value}}}"#));
            assert_malformed(
                &err,
                "headers.x-a",
                &format!("must be a string, found {kind}"),
            );
        }
    }
}

#[test]
fn multi_value_header_items_in_events_must_be_strings() {
    for base in [V1, ALB] {
        let err = event_error(base, r#""multiValueHeaders":{"x-a":["1",2]}"#);
        assert_malformed(
            &err,
            "multiValueHeaders.x-a",
            "must be a string, found a number",
        );
        let err = event_error(base, r#""multiValueHeaders":{"x-a":[false]}"#);
        assert_malformed(
            &err,
            "multiValueHeaders.x-a",
            "must be a string, found a boolean",
        );
    }
}

#[test]
fn multi_value_maps_in_events_hold_lists_not_bare_values() {
    for base in [V1, ALB] {
        let err = event_error(base, r#""multiValueHeaders":{"x-a":"1"}"#);
        assert_malformed(
            &err,
            "multiValueHeaders.x-a",
            "must be an array, found a string",
        );
        let err = event_error(base, r#""multiValueQueryStringParameters":{"q":"1"}"#);
        assert_malformed(
            &err,
            "multiValueQueryStringParameters.q",
            "must be an array, found a string",
        );
    }
}

#[test]
fn query_parameter_values_in_events_must_be_strings() {
    // V2 has no `rawQueryString`, so its query comes from `queryStringParameters`.
    for base in [V1, ALB, V2] {
        let err = event_error(base, r#""queryStringParameters":{"q":5}"#);
        assert_malformed(
            &err,
            "queryStringParameters.q",
            "must be a string, found a number",
        );
    }
    for base in [V1, ALB] {
        let err = event_error(
            base,
            r#""multiValueQueryStringParameters":{"q":["a",true]}"#,
        );
        assert_malformed(
            &err,
            "multiValueQueryStringParameters.q",
            "must be a string, found a boolean",
        );
    }
}

#[test]
fn is_base64_encoded_in_events_must_be_a_boolean() {
    for base in [V2, V1, ALB] {
        for value in [r#""true""#, r#""false""#, "1"] {
            let err = event_error(base, &format!(r#""body":"aGk=","isBase64Encoded":{value}"#));
            let DecodeError::Malformed { field, .. } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(field, "isBase64Encoded", "{err}");
        }
    }
    let err = event_error(ENVOY, r#""body":"aGk=","is_base64_encoded":"true""#);
    assert_malformed(
        &err,
        "is_base64_encoded",
        "must be a boolean, found a string",
    );
}

#[test]
fn cookies_in_events_must_be_strings() {
    let err = event_error(V2, r#""cookies":["a=1",7]"#);
    assert_malformed(&err, "cookies.1", "must be a string, found a number");
}

#[test]
fn request_contexts_and_their_parts_must_be_objects() {
    let err = event_error(
        r#""httpMethod":"GET","path":"/""#,
        r#""requestContext":"ctx""#,
    );
    assert_malformed(&err, "requestContext", "must be an object, found a string");
    let err = event_error(
        r#""version":"2.0","rawPath":"/""#,
        r#""requestContext":{"http":"GET"}"#,
    );
    assert_malformed(
        &err,
        "requestContext.http",
        "must be an object, found a string",
    );
    let err = event_error(
        r#""httpMethod":"GET","path":"/""#,
        r#""requestContext":{"elb":"arn"}"#,
    );
    assert_malformed(
        &err,
        "requestContext.elb",
        "must be an object, found a string",
    );
    let err = event_error(
        r#""version":"2.0","rawPath":"/""#,
        r#""requestContext":{"http":{"method":"GET"},"domainName":5}"#,
    );
    assert_malformed(
        &err,
        "requestContext.domainName",
        "must be a string, found a number",
    );
}

#[test]
fn envoy_authority_must_be_a_string() {
    let err = event_error(ENVOY, r#""headers":{":authority":5}"#);
    assert_malformed(
        &err,
        "headers.:authority",
        "must be a string, found a number",
    );
}

#[test]
fn documented_fields_no_decoder_reads_are_checked_too() {
    for base in [V1, V2] {
        for key in ["pathParameters", "stageVariables"] {
            let err = event_error(base, &format!(r#""{key}":{{"p":1}}"#));
            assert_malformed(
                &err,
                &format!("{key}.p"),
                "must be a string, found a number",
            );
            let err = event_error(base, &format!(r#""{key}":["p"]"#));
            assert_malformed(&err, key, "must be an object, found an array");
        }
    }
    let err = event_error(V1, r#""resource":["/{proxy+}"]"#);
    assert_malformed(&err, "resource", "must be a string, found an array");
    let err = event_error(V2, r#""routeKey":false"#);
    assert_malformed(&err, "routeKey", "must be a string, found a boolean");
    // With `rawQueryString` the parameters are not read, but they are still a map of strings.
    let err = event_error(
        V2,
        r#""rawQueryString":"q=1","queryStringParameters":{"q":1}"#,
    );
    assert_malformed(
        &err,
        "queryStringParameters.q",
        "must be a string, found a number",
    );
    let err = event_error(ENVOY, r#""query_string_parameters":{"q":[]}"#);
    assert_malformed(
        &err,
        "query_string_parameters.q",
        "must be a string, found an array",
    );
}

#[test]
fn function_url_fields_are_checked_as_v2_ones() {
    let url = r#""version":"2.0","rawPath":"/","requestContext":{"domainName":"x.lambda-url.eu-west-1.on.aws","http":{"method":"GET"}}"#;
    let err = event_error(url, r#""headers":{"x-a":7}"#);
    assert_malformed(&err, "headers.x-a", "must be a string, found a number");
    let err = event_error(
        url,
        r#""rawQueryString":"q=1","queryStringParameters":{"q":true}"#,
    );
    assert_malformed(
        &err,
        "queryStringParameters.q",
        "must be a string, found a boolean",
    );
}

#[test]
fn null_stays_absent_everywhere() {
    for base in [V1, ALB] {
        let event = format!(
            r#"{{{base},"headers":{{"x-a":null,"x-b":"b"}},"multiValueHeaders":{{"x-c":null,"x-d":["d",null]}},
                "queryStringParameters":{{"q":null}},"multiValueQueryStringParameters":{{"m":null,"n":[null,"1"]}},
                "body":null,"isBase64Encoded":null}}"#
        );
        let r = decode_event(event.as_bytes(), &DecodeOptions::new())
            .unwrap()
            .request;
        assert_eq!(r.headers().len(), 2, "{:?}", r.headers());
        assert_eq!(r.headers()["x-b"], "b");
        assert_eq!(r.headers()["x-d"], "d");
        assert_eq!(r.uri().query(), Some("n=1"));
    }
    let event = format!(
        r#"{{{V2},"headers":null,"cookies":["a=1",null],"queryStringParameters":null,"pathParameters":null,"stageVariables":null}}"#
    );
    let r = decode_event(event.as_bytes(), &DecodeOptions::new())
        .unwrap()
        .request;
    assert_eq!(r.headers()["cookie"], "a=1");
    let event = format!(
        r#"{{{ENVOY},"headers":{{"x-a":null,":authority":null}},"query_string_parameters":null,"is_base64_encoded":null}}"#
    );
    let r = decode_event(event.as_bytes(), &DecodeOptions::new())
        .unwrap()
        .request;
    assert!(r.headers().is_empty(), "{:?}", r.headers());
}

fn result_error(json: &str) -> DecodeError {
    decode_result(Bytes::copy_from_slice(json.as_bytes()), PayloadFormat::V2).unwrap_err()
}

#[test]
fn is_base64_encoded_in_results_must_be_a_boolean() {
    let err = result_error(r#"{"statusCode":200,"body":"aGk=","isBase64Encoded":"true"}"#);
    assert_malformed(&err, "isBase64Encoded", "must be a boolean, found a string");
    let err = result_error(r#"{"status_code":200,"body":"aGk=","is_base64_encoded":"false"}"#);
    assert_malformed(
        &err,
        "is_base64_encoded",
        "must be a boolean, found a string",
    );
    let r = decode_result(
        Bytes::from_static(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":null}"#),
        PayloadFormat::V2,
    )
    .unwrap();
    assert_eq!(r.body(), "aGk=");
}

#[test]
fn multi_value_headers_in_results_hold_lists() {
    let err = result_error(r#"{"statusCode":200,"multiValueHeaders":{"x-a":"1"}}"#);
    assert_malformed(
        &err,
        "multiValueHeaders.x-a",
        "must be an array, found a string",
    );
    let err = result_error(r#"{"statusCode":200,"multiValueHeaders":{"x-a":[{}]}}"#);
    assert_malformed(
        &err,
        "multiValueHeaders.x-a",
        "must be a string, found an object",
    );
}

#[test]
fn results_keep_what_api_gateway_accepts() {
    // API Gateway takes `"statusCode": "201"` and scalar header values (`true` for
    // Access-Control-Allow-Credentials is the common case) from a function, so mesh-proxy does.
    let r = decode_result(
        Bytes::from_static(
            br#"{"statusCode":"201","headers":{"access-control-allow-credentials":true,"x-n":5},"multiValueHeaders":{"x-m":[1,false]}}"#,
        ),
        PayloadFormat::V2,
    )
    .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    assert_eq!(r.headers()["x-n"], "5");
    let m: Vec<_> = r.headers().get_all("x-m").iter().collect();
    assert_eq!(m, ["1", "false"]);
}

#[test]
fn stream_preludes_follow_the_result_rules() {
    let mut decoder = StreamPreludeDecoder::new();
    let err = decoder
        .push(b"{\"statusCode\":200,\"cookies\":[5]}\0\0\0\0\0\0\0\0")
        .unwrap_err();
    assert_malformed(&err, "cookies.0", "must be a string, found a number");
}
