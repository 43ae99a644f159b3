//! mesh-proxy's config: any text is a `Config` or a `ConfigError`, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mesh_proxy::Config::from_toml_str(text, "fuzz.toml", Path::new("/nonexistent"));
    }
});
