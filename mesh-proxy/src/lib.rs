//! mesh-proxy: HTTP in, AWS Lambda invocations out.
