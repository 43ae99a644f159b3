//! A pass-through HTTP proxy in front of the emulator's Invoke API that records every request
//! head, so tests can look at what the aws invoker actually sent (SigV4 headers included).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What was recorded: method, path and headers of each request.
pub type Recorded = Arc<Mutex<Vec<(String, String, HeaderMap)>>>;

/// Serve on a free port, forwarding to `target`; returns the address and the record.
pub async fn start(target: SocketAddr) -> (SocketAddr, Recorded) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded: Recorded = Arc::default();
    let record = recorded.clone();
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            let client = client.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let record = record.clone();
                let client = client.clone();
                async move {
                    let (mut parts, body) = request.into_parts();
                    record.lock().unwrap().push((
                        parts.method.to_string(),
                        parts.uri.path().to_owned(),
                        parts.headers.clone(),
                    ));
                    let path = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    parts.uri = format!("http://{target}{path}").parse().unwrap();
                    let response = match client.request(Request::from_parts(parts, body)).await {
                        Ok(response) => response.map(http_body_util::Either::Left),
                        Err(_) => Response::builder()
                            .status(502)
                            .body(http_body_util::Either::Right(http_body_util::Empty::new()))
                            .unwrap(),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, recorded)
}
