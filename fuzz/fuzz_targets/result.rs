//! Result decoding: any payload is a response or a typed error in every format, never a panic;
//! a stream prelude decodes the same fed whole or in two pieces.
#![no_main]

use lambda_mesh_adapter::{decode_result, Bytes, PayloadFormat, StreamPreludeDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    for format in [
        PayloadFormat::V2,
        PayloadFormat::Envoy,
        PayloadFormat::PassThrough,
    ] {
        if let Ok(response) = decode_result(payload.clone(), format) {
            assert_eq!(
                response.headers()["content-length"],
                response.body().len().to_string().as_str()
            );
        }
    }
    let whole = StreamPreludeDecoder::new().push(data);
    let split = data.len() / 2;
    let mut decoder = StreamPreludeDecoder::new();
    let pieces = match decoder.push(&data[..split]) {
        Ok(None) => decoder.push(&data[split..]),
        other => other,
    };
    match (whole, pieces) {
        (Ok(Some((a, rest_a))), Ok(Some((b, rest_b)))) => {
            assert_eq!((a.status, &a.headers), (b.status, &b.headers));
            // A prelude that ends in the first piece leaves the second unread.
            assert!(rest_a.starts_with(&rest_b), "{rest_a:?} vs {rest_b:?}");
        }
        (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
        (whole, pieces) => panic!("whole {whole:?} vs in pieces {pieces:?}"),
    }
});
