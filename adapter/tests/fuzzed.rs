//! Regression tests for what `make fuzz` found (targets in `fuzz/`): each input as the fuzzer left
//! it in `fuzz/artifacts/<target>/crash-<sha1>`, kept as `tests/data/fuzzed/<target>-<sha1 prefix>`,
//! and the behaviour it broke, named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_mesh_adapter::{check_json_parsers, decode_event, decode_event_deferred, DecodeOptions};

/// `{"st5tusCode":2033…290}`, a 52-digit number (json target).
const LONG_NUMBER_JSON: &str = include_str!("data/fuzzed/json-346ec032.json");

fn long_number() -> &'static str {
    LONG_NUMBER_JSON
        .trim_start_matches(r#"{"st5tusCode":"#)
        .trim_end_matches('}')
}

#[test]
fn a_number_written_back_as_json_parses_to_the_same_number() {
    // serde_json's default float parsing is not correctly rounded: this number parsed to an f64
    // one ulp off, written back shortest as 2.0333333333333331e+52, parsed to another f64.
    assert_eq!(check_json_parsers(LONG_NUMBER_JSON.as_bytes()), Ok(()));
}

#[test]
fn both_decoders_give_the_same_request_context_for_a_long_number() {
    let event = format!(
        r#"{{"version":"2.0","rawPath":"/","requestContext":{{"http":{{"method":"GET"}},"timeEpoch":{}}}}}"#,
        long_number()
    );
    let whole = decode_event(event.as_bytes(), &DecodeOptions::new()).unwrap();
    let deferred = decode_event_deferred(&event.clone().into(), &DecodeOptions::new()).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&deferred.request_context.unwrap()).unwrap();
    assert_eq!(whole.request_context, Some(written));
    // And it is the f64 nearest the decimal, as any correct JSON parser reads it.
    let nearest: f64 = long_number().parse().unwrap();
    assert_eq!(
        whole.request_context.unwrap()["timeEpoch"].as_f64(),
        Some(nearest)
    );
}
