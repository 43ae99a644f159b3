//! Event decoding: any bytes are a request or a typed error, never a panic; and the two decoders
//! (`decode_event`, and `decode_event_deferred` with its body read in pieces) agree.
#![no_main]

use lambda_mesh_adapter::{decode_event, decode_event_deferred, Bytes, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions::new();
    let whole = decode_event(data, &options);
    let deferred = decode_event_deferred(&Bytes::copy_from_slice(data), &options);
    let (whole, deferred) = match (whole, deferred) {
        (Ok(whole), Ok(deferred)) => (whole, deferred),
        (Err(_), Err(_)) => return,
        (whole, deferred) => panic!("decoders disagree: {whole:?} vs {deferred:?}"),
    };
    assert_eq!(whole.shape, deferred.shape);
    assert_eq!(whole.request.method(), deferred.request.method());
    assert_eq!(whole.request.uri(), deferred.request.uri());
    assert_eq!(whole.request.headers(), deferred.request.headers());
    let context = deferred
        .request_context
        .map(|text| serde_json::from_str::<serde_json::Value>(&text).expect("context is JSON"));
    assert_eq!(whole.request_context, context);
    let mut body = deferred.request.into_body();
    assert_eq!(body.len(), whole.request.body().len());
    let mut pieces = Vec::new();
    while let Some(piece) = body.next_chunk(7) {
        pieces.extend_from_slice(&piece);
    }
    assert_eq!(&pieces[..], &whole.request.body()[..]);
});
