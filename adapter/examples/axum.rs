//! An axum `Router` served on AWS Lambda with `lambda_mesh_adapter::run`: every event shape the
//! adapter decodes (API Gateway, Function URL, ALB, Envoy, pass-through) reaches the router as an
//! ordinary HTTP request.
//!
//! Build for Lambda with `cargo lambda build --release --example axum`, or run against a local
//! Runtime API by setting `AWS_LAMBDA_RUNTIME_API`.

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

async fn hello(Query(params): Query<HashMap<String, String>>) -> String {
    let name = params.get("name").map_or("world", String::as_str);
    format!("hello, {name}\n")
}

async fn item(Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "id": id }))
}

/// Non-HTTP events (SQS, SNS, EventBridge, …) arrive as a POST of the raw event to `/events`.
async fn events(Json(event): Json<Value>) -> Json<Value> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Json(json!({ "records": records }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/items/{id}", get(item))
        .route("/events", post(events));
    lambda_mesh_adapter::run(app).await
}
