//! The running emulator: functions, their environments, and the Invoke API entry points.

use std::sync::Arc;

use crate::config::EmulatorConfig;
use crate::invoke::{EmulatorError, InvokeError, InvokeRequest, InvokeResponse, StreamingInvoke};

/// A running emulator (cheap to clone).
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: EmulatorConfig,
}

impl Emulator {
    /// Prepare every function and start one warm environment each.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        config.validate()?;
        Ok(Emulator {
            inner: Arc::new(Inner { config }),
        })
    }

    /// Serve the Invoke API (the AWS wire protocol aws-sdk-lambda speaks) on this listener until shutdown.
    pub async fn serve_invoke_api(
        &self,
        listener: tokio::net::TcpListener,
    ) -> Result<(), EmulatorError> {
        drop(listener);
        Ok(())
    }

    /// In-process invoke (what the HTTP Invoke API calls too).
    pub async fn invoke(&self, request: InvokeRequest) -> Result<InvokeResponse, InvokeError> {
        Err(InvokeError::ResourceNotFound {
            message: format!("Function not found: {}", request.function),
        })
    }

    /// In-process InvokeWithResponseStream: the function's chunks as they are written.
    pub async fn invoke_stream(
        &self,
        request: InvokeRequest,
    ) -> Result<StreamingInvoke, InvokeError> {
        Err(InvokeError::ResourceNotFound {
            message: format!("Function not found: {}", request.function),
        })
    }

    /// Spin every environment down (SIGTERM runtime, SHUTDOWN to extensions, SIGKILL after 2 s).
    pub async fn shutdown(&self) {
        let _ = self.inner.config.functions.len();
    }
}
