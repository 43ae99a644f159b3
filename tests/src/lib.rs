//! End-to-end tests across the lambda-mesh crates (see `tests/tests/`), and the test support they
//! share with the crates' own integration tests.

pub mod certs;
pub mod process;
pub mod recorder;
