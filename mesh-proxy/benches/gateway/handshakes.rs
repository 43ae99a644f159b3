//! Handshakes per second against the gateway listener: several client tasks, each connecting,
//! finishing the handshake, sending close_notify and reading to the server's close (so the server
//! has verified the client's certificate and Finished, and TLS 1.3 tickets have arrived, before a
//! handshake counts). Bounded by a count and a time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_mesh_tests::certs::client::connect;
use rustls::{ClientConfig, HandshakeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A finished loop.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Handshakes done.
    pub count: u64,
    /// Of which rustls (client side) reported as resumed.
    pub resumed: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// CPU the server's runtime threads used meanwhile.
    pub server_cpu: Duration,
    /// CPU the client's runtime threads used meanwhile.
    pub client_cpu: Duration,
}

/// Threads whose CPU time is counted: the server's and the client's runtime workers (recorded by
/// their runtimes' `on_thread_start`).
#[derive(Debug, Default, Clone)]
pub struct Threads(Arc<Mutex<Vec<u32>>>);

impl Rate {
    /// Handshakes per second of wall time.
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU per handshake.
    pub fn server_cpu_each(&self) -> Duration {
        self.server_cpu / self.count.max(1) as u32
    }

    /// Client CPU per handshake.
    pub fn client_cpu_each(&self) -> Duration {
        self.client_cpu / self.count.max(1) as u32
    }
}

impl Threads {
    /// Record the calling thread.
    pub fn record_current(&self) {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| link.file_name()?.to_str()?.parse().ok());
        if let Some(tid) = tid {
            self.0.lock().unwrap().push(tid);
        }
    }

    /// CPU time these threads have used so far (`/proc/self/task/<tid>/schedstat`, ns on CPU;
    /// threads that have exited no longer count).
    pub fn cpu(&self) -> Duration {
        let tids = self.0.lock().unwrap().clone();
        let ns: u64 = tids
            .iter()
            .filter_map(|tid| {
                let text =
                    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
                text.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum();
        Duration::from_nanos(ns)
    }
}

/// `tasks` clients doing handshakes to `addr` with SNI `sni` until `max` are done or `limit`
/// has passed.
pub async fn handshakes(
    addr: SocketAddr,
    sni: &str,
    config: Arc<ClientConfig>,
    tasks: usize,
    (max, limit): (u64, Duration),
    (server, client): (&Threads, &Threads),
) -> Rate {
    let claimed = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let (server_before, client_before) = (server.cpu(), client.cpu());
    let started = Instant::now();
    let deadline = started + limit;
    let mut running = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let (claimed, resumed, config, sni) = (
            claimed.clone(),
            resumed.clone(),
            config.clone(),
            sni.to_owned(),
        );
        running.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline && claimed.fetch_add(1, Ordering::Relaxed) < max {
                if one(addr, &sni, config.clone()).await {
                    resumed.fetch_add(1, Ordering::Relaxed);
                }
                done += 1;
            }
            done
        }));
    }
    let mut count = 0;
    for task in running {
        count += task.await.unwrap();
    }
    Rate {
        count,
        resumed: resumed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        server_cpu: server.cpu().saturating_sub(server_before),
        client_cpu: client.cpu().saturating_sub(client_before),
    }
}

/// One connection: handshake, close_notify, read to the server's close. Whether it resumed.
async fn one(addr: SocketAddr, sni: &str, config: Arc<ClientConfig>) -> bool {
    let mut tls = connect(addr, sni, config).await.expect("handshake");
    let resumed = tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
    tls.shutdown().await.expect("close_notify");
    let mut buf = [0u8; 256];
    match tls.read(&mut buf).await {
        Ok(0) => {}
        Ok(n) => panic!("the gateway sent {n} bytes of data unasked"),
        // The server closed without close_notify of its own: fine, it has read ours.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("the gateway refused the connection: {e}"),
    }
    resumed
}
