//! The piecewise paths give what the whole-body ones give: `decode_event_deferred` with
//! `EventBody::next_chunk` against `decode_event` (events of every shape, bad ones included), and
//! `ResultWriter` against `encode_response` (every shape; text bodies against serde_json's escaping).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use http::Response;
use lambda_mesh_adapter::{
    body_is_binary, body_is_text, decode_event, decode_event_deferred, encode_response, Bytes,
    DecodeOptions, EventShape, ResultWriter,
};
use proptest::prelude::*;

fn event(body_field: &str, is_base64: bool) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/p", "rawQueryString": "a=1",
            "headers": {"content-type": "application/octet-stream"},
            "requestContext": {"http": {"method": "POST", "path": "/p", "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "t"}, "requestId": "r", "stage": "$default"},
            "body": body_field,
            "isBase64Encoded": is_base64
        })
        .to_string(),
    )
}

/// Every piece of `body`; base64 comes in pieces of at most `chunk` bytes (raw bytes in one).
fn drain(mut body: lambda_mesh_adapter::EventBody, chunk: usize, base64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let total = body.len();
    while let Some(piece) = body.next_chunk(chunk) {
        assert!(
            !base64 || piece.len() <= chunk.max(3),
            "piece of {}",
            piece.len()
        );
        out.extend_from_slice(&piece);
        assert_eq!(body.len(), total - out.len());
    }
    assert!(body.is_empty());
    out
}

fn shapes() -> impl Strategy<Value = EventShape> {
    prop_oneof![
        Just(EventShape::ApiGatewayV2),
        Just(EventShape::ApiGatewayV1),
        Just(EventShape::FunctionUrl),
        Just(EventShape::Alb { multi_value: true }),
        Just(EventShape::Alb { multi_value: false }),
        Just(EventShape::Envoy),
        Just(EventShape::PassThrough),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn deferred_bodies_decode_as_whole_ones(
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        padded in any::<bool>(),
        is_base64 in any::<bool>(),
        chunk in 1usize..4000,
    ) {
        let field = if is_base64 {
            let engine = if padded {
                base64::engine::general_purpose::STANDARD
            } else {
                base64::engine::general_purpose::STANDARD_NO_PAD
            };
            engine.encode(&body)
        } else {
            String::from_utf8_lossy(&body).into_owned()
        };
        let event = event(&field, is_base64);
        let whole = decode_event(&event, &DecodeOptions::new()).unwrap();
        let deferred = decode_event_deferred(&event, &DecodeOptions::new()).unwrap();
        prop_assert_eq!(deferred.request.uri(), whole.request.uri());
        prop_assert_eq!(deferred.request.method(), whole.request.method());
        prop_assert_eq!(deferred.request.headers(), whole.request.headers());
        prop_assert_eq!(&deferred.shape, &whole.shape);
        let context: serde_json::Value =
            serde_json::from_str(deferred.request_context.as_deref().unwrap()).unwrap();
        prop_assert_eq!(Some(context), whole.request_context);
        let body = deferred.request.into_body();
        prop_assert_eq!(body.len(), whole.request.body().len());
        prop_assert_eq!(body.clone().into_bytes(), whole.request.body().clone());
        prop_assert_eq!(drain(body, chunk, is_base64), whole.request.body().to_vec());
    }

    #[test]
    fn results_written_piecewise_match_whole_ones(
        body in proptest::collection::vec(any::<u8>(), 1..3000),
        cuts in proptest::collection::vec(0usize..3000, 0..8),
        shape in shapes(),
        status in prop_oneof![Just(200u16), Just(201), Just(404), Just(502)],
    ) {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/octet-stream")
            .header("x-a", "1")
            .header("x-a", "2")
            .header("set-cookie", "c=1")
            .body(Bytes::from(body.clone()))
            .unwrap();
        prop_assert!(body_is_binary(response.headers()));
        let (parts, _) = response.clone().into_parts();
        let whole = encode_response(response, &shape).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % body.len()).collect();
        cuts.sort_unstable();
        let mut writer = ResultWriter::new(&parts, &shape, body.len(), b"stale".to_vec()).unwrap();
        let mut from = 0;
        for cut in cuts.into_iter().chain([body.len()]) {
            writer.push(&body[from..cut]);
            from = cut;
        }
        prop_assert_eq!(Bytes::from(writer.finish()), whole);
    }
}

/// An event of shape `shape` (0 v2, 1 Function URL, 2 v1, 3 ALB multi-value, 4 ALB single, 5 Envoy,
/// 6 pass-through) carrying these headers, query pairs and body field.
fn event_of(
    shape: u8,
    headers: &[(String, String)],
    query: &[(String, String)],
    body: Option<&str>,
    is_base64: bool,
) -> Bytes {
    use serde_json::{json, Map, Value};
    let single: Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let mut multi = Map::new();
    for (k, v) in headers {
        let values = multi.entry(k.clone()).or_insert_with(|| json!([]));
        values.as_array_mut().unwrap().push(json!(v));
    }
    let mut multi_query = Map::new();
    for (k, v) in query {
        let values = multi_query.entry(k.clone()).or_insert_with(|| json!([]));
        values.as_array_mut().unwrap().push(json!(v));
    }
    let single_query: Map<String, Value> =
        query.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let raw_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let raw_query = raw_query.join("&");
    let context = json!({"requestId": "r", "stage": "$default", "z": [1, null, "\u{1}"],
        "http": {"method": "POST", "path": "/p"}});
    let event = match shape {
        0 | 1 => {
            let mut context = context;
            if shape == 1 {
                context["domainName"] = json!("abc.lambda-url.us-east-1.on.aws");
            }
            json!({"version": "2.0", "rawPath": "/p", "rawQueryString": raw_query,
                "headers": single, "cookies": ["a=1", "b=2"], "requestContext": context,
                "body": body, "isBase64Encoded": is_base64})
        }
        2 => json!({"httpMethod": "PUT", "path": "/p", "headers": single,
            "multiValueHeaders": multi, "queryStringParameters": single_query,
            "multiValueQueryStringParameters": multi_query, "requestContext": context,
            "body": body, "isBase64Encoded": is_base64}),
        3 => json!({"httpMethod": "GET", "path": "/p", "multiValueHeaders": multi,
            "multiValueQueryStringParameters": multi_query,
            "requestContext": {"elb": {"targetGroupArn": "arn:tg"}},
            "body": body, "isBase64Encoded": is_base64}),
        4 => json!({"httpMethod": "GET", "path": "/p", "headers": single,
            "queryStringParameters": single_query,
            "requestContext": {"elb": {"targetGroupArn": "arn:tg"}},
            "body": body, "isBase64Encoded": is_base64}),
        5 => {
            let mut headers = single;
            headers.insert(":authority".into(), json!("h.example"));
            json!({"raw_path": format!("/p?{raw_query}"), "method": "DELETE", "headers": headers,
                "body": body, "is_base64_encoded": is_base64})
        }
        _ => json!({"Records": [{"body": body, "headers": single}]}),
    };
    Bytes::from(event.to_string())
}

/// A decode's outcome, comparable across the two forms: request parts, whole body, shape,
/// context as a value; or the error's text.
type Outcome = Result<
    (
        String,
        String,
        Vec<(String, Vec<u8>)>,
        Vec<u8>,
        EventShape,
        Option<serde_json::Value>,
    ),
    String,
>;

fn outcome_of_whole(event: &Bytes) -> Outcome {
    let d = decode_event(event, &DecodeOptions::new()).map_err(|e| e.to_string())?;
    let headers = d
        .request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    Ok((
        d.request.method().to_string(),
        d.request.uri().to_string(),
        headers,
        d.request.body().to_vec(),
        d.shape,
        d.request_context,
    ))
}

fn outcome_of_deferred(event: &Bytes) -> Outcome {
    let d = decode_event_deferred(event, &DecodeOptions::new()).map_err(|e| e.to_string())?;
    let headers = d
        .request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let context = d
        .request_context
        .map(|text| serde_json::from_str(&text).unwrap());
    Ok((
        d.request.method().to_string(),
        d.request.uri().to_string(),
        headers,
        d.request.into_body().into_bytes().to_vec(),
        d.shape,
        context,
    ))
}

fn response_content_types() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    prop_oneof![
        Just(vec![("content-type", "application/octet-stream")]),
        Just(vec![("content-type", "text/plain; charset=utf-8")]),
        Just(vec![("content-type", "application/json")]),
        Just(vec![
            ("content-type", "text/html"),
            ("content-encoding", "gzip")
        ]),
        Just(vec![]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn both_decoders_agree_on_events_of_every_shape(
        shape in 0u8..7,
        headers in proptest::collection::vec(("x-[a-c]|accept|cookie", "[ -~é]{0,8}"), 0..6),
        query in proptest::collection::vec(("[a-c]", "[a-z0-9%+]{0,4}"), 0..4),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..600)),
        as_base64 in any::<bool>(),
        mangle in any::<bool>(),
    ) {
        let field = body.map(|bytes| if as_base64 {
            let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
            // Now and then not base64 at all: both must fail alike.
            if mangle { format!("{text}!") } else { text }
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let event = event_of(shape, &headers, &query, field.as_deref(), as_base64);
        let whole = outcome_of_whole(&event);
        prop_assert_eq!(outcome_of_deferred(&event), whole);
    }

    #[test]
    fn both_encoders_agree_in_every_shape(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        text in "(\\PC|[\u{0}-\u{1f}\"\\\\])*",
        use_text in any::<bool>(),
        content in response_content_types(),
        cuts in proptest::collection::vec(0usize..2000, 0..6),
        shape in shapes(),
        status in prop_oneof![Just(200u16), Just(204), Just(301), Just(404), Just(503)],
    ) {
        let body = if use_text { text.into_bytes() } else { body };
        let mut response = Response::builder()
            .status(status)
            .header("x-a", "1")
            .header("x-a", "2, 3")
            .header("set-cookie", "c=1; Path=/")
            .header("set-cookie", "d=2");
        for (name, value) in content {
            response = response.header(name, value);
        }
        let response = response.body(Bytes::from(body.clone())).unwrap();
        let (parts, _) = response.clone().into_parts();
        let whole = encode_response(response, &shape).unwrap();
        if matches!(shape, EventShape::PassThrough) {
            prop_assert_eq!(&whole[..], &body[..]);
            return Ok(());
        }
        if body_is_binary(&parts.headers) && !body.is_empty() {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % body.len()).collect();
            cuts.sort_unstable();
            let mut writer = ResultWriter::new(&parts, &shape, body.len(), Vec::new()).unwrap();
            let mut from = 0;
            for cut in cuts.into_iter().chain([body.len()]) {
                writer.push(&body[from..cut]);
                from = cut;
            }
            prop_assert_eq!(Bytes::from(writer.finish()), whole.clone());
        }
        let result: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        let flag = if matches!(shape, EventShape::Envoy) { "is_base64_encoded" } else { "isBase64Encoded" };
        let text = body_is_text(&parts.headers, &body);
        prop_assert_eq!(&result[flag], &serde_json::json!(!text));
        let field = result["body"].as_str().unwrap();
        if text {
            // Escaped exactly as serde_json escapes the text.
            let expected = format!("\"body\":{}", serde_json::to_string(std::str::from_utf8(&body).unwrap()).unwrap());
            prop_assert!(std::str::from_utf8(&whole).unwrap().contains(&expected));
        } else {
            prop_assert_eq!(base64::engine::general_purpose::STANDARD.decode(field).unwrap(), body);
        }
    }
}

#[test]
fn bad_base64_fails_alike() {
    for field in ["!!!", "aGk=aGk=", "a", "aGk=="] {
        let event = event(field, true);
        let whole = decode_event(&event, &DecodeOptions::new()).map(|d| d.request.into_body());
        let deferred = decode_event_deferred(&event, &DecodeOptions::new())
            .map(|deferred| deferred.request.into_body().into_bytes());
        assert_eq!(
            whole.map_err(|e| e.to_string()),
            deferred.map_err(|e| e.to_string()),
            "{field}"
        );
    }
}

#[test]
fn escaped_base64_and_text_bodies_still_decode() {
    // `\/` is a legal JSON escape of `/`, so the text is not a plain slice of the event.
    let event = Bytes::from(
        r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"POST"}},"body":"a\/8=","isBase64Encoded":true}"#,
    );
    let deferred = decode_event_deferred(&event, &DecodeOptions::new()).unwrap();
    assert_eq!(
        &deferred.request.into_body().into_bytes()[..],
        &[0x6b, 0xff]
    );
    let whole = decode_event(&event, &DecodeOptions::new()).unwrap();
    assert_eq!(&whole.request.body()[..], &[0x6b, 0xff]);
}

#[test]
fn text_content_types_are_not_binary() {
    let mut headers = http::HeaderMap::new();
    assert!(body_is_binary(&headers), "no content type");
    headers.insert("content-type", "text/plain".parse().unwrap());
    assert!(!body_is_binary(&headers));
    headers.insert("content-encoding", "gzip".parse().unwrap());
    assert!(body_is_binary(&headers));
    headers.insert("content-encoding", "identity".parse().unwrap());
    assert!(!body_is_binary(&headers));
}

#[test]
fn request_contexts_come_as_compact_json_in_event_order() {
    let event = Bytes::from(
        r#"{"version":"2.0","rawPath":"/","requestContext":{"z":1,"http":{"method":"GET","path":"/"},"a":[true,null,"x\u0001\"y"],"z":2.5}}"#,
    );
    let deferred = decode_event_deferred(&event, &DecodeOptions::new()).unwrap();
    assert_eq!(
        deferred.request_context.as_deref(),
        Some(r#"{"http":{"method":"GET","path":"/"},"a":[true,null,"x\u0001\"y"],"z":2.5}"#)
    );
    let whole = decode_event(&event, &DecodeOptions::new()).unwrap();
    let parsed: serde_json::Value =
        serde_json::from_str(deferred.request_context.as_deref().unwrap()).unwrap();
    assert_eq!(Some(parsed), whole.request_context);
}
