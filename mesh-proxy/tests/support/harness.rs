//! mesh-proxy in-process over the shared test function (`tests/data/python-fn`, from
//! `lambda-mesh-tests`), and the shared clients and config tables re-exported: the part of the
//! support that needs this crate's library lives here, the rest in `lambda-mesh-tests`.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

use mesh_proxy::{Config, Proxy};

pub use lambda_mesh_tests::client::{client, collect, get, h2_client, json, raw, send};
pub use lambda_mesh_tests::mesh_proxy::{function_table, upstream_table};

/// The test function's code directory.
pub fn function_dir() -> PathBuf {
    lambda_mesh_tests::functions::python_fn()
}

/// Parse a config (admin on a free port, a short drain).
pub fn config(body: &str) -> Config {
    let text = format!("drain_timeout = 5\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{body}");
    Config::from_toml_str(&text, "test.toml", Path::new("/")).expect("test config is valid")
}

/// Start a proxy.
pub async fn start(body: &str) -> Proxy {
    Proxy::start(config(body)).await.expect("proxy starts")
}
