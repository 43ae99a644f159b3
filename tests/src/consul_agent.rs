//! A stand-in for the Consul agent's HTTP API on 127.0.0.1:0, built from Consul's API
//! documentation (api-docs/config, api-docs/features/blocking), for the config-entry endpoints
//! mesh-proxy reads:
//!
//! - `GET /v1/config/<kind>`: every entry of the kind, a JSON array sorted by name;
//! - `GET /v1/config/<kind>/<name>`: one entry, or 404 when there is none;
//! - every answer carries `X-Consul-Index` (one index for all config entries, as Consul's
//!   config-entries table has; it only grows, also on deletes);
//! - blocking: with `?index=N`, the request is held while the index is still ≤ N, until a write
//!   or `wait` (`10s`, `500ms`, `5m`; default 5 minutes, at most 10) passes;
//! - a snapshot restore ([`restore`](ConsulAgent::restore)) sets the index back and releases every
//!   held query at once, as Consul abandons its watches on restore (clients then see the index
//!   go backwards, and must start over from 0);
//! - ACLs: with a token set, a request without that `X-Consul-Token` gets 403;
//! - any other `GET` path the test [`put`](ConsulAgent::put) an answer at (the Connect CA's
//!   `/v1/agent/connect/ca/roots` and `/leaf/<service>`), blocking the same way; 404 otherwise.
//!
//! Entries are stored as given (PascalCase JSON, as `consul config write` takes them) plus
//! `CreateIndex` and `ModifyIndex`, as Consul answers them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Consul's default `wait`.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// Consul's largest `wait`.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// One request the stand-in answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The path.
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// Whether it carried the right token (always true without a token set).
    pub authorized: bool,
}

#[derive(Debug, Default)]
struct State {
    index: u64,
    /// (kind, name) → the entry with its indexes.
    entries: BTreeMap<(String, String), Value>,
    /// Other paths' answers.
    others: BTreeMap<String, Value>,
    seen: Vec<Seen>,
}

/// The running stand-in; stops when dropped.
pub struct ConsulAgent {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// The index, then how many restores there were: a change of either releases held queries.
    index: watch::Sender<(u64, u64)>,
    task: tokio::task::JoinHandle<()>,
}

impl ConsulAgent {
    /// Start it; with `token`, every request must carry it as `X-Consul-Token`.
    pub async fn start(token: Option<&str>) -> ConsulAgent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            index: 1,
            ..State::default()
        }));
        let (index, _) = watch::channel((1u64, 0u64));
        let token = token.map(str::to_owned);
        let (shared, notify) = (state.clone(), index.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, notify, token) = (shared.clone(), notify.clone(), token.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let (state, notify, token) = (state.clone(), notify.clone(), token.clone());
                        async move {
                            Ok::<_, Infallible>(
                                answer(request, &state, &notify, token.as_deref()).await,
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ConsulAgent {
            addr,
            state,
            index,
            task,
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current `X-Consul-Index`.
    pub fn index(&self) -> u64 {
        self.state.lock().unwrap().index
    }

    /// `consul config write`: store `entry` (its `Kind` and `Name` say where) and wake the
    /// blocked queries.
    pub fn write(&self, entry: Value) {
        let mut state = self.state.lock().unwrap();
        state.index += 1;
        let index = state.index;
        let kind = entry["Kind"]
            .as_str()
            .expect("an entry has a Kind")
            .to_owned();
        let name = entry["Name"]
            .as_str()
            .expect("an entry has a Name")
            .to_owned();
        let key = (kind, name);
        let create = state
            .entries
            .get(&key)
            .and_then(|e| e["CreateIndex"].as_u64())
            .unwrap_or(index);
        let mut entry = entry;
        entry["CreateIndex"] = Value::from(create);
        entry["ModifyIndex"] = Value::from(index);
        state.entries.insert(key, entry);
        drop(state);
        self.wake(index);
    }

    /// `consul config delete -kind <kind> -name <name>`.
    pub fn delete(&self, kind: &str, name: &str) {
        let mut state = self.state.lock().unwrap();
        state.index += 1;
        let index = state.index;
        state.entries.remove(&(kind.to_owned(), name.to_owned()));
        drop(state);
        self.wake(index);
    }

    /// Answer `GET path` with `value` from now on (a CA root set, a leaf), waking the blocked
    /// queries.
    pub fn put(&self, path: &str, value: Value) {
        let mut state = self.state.lock().unwrap();
        state.index += 1;
        let index = state.index;
        state.others.insert(path.to_owned(), value);
        drop(state);
        self.wake(index);
    }

    /// A snapshot restore to an older state: no entries or other answers, the index back at
    /// `index`, every held query released.
    pub fn restore(&self, index: u64) {
        let mut state = self.state.lock().unwrap();
        state.index = index;
        state.entries.clear();
        state.others.clear();
        drop(state);
        self.index.send_modify(|(now, restores)| {
            *now = index;
            *restores += 1;
        });
    }

    fn wake(&self, index: u64) {
        self.index.send_modify(|(now, _)| *now = index);
    }

    /// Every request answered so far (or being held).
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for ConsulAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    request: Request<Incoming>,
    state: &Mutex<State>,
    notify: &watch::Sender<(u64, u64)>,
    token: Option<&str>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let authorized = token.is_none_or(|token| {
        request
            .headers()
            .get("x-consul-token")
            .is_some_and(|v| v.as_bytes() == token.as_bytes())
    });
    state.lock().unwrap().seen.push(Seen {
        path: path.clone(),
        query: query.clone(),
        authorized,
    });
    if request.method() != http::Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", None);
    }
    if !authorized {
        return plain(StatusCode::FORBIDDEN, "Permission denied", None);
    }
    let params: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let Ok(min_index) = param("index").unwrap_or("0").parse::<u64>() else {
        return plain(StatusCode::BAD_REQUEST, "Invalid index", None);
    };
    let Some(wait) = param("wait").map_or(Some(DEFAULT_WAIT), parse_wait) else {
        return plain(StatusCode::BAD_REQUEST, "Invalid wait time", None);
    };
    if min_index > 0 {
        let mut changes = notify.subscribe();
        let restores = changes.borrow().1;
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            let (index, now_restores) = *changes.borrow_and_update();
            if index > min_index || now_restores != restores {
                break;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => break,
            }
        }
    }
    let state = state.lock().unwrap();
    let index = Some(state.index);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (kind, name) = match parts.as_slice() {
        ["v1", "config", kind] => (kind.to_string(), None),
        ["v1", "config", kind, name] => (kind.to_string(), Some(name.to_string())),
        _ => {
            return match state.others.get(&path) {
                Some(value) => json(value, index),
                None => plain(StatusCode::NOT_FOUND, "unknown endpoint", index),
            }
        }
    };
    match name {
        Some(name) => match state.entries.get(&(kind.clone(), name.clone())) {
            Some(entry) => json(entry, index),
            None => plain(
                StatusCode::NOT_FOUND,
                &format!("Config entry not found for {kind:?} / {name:?}"),
                index,
            ),
        },
        None => {
            let list: Vec<&Value> = state
                .entries
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|(_, e)| e)
                .collect();
            json(
                &Value::from(list.into_iter().cloned().collect::<Vec<_>>()),
                index,
            )
        }
    }
}

/// `10s`, `500ms`, `5m` (Go durations as Consul takes them, the common forms).
fn parse_wait(value: &str) -> Option<Duration> {
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number * 60)),
        _ => None,
    }
}

fn json(value: &Value, index: Option<u64>) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap();
    respond(StatusCode::OK, "application/json", body, index)
}

fn plain(status: StatusCode, text: &str, index: Option<u64>) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        text.as_bytes().to_vec(),
        index,
    )
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: Vec<u8>,
    index: Option<u64>,
) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type);
    if let Some(index) = index {
        response = response.header("x-consul-index", index.to_string());
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}
