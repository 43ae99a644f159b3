//! Helpers shared by the emulator's Python custom-runtime tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use lambda_mesh_emulator::{Emulator, EmulatorConfig, FunctionConfig, InvokeRequest};
use serde_json::Value;

#[path = "poll.rs"]
pub mod poll;

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python-fn")
}

pub fn function(name: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, fixture());
    config.timeout = 2;
    config
}

pub async fn start(functions: Vec<FunctionConfig>) -> Emulator {
    Emulator::start(EmulatorConfig { functions }).await.unwrap()
}

pub fn request(function: &str, payload: Value) -> InvokeRequest {
    InvokeRequest {
        function: function.into(),
        payload: Bytes::from(payload.to_string()),
        ..InvokeRequest::default()
    }
}

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}
