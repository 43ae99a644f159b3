//! The bench's function role: a minimal Runtime API client over one keep-alive connection.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Read an HTTP/1.1 response or request head: (head text, Content-Length).
pub fn read_head(stream: &mut TcpStream) -> (String, usize) {
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            panic!("connection closed in the head");
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    (head, length)
}

/// The function role: a Runtime API client that echoes the request body in a v2 result.
pub fn function() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    let mut stream = TcpStream::connect(&api).unwrap();
    stream.set_nodelay(true).unwrap();
    loop {
        stream
            .write_all(
                format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let (head, length) = read_head(&mut stream);
        let mut event = vec![0u8; length];
        stream.read_exact(&mut event).unwrap();
        let request_id = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("lambda-runtime-aws-request-id")
                    .then(|| value.trim().to_owned())
            })
            .unwrap();
        let event: serde_json::Value = serde_json::from_slice(&event).unwrap();
        let result = serde_json::json!({
            "statusCode": 200,
            "headers": { "content-type": "application/octet-stream" },
            "body": event.get("body").cloned().unwrap_or(serde_json::Value::String(String::new())),
            "isBase64Encoded": event.get("isBase64Encoded").cloned().unwrap_or(serde_json::Value::Bool(false)),
        })
        .to_string();
        stream
            .write_all(
                format!(
                    "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\n\r\n{result}",
                    result.len()
                )
                .as_bytes(),
            )
            .unwrap();
        let (_, length) = read_head(&mut stream);
        let mut ack = vec![0u8; length];
        stream.read_exact(&mut ack).unwrap();
    }
}
