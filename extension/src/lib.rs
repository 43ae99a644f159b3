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
mod connection;
mod error;
mod extensions_api;
mod forwarder;
mod framing;
mod headers;
mod invoke;
mod logging;
mod malloc_tuning;
mod readiness;
mod run;
mod runtime_api;

pub use api_client::ApiError;
pub use body::OutBody;
pub use config::{Config, ConfigError};
pub use error::{ForwardError, RunError};
pub use forwarder::{Forwarder, Lease};
pub use framing::ServiceBody;
pub use logging::init_logging;
pub use malloc_tuning::reexec_with_malloc_tuning;
pub use readiness::ReadinessError;
pub use run::{fail_init, run};
