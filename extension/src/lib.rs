//! A Lambda external extension that is also the function's runtime client: it forwards each
//! invocation as HTTP to an unmodified service on localhost.
//!
//! `main` reads like the checklist Lambda imposes: init tracing, load [`Config`], then [`run`]:
//! register for `SHUTDOWN`, wait for the service's readiness, serve invocations.

mod api_client;
mod body;
mod buffer;
mod compression;
mod config;
mod extensions_api;
mod forwarder;
mod headers;
mod invoke;
mod logging;
mod malloc_tuning;
mod readiness;
mod run;
mod runtime_api;

pub use api_client::{ApiClient, ApiError, ErrorReport, Wait};
pub use body::OutBody;
pub use buffer::{ReadError, Reusable};
pub use compression::{compress_response, negotiate, Coding};
pub use config::{
    Config, ConfigError, FunctionEnv, InvokeMode, LogFormat, ReadinessProtocol, StatusSet,
    DEFAULT_API_TIMEOUT, DEFAULT_COMPRESSION_MIN_BYTES, DEFAULT_DEADLINE_MARGIN, DEFAULT_HOST,
    DEFAULT_PASS_THROUGH_PATH, DEFAULT_PORT, DEFAULT_READINESS_PATH, DEFAULT_READINESS_TIMEOUT,
};
pub use extensions_api::{ExtensionEvent, ExtensionsApi, EXTENSION_NAME};
pub use forwarder::{ForwardError, Forwarder, Lease, IDLE_TIMEOUT};
pub use headers::{lambda_context, strip_hop_by_hop, traceparent};
pub use invoke::{Handler, Outcome};
pub use logging::{from_env as log_settings_from_env, init as init_logging};
pub use malloc_tuning::{tuned_tunables, MALLOC_TUNABLES};
pub use readiness::{Readiness, ReadinessError};
pub use run::{
    fail_init, run, RunError, INVALID_CONFIG, LAMBDA_API_FAILED, SERVICE_GONE, SERVICE_NOT_READY,
};
pub use runtime_api::{Invocation, RuntimeApi};
