//! Byte-exactness through the whole chain (issue 16): caller → mesh-proxy (sidecar `[[upstream]]`,
//! local invoker, the embedded emulator) → lambda-mesh extension → the test's own service
//! (`/mirror`, tests/src/service.rs) → back. Seeded random bodies, binary and text, 0 B up to the
//! largest that fits, sizes log-uniform and the bytes moved bounded; each arrives with the SHA-256
//! it was sent with and comes back the same, repeated headers, cookies and query parameters in
//! order, repeated `Set-Cookie` back. At the Invoke limits, counted on the event (where base64
//! grows a binary body by a third): a sync event of exactly 6,291,456 bytes is served and one of
//! 6,291,457 is 413 with the JSON body; an async one of 1,048,576 bytes is 202 and runs, one of
//! 1,048,577 is 413.
//!
//! `LAMBDA_MESH_SEED=N` replays another seed; a failure names the seed and the case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use lambda_mesh_adapter::{
    encode_request, PayloadFormat, RequestMeta, MAX_ASYNC_REQUEST_BYTES, MAX_SYNC_REQUEST_BYTES,
};
use lambda_mesh_tests::client::{client, collect, json, send, HttpClient};
use lambda_mesh_tests::layer::{mesh_layer, waiting_code};
use lambda_mesh_tests::mesh_proxy::{service_function_table, upstream_table, MeshProxy};
use lambda_mesh_tests::service::{
    self, sha256_hex, MIRROR_HEADERS, MIRROR_LENGTH, MIRROR_QUERY, MIRROR_SHA256,
};
use lambda_mesh_tests::workspace::binary;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// The seed when `LAMBDA_MESH_SEED` sets none.
const DEFAULT_SEED: u64 = 0x1a3b_da16;
/// Random cases per run.
const CASES: usize = 300;
/// One random case in this many is drawn from the top eighth of the sizes.
const LARGE_EVERY: usize = 50;
/// Body bytes the random cases may move, there and back (the limit cases come on top).
const RANDOM_BUDGET: usize = 50 * 1024 * 1024;
/// Room left under the Invoke limit for what the service's answer adds to the body in the result
/// (its headers, the result's JSON): the random cases' bodies are echoed back, and the result has
/// a limit of its own.
const RESULT_ROOM: usize = 16 * 1024;
/// The whole suite's wall-clock bound.
const SUITE_LIMIT: Duration = Duration::from_secs(50);

/// How a body travels in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `application/octet-stream`, random bytes: base64.
    Binary,
    /// `text/plain; charset=utf-8`, valid UTF-8 with characters JSON must escape: a JSON string.
    Text,
    /// `text/plain` but not UTF-8: base64 all the same.
    NotUtf8,
}

impl Kind {
    fn content_type(self) -> &'static str {
        match self {
            Kind::Binary => "application/octet-stream",
            Kind::Text | Kind::NotUtf8 => "text/plain; charset=utf-8",
        }
    }
}

/// The chain, stopped when dropped.
struct Chain {
    _proxy: MeshProxy,
    /// The synchronous sidecar upstream's address.
    addr: SocketAddr,
    /// The asynchronous sidecar upstream's address (the same function).
    later: SocketAddr,
    service: service::Service,
    _layer: tempfile::TempDir,
    _code: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

async fn chain() -> Chain {
    let service = service::start().await;
    let layer = mesh_layer(&binary("lambda-mesh-extension"));
    let code = waiting_code();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}{}",
        upstream_table("exact", "exact", "timeout = 30"),
        upstream_table("later", "exact", "invocation_mode = \"asynchronous\""),
        service_function_table(
            "exact",
            layer.path(),
            code.path(),
            service.addr.port(),
            "timeout = 30",
            ""
        )
    );
    let proxy = MeshProxy::start_with_config(&binary("mesh-proxy"), dir.path(), &config);
    let (addr, later) = (proxy.upstream("exact"), proxy.upstream("later"));
    Chain {
        _proxy: proxy,
        addr,
        later,
        service,
        _layer: layer,
        _code: code,
        _dir: dir,
    }
}

/// One request: its body and the repeats it carries.
struct Case {
    label: String,
    kind: Kind,
    body: Bytes,
    /// `x-multi` values, in order.
    multi: Vec<String>,
    /// `Cookie` headers (one pair each), in order.
    cookies: Vec<String>,
    /// `a=` values of the query, in order (the last one empty).
    a_values: Vec<String>,
    /// `Set-Cookie` headers the service is asked for.
    set_cookies: usize,
    /// `echo=0`: the service answers without the body (its SHA-256 is still checked).
    echo: bool,
    /// Length of an `x-pad` header (none at 0): tunes the event's size byte by byte.
    pad: usize,
}

impl Case {
    fn request_id(&self) -> String {
        format!("exact-{}", self.label)
    }

    fn path_and_query(&self) -> String {
        let mut query: Vec<String> = self.a_values.iter().map(|v| format!("a={v}")).collect();
        query.push(format!("cookies={}", self.set_cookies));
        if !self.echo {
            query.push("echo=0".into());
        }
        format!("/mirror?{}", query.join("&"))
    }

    /// The request as the test sends it to `addr`.
    fn request(&self, addr: SocketAddr) -> Request<Full<Bytes>> {
        let mut builder = Request::post(format!("http://{addr}{}", self.path_and_query()))
            .header("content-type", self.kind.content_type())
            .header("x-request-id", self.request_id());
        if self.pad > 0 {
            builder = builder.header("x-pad", "p".repeat(self.pad));
        }
        for value in &self.multi {
            builder = builder.header("x-multi", value);
        }
        for cookie in &self.cookies {
            builder = builder.header("cookie", cookie);
        }
        builder.body(Full::new(self.body.clone())).unwrap()
    }

    /// The event mesh-proxy builds for this request at `addr`: the request as it arrives there
    /// (`Host`, `Content-Length`) with the headers mesh-proxy adds (`X-Forwarded-*`; the request id
    /// is the caller's), encoded by the codec mesh-proxy encodes with.
    fn event_len(&self, addr: SocketAddr) -> usize {
        let mut request = self.request(addr).map(|_| self.body.clone());
        *request.uri_mut() = self.path_and_query().parse().unwrap();
        let headers = request.headers_mut();
        headers.insert("host", addr.to_string().parse().unwrap());
        headers.insert("content-length", self.body.len().into());
        headers.insert("x-forwarded-for", "127.0.0.1".parse().unwrap());
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        let meta = RequestMeta {
            source_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            request_id: Some(self.request_id()),
            // Any time of this century: its fields have a fixed width.
            time_epoch_ms: Some(1_767_225_600_000),
        };
        encode_request(&request, PayloadFormat::default(), &meta)
            .unwrap()
            .len()
    }
}

fn token(rng: &mut StdRng, max: usize) -> String {
    let len = rng.gen_range(1..=max);
    (0..len)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789-_"[rng.gen_range(0..38)]))
        .collect()
}

/// Characters a text body is drawn from: plain ASCII most often, then what JSON escapes (quote,
/// backslash, controls, NUL), then two-, three- and four-byte UTF-8.
const SPECIAL: [char; 14] = [
    '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1}', '\u{1f}', '/', 'é', 'ß', '中', '€', '😀',
];

fn text(rng: &mut StdRng, size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size);
    while out.len() < size {
        let c = if rng.gen_ratio(1, 8) {
            SPECIAL[rng.gen_range(0..SPECIAL.len())]
        } else {
            char::from(rng.gen_range(0x20u8..0x7f))
        };
        // The last bytes are ASCII so the body is exactly `size` long.
        let c = if out.len() + c.len_utf8() > size {
            'z'
        } else {
            c
        };
        out.push(c);
    }
    out.into_bytes()
}

fn bytes_of(rng: &mut StdRng, size: usize, kind: Kind) -> Bytes {
    let mut body = match kind {
        Kind::Text => return Bytes::from(text(rng, size)),
        Kind::Binary | Kind::NotUtf8 => vec![0u8; size],
    };
    rng.fill(&mut body[..]);
    if kind == Kind::NotUtf8 && size > 0 {
        // A lone continuation byte: never UTF-8, whatever the rest is.
        let at = rng.gen_range(0..size);
        body[at] = 0x80;
    }
    Bytes::from(body)
}

/// A size log-uniform over `min..=max` (`min` at least 1).
fn log_uniform(rng: &mut StdRng, min: usize, max: usize) -> usize {
    let (low, high) = ((min.max(1) as f64).ln(), (max.max(1) as f64).ln());
    let exponent = rng.gen_range(low..=high.max(low));
    (exponent.exp() as usize).clamp(min.max(1), max.max(1))
}

/// `CASES` body sizes up to `max`, in random order: 0 and `max` once each; the rest log-uniform
/// over `1..=max/8` (0 one time in 40), and one in [`LARGE_EVERY`] log-uniform over the top
/// eighth, so every decade is drawn. Over [`RANDOM_BUDGET`] (counted there and back), the largest
/// drawn is halved until the total fits.
fn draw_sizes(rng: &mut StdRng, max: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = (2..CASES)
        .map(|i| match () {
            _ if i % LARGE_EVERY == 0 => log_uniform(rng, max / 8, max),
            _ if rng.gen_ratio(1, 40) => 0,
            _ => log_uniform(rng, 1, max / 8),
        })
        .collect();
    let budget = RANDOM_BUDGET - 2 * max;
    // Bounded: each pass halves one size.
    for _ in 0..CASES * 32 {
        if 2 * sizes.iter().sum::<usize>() <= budget {
            break;
        }
        if let Some(largest) = sizes.iter_mut().max() {
            *largest /= 2;
        }
    }
    sizes.extend([0, max]);
    sizes.shuffle(rng);
    sizes
}

fn random_case(rng: &mut StdRng, index: usize, size: usize) -> Case {
    let kind = match rng.gen_range(0..5) {
        0 | 1 => Kind::Binary,
        2 | 3 => Kind::Text,
        _ => Kind::NotUtf8,
    };
    let mut a_values: Vec<String> = (0..rng.gen_range(1..=3)).map(|_| token(rng, 8)).collect();
    a_values.push(String::new());
    Case {
        label: format!("{index}"),
        kind,
        body: bytes_of(rng, size, kind),
        multi: (0..rng.gen_range(2..=5)).map(|_| token(rng, 24)).collect(),
        cookies: (0..rng.gen_range(2..=4))
            .map(|i| format!("c{i}={}", token(rng, 16)))
            .collect(),
        a_values,
        set_cookies: rng.gen_range(2..=6),
        echo: true,
        pad: 0,
    }
}

/// The header `name` the service reported receiving: every value, in order.
fn received(reported: &[(String, String)], name: &str) -> Vec<String> {
    reported
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// Sends `case` and checks everything that must survive; `context` names seed and case.
async fn exchange(client: &HttpClient, addr: SocketAddr, case: &Case, context: &str) {
    let (response, body) = collect(send(client, case.request(addr)).await).await;
    let headers = response.headers();
    assert_eq!(
        response.status(),
        200,
        "{context}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    let sent = sha256_hex(&case.body);
    assert_eq!(
        headers[MIRROR_SHA256], sent,
        "{context}: the service received other bytes"
    );
    assert_eq!(
        headers[MIRROR_LENGTH],
        case.body.len().to_string(),
        "{context}"
    );
    if case.echo {
        assert_eq!(body.len(), case.body.len(), "{context}: length back");
        assert_eq!(sha256_hex(&body), sent, "{context}: other bytes came back");
        let content_type = headers.get("content-type").map(|v| v.to_str().unwrap());
        assert_eq!(content_type, Some(case.kind.content_type()), "{context}");
    }
    let query = headers[MIRROR_QUERY].to_str().unwrap();
    let a: Vec<&str> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("a="))
        .collect();
    assert_eq!(a, case.a_values, "{context}: query {query}");
    assert_eq!(
        query,
        &case.path_and_query()["/mirror?".len()..],
        "{context}"
    );

    let reported: Vec<(String, String)> = serde_json::from_slice::<Vec<[String; 2]>>(
        &base64::engine::general_purpose::STANDARD
            .decode(headers[MIRROR_HEADERS].as_bytes())
            .unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|[k, v]| (k, v))
    .collect();
    // Payload format 2.0 has one value per header: repeats arrive comma-joined, in order.
    let multi: Vec<String> = received(&reported, "x-multi")
        .iter()
        .flat_map(|v| v.split(',').map(|s| s.trim().to_owned()))
        .collect();
    assert_eq!(multi, case.multi, "{context}: x-multi");
    // Cookies travel as the event's `cookies` list and arrive as `Cookie` pairs, in order.
    let cookies: Vec<String> = received(&reported, "cookie")
        .iter()
        .flat_map(|v| v.split(';').map(|s| s.trim().to_owned()))
        .collect();
    assert_eq!(cookies, case.cookies, "{context}: cookies");
    assert_eq!(
        received(&reported, "x-request-id"),
        [case.request_id()],
        "{context}"
    );

    let set_cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..case.set_cookies)
        .map(|i| format!("m{i}=v{i}; Path=/"))
        .collect();
    assert_eq!(set_cookies, expected, "{context}: set-cookie");
}

fn seed() -> u64 {
    std::env::var("LAMBDA_MESH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// The largest binary body whose event fits the sync Invoke limit, for `template` at `addr`:
/// the event grows by 4 bytes for every 3 of body (base64), found from the event's size at a
/// small body and checked at the answer.
fn largest_binary(template: &Case, addr: SocketAddr, limit: usize) -> usize {
    let at = |n: usize| Case {
        kind: Kind::Binary,
        body: Bytes::from(vec![0u8; n]),
        ..template.clone_without_body()
    };
    // Content-Length's digits count too: measure with as many digits as the answer has.
    let probe = 3_000_000;
    let overhead = at(probe).event_len(addr) - probe.div_ceil(3) * 4;
    let fits = (limit - overhead) / 4 * 3;
    assert!(at(fits).event_len(addr) <= limit);
    assert!(at(fits + 1).event_len(addr) > limit);
    fits
}

impl Case {
    fn clone_without_body(&self) -> Case {
        Case {
            label: self.label.clone(),
            kind: self.kind,
            body: Bytes::new(),
            multi: self.multi.clone(),
            cookies: self.cookies.clone(),
            a_values: self.a_values.clone(),
            set_cookies: self.set_cookies,
            echo: self.echo,
            pad: self.pad,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_headers_and_queries_arrive_and_return_byte_for_byte() {
    let seed = seed();
    eprintln!("byte_exact: seed {seed} (LAMBDA_MESH_SEED={seed} replays it)");
    let chain = chain().await;
    let addr = chain.addr;
    let client = client();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    // The largest binary body that fits, as the random cases' upper bound (less room for the
    // result's own additions, since these come back).
    let template = random_case(&mut rng, 0, 0);
    let largest = largest_binary(&template, addr, MAX_SYNC_REQUEST_BYTES);
    let max = largest - RESULT_ROOM;

    let mut moved = 0usize;
    let mut sizes = Vec::with_capacity(CASES);
    let mut kinds = std::collections::BTreeMap::new();
    for (index, size) in draw_sizes(&mut rng, max).into_iter().enumerate() {
        let mut case = random_case(&mut rng, index, size);
        // Escapes grow a text body in the event: shrink one that would not fit (bounded).
        for _ in 0..8 {
            if case.kind != Kind::Text
                || case.body.len() * 6 + 4096 < max
                || case.event_len(addr) <= MAX_SYNC_REQUEST_BYTES - RESULT_ROOM
            {
                break;
            }
            case.body = Bytes::from(text(&mut rng, case.body.len() / 2));
        }
        moved += 2 * case.body.len();
        sizes.push(case.body.len());
        if case.body.len() >= 100_000 {
            *kinds.entry(format!("{:?}", case.kind)).or_insert(0) += 1;
        }
        let context = format!(
            "seed {seed}, case {index} ({:?}, {} bytes)",
            case.kind,
            case.body.len()
        );
        exchange(&client, addr, &case, &context).await;
        assert!(
            started.elapsed() < SUITE_LIMIT,
            "{context}: the suite is over {SUITE_LIMIT:?}"
        );
    }
    sizes.sort_unstable();
    eprintln!(
        "byte_exact: {CASES} cases, {moved} body bytes moved, sizes {} … {} (median {}), \
         kinds of those ≥ 100 kB {kinds:?}, {:?}",
        sizes[0],
        sizes[CASES - 1],
        sizes[CASES / 2],
        started.elapsed()
    );
    assert!(moved <= RANDOM_BUDGET, "{moved} bytes moved");
    // Log-uniform: every decade from bytes to megabytes is drawn.
    for decade in [10, 1_000, 100_000, 1_000_000] {
        assert!(
            sizes.iter().any(|&s| s >= decade && s < decade * 10),
            "no size in {decade}..{}: {sizes:?}",
            decade * 10
        );
    }
    // Large bodies of every kind: base64 and JSON-escaped text both at megabyte sizes.
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    drop(chain);
}

/// `case` with random binary bytes and an `x-pad` header sized so that its event at `addr` is
/// exactly `size` bytes.
fn event_of_exactly(mut case: Case, addr: SocketAddr, size: usize, rng: &mut StdRng) -> Case {
    case.kind = Kind::Binary;
    // A body a few KiB short of the limit; the pad (1 event byte per byte) makes up the rest.
    let body = largest_binary(&case, addr, size) - 3 * 1024;
    case.body = bytes_of(rng, body, Kind::Binary);
    case.pad = 1;
    let short = size - case.event_len(addr);
    case.pad += short;
    assert_eq!(
        case.event_len(addr),
        size,
        "the pad grows the event byte by byte"
    );
    case
}

/// A 413 with mesh-proxy's JSON body naming `limit`.
async fn refused(client: &HttpClient, addr: SocketAddr, case: &Case, limit: usize, context: &str) {
    let (response, body) = collect(send(client, case.request(addr)).await).await;
    assert_eq!(response.status(), 413, "{context}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let answer = json(&body);
    assert_eq!(answer["error"], "payload_too_large", "{context}: {answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains(&limit.to_string()),
        "{context}: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_event_of_exactly_6_291_456_bytes_is_served_and_one_byte_more_is_413() {
    let seed = seed();
    let chain = chain().await;
    let addr = chain.addr;
    let client = client();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x413);
    let mut template = random_case(&mut rng, 0, 0);
    // The answer carries no body: a result holding the whole body plus the answer's headers would
    // be over the result's own limit.
    template.echo = false;
    template.label = "sync".into();
    assert_eq!(MAX_SYNC_REQUEST_BYTES, 6_291_456);
    let mut case = event_of_exactly(template, addr, MAX_SYNC_REQUEST_BYTES, &mut rng);

    case.pad += 1;
    assert_eq!(case.event_len(addr), MAX_SYNC_REQUEST_BYTES + 1);
    let context = format!("seed {seed}: a sync event of 6,291,457 bytes");
    refused(&client, addr, &case, MAX_SYNC_REQUEST_BYTES, &context).await;
    assert_eq!(
        chain.service.hits(&case.path_and_query()),
        0,
        "{context}: no invoke"
    );

    case.pad -= 1;
    let context = format!("seed {seed}: a sync event of 6,291,456 bytes");
    exchange(&client, addr, &case, &context).await;
    drop(chain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_event_of_exactly_1_048_576_bytes_is_accepted_and_one_byte_more_is_413() {
    let seed = seed();
    let chain = chain().await;
    let later = chain.later;
    let client = client();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x202);
    let mut template = random_case(&mut rng, 0, 0);
    template.label = "async".into();
    assert_eq!(MAX_ASYNC_REQUEST_BYTES, 1_048_576);
    let mut case = event_of_exactly(template, later, MAX_ASYNC_REQUEST_BYTES, &mut rng);

    case.pad += 1;
    let context = format!("seed {seed}: an async event of 1,048,577 bytes");
    refused(&client, later, &case, MAX_ASYNC_REQUEST_BYTES, &context).await;

    case.pad -= 1;
    let (response, body) = collect(send(&client, case.request(later)).await).await;
    assert_eq!(
        response.status(),
        202,
        "seed {seed}: an async event of 1,048,576 bytes: {}",
        String::from_utf8_lossy(&body)
    );
    // The accepted one runs (the mirror's answer goes nowhere); the refused one never did.
    let target = case.path_and_query();
    let ran = lambda_mesh_tests::poll::eventually(Duration::from_secs(20), || {
        chain.service.hits(&target) > 0
    })
    .await;
    assert!(
        ran,
        "seed {seed}: the accepted async event never reached the service"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chain.service.hits(&target), 1, "seed {seed}: it ran once");
    drop(chain);
}
