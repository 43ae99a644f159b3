//! Test support: a lambda_runtime function that answers with its event; `{"fail": "msg"}` fails.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if let Some(message) = event.payload.get("fail").and_then(Value::as_str) {
        return Err(Error::from(message.to_owned()));
    }
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
