//! mesh-proxy: HTTP in, AWS Lambda invocations out.
//!
//! One listener per `[[upstream]]` turns each request into an event (the adapter's
//! [`encode_request`](lambda_mesh_adapter::encode_request)), invokes the upstream's function through
//! the `aws` invoker (aws-sdk-lambda) or the `local` one (the embedded emulator), and turns the
//! result back into the HTTP response. Failures become responses in one place ([`ProxyError`]).

mod admin;
mod body;
mod config;
mod error;
mod identity;
mod invoker;
mod listener;
mod logging;
mod metrics;
mod proxy;
mod run;
mod upstream;
mod xfcc;

pub use admin::AdminState;
pub use body::{Body, BoxError};
pub use config::{
    AwsSettings, Config, ConfigError, FlagValues, InvocationMode, LogFormat, Overrides,
    UpstreamConfig, DEFAULT_ADMIN_LISTEN, DEFAULT_BIND_ADDRESS, DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_MAX_CONCURRENCY, DEFAULT_RETRIES, DEFAULT_TIMEOUT, MAX_RETRIES, MAX_TIMEOUT,
};
pub use error::{ProxyError, FUNCTION_ERROR_HEADER};
pub use identity::{IdentityError, ServiceIdentity, DEFAULT_PARTITION};
pub use invoker::{AwsClients, AwsError, Backoff, InvokeFailure, StreamFailure};
pub use listener::tls::{
    Accepted, HandshakeError, PeerIdentity, PeerRejected, PemFile, ServiceLeaf, TlsAcceptor,
    TlsConfigError, TrustAnchors, DEFAULT_HANDSHAKE_TIMEOUT,
};
pub use logging::init_tracing;
pub use metrics::{Metrics, UpstreamMetrics, LATENCY_BUCKETS};
pub use proxy::{Proxy, StartError};
pub use run::run;
pub use upstream::{
    AWS_REQUEST_ID_HEADER, EXECUTED_VERSION_HEADER, MAX_HEADERS, MAX_HEADER_BYTES,
    REQUEST_ID_HEADER,
};
pub use xfcc::{apply_xfcc, xfcc_element, UnknownXfccMode, XfccMode, XFCC_HEADER};
