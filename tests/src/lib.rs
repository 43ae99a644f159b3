//! End-to-end tests across the lambda-mesh crates (see `tests/tests/`), and the test support every
//! crate's integration tests share, each helper once: the workspace's paths and binaries, child
//! processes, free ports, a fake Lambda Runtime/Extensions API, a small Rust HTTP service, a raw
//! one that lies on purpose (fault injection), layers, functions and events, the emulator
//! in-process, HTTP clients and a recording proxy.
//!
//! Test support: a panic is a test failure, so helpers panic with a message instead of returning
//! errors, and `unwrap`/`expect` are the right tools here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod client;
pub mod consul_agent;
pub mod emulator;
pub mod events;
pub mod fake_api;
pub mod functions;
pub mod hostile;
pub mod layer;
pub mod mesh_proxy;
pub mod metrics;
pub mod net;
pub mod poll;
pub mod process;
pub mod recorder;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod service;
pub mod workspace;
