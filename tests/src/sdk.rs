//! aws-sdk-lambda clients for an Invoke API endpoint (the emulator's, or cargo-lambda's).

use crate::emulator::Running;

/// An aws-sdk-lambda client for `endpoint`, with dummy credentials and no retries.
pub fn client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDEXAMPLE",
            "emulator-secret",
            None,
            None,
            "test",
        ))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

impl Running {
    /// An aws-sdk-lambda client for this emulator's Invoke API.
    pub fn client(&self) -> aws_sdk_lambda::Client {
        client(&self.endpoint)
    }
}
