//! `lambda-mesh-extension`: the layer's extension binary.
fn main() {}
