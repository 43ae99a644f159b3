//! A small request on warm keep-alive connections: one plain HTTP/1.1 connection to the sidecar
//! listener and one mTLS HTTP/1.1 connection per TLS version to the gateway listener, all in front
//! of the same function, taking turns (the order rotates each round).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use lambda_mesh_tests::certs::client::connect;
use rustls::ClientConfig;
use tokio::net::TcpStream;

/// One warm connection and the `Host` its requests carry.
pub struct Warm {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Warm {
    /// A plain HTTP/1.1 connection (a sidecar listener).
    pub async fn plain(addr: SocketAddr) -> Warm {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Warm::over(TokioIo::new(tcp), addr.to_string()).await
    }

    /// An mTLS HTTP/1.1 connection (the gateway listener), `Host` the destination's SNI name.
    pub async fn mtls(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> Warm {
        let tls = connect(addr, sni, config).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        Warm::over(TokioIo::new(tls), sni.to_owned()).await
    }

    async fn over<IO>(io: TokioIo<IO>, host: String) -> Warm
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        Warm { sender, host }
    }

    /// `POST /echo` with `body`; the time to the whole echoed body.
    pub async fn time(&mut self, body: &Bytes) -> Duration {
        let request = Request::post("/echo")
            .header("host", &self.host)
            .header("content-type", "application/octet-stream")
            .body(Full::new(body.clone()))
            .unwrap();
        let started = Instant::now();
        self.sender.ready().await.unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        assert_eq!(answer.len(), body.len());
        elapsed
    }
}

/// `rounds` rounds (after `warmup` unrecorded ones, within `limit`), each one request on every
/// connection, the first to go rotating; the samples per connection.
pub async fn rounds(
    connections: &mut [Warm],
    body: &Bytes,
    (warmup, rounds, limit): (usize, usize, Duration),
) -> Vec<Vec<Duration>> {
    let n = connections.len();
    let mut samples = vec![Vec::with_capacity(rounds); n];
    let deadline = Instant::now() + limit;
    for round in 0..warmup + rounds {
        if Instant::now() > deadline {
            break;
        }
        for k in 0..n {
            let i = (round + k) % n;
            let d = connections[i].time(body).await;
            if round >= warmup {
                samples[i].push(d);
            }
        }
    }
    samples
}
