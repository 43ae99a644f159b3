//! End-to-end tests across the lambda-mesh crates (see `tests/tests/`).
