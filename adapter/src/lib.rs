//! The codec both ends of lambda-mesh share: Lambda events ⇄ `http::Request`, `http::Response` ⇄
//! function results, and `run(service)` for Rust functions.
