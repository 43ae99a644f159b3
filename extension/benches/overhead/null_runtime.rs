//! The emulator's own floor: the bench binary as a function's runtime that answers every
//! invocation with a ready-made result of `NULL_RESULT_BYTES` body bytes, calling no service.

use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// Serves the Runtime API at `AWS_LAMBDA_RUNTIME_API` until the process is killed.
pub fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
        let size: usize = std::env::var("NULL_RESULT_BYTES").unwrap().parse().unwrap();
        let result = Bytes::from(
            serde_json::json!({
                "statusCode": 200,
                "headers": {"content-type": "application/octet-stream"},
                "body": base64::engine::general_purpose::STANDARD.encode(vec![b'x'; size]),
                "isBase64Encoded": true
            })
            .to_string(),
        );
        let stream = tokio::net::TcpStream::connect(api.as_str()).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        loop {
            sender.ready().await.unwrap();
            let next = Request::get("/2018-06-01/runtime/invocation/next")
                .header("host", api.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = sender.send_request(next).await.unwrap();
            let id = response.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            response.into_body().collect().await.unwrap();
            sender.ready().await.unwrap();
            let post = Request::post(format!("/2018-06-01/runtime/invocation/{id}/response"))
                .header("host", api.as_str())
                .body(Full::new(result.clone()))
                .unwrap();
            let response = sender.send_request(post).await.unwrap();
            response.into_body().collect().await.unwrap();
        }
    });
}

/// A code directory whose `bootstrap` runs this binary as the null runtime.
pub fn code() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let code = tempfile::tempdir().unwrap();
    let bootstrap = code.path().join("bootstrap");
    let exe = std::env::current_exe().unwrap();
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec '{}' --null-runtime\n", exe.display()),
    )
    .unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    code
}
