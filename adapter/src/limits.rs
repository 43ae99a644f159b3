//! Lambda's payload limits, as named on the AWS Lambda quotas page
//! (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>).
//!
//! The codec itself enforces none of them: they apply where payloads cross the Invoke boundary
//! (mesh-proxy before calling Invoke, the emulator when it answers), counted on the encoded payload.

/// Invocation payload limit for synchronous invocations (request), in bytes: 6 MB.
pub const MAX_SYNC_REQUEST_BYTES: usize = 6_291_456;

/// Invocation payload limit for asynchronous invocations (request), in bytes: 1 MB.
pub const MAX_ASYNC_REQUEST_BYTES: usize = 1_048_576;

/// Invocation payload limit for synchronous invocations (response), in bytes: 6 MB plus the
/// 100 bytes Lambda allows on top of the request limit.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 6_291_556;
