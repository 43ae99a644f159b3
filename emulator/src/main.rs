//! `lambda-emulator`: a local AWS Lambda.
fn main() {}
