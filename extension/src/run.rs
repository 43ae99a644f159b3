//! The extension's life: register, wait for the service, then serve invocations until SHUTDOWN.

use std::time::Duration;

use tracing::Instrument;

use crate::api_client::ApiClient;
use crate::config::{Config, ConfigError};
use crate::error::RunError;
use crate::extensions_api::{ExtensionEvent, ExtensionsApi};
use crate::invoke::{Handler, Outcome};
use crate::readiness::{Readiness, ReadinessError};
use crate::runtime_api::RuntimeApi;

/// With async init, how long init waits for the service before finishing anyway: just under
/// Lambda's 10 s on-demand init limit (as aws-lambda-web-adapter does).
const ASYNC_INIT_BUDGET: Duration = Duration::from_millis(9_800);

/// Registers, waits for the service and serves invocations until SHUTDOWN.
pub async fn run(config: Config) -> Result<(), RunError> {
    // Registration and the first readiness checks run side by side: on Lambda the service only
    // starts once every extension has registered, but a service that is already up (or comes up
    // at once) is seen ready without waiting for the registration round trip first.
    let readiness = Readiness::from_config(&config);
    let limit = if config.async_init {
        config.readiness_timeout.min(ASYNC_INIT_BUDGET)
    } else {
        config.readiness_timeout
    };
    let (mut extension, readiness) = tokio::try_join!(
        async {
            let client =
                ApiClient::new(config.runtime_api.clone()).with_timeout(config.api_timeout);
            let registered = ExtensionsApi::register(client)
                .await
                .map_err(RunError::Register)?;
            tracing::info!(service = %config.service, "registered; waiting for the service");
            Ok(registered)
        },
        async { Ok(readiness.wait(limit).await) },
    )?;
    let ready = settle_readiness(&config, &mut extension, readiness).await?;
    serve(config, extension, ready).await
}

/// Registers with the Extensions API at `runtime_api` only to report `error` through
/// `init/error`; each call bounded by the default call timeout. A failure to report is logged.
pub async fn fail_init(runtime_api: &str, error: ConfigError) {
    let stopped = RunError::InvalidConfig(error);
    let Some(report) = stopped.report() else {
        return;
    };
    let reported = async {
        let mut extension = ExtensionsApi::register(ApiClient::new(runtime_api)).await?;
        extension.init_error(&report).await
    };
    if let Err(error) = reported.await {
        tracing::error!(error = %error.describe(), "init/error could not be reported");
    }
}

async fn settle_readiness(
    config: &Config,
    extension: &mut ExtensionsApi,
    readiness: Result<Duration, ReadinessError>,
) -> Result<bool, RunError> {
    match readiness {
        Ok(waited) => {
            tracing::info!(waited_ms = %waited.as_millis(), "service is ready");
            Ok(true)
        }
        Err(error) if config.async_init => {
            tracing::info!(%error, "service not ready yet; async init finishes init anyway");
            Ok(false)
        }
        Err(error) => {
            tracing::error!(%error, "service not ready");
            let stopped = RunError::NotReady(error);
            if let Some(report) = stopped.report() {
                if let Err(api) = extension.init_error(&report).await {
                    tracing::error!(error = %api.describe(), "init/error could not be reported");
                }
            }
            Err(stopped)
        }
    }
}

async fn serve(config: Config, mut extension: ExtensionsApi, ready: bool) -> Result<(), RunError> {
    let mut reporter = extension.another();
    let mut runtime = RuntimeApi::new(config.runtime_api_target()).with_timeout(config.api_timeout);
    let mut handler = Handler::new(config, ready);
    let invocations = async {
        loop {
            let invocation = runtime.next().await.map_err(RunError::Api)?;
            // A debug span: at the default `info` level it costs nothing per invocation; warnings
            // name the request id themselves.
            let span = tracing::debug_span!("invocation", request_id = %invocation.request_id);
            let outcome = handler
                .handle(&invocation, &mut runtime)
                .instrument(span)
                .await
                .map_err(RunError::Api)?;
            runtime.recycle(invocation.event);
            if let Outcome::ServiceGone(reason) = outcome {
                return Err(RunError::ServiceGone(reason));
            }
        }
    };
    let shutdown = async {
        loop {
            match extension.next_event().await {
                Ok(ExtensionEvent::Shutdown {
                    reason,
                    deadline_ms,
                }) => return Ok((reason, deadline_ms)),
                Ok(ExtensionEvent::Other(kind)) => {
                    tracing::debug!(event = %kind, "ignoring extension event");
                }
                Err(error) => return Err(RunError::Api(error)),
            }
        }
    };
    let result = tokio::select! {
        result = invocations => result,
        event = shutdown => event.map(|(reason, deadline_ms)| {
            tracing::info!(%reason, deadline_ms, "shutdown: closing connections and exiting");
        }),
    };
    handler.close();
    // Exiting on an error: tell Lambda first (bounded by the call timeout), so it resets the
    // environment instead of waiting on it.
    let report = match &result {
        Err(stopped @ RunError::ServiceGone(reason)) => {
            tracing::error!(%reason, "service is gone; asking Lambda for a fresh environment");
            stopped.report()
        }
        Err(stopped @ RunError::Api(_)) => {
            let report = stopped.report();
            if let Some(report) = &report {
                tracing::error!(error = %report.error_message, "lambda api failed; asking Lambda for a fresh environment");
            }
            report
        }
        _ => None,
    };
    if let Some(report) = report {
        if let Err(error) = reporter.exit_error(&report).await {
            tracing::error!(error = %error.describe(), "exit/error could not be reported");
        }
    }
    result
}
