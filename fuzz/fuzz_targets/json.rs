//! The hand-written JSON parser: never a panic, and never a disagreement with serde_json.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(difference) = lambda_mesh_adapter::check_json_parsers(data) {
        panic!("{difference}");
    }
});
