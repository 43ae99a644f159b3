//! This crate's binding of the shared test support (`lambda-mesh-tests`): the extension binary
//! under test (`CARGO_BIN_EXE_*` exists only here) and its layer; the rest re-exported so the
//! test files read `harness::invoke(…)`.

#![allow(dead_code, unused_imports)]

use std::path::Path;

use tempfile::TempDir;

pub use lambda_mesh_tests::emulator::{
    error_type, invoke, invoke_bytes, invoke_stream, result as json, start,
};
pub use lambda_mesh_tests::events::{result_body, result_header, v2_event};
pub use lambda_mesh_tests::functions::{
    python_function, python_provided_function, rust_service_function,
};
pub use lambda_mesh_tests::layer::waiting_code;
pub use lambda_mesh_tests::workspace::root;

/// The extension binary this test run built (with its features: `br,zstd` or none).
pub fn extension() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lambda-mesh-extension"))
}

/// A layer directory: `extensions/lambda-mesh` (the binary under test) and `bootstrap`.
pub fn layer() -> TempDir {
    lambda_mesh_tests::layer::mesh_layer(extension())
}
