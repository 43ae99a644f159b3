//! The piecewise paths give what the whole-body ones give: `decode_event_deferred` with
//! `EventBody::next_chunk` against `decode_event`, and `ResultWriter` against `encode_response`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use base64::Engine as _;
use http::Response;
use lambda_mesh_adapter::{
    body_is_binary, decode_event, decode_event_deferred, encode_response, Bytes, DecodeOptions,
    EventShape, ResultWriter,
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
