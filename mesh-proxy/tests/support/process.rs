//! This crate's mesh-proxy binary (`CARGO_BIN_EXE_*` exists only here) as a child process, through
//! `lambda_mesh_tests::mesh_proxy`.

#![allow(dead_code, unused_imports)]

use std::path::Path;

pub use lambda_mesh_tests::mesh_proxy::{MeshProxy, AWS_ENV};

/// The mesh-proxy binary this test run built.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_mesh-proxy"))
}

/// Starts `mesh-proxy --config PATH` with `env`, waiting for its admin line.
pub fn start(config: &Path, env: &[(&str, &str)]) -> MeshProxy {
    MeshProxy::start(binary(), config, env)
}

/// `mesh-proxy --check --config PATH` with `env`: exit code and stdout + stderr.
pub fn check(config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    lambda_mesh_tests::mesh_proxy::check(binary(), config, env)
}
