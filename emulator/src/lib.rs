//! A faithful local AWS Lambda: the Invoke API, the Runtime API and the Extensions API, running
//! real function bundles and layers as local processes.

mod api;
mod async_queue;
mod config;
mod emulator;
mod environment;
mod event_stream;
mod extensions_api;
mod failure;
mod function;
mod http_util;
mod invoke;
mod invoke_api;
mod listener;
mod logs;
mod memory;
mod pool;
mod process;
mod runtime_api;
mod sandbox;
mod telemetry_api;

pub use config::{
    ConfigError, EmulatorConfig, FunctionConfig, DEFAULT_ASYNC_RETRY_DELAYS_MS,
    DEFAULT_CONCURRENCY, DEFAULT_HANDLER, DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS, DEFAULT_MEMORY_MB, DEFAULT_RUNTIME, DEFAULT_TIMEOUT_SECONDS,
};
pub use emulator::Emulator;
pub use invoke::{
    EmulatorError, InvocationType, InvokeError, InvokeRequest, InvokeResponse, StreamError,
    StreamingInvoke, MAX_ASYNC_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_STREAM_RESPONSE_BYTES,
    MAX_SYNC_REQUEST_BYTES,
};
