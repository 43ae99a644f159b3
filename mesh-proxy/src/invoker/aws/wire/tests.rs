//! The signer against AWS's published SigV4 test vectors (aws-signing-test-suite, v4) and
//! against aws-sdk-lambda's own signature for the same Invoke.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::{HeaderValue, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::sigv4::{payload_sha256, Keys, Signable, Signer};
use super::{request, Endpoint};
use crate::config::InvocationMode;
use crate::invoker::Target;

/// The suite's clock: 2015-08-30T12:36:00Z.
fn suite_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// The `Signature=` of `request` signed as the suite signs (region us-east-1, service
/// `service`), with `x-amz-content-sha256` signed too when `content_sha256`.
fn suite_signature(
    request: Request<()>,
    body: &[u8],
    token: Option<&str>,
    content_sha256: bool,
) -> String {
    let payload = payload_sha256(body);
    let mut headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
        .collect();
    if content_sha256 {
        headers.push(("x-amz-content-sha256", &payload));
    }
    let keys = Keys {
        access_key_id: "AKIDEXAMPLE",
        secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: token,
    };
    let signed = Signer::default().sign(
        &Signable {
            method: request.method().as_str(),
            path: request.uri().path(),
            query: request.uri().query().unwrap_or(""),
            headers: &headers,
            payload_sha256: &payload,
        },
        &keys,
        "us-east-1",
        "service",
        suite_time(),
    );
    assert_eq!(signed.amz_date, "20150830T123600Z");
    signed
        .authorization
        .split("Signature=")
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn suite_request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(format!("https://example.amazonaws.com{path}"))
        .header("host", "example.amazonaws.com")
}

#[test]
fn published_vector_post_vanilla() {
    let request = suite_request("POST", "/").body(()).unwrap();
    assert_eq!(
        suite_signature(request, b"", None, false),
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
}

#[test]
fn published_vector_post_vanilla_query() {
    let request = suite_request("POST", "/?Param1=value1").body(()).unwrap();
    assert_eq!(
        suite_signature(request, b"", None, false),
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
    );
}

#[test]
fn published_vector_get_vanilla_with_session_token() {
    let request = suite_request("GET", "/").body(()).unwrap();
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    assert_eq!(
        suite_signature(request, b"", Some(token), false),
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
    );
}

#[test]
fn published_vector_post_x_www_form_urlencoded_signs_the_body() {
    let request = suite_request("POST", "/")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", "13")
        .body(())
        .unwrap();
    assert_eq!(
        suite_signature(request, b"Param1=value1", None, true),
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
    );
}

/// One HTTP/1.1 request read off a socket: the head as text, then the body by Content-Length;
/// answers a fixed 200 result.
async fn capture_one(listener: tokio::net::TcpListener) -> (String, Vec<u8>) {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the head ended");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the body ended");
        buffer.extend_from_slice(&chunk[..n]);
    }
    socket
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-amzn-requestid: r\r\n\r\n{}")
        .await
        .unwrap();
    (head, buffer[head_end..head_end + length].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no `{name}` in\n{head}"))
}

/// The same Invoke (ARN with `:` to encode, a qualifier, a session token, a binary payload),
/// sent by aws-sdk-lambda at a fixed time and built by us at that time: same request line,
/// same signed headers, same signature.
#[tokio::test]
async fn invoke_is_signed_exactly_as_aws_sdk_lambda_signs_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(capture_one(listener));
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let credentials = Credentials::new(
        "AKIDGOLDEN",
        "golden/secret+key",
        Some("golden-session-token".into()),
        None,
        "test",
    );
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("eu-west-3"))
        .credentials_provider(credentials.clone())
        .endpoint_url(format!("http://{addr}"))
        .time_source(aws_smithy_async::time::StaticTimeSource::new(time))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    let function = "arn:aws:lambda:eu-west-3:123456789012:function:golden";
    let payload = Bytes::from_static(b"{\"body\":\"\\u0000\xff binary\"}");
    aws_sdk_lambda::Client::from_conf(config)
        .invoke()
        .function_name(function)
        .qualifier("live")
        .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
        .payload(aws_smithy_types::Blob::new(payload.to_vec()))
        .send()
        .await
        .unwrap();
    let (sdk_head, sdk_body) = server.await.unwrap();
    assert_eq!(sdk_body, payload);

    let endpoint = Endpoint::new(
        &format!("http://{addr}").parse().unwrap(),
        "eu-west-3".into(),
    )
    .unwrap();
    let target = Target {
        function: function.into(),
        qualifier: Some("live".into()),
        mode: InvocationMode::default(),
    };
    let ours = request(
        &endpoint,
        &target,
        payload,
        &HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
        &Keys::from(&credentials),
        &Signer::default(),
        time,
        &[("x-amz-user-agent", header(&sdk_head, "x-amz-user-agent"))],
    )
    .unwrap();
    let request_line = sdk_head.lines().next().unwrap();
    let path = request_line.split(' ').nth(1).unwrap();
    assert_eq!(
        ours.uri().path_and_query().unwrap().as_str(),
        path,
        "request line"
    );
    assert_eq!(ours.uri().path(), "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-3%3A123456789012%3Afunction%3Agolden/invocations");
    for name in [
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-invocation-type",
        "content-type",
        "content-length",
        "authorization",
    ] {
        assert_eq!(
            ours.headers()[name].to_str().unwrap(),
            header(&sdk_head, name),
            "{name}"
        );
    }
    assert!(header(&sdk_head, "authorization").contains("SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-invocation-type;x-amz-security-token;x-amz-user-agent"));
}
