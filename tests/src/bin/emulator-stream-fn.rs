//! Test support: a lambda_runtime streaming function writing `{"chunks": n, "delay_ms": d}` chunks
//! (`chunk 0\n`, `chunk 1\n`, …) with a pause between them.

use std::time::Duration;

use lambda_runtime::streaming::{channel, Body, Response};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

async fn handle(event: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let chunks = event
        .payload
        .get("chunks")
        .and_then(Value::as_u64)
        .unwrap_or(3);
    let delay = event
        .payload
        .get("delay_ms")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let (mut sender, body) = channel();
    tokio::spawn(async move {
        for i in 0..chunks {
            if sender
                .send_data(format!("chunk {i}\n").into())
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    });
    Ok(Response::from(body))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
