//! The `local` invoker: the embedded emulator, called in-process.

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use lambda_mesh_emulator::{Emulator, InvocationType, InvokeError, InvokeRequest};

use super::{InvokeFailure, Invoked, StreamFailure, Streamed, Target};

/// Invokes functions of one embedded emulator.
#[derive(Clone)]
pub struct LocalInvoker {
    emulator: Emulator,
    /// Held by every invoker of this emulator: the emulator shuts down once the last one is gone.
    users: Arc<()>,
}

impl std::fmt::Debug for LocalInvoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalInvoker")
            .field("users", &self.users())
            .finish()
    }
}

impl LocalInvoker {
    /// Invoke functions of `emulator`.
    pub fn new(emulator: Emulator) -> Self {
        LocalInvoker {
            emulator,
            users: Arc::new(()),
        }
    }

    /// The emulator.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// How many clones of this invoker are alive (in-flight requests hold one each).
    pub fn users(&self) -> usize {
        Arc::strong_count(&self.users)
    }

    pub(super) async fn invoke(
        &self,
        target: &Target,
        payload: Bytes,
        trace: &HeaderValue,
    ) -> Result<Invoked, InvokeFailure> {
        let response = self
            .emulator
            .invoke(request(target, payload, trace))
            .await
            .map_err(failure)?;
        Ok(Invoked {
            request_id: Some(response.request_id),
            executed_version: Some(response.executed_version).filter(|v| !v.is_empty()),
            payload: response.payload,
            function_error: response.function_error,
        })
    }

    pub(super) async fn invoke_stream(
        &self,
        target: &Target,
        payload: Bytes,
        trace: &HeaderValue,
    ) -> Result<Streamed, InvokeFailure> {
        let streaming = self
            .emulator
            .invoke_stream(request(target, payload, trace))
            .await
            .map_err(failure)?;
        let chunks = futures_util::stream::unfold(Some(streaming.body), |state| async move {
            let mut body = state?;
            match body.recv().await? {
                Ok(chunk) => Some((Ok(chunk), Some(body))),
                Err(e) => Some((
                    Err(StreamFailure {
                        code: e.error_code,
                        details: e.error_details,
                    }),
                    None,
                )),
            }
        });
        Ok(Streamed {
            request_id: Some(streaming.request_id),
            executed_version: Some(streaming.executed_version).filter(|v| !v.is_empty()),
            content_type: streaming.content_type,
            chunks: Box::pin(chunks),
        })
    }
}

fn request(target: &Target, payload: Bytes, trace: &HeaderValue) -> InvokeRequest {
    InvokeRequest {
        function: target.function.clone(),
        qualifier: target.qualifier.clone(),
        invocation_type: if target.mode.is_asynchronous() {
            InvocationType::Event
        } else {
            InvocationType::RequestResponse
        },
        payload,
        trace_id: trace.to_str().ok().map(str::to_owned),
        ..InvokeRequest::default()
    }
}

/// The emulator's typed refusal as the same failure the aws invoker reports for Lambda's.
fn failure(error: InvokeError) -> InvokeFailure {
    let message = format!("{}: {error}", error.error_type());
    match error {
        InvokeError::TooManyRequests {
            retry_after_seconds,
            ..
        } => InvokeFailure::Throttled {
            retry_after: Some(retry_after_seconds),
            message,
        },
        InvokeError::ResourceNotFound { .. } => InvokeFailure::NotFound { message },
        InvokeError::RequestTooLarge { .. } => InvokeFailure::TooLarge { message },
        InvokeError::ServiceException { .. } => InvokeFailure::Service { message },
        // Bad requests (and whatever the emulator refuses in future): not retried.
        _ => InvokeFailure::Other { message },
    }
}
