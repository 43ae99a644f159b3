//! The emulator in-process: started with functions, invoked (throttles retried, every call bounded
//! in time), and served on an Invoke API listener.

use std::time::Duration;

use bytes::Bytes;
use lambda_mesh_emulator::{
    Emulator, EmulatorConfig, FunctionConfig, InvokeError, InvokeRequest, InvokeResponse,
    StreamingInvoke,
};
use serde_json::Value;

/// How long one invoke may take.
const INVOKE_LIMIT: Duration = Duration::from_secs(30);

/// How often a throttled invoke is retried, 20 ms apart.
const THROTTLE_RETRIES: usize = 100;

/// Starts the emulator with `functions` (each initialised as configured).
pub async fn start(functions: Vec<FunctionConfig>) -> Emulator {
    Emulator::start(EmulatorConfig { functions })
        .await
        .expect("emulator starts")
}

/// A synchronous invoke request of `function` with `payload`.
pub fn request(function: &str, payload: Value) -> InvokeRequest {
    InvokeRequest {
        function: function.into(),
        payload: Bytes::from(payload.to_string()),
        ..InvokeRequest::default()
    }
}

/// A synchronous invoke of `function` with `payload`, bounded in time.
pub async fn invoke(emulator: &Emulator, function: &str, payload: &Value) -> InvokeResponse {
    invoke_bytes(emulator, function, Bytes::from(payload.to_string())).await
}

/// A synchronous invoke with a raw payload, bounded in time. With concurrency 1 the environment
/// is busy until its runtime asks for the next invocation, a moment after it posted the last
/// result: throttles are retried, boundedly.
pub async fn invoke_bytes(emulator: &Emulator, function: &str, payload: Bytes) -> InvokeResponse {
    for _ in 0..THROTTLE_RETRIES {
        let request = InvokeRequest {
            function: function.to_owned(),
            payload: payload.clone(),
            ..InvokeRequest::default()
        };
        match tokio::time::timeout(INVOKE_LIMIT, emulator.invoke(request))
            .await
            .expect("invoke finishes within 30 s")
        {
            Ok(response) => return response,
            Err(InvokeError::TooManyRequests { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("invoke refused: {error:?}"),
        }
    }
    panic!("invoke throttled {THROTTLE_RETRIES} times in a row")
}

/// A streaming invoke of `function` with `payload`, retrying throttles as [`invoke_bytes`] does.
pub async fn invoke_stream(
    emulator: &Emulator,
    function: &str,
    payload: &Value,
) -> StreamingInvoke {
    for _ in 0..THROTTLE_RETRIES {
        let request = InvokeRequest {
            function: function.to_owned(),
            payload: Bytes::from(payload.to_string()),
            ..InvokeRequest::default()
        };
        match tokio::time::timeout(INVOKE_LIMIT, emulator.invoke_stream(request))
            .await
            .expect("invoke_stream answers within 30 s")
        {
            Ok(streaming) => return streaming,
            Err(InvokeError::TooManyRequests { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("invoke_stream refused: {error:?}"),
        }
    }
    panic!("invoke_stream throttled {THROTTLE_RETRIES} times in a row")
}

/// The result as JSON.
pub fn result(response: &InvokeResponse) -> Value {
    crate::events::json(&response.payload)
}

/// The `errorType` of a function error (and a panic showing the result if it is none).
pub fn error_type(response: &InvokeResponse) -> String {
    assert!(
        response.function_error.is_some(),
        "expected a function error, got {}",
        String::from_utf8_lossy(&response.payload)
    );
    result(response)["errorType"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A running emulator serving the Invoke API on 127.0.0.1, port 0.
pub struct Running {
    /// The emulator.
    pub emulator: Emulator,
    /// `http://ADDR` of its Invoke API.
    pub endpoint: String,
}

impl Running {
    /// Starts the functions and serves the Invoke API.
    pub async fn start(functions: Vec<FunctionConfig>) -> Running {
        Self::serve(start(functions).await).await
    }

    /// Serves an already started emulator.
    pub async fn serve(emulator: Emulator) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
        let served = emulator.clone();
        tokio::spawn(async move { served.serve_invoke_api(listener).await });
        Running { emulator, endpoint }
    }
}
