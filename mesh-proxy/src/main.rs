//! `mesh-proxy`: the sidecar / gateway binary.
fn main() {}
