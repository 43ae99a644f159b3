//! Brotli and zstd end to end: the emulator runs the extension binary built with the `br` and
//! `zstd` features in front of examples/hello-python; each compressed result decodes to the
//! service's body byte for byte. Run by `make test` as
//! `cargo test -p lambda-mesh-extension --features br,zstd --test compression_codecs`
//! (the shipped layer has gzip only; gzip is covered in `behaviour.rs`).

#![cfg(all(feature = "br", feature = "zstd"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/harness.rs"]
mod harness;

use std::io::Read;

use serde_json::Value;

/// The service's body for `GET /big?bytes=N` (examples/hello-python).
fn big_body(n: usize) -> Vec<u8> {
    b"abcdefghij".iter().copied().cycle().take(n).collect()
}

fn decode(coding: &str, compressed: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    match coding {
        "br" => {
            brotli::Decompressor::new(compressed, 4096)
                .read_to_end(&mut plain)
                .expect("valid brotli");
        }
        "zstd" => {
            plain = zstd::stream::decode_all(compressed).expect("valid zstd");
        }
        other => panic!("unexpected coding {other}"),
    }
    plain
}

/// The result's `vary` values, lower-cased, split on commas.
fn vary(result: &Value) -> Vec<String> {
    harness::result_header(result, "vary")
        .unwrap_or("")
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brotli_and_zstd_end_to_end() {
    let layer = harness::layer();
    let emulator = harness::start(vec![harness::python_function(
        "py",
        layer.path(),
        &[("LAMBDA_MESH_ENABLE_COMPRESSION", "true")],
    )])
    .await;

    // The service's own body, uncompressed, as the reference.
    let identity = harness::v2_event("GET", "/big", "bytes=50000", &[], b"");
    let result = harness::json(&harness::invoke(&emulator, "py", &identity).await);
    assert_eq!(harness::result_header(&result, "content-encoding"), None);
    let service_body = harness::result_body(&result);
    assert_eq!(service_body, big_body(50000));

    // (Accept-Encoding, the coding expected): each alone, then negotiation among several.
    let cases = [
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, br, zstd", "zstd"),
        ("zstd;q=0.5, br", "br"),
    ];
    for (accept, coding) in cases {
        let event = harness::v2_event(
            "GET",
            "/big",
            "bytes=50000",
            &[("accept-encoding", accept)],
            b"",
        );
        let result = harness::json(&harness::invoke(&emulator, "py", &event).await);
        assert_eq!(
            harness::result_header(&result, "content-encoding"),
            Some(coding),
            "Accept-Encoding: {accept}: {result}"
        );
        assert!(
            vary(&result).iter().any(|v| v == "accept-encoding"),
            "Accept-Encoding: {accept}: {result}"
        );
        let compressed = harness::result_body(&result);
        assert!(
            compressed.len() < 2000,
            "{accept}: {} bytes",
            compressed.len()
        );
        assert_eq!(
            harness::result_header(&result, "content-length"),
            Some(compressed.len().to_string().as_str()),
            "{accept}"
        );
        let plain = decode(coding, &compressed);
        assert!(plain == service_body, "{accept}: decoded body differs");
    }

    // Below the size threshold nothing is compressed, whatever the client accepts.
    let small = harness::v2_event(
        "GET",
        "/big",
        "bytes=100",
        &[("accept-encoding", "br, zstd")],
        b"",
    );
    let result = harness::json(&harness::invoke(&emulator, "py", &small).await);
    assert_eq!(harness::result_header(&result, "content-encoding"), None);
    assert_eq!(harness::result_body(&result), big_body(100));
    emulator.shutdown().await;
}
