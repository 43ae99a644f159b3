//! `Adapter::call`: one event through a tower service without the Runtime API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use http::{Request, Response};
use http_body_util::BodyExt;
use lambda_mesh_adapter::{Adapter, RequestBody, RequestContext, INVALID_EVENT_ERROR_TYPE};
use serde_json::Value;

async fn echo(request: Request<RequestBody>) -> Result<Response<String>, Infallible> {
    let has_context = request.extensions().get::<RequestContext>().is_some();
    let has_lambda_context = request
        .extensions()
        .get::<lambda_runtime::Context>()
        .is_some();
    let uri = request.uri().to_string();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let text = format!(
        "{uri} {has_context} {has_lambda_context} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .header("set-cookie", "a=1")
        .header("set-cookie", "b=2")
        .body(text)
        .unwrap())
}

#[tokio::test]
async fn call_answers_in_the_event_shape() {
    let adapter = Adapter::new(tower::service_fn(echo)).with_pass_through_path("/in");
    let result = adapter
        .call(
            include_bytes!("data/apigw_v2.json"),
            lambda_runtime::Context::default(),
        )
        .await
        .unwrap();
    let result: Value = serde_json::from_slice(&result).unwrap();
    assert_eq!(result["statusCode"], 200);
    assert_eq!(result["cookies"], serde_json::json!(["a=1", "b=2"]));
    assert_eq!(
        result["body"],
        "/search/a%20b%3Fc%23d?tag=x&tag=y&empty=&flag true true hello, world"
    );

    let result = adapter
        .call(
            include_bytes!("data/sqs.json"),
            lambda_runtime::Context::default(),
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&result).starts_with("/in false true {"));
}

#[tokio::test]
async fn call_reports_invalid_events() {
    let adapter = Adapter::new(tower::service_fn(echo));
    let error = adapter
        .call(b"{\"raw_path\":\"/\"}", lambda_runtime::Context::default())
        .await
        .unwrap_err();
    assert_eq!(error.error_type, INVALID_EVENT_ERROR_TYPE);
    assert_eq!(error.error_message, "missing field `method`");
}
