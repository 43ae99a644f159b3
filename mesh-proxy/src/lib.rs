//! mesh-proxy: HTTP in, AWS Lambda invocations out.
//!
//! One listener per `[[upstream]]` turns each request into an event (the adapter's
//! [`encode_request`](lambda_mesh_adapter::encode_request)), invokes the upstream's function through
//! the `aws` invoker (aws-sdk-lambda) or the `local` one (the embedded emulator), and turns the
//! result back into the HTTP response. Failures become responses in one place ([`ProxyError`]).

mod admin;
mod body;
mod config;
mod consul;
mod discovery;
mod error;
mod gateway;
mod identity;
mod intentions;
mod invoker;
mod listener;
mod logging;
mod metrics;
mod proxy;
mod run;
mod trace;
mod upstream;
mod watch;
mod xfcc;

pub use body::{Body, BoxError};
pub use config::{
    AgentEntries, AgentPrelude, AwsSettings, Config, ConfigError, ConsulAgent, FlagValues,
    GatewayConfig, GatewayService, InvocationMode, LogFormat, Overrides, Sources, UpstreamConfig,
};
#[doc(hidden)] // For the pyhcl differential test (tests/hcl_pyhcl.rs) only.
pub use consul::hcl_to_json;
pub use error::ProxyError;
pub use identity::{IdentityError, ServiceIdentity, DEFAULT_PARTITION};
pub use invoker::AwsError;
pub use listener::tls::{
    Accepted, HandshakeError, PeerIdentity, PeerRejected, PemFile, ServiceLeaf, TlsAcceptor,
    TlsConfigError, TrustAnchors, DEFAULT_HANDSHAKE_TIMEOUT,
};
pub use listener::{
    ConnectionLimits, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_WRITE_TIMEOUT,
};
pub use logging::init_tracing;
pub use metrics::{Metrics, UpstreamMetrics};
pub use proxy::{Proxy, StartError};
pub use run::{read_agent_entries, run};
pub use xfcc::{apply_xfcc, xfcc_element, UnknownXfccMode, XfccMode, XFCC_HEADER};
