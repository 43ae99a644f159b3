//! Round-trip properties: `decode_event(encode_request(r)) == r` and
//! `decode_result(encode_response(resp)) == resp` for every shape that can carry them, with
//! exactly the documented loss where a shape cannot (comma-joined single-value headers, ALB
//! single-value mode keeping the last value per name, pass-through carrying no status or headers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::header::{CONTENT_LENGTH, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use lambda_mesh_adapter::{
    decode_event, decode_result, encode_request, encode_response, Bytes, DecodeOptions, EventShape,
    PayloadFormat, RequestMeta, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- strategies

fn arb_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH),
        Just(Method::HEAD),
        Just(Method::OPTIONS),
        "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Paths with percent-encoded bytes, raw non-ASCII characters and sub-delimiters.
fn arb_path() -> impl Strategy<Value = String> {
    let segment = "([a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9A-F]{2}|é|✓|日本){0,8}";
    prop::collection::vec(segment, 0..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

/// Raw query strings with repeated keys, empty values and value-less keys.
fn arb_query() -> impl Strategy<Value = Option<String>> {
    let pair = "[a-c]{1,2}(=([a-z0-9+,/?:@]|%[0-9A-F]{2}){0,5})?";
    prop::option::of(prop::collection::vec(pair, 1..6).prop_map(|pairs| pairs.join("&")))
}

fn arb_header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        Just(HeaderName::from_static("x-a")),
        Just(HeaderName::from_static("x-multi")),
        Just(HeaderName::from_static("accept")),
        Just(COOKIE),
        "[a-z][a-z0-9-]{0,10}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap()),
    ]
}

fn arb_header_value(name: &HeaderName) -> BoxedStrategy<HeaderValue> {
    if name == COOKIE {
        "[a-z]{1,3}=[a-z0-9]{0,3}(; [a-z]{1,3}=[a-z0-9]{0,3}){0,2}"
            .prop_map(|v| HeaderValue::from_str(&v).unwrap())
            .boxed()
    } else {
        // Commas, spaces and non-ASCII included.
        "[ -~é日]{0,16}"
            .prop_map(|v| HeaderValue::from_str(&v).unwrap())
            .boxed()
    }
}

fn arb_headers(extra: Vec<HeaderName>) -> impl Strategy<Value = Vec<(HeaderName, HeaderValue)>> {
    let name = prop_oneof![9 => arb_header_name(), 1 => prop::sample::select(if extra.is_empty() { vec![HeaderName::from_static("x-b")] } else { extra })];
    prop::collection::vec(
        name.prop_flat_map(|n| (Just(n.clone()), arb_header_value(&n))),
        0..8,
    )
}

/// Bodies: mostly small, a share up to 64 KiB; binary or UTF-8 text with a textual content type.
fn arb_body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| (None, b)),
        // Large bodies from a seed: a 64 KiB `vec(any::<u8>())` costs a shrink tree per byte.
        1 => (any::<u64>(), 0..=65_536usize).prop_map(|(seed, len)| (Some("application/octet-stream"), seeded_bytes(seed, len))),
        3 => "(.|\n){0,200}".prop_map(|s| (Some("text/plain; charset=utf-8"), s.into_bytes())),
        1 => Just((Some("application/json"), b"{\"k\":\"\\u00e9\\n\"}".to_vec())),
    ]
}

/// `len` pseudo-random bytes (xorshift64*) from `seed`.
fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn arb_request() -> impl Strategy<Value = Request<Bytes>> {
    (
        arb_method(),
        arb_path(),
        arb_query(),
        arb_headers(vec![]),
        arb_body(),
    )
        .prop_map(|(method, path, query, headers, (content_type, body))| {
            let target = match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            let mut request = Request::builder().method(method).uri(target);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            request.body(Bytes::from(body)).unwrap()
        })
}

fn arb_response() -> impl Strategy<Value = Response<Bytes>> {
    (100u16..=599, arb_headers(vec![SET_COOKIE]), arb_body()).prop_map(
        |(status, headers, (content_type, body))| {
            let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
            for (name, value) in headers {
                response = response.header(name, value);
            }
            if let Some(ct) = content_type {
                response = response.header("content-type", ct);
            }
            response.body(Bytes::from(body)).unwrap()
        },
    )
}

// ---------------------------------------------------------------- expectations

/// Headers as a sorted multiset of (name, value bytes).
fn multiset(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    all.sort();
    all
}

/// One value per name, repeated values joined ("; " for `cookie`, "," otherwise); `set-cookie`
/// kept as separate values.
fn joined(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in headers.keys() {
        if name == SET_COOKIE {
            for v in headers.get_all(name) {
                out.append(name.clone(), v.clone());
            }
            continue;
        }
        let sep: &[u8] = if name == COOKIE { b"; " } else { b"," };
        let values: Vec<&[u8]> = headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        out.insert(
            name.clone(),
            HeaderValue::from_bytes(&values.join(sep)).unwrap(),
        );
    }
    out
}

/// ALB single-value mode: the last value per name.
fn last_only(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in headers.keys() {
        let last = headers.get_all(name).iter().next_back().unwrap();
        out.insert(name.clone(), last.clone());
    }
    out
}

fn check_request(format: PayloadFormat, request: &Request<Bytes>) -> Result<(), TestCaseError> {
    let event = encode_request(request, format, &RequestMeta::default()).unwrap();
    let decoded = decode_event(&event, &DecodeOptions::new()).unwrap();
    let expected_shape = if format == PayloadFormat::Envoy {
        EventShape::Envoy
    } else {
        EventShape::ApiGatewayV2
    };
    prop_assert_eq!(&decoded.shape, &expected_shape);
    let got = decoded.request;
    prop_assert_eq!(got.method(), request.method());
    prop_assert_eq!(got.uri().path().as_bytes(), request.uri().path().as_bytes());
    prop_assert_eq!(got.uri().query(), request.uri().query());
    prop_assert_eq!(
        multiset(got.headers()),
        multiset(&joined(request.headers()))
    );
    prop_assert!(
        got.body() == request.body(),
        "body differs ({} vs {} bytes)",
        got.body().len(),
        request.body().len()
    );
    Ok(())
}

fn check_response(
    shape: &EventShape,
    format: PayloadFormat,
    response: &Response<Bytes>,
) -> Result<(), TestCaseError> {
    let result = encode_response(response.clone(), shape).unwrap();
    let got = decode_result(result, format).unwrap();
    prop_assert_eq!(
        got.headers()[CONTENT_LENGTH].to_str().unwrap(),
        response.body().len().to_string()
    );
    let mut headers = got.headers().clone();
    headers.remove(CONTENT_LENGTH);
    let (status, expected) = match shape {
        EventShape::ApiGatewayV1 | EventShape::Alb { multi_value: true } => {
            (response.status(), response.headers().clone())
        }
        EventShape::Alb { multi_value: false } => {
            (response.status(), last_only(response.headers()))
        }
        EventShape::PassThrough => (StatusCode::OK, HeaderMap::new()),
        _ => (response.status(), joined(response.headers())),
    };
    prop_assert_eq!(got.status(), status);
    prop_assert_eq!(multiset(&headers), multiset(&expected));
    prop_assert!(
        got.body() == response.body(),
        "body differs ({} vs {} bytes)",
        got.body().len(),
        response.body().len()
    );
    Ok(())
}

/// Shapes whose results the v2 format reads (pass-through is checked with its own format).
const SHAPES: [EventShape; 6] = [
    EventShape::ApiGatewayV1,
    EventShape::ApiGatewayV2,
    EventShape::FunctionUrl,
    EventShape::Alb { multi_value: false },
    EventShape::Alb { multi_value: true },
    EventShape::Envoy,
];

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn request_round_trips_through_v2(request in arb_request()) {
        check_request(PayloadFormat::V2, &request)?;
    }

    #[test]
    fn request_round_trips_through_envoy(request in arb_request()) {
        check_request(PayloadFormat::Envoy, &request)?;
    }

    #[test]
    fn request_round_trips_through_pass_through(value in prop::collection::vec(("\\PC{0,12}", any::<i64>()), 0..12)) {
        let body = serde_json::to_vec(&value.into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap();
        let request = Request::builder().method("POST").uri("/anything?x=1").header("x-dropped", "1").body(Bytes::from(body)).unwrap();
        let event = encode_request(&request, PayloadFormat::PassThrough, &RequestMeta::default()).unwrap();
        let decoded = decode_event(&event, &DecodeOptions::new().with_pass_through_path("/in")).unwrap();
        prop_assert_eq!(&decoded.shape, &EventShape::PassThrough);
        // Documented loss: method, path, query and headers are not carried; the body is the event.
        prop_assert_eq!(decoded.request.method(), Method::POST);
        prop_assert_eq!(decoded.request.uri().path(), "/in");
        prop_assert_eq!(decoded.request.body(), request.body());
    }

    #[test]
    fn response_round_trips_in_every_shape(response in arb_response()) {
        for shape in &SHAPES {
            check_response(shape, PayloadFormat::V2, &response)?;
        }
        check_response(&EventShape::Envoy, PayloadFormat::Envoy, &response)?;
        check_response(&EventShape::PassThrough, PayloadFormat::PassThrough, &response)?;
    }
}

// ---------------------------------------------------------------- fixed large cases

fn binary(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn large_request(body: Bytes, content_type: &str) -> Request<Bytes> {
    Request::builder()
        .method("POST")
        .uri("/upload/%E2%9C%93?part=1&part=2")
        .header("content-type", content_type)
        .header("cookie", "a=1; b=2")
        .body(body)
        .unwrap()
}

#[test]
fn one_mib_bodies_round_trip() {
    let text = Bytes::from("0123456789abcdef\n".repeat(1 << 16).into_bytes());
    for (body, ct) in [
        (binary(1 << 20), "application/octet-stream"),
        (text, "text/plain"),
    ] {
        let request = large_request(body.clone(), ct);
        for format in [PayloadFormat::V2, PayloadFormat::Envoy] {
            check_request(format, &request).unwrap();
        }
        let response = Response::builder()
            .header("content-type", ct)
            .body(body)
            .unwrap();
        for shape in &SHAPES {
            check_response(shape, PayloadFormat::V2, &response).unwrap();
        }
        check_response(
            &EventShape::PassThrough,
            PayloadFormat::PassThrough,
            &response,
        )
        .unwrap();
    }
}

#[test]
fn bodies_at_the_invoke_limit_round_trip() {
    // The largest binary body whose v2 event still fits the synchronous Invoke limit.
    let body = binary(MAX_SYNC_REQUEST_BYTES / 4 * 3 - 4096);
    let request = large_request(body.clone(), "application/octet-stream");
    let event = encode_request(&request, PayloadFormat::V2, &RequestMeta::default()).unwrap();
    assert!(
        event.len() <= MAX_SYNC_REQUEST_BYTES,
        "{} bytes",
        event.len()
    );
    assert!(
        event.len() > MAX_SYNC_REQUEST_BYTES - 8192,
        "{} bytes",
        event.len()
    );
    check_request(PayloadFormat::V2, &request).unwrap();
    check_request(PayloadFormat::Envoy, &request).unwrap();

    let response = Response::builder()
        .header("content-type", "application/octet-stream")
        .body(body)
        .unwrap();
    let result = encode_response(response.clone(), &EventShape::ApiGatewayV2).unwrap();
    assert!(
        result.len() <= MAX_SYNC_RESPONSE_BYTES,
        "{} bytes",
        result.len()
    );
    for shape in &SHAPES {
        check_response(shape, PayloadFormat::V2, &response).unwrap();
    }
    check_response(
        &EventShape::PassThrough,
        PayloadFormat::PassThrough,
        &response,
    )
    .unwrap();
}
