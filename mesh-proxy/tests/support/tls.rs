//! The client side of the gateway's mTLS (re-exported from `lambda_mesh_tests::certs::client`,
//! which mesh-proxy's gateway bench shares), a few requests over it, and a gateway under test
//! that serves a trivial echo of what the acceptor saw.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mesh_proxy::{HandshakeError, TlsAcceptor};
use rustls::ClientConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;

pub use lambda_mesh_tests::certs::client::{
    client_config, connect, ClientSpec, Seen, SpiffeServerVerifier,
};

/// A gateway acceptor on `127.0.0.1:0` answering every request with what it saw.
pub struct Gateway {
    pub addr: SocketAddr,
    errors: mpsc::UnboundedReceiver<HandshakeError>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn start(acceptor: TlsAcceptor) -> Gateway {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (tx, errors) = mpsc::unbounded_channel();
        let acceptor = Arc::new(acceptor);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = socket.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = Arc::clone(&acceptor);
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(accepted) => {
                            let report = format!(
                                "peer={}\nservice={}\nsni={}\nalpn={}\ntls={:?}\nresumed={}\nsubject={}\n",
                                accepted.peer.identity,
                                accepted.service,
                                accepted.sni,
                                accepted
                                    .peer
                                    .alpn
                                    .as_deref()
                                    .map(String::from_utf8_lossy)
                                    .unwrap_or("none".into()),
                                accepted.peer.tls_version,
                                accepted.peer.resumed,
                                accepted.peer.subject,
                            );
                            let service = hyper::service::service_fn(move |request: Request<_>| {
                                let body = format!("{report}http={:?}\n", request.version());
                                async move {
                                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                        Bytes::from(body),
                                    )))
                                }
                            });
                            let _ = auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(accepted.stream), service)
                                .await;
                        }
                        Err(e) => {
                            let _ = tx.send(e);
                        }
                    }
                });
            }
        });
        Gateway { addr, errors, task }
    }

    /// The next handshake failure (within 5 s).
    pub async fn next_error(&mut self) -> HandshakeError {
        tokio::time::timeout(Duration::from_secs(5), self.errors.recv())
            .await
            .expect("a handshake error within 5 s")
            .expect("gateway still running")
    }

    /// No handshake failure so far.
    pub fn no_errors(&mut self) -> bool {
        self.errors.try_recv().is_err()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GET / over `tls`, h2 if `h2` (with or without ALPN), else HTTP/1.1; the body as text.
pub async fn get(
    tls: TlsStream<TcpStream>,
    h2: bool,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let io = TokioIo::new(tls);
    let request = Request::get("https://gateway/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        sender.send_request(request).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        sender.send_request(request).await?
    };
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Connect, then GET / speaking what ALPN chose (h2 unless it chose http/1.1 or nothing).
pub async fn request(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let tls = tokio::time::timeout(Duration::from_secs(5), connect(addr, sni, config)).await??;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    tokio::time::timeout(Duration::from_secs(5), get(tls, h2)).await?
}

/// The line `key=value` of an echo body.
pub fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}
