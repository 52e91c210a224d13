//! Randomized chaos: many concurrent requests over HTTP/1.1 keep-alive, HTTP/2 (h2c, several
//! streams a connection) and the in-process `TestClient`, against routes whose setups,
//! handlers, streams, background tasks and teardowns randomly sleep, fail, panic or never end,
//! while clients randomly read everything, read part and go away, reset a stream, stall or time
//! out. After each run (and after a shutdown in the middle of the load) it checks the contract:
//! exactly-once LIFO teardown, truthful outcomes, `max_concurrency` places, counters at rest,
//! `app` scope last.
//!
//! `CHAOS_SEED=n` replays one seed; `CHAOS_ITERS=n` sets how many seeds run (default 24).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use di_runtime::Outcome;
use di_runtime::prelude::*;
use futures_util::{Stream, stream};
use http_body_util::{BodyExt, Empty};
use serde::Deserialize;
use tokio::net::TcpStream;

// ------------------------------------------------------------------ the event log

#[derive(Clone, Debug)]
enum Ev {
    Open {
        req: u64,
        dep: &'static str,
        inst: u64,
        handler_scope: bool,
    },
    Close {
        req: u64,
        dep: &'static str,
        inst: u64,
        outcome: Outcome,
    },
    Mark {
        req: u64,
        what: &'static str,
    },
    AppOpen {
        inst: u64,
    },
    AppClose {
        inst: u64,
        outcome: Outcome,
    },
}

impl Ev {
    fn req(&self) -> Option<u64> {
        match self {
            Ev::Open { req, .. } | Ev::Close { req, .. } | Ev::Mark { req, .. } => Some(*req),
            _ => None,
        }
    }
}

static LOG: Mutex<Vec<Ev>> = Mutex::new(Vec::new());
static CURRENT_SEED: AtomicU64 = AtomicU64::new(0);
static NOTICE: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static START: Mutex<Option<Instant>> = Mutex::new(None);
fn since_start() -> Duration {
    START
        .lock()
        .unwrap()
        .map_or(Duration::ZERO, |s| s.elapsed())
}
static TALLY: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static NEXT_INST: AtomicU64 = AtomicU64::new(1);
static NEXT_REQ: AtomicU64 = AtomicU64::new(1);
/// Live `pool` instances, per app (0: TCP server, 1: in process).
static POOL_LIVE: [AtomicI64; 2] = [AtomicI64::new(0), AtomicI64::new(0)];
/// Times the `max_concurrency = 2` bound was seen broken.
static POOL_OVER: AtomicU64 = AtomicU64::new(0);
/// Runs of the plain `conn` per request.
static CONN_RUNS: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

const IN_PROCESS: u64 = 1 << 40;

fn push(ev: Ev) {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
}

fn mark(req: u64, what: &'static str) {
    push(Ev::Mark { req, what });
}

// ------------------------------------------------------------------ the app

#[derive(Clone, Debug, Deserialize)]
struct Spec {
    id: u64,
    /// setup / teardown faults of tx, sess, pool: 0 ok, 1 sleep, 2 error, 3 panic (setup);
    /// teardown: 0 ok, 1 sleep, 2 error, 3 panic, 4 sleep `long` ms.
    ts: u8,
    tt: u8,
    ss: u8,
    st: u8,
    ps: u8,
    pt: u8,
    /// handler: 0 ok, 1 sleep, 2 error, 3 panic, 4 never ends.
    h: u8,
    /// stream: 0 fast, 1 slow, 2 error mid-way, 3 panic mid-way, 4 endless slow, 5 endless flood.
    m: u8,
    n: u32,
    /// background task: 0 none, 1 quick, 2 panics, 3 sleeps.
    bg: u8,
    long: u64,
}

struct AppRes;

#[depends(scope = "app")]
async fn app_res(y: Yield<AppRes>) {
    let inst = NEXT_INST.fetch_add(1, Ordering::SeqCst);
    push(Ev::AppOpen { inst });
    let (_, outcome) = y.provide(AppRes).await;
    push(Ev::AppClose { inst, outcome });
}

#[depends]
async fn spec(Query(s): Query<Spec>) -> Spec {
    s
}

/// A plain dependency shared by `tx` and `sess`.
#[depends]
async fn conn(#[dep(spec)] s: &Spec, #[dep(app_res)] _a: &AppRes) -> u64 {
    *CONN_RUNS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(s.id)
        .or_default() += 1;
    s.id
}

async fn generator<T: Send + Sync + 'static>(
    dep: &'static str,
    handler_scope: bool,
    s: &Spec,
    setup: u8,
    teardown: u8,
    y: Yield<T>,
    value: T,
) -> Result<(), HttpError> {
    match setup {
        1 => tokio::time::sleep(Duration::from_millis(1 + s.id % 7)).await,
        2 => {
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "setup failed",
            ));
        }
        3 => panic!("setup panic"),
        _ => tokio::task::yield_now().await,
    }
    let inst = NEXT_INST.fetch_add(1, Ordering::SeqCst);
    let app = usize::from(s.id & IN_PROCESS != 0);
    if dep == "pool" {
        let live = POOL_LIVE[app].fetch_add(1, Ordering::SeqCst) + 1;
        if live > 2 {
            POOL_OVER.fetch_add(1, Ordering::SeqCst);
        }
    }
    push(Ev::Open {
        req: s.id,
        dep,
        inst,
        handler_scope,
    });
    let (_value, outcome) = y.provide(value).await;
    push(Ev::Close {
        req: s.id,
        dep,
        inst,
        outcome,
    });
    if dep == "pool" {
        POOL_LIVE[app].fetch_sub(1, Ordering::SeqCst);
    }
    match teardown {
        1 => tokio::time::sleep(Duration::from_millis(1 + s.id % 5)).await,
        2 => {
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "teardown failed",
            ));
        }
        3 => panic!("teardown panic"),
        4 => tokio::time::sleep(Duration::from_millis(s.long)).await,
        _ => tokio::task::yield_now().await,
    }
    Ok(())
}

struct Tx(u32);
struct Sess;
struct Pool;

#[depends(scope = "handler")]
async fn tx(#[dep(spec)] s: &Spec, #[dep(conn)] _c: &u64, y: Yield<Tx>) -> Result<(), HttpError> {
    generator("tx", true, s, s.ts, s.tt, y, Tx(0)).await
}

#[depends]
async fn sess(
    #[dep(spec)] s: &Spec,
    #[dep(conn)] _c: &u64,
    y: Yield<Sess>,
) -> Result<(), HttpError> {
    generator("sess", false, s, s.ss, s.st, y, Sess).await
}

#[depends(max_concurrency = 2)]
async fn pool(#[dep(spec)] s: &Spec, y: Yield<Pool>) -> Result<(), HttpError> {
    generator("pool", false, s, s.ps, s.pt, y, Pool).await
}

async fn handler_fault(s: &Spec) -> Result<(), HttpError> {
    match s.h {
        1 => tokio::time::sleep(Duration::from_millis(1 + s.id % 11)).await,
        2 => return Err(HttpError::conflict("handler error")),
        3 => panic!("handler panic"),
        4 => tokio::time::sleep(Duration::from_secs(3600)).await,
        _ => tokio::task::yield_now().await,
    }
    Ok(())
}

fn add_background(s: &Spec, tasks: &BackgroundTasks) {
    let (id, bg) = (s.id, s.bg);
    if bg == 0 {
        return;
    }
    tasks.add(async move {
        mark(id, "bg start");
        match bg {
            2 => panic!("background panic"),
            3 => tokio::time::sleep(Duration::from_millis(3)).await,
            _ => {}
        }
        mark(id, "bg end");
    });
}

fn chunk(id: u64, i: u32) -> String {
    format!("{id}:{i};")
}

fn full_body(s: &Spec) -> String {
    (0..s.n).map(|i| chunk(s.id, i)).collect()
}

/// The streamed body: it keeps `keep` (the `Held` values) until it ends.
fn body<K: Send + 'static>(
    s: Spec,
    keep: K,
) -> StreamBody<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    const DONE: u32 = u32::MAX;
    let flood = Bytes::from(vec![b'x'; 16 * 1024]);
    StreamBody::new(stream::unfold((keep, 0u32), move |(keep, i)| {
        let s = s.clone();
        let flood = flood.clone();
        async move {
            if i == DONE {
                return None;
            }
            let endless = s.m == 4 || s.m == 5;
            if !endless && i >= s.n {
                mark(s.id, "eos");
                return None;
            }
            match s.m {
                1 | 4 => tokio::time::sleep(Duration::from_millis(1 + u64::from(i % 3))).await,
                5 => return Some((Ok(flood), (keep, i + 1))),
                _ => tokio::task::yield_now().await,
            }
            if i == s.n / 2 {
                if s.m == 2 {
                    return Some((Err(std::io::Error::other("body fault")), (keep, DONE)));
                }
                if s.m == 3 {
                    panic!("stream panic");
                }
            }
            Some((Ok(Bytes::from(chunk(s.id, i))), (keep, i + 1)))
        }
    }))
}

/// Streams, holding a `handler` tx, a `request` session and a `max_concurrency` pool place.
#[depends]
async fn route_a(
    #[dep(spec)] s: &Spec,
    #[dep(tx)] tx: &mut Tx,
    #[dep(sess)] sess: Held<Sess>,
    #[dep(pool)] pool: Held<Pool>,
    tasks: &BackgroundTasks,
) -> Result<StreamBody<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>, HttpError>
{
    tx.0 += 1;
    handler_fault(s).await?;
    add_background(s, tasks);
    mark(s.id, "handler ok");
    Ok(body(s.clone(), (sess, pool)))
}

/// A full (exact `Content-Length`) body.
#[depends]
async fn route_b(
    #[dep(spec)] s: &Spec,
    #[dep(tx)] tx: &mut Tx,
    #[dep(sess)] _sess: &Sess,
    tasks: &BackgroundTasks,
) -> Result<String, HttpError> {
    tx.0 += 1;
    handler_fault(s).await?;
    add_background(s, tasks);
    mark(s.id, "handler ok");
    Ok(full_body(s))
}

/// Only the pool, streamed.
#[depends]
async fn route_c(
    #[dep(spec)] s: &Spec,
    #[dep(pool)] pool: Held<Pool>,
) -> Result<StreamBody<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>, HttpError>
{
    handler_fault(s).await?;
    mark(s.id, "handler ok");
    Ok(body(s.clone(), pool))
}

// ------------------------------------------------------------------ randomness

/// xorshift64*, so a failure can be replayed from its seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Mostly 0 (`quiet`% of the time), else one of 1..=max.
    fn fault(&mut self, quiet: u64, max: u8) -> u8 {
        if self.chance(quiet) {
            0
        } else {
            1 + self.below(u64::from(max)) as u8
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    request_timeout: Option<u64>,
    send_timeout: Option<u64>,
    teardown_timeout: Option<u64>,
    /// Shut down while clients are still running, after this many ms.
    shutdown_mid_load: Option<u64>,
    shutdown_grace: u64,
}

fn config(rng: &mut Rng) -> Config {
    Config {
        request_timeout: [None, Some(150), Some(400)][rng.below(3) as usize],
        send_timeout: if rng.chance(40) { Some(250) } else { None },
        teardown_timeout: if rng.chance(40) { Some(80) } else { None },
        shutdown_mid_load: if rng.chance(30) {
            Some(rng.below(120))
        } else {
            None
        },
        shutdown_grace: 50 + rng.below(200),
    }
}

fn app(cfg: &Config) -> App {
    let mut app = App::new()
        .get("/a", route_a)
        .get("/b", route_b)
        .get("/c", route_c)
        .dependency(app_res)
        .max_concurrency_wait(Duration::from_millis(400))
        .shutdown_grace(Duration::from_millis(cfg.shutdown_grace))
        .request_timeout(cfg.request_timeout.map(Duration::from_millis));
    if let Some(ms) = cfg.send_timeout {
        app = app
            .send_timeout(Duration::from_millis(ms))
            .idle_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = cfg.teardown_timeout {
        app = app.teardown_timeout(Duration::from_millis(ms));
    }
    app
}

fn random_spec(rng: &mut Rng, cfg: &Config, id: u64) -> (Spec, &'static str) {
    let route = ["/a", "/a", "/b", "/c"][rng.below(4) as usize];
    let hang_ok = true;
    let mut h = rng.fault(65, 4);
    if h == 4 && !hang_ok {
        h = 1;
    }
    let long = match cfg.teardown_timeout {
        Some(t) => t + 60,
        None => 30,
    };
    let spec = Spec {
        id,
        ts: rng.fault(85, 3),
        tt: rng.fault(80, 4),
        ss: rng.fault(85, 3),
        st: rng.fault(80, 4),
        ps: rng.fault(85, 3),
        pt: rng.fault(80, 4),
        h,
        m: rng.fault(55, 5),
        n: 1 + rng.below(12) as u32,
        bg: rng.fault(50, 3),
        long,
    };
    (spec, route)
}

fn uri(route: &str, s: &Spec) -> String {
    format!(
        "{route}?id={}&ts={}&tt={}&ss={}&st={}&ps={}&pt={}&h={}&m={}&n={}&bg={}&long={}",
        s.id, s.ts, s.tt, s.ss, s.st, s.ps, s.pt, s.h, s.m, s.n, s.bg, s.long
    )
}

// ------------------------------------------------------------------ clients

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Full,
    /// Reads this many body frames, then goes away.
    Partial(u32),
    /// Resets the HTTP/2 stream after the head.
    Reset,
    /// Gives up after this many ms.
    Timeout(u64),
    /// Reads the head, then reads nothing for 600 ms (past a short `send_timeout`).
    Stall,
}

#[derive(Clone, Debug)]
struct ClientRecord {
    transport: &'static str,
    route: &'static str,
    spec: Spec,
    action: Action,
    status: Option<u16>,
    /// The whole expected body arrived, and its end.
    complete: bool,
    note: String,
}

type Records = Arc<Mutex<HashMap<u64, ClientRecord>>>;

fn random_action(rng: &mut Rng, s: &Spec, transport: &str) -> Action {
    let mut action = match rng.below(10) {
        0..=4 => Action::Full,
        5 | 6 => Action::Partial(rng.below(u64::from(s.n.max(1))) as u32),
        7 => Action::Timeout(rng.below(60)),
        8 if transport == "h2" => Action::Reset,
        8 => Action::Partial(0),
        _ => Action::Stall,
    };
    // Nobody reads an endless body to its end.
    if matches!(s.m, 4 | 5) && action == Action::Full {
        action = Action::Partial(1 + rng.below(20) as u32);
    }
    action
}

/// A safety net: no client waits forever (a hit is reported).
const CLIENT_LIMIT: Duration = Duration::from_secs(5);

async fn in_process_request(
    client: Arc<TestClient>,
    route: &'static str,
    spec: Spec,
    action: Action,
    records: Records,
) {
    let mut rec = ClientRecord {
        transport: "in-process",
        route,
        spec: spec.clone(),
        action,
        status: None,
        complete: false,
        note: String::new(),
    };
    let id = spec.id;
    records.lock().unwrap().insert(id, rec.clone());
    let uri = uri(route, &spec);
    let expected = full_body(&spec);
    let work = async {
        let mut response = client.get(&uri).send().await;
        rec.status = Some(response.status().as_u16());
        records.lock().unwrap().insert(id, rec.clone());
        match action {
            Action::Full | Action::Timeout(_) => {
                let mut got = Vec::new();
                let mut ended = true;
                while let Some(frame) = response.chunk().await {
                    if got.len() > 1 << 20 {
                        ended = false;
                        break;
                    }
                    match frame {
                        Ok(bytes) => got.extend_from_slice(&bytes),
                        Err(_) => {
                            ended = false;
                            break;
                        }
                    }
                }
                rec.complete = ended && rec.status == Some(200) && got == expected.as_bytes();
            }
            Action::Partial(_) | Action::Stall | Action::Reset => {
                let k = if let Action::Partial(k) = action {
                    k
                } else {
                    0
                };
                for _ in 0..k {
                    if response.chunk().await.is_none() {
                        rec.note = "ended early".into();
                        break;
                    }
                }
                if action == Action::Stall {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                drop(response);
            }
        }
    };
    let limit = match action {
        Action::Timeout(ms) => Duration::from_millis(ms),
        _ => CLIENT_LIMIT,
    };
    if tokio::time::timeout(limit, work).await.is_err() && !matches!(action, Action::Timeout(_)) {
        rec.note = "CLIENT LIMIT HIT".into();
    }
    records.lock().unwrap().insert(id, rec);
}

/// One HTTP/1.1 keep-alive connection that sends requests one after the other until one is
/// not read to its end.
async fn http1_connection(
    addr: SocketAddr,
    jobs: Vec<(&'static str, Spec, Action)>,
    records: Records,
) {
    let Ok(Ok(stream)) = tokio::time::timeout(CLIENT_LIMIT, TcpStream::connect(addr)).await else {
        return;
    };
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return;
    };
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    for (route, spec, action) in jobs {
        let id = spec.id;
        let mut rec = ClientRecord {
            transport: "h1",
            route,
            spec: spec.clone(),
            action,
            status: None,
            complete: false,
            note: String::new(),
        };
        records.lock().unwrap().insert(id, rec.clone());
        let expected = full_body(&spec);
        let request = http::Request::get(uri(route, &spec))
            .header("host", "chaos")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut keep_going = false;
        let work = async {
            if sender.ready().await.is_err() {
                rec.note = "connection closed".into();
                return;
            }
            let Ok(mut response) = sender.send_request(request).await else {
                rec.note = "send failed".into();
                return;
            };
            rec.status = Some(response.status().as_u16());
            match action {
                Action::Full | Action::Timeout(_) | Action::Reset => {
                    let mut got = Vec::new();
                    let mut ended = true;
                    while let Some(frame) = response.body_mut().frame().await {
                        match frame {
                            Ok(frame) => {
                                if let Ok(data) = frame.into_data() {
                                    got.extend_from_slice(&data);
                                }
                            }
                            Err(_) => {
                                ended = false;
                                break;
                            }
                        }
                        if got.len() > 1 << 20 {
                            ended = false;
                            break;
                        }
                    }
                    if ended {
                        rec.complete = rec.status == Some(200) && got == expected.as_bytes();
                        keep_going = true;
                    }
                }
                Action::Partial(k) => {
                    for _ in 0..k {
                        match response.body_mut().frame().await {
                            Some(Ok(_)) => {}
                            _ => break,
                        }
                    }
                }
                Action::Stall => {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                }
            }
        };
        let limit = match action {
            Action::Timeout(ms) => Duration::from_millis(ms),
            _ => CLIENT_LIMIT,
        };
        if tokio::time::timeout(limit, work).await.is_err() && !matches!(action, Action::Timeout(_))
        {
            rec.note = "CLIENT LIMIT HIT".into();
        }
        records.lock().unwrap().insert(id, rec);
        if !keep_going {
            break;
        }
    }
    drop(sender);
    driver.abort();
}

/// One HTTP/2 connection with several concurrent streams; sometimes the whole connection is
/// dropped while they run.
async fn http2_connection(
    addr: SocketAddr,
    jobs: Vec<(&'static str, Spec, Action)>,
    drop_after: Option<u64>,
    records: Records,
) {
    let Ok(Ok(stream)) = tokio::time::timeout(CLIENT_LIMIT, TcpStream::connect(addr)).await else {
        return;
    };
    let Ok((client, connection)) = h2::client::handshake(stream).await else {
        return;
    };
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut streams = Vec::new();
    for (route, spec, action) in jobs {
        let client = client.clone();
        let records = records.clone();
        streams.push(tokio::spawn(async move {
            let id = spec.id;
            let mut rec = ClientRecord {
                transport: "h2",
                route,
                spec: spec.clone(),
                action,
                status: None,
                complete: false,
                note: String::new(),
            };
            records.lock().unwrap().insert(id, rec.clone());
            let expected = full_body(&spec);
            let work = async {
                let Ok(mut client) = client.ready().await else {
                    rec.note = "not ready".into();
                    return;
                };
                let request = http::Request::get(format!("http://{addr}{}", uri(route, &spec)))
                    .body(())
                    .unwrap();
                let Ok((response, mut send)) = client.send_request(request, true) else {
                    rec.note = "send failed".into();
                    return;
                };
                let Ok(response) = response.await else {
                    rec.note = "no response".into();
                    return;
                };
                rec.status = Some(response.status().as_u16());
                records.lock().unwrap().insert(id, rec.clone());
                let mut body = response.into_body();
                match action {
                    Action::Full | Action::Timeout(_) => {
                        let mut got = Vec::new();
                        while let Some(data) = body.data().await {
                            match data {
                                Ok(data) => {
                                    let _ = body.flow_control().release_capacity(data.len());
                                    got.extend_from_slice(&data);
                                    if got.len() > 1 << 20 {
                                        return;
                                    }
                                }
                                Err(_) => return,
                            }
                        }
                        let trailers_ok = body.trailers().await.is_ok();
                        rec.complete =
                            trailers_ok && rec.status == Some(200) && got == expected.as_bytes();
                    }
                    Action::Partial(k) => {
                        for _ in 0..k {
                            match body.data().await {
                                Some(Ok(data)) => {
                                    let _ = body.flow_control().release_capacity(data.len());
                                }
                                _ => break,
                            }
                        }
                        drop(body);
                    }
                    Action::Reset => {
                        send.send_reset(h2::Reason::CANCEL);
                    }
                    Action::Stall => {
                        tokio::time::sleep(Duration::from_millis(600)).await;
                    }
                }
            };
            let limit = match action {
                Action::Timeout(ms) => Duration::from_millis(ms),
                _ => CLIENT_LIMIT,
            };
            if tokio::time::timeout(limit, work).await.is_err()
                && !matches!(action, Action::Timeout(_))
            {
                rec.note = "CLIENT LIMIT HIT".into();
            }
            records.lock().unwrap().insert(id, rec);
        }));
    }
    if let Some(ms) = drop_after {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        driver.abort();
        for s in &streams {
            s.abort();
        }
    }
    for s in streams {
        let _ = s.await;
    }
    drop(client);
    driver.abort();
}

// ------------------------------------------------------------------ one run

struct RunResult {
    requests: usize,
    failures: Vec<String>,
}

async fn run(seed: u64) -> RunResult {
    let mut rng = Rng::new(seed);
    let cfg = config(&mut rng);
    LOG.lock().unwrap().clear();
    CONN_RUNS.lock().unwrap().clear();
    POOL_OVER.store(0, Ordering::SeqCst);
    let records: Records = Arc::new(Mutex::new(HashMap::new()));
    let mut failures = Vec::new();

    *START.lock().unwrap() = Some(Instant::now());
    let server = app(&cfg).bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let client = Arc::new(TestClient::start(app(&cfg)).await.unwrap());

    let mut tcp_tasks = Vec::new();
    let mut local_tasks = Vec::new();
    let new_job = |rng: &mut Rng, transport: &str, in_process: bool| {
        let id = NEXT_REQ.fetch_add(1, Ordering::SeqCst) | if in_process { IN_PROCESS } else { 0 };
        let (spec, route) = random_spec(rng, &cfg, id);
        let mut action = random_action(rng, &spec, transport);
        // A handler that never ends is ended by the request timeout, or by a client that
        // gives up.
        if spec.h == 4 && cfg.request_timeout.is_none() && !matches!(action, Action::Timeout(_)) {
            action = Action::Timeout(20 + rng.below(100));
        }
        if std::env::var("CHAOS_DUMP").is_ok() {
            eprintln!("job {transport} {route} {action:?} {spec:?}");
        }
        (route, spec, action)
    };
    for _ in 0..8 {
        let jobs = (0..1 + rng.below(4))
            .map(|_| new_job(&mut rng, "h1", false))
            .collect();
        tcp_tasks.push(tokio::spawn(http1_connection(addr, jobs, records.clone())));
    }
    for _ in 0..4 {
        let jobs = (0..2 + rng.below(5))
            .map(|_| new_job(&mut rng, "h2", false))
            .collect();
        let drop_after = if rng.chance(20) {
            Some(rng.below(50))
        } else {
            None
        };
        tcp_tasks.push(tokio::spawn(http2_connection(
            addr,
            jobs,
            drop_after,
            records.clone(),
        )));
    }
    for _ in 0..16 {
        let (route, spec, action) = new_job(&mut rng, "in-process", true);
        local_tasks.push(tokio::spawn(in_process_request(
            client.clone(),
            route,
            spec,
            action,
            records.clone(),
        )));
    }

    let mut final_pool_ok = None;
    if let Some(ms) = cfg.shutdown_mid_load {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        // In process: the clients go away, then the app stops.
        for t in &local_tasks {
            t.abort();
        }
        for t in local_tasks {
            let _ = t.await;
        }
        let client = Arc::try_unwrap(client).expect("no other client handle");
        let started = Instant::now();
        let (_, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(20), client.shutdown()),
            async {
                if tokio::time::timeout(Duration::from_secs(20), server.shutdown())
                    .await
                    .is_err()
                {
                    failures.push("server.shutdown() did not finish within 20 s".into());
                }
            }
        );
        if started.elapsed() > Duration::from_secs(5) {
            failures.push(format!("shutdown took {:?}", started.elapsed()));
        }
        for t in tcp_tasks {
            let _ = t.await;
        }
    } else {
        for t in tcp_tasks.into_iter().chain(local_tasks) {
            let _ = t.await;
        }
        let clients_done = since_start().as_millis() as u64;
        // Requests cut by the client end when the server notices; wait for them.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (m1, m2) = (server.metrics(), client.running().metrics());
            if m1.requests_in_flight == 0 && m2.requests_in_flight == 0 && m1.open_connections == 0
            {
                NOTICE
                    .lock()
                    .unwrap()
                    .push(since_start().as_millis() as u64 - clients_done);
                break;
            }
            if Instant::now() > deadline {
                failures.push(format!(
                    "requests still in flight (or connections open) 5 s after every client ended: tcp {} in-process {} connections {}",
                    m1.requests_in_flight, m2.requests_in_flight, m1.open_connections
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let settled = tokio::time::timeout(Duration::from_secs(10), async {
            server.settle().await;
            client.settle().await;
        })
        .await;
        if settled.is_err() {
            failures.push("settle() did not return within 10 s".into());
        }
        for (name, m) in [
            ("tcp", server.metrics()),
            ("in-process", client.running().metrics()),
        ] {
            if m.requests_in_flight != 0 || m.teardowns_in_flight != 0 {
                failures.push(format!("{name}: gauges not at rest after settle: {m:?}"));
            }
            if m.setups != m.teardowns.total() {
                failures.push(format!(
                    "{name}: metrics setups {} != teardowns {} after settle: {m:?}",
                    m.setups,
                    m.teardowns.total()
                ));
                let opens = LOG.lock().unwrap().iter().filter(|e| matches!(e, Ev::Open { req, .. } if (req & IN_PROCESS != 0) == (name == "in-process"))).count();
                let closes = LOG.lock().unwrap().iter().filter(|e| matches!(e, Ev::Close { req, .. } if (req & IN_PROCESS != 0) == (name == "in-process"))).count();
                failures.push(format!(
                    "  {name}: log has {opens} opens, {closes} closes (teardowns started)"
                ));
                {
                    let log = LOG.lock().unwrap().clone();
                    for e in &log {
                        if let Ev::Open { req, inst, .. } = e
                            && !log
                                .iter()
                                .any(|c| matches!(c, Ev::Close { inst: i, .. } if i == inst))
                        {
                            let rec = records.lock().unwrap().get(req).cloned();
                            let evs: Vec<String> = log
                                .iter()
                                .filter(|x| x.req() == Some(*req))
                                .map(show)
                                .collect();
                            failures.push(format!(
                                "  not yet torn down: {} of request {req}: {rec:?} {evs:?} at {:?}",
                                show(e),
                                since_start()
                            ));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let again = if name == "tcp" {
                    server.metrics()
                } else {
                    client.running().metrics()
                };
                failures.push(format!(
                    "  {name}: 500 ms later: setups {} teardowns {} {:?}",
                    again.setups,
                    again.teardowns.total(),
                    again.teardowns
                ));
            }
        }
        // Every `max_concurrency` place came back: a clean request gets one at once.
        let mut ok = true;
        for in_process in [false, true] {
            let id =
                NEXT_REQ.fetch_add(1, Ordering::SeqCst) | if in_process { IN_PROCESS } else { 0 };
            let spec = Spec {
                id,
                ts: 0,
                tt: 0,
                ss: 0,
                st: 0,
                ps: 0,
                pt: 0,
                h: 0,
                m: 0,
                n: 2,
                bg: 0,
                long: 0,
            };
            let uri = uri("/c", &spec);
            let status = if in_process {
                tokio::time::timeout(Duration::from_secs(3), async {
                    let r = client.get(&uri).send().await;
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    s
                })
                .await
            } else {
                tokio::time::timeout(Duration::from_secs(3), async {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let (mut sender, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                            .await
                            .unwrap();
                    tokio::spawn(conn);
                    let r = sender
                        .send_request(
                            http::Request::get(uri.clone())
                                .header("host", "x")
                                .body(Empty::<Bytes>::new())
                                .unwrap(),
                        )
                        .await
                        .unwrap();
                    let s = r.status().as_u16();
                    let _ = r.into_body().collect().await;
                    s
                })
                .await
            };
            if status != Ok(200) {
                ok = false;
                failures.push(format!(
                    "max_concurrency place leaked ({}): final /c got {status:?}; live pools {:?}",
                    if in_process { "in-process" } else { "tcp" },
                    POOL_LIVE
                        .iter()
                        .map(|p| p.load(Ordering::SeqCst))
                        .collect::<Vec<_>>()
                ));
            }
        }
        final_pool_ok = Some(ok);
        let client = Arc::try_unwrap(client).expect("no other client handle");
        if tokio::time::timeout(Duration::from_secs(20), client.shutdown())
            .await
            .is_err()
        {
            failures.push("TestClient shutdown did not finish within 20 s".into());
        }
        if tokio::time::timeout(Duration::from_secs(20), server.shutdown())
            .await
            .is_err()
        {
            failures.push("server.shutdown() did not finish within 20 s".into());
        }
    }
    let _ = final_pool_ok;

    let events = LOG.lock().unwrap().clone();
    let records = records.lock().unwrap().clone();
    check(&cfg, &events, &records, &mut failures);
    {
        let mut tally = TALLY.lock().unwrap();
        for ev in &events {
            if let Ev::Close { dep, outcome, .. } = ev {
                let k = kind(outcome);
                let k = k.split(" (").next().unwrap_or("").to_owned();
                *tally.entry(format!("{dep}: {k}")).or_default() += 1;
            }
        }
        for r in records.values() {
            let a = format!("{:?}", r.action);
            let a = a.split('(').next().unwrap_or("").to_owned();
            *tally
                .entry(format!(
                    "client {} {a} complete={}",
                    r.transport, r.complete
                ))
                .or_default() += 1;
        }
    }
    RunResult {
        requests: records.len(),
        failures,
    }
}

// ------------------------------------------------------------------ the invariants

fn kind(o: &Outcome) -> String {
    match o {
        Outcome::Success { status } => format!("Success({})", status.as_u16()),
        Outcome::Cancelled(r) => format!("Cancelled({r:?})"),
        other => format!("{other}"),
    }
}

fn show(ev: &Ev) -> String {
    match ev {
        Ev::Open {
            dep,
            inst,
            handler_scope,
            ..
        } => {
            format!(
                "open {dep}#{inst} ({})",
                if *handler_scope { "handler" } else { "request" }
            )
        }
        Ev::Close {
            dep, inst, outcome, ..
        } => format!("close {dep}#{inst} {}", kind(outcome)),
        Ev::Mark { what, .. } => (*what).to_owned(),
        Ev::AppOpen { inst } => format!("app open #{inst}"),
        Ev::AppClose { inst, outcome } => format!("app close #{inst} {}", kind(outcome)),
    }
}

fn check(
    cfg: &Config,
    events: &[Ev],
    records: &HashMap<u64, ClientRecord>,
    failures: &mut Vec<String>,
) {
    if POOL_OVER.load(Ordering::SeqCst) > 0 {
        failures.push(format!(
            "max_concurrency = 2 broken {} times",
            POOL_OVER.load(Ordering::SeqCst)
        ));
    }
    let mut by_req: BTreeMap<u64, Vec<(usize, &Ev)>> = BTreeMap::new();
    for (i, ev) in events.iter().enumerate() {
        if let Some(req) = ev.req() {
            by_req.entry(req).or_default().push((i, ev));
        }
    }
    for (&req, evs) in &by_req {
        let mut problems = Vec::new();
        let rec = records.get(&req);
        // Exactly once.
        let mut opens: Vec<(&'static str, u64, bool)> = Vec::new();
        let mut closes: Vec<(&'static str, u64, &Outcome)> = Vec::new();
        let mut close_count: HashMap<u64, u32> = HashMap::new();
        for (_, ev) in evs {
            match ev {
                Ev::Open {
                    dep,
                    inst,
                    handler_scope,
                    ..
                } => opens.push((dep, *inst, *handler_scope)),
                Ev::Close {
                    dep, inst, outcome, ..
                } => {
                    closes.push((dep, *inst, outcome));
                    *close_count.entry(*inst).or_default() += 1;
                }
                _ => {}
            }
        }
        for (dep, inst, _) in &opens {
            match close_count.get(inst).copied().unwrap_or(0) {
                1 => {}
                n => problems.push(format!("{dep}#{inst} closed {n} times (want exactly once)")),
            }
        }
        for (dep, inst, _) in &closes {
            if !opens.iter().any(|(_, i, _)| i == inst) {
                problems.push(format!("{dep}#{inst} closed but never opened"));
            }
        }
        // LIFO, handler scope first.
        let mut expected: Vec<u64> = opens.iter().rev().filter(|o| o.2).map(|o| o.1).collect();
        expected.extend(opens.iter().rev().filter(|o| !o.2).map(|o| o.1));
        let actual: Vec<u64> = closes.iter().map(|c| c.1).collect();
        if actual != expected
            && close_count.values().all(|n| *n == 1)
            && actual.len() == expected.len()
        {
            problems.push(format!(
                "close order {actual:?}, want {expected:?} (LIFO, handler first)"
            ));
        }
        // Truthful outcomes.
        let has = |what: &str| {
            evs.iter()
                .any(|(_, e)| matches!(e, Ev::Mark { what: w, .. } if *w == what))
        };
        let pos = |what: &str| {
            evs.iter()
                .find(|(_, e)| matches!(e, Ev::Mark { what: w, .. } if *w == what))
                .map(|(i, _)| *i)
        };
        let handler_ok = has("handler ok");
        let eos = pos("eos");
        let route = rec.map(|r| r.route);
        let spec = rec.map(|r| &r.spec);
        for (i, ev) in evs {
            let Ev::Close {
                dep, inst, outcome, ..
            } = ev
            else {
                continue;
            };
            let handler_scope = opens.iter().any(|o| o.1 == *inst && o.2);
            let success = matches!(outcome, Outcome::Success { .. });
            if success && !handler_ok {
                problems.push(format!(
                    "{dep}#{inst} told Success but the handler never returned Ok"
                ));
            }
            if success && !handler_scope && route != Some("/b") {
                match eos {
                    Some(e) if e < *i => {}
                    _ => problems.push(format!(
                        "{dep}#{inst} (request scope) told Success but the stream never reached its end"
                    )),
                }
            }
            if let Some(s) = spec
                && s.h == 4
                && [s.ts, s.ss, s.ps].iter().all(|f| *f <= 1)
                && !matches!(
                    outcome,
                    Outcome::Cancelled(_) | Outcome::TeardownFailed { .. }
                )
            {
                problems.push(format!(
                    "{dep}#{inst}: the handler never ends, yet the teardown was told {}",
                    kind(outcome)
                ));
            }
            if let Some(r) = rec {
                // The in-process client takes each frame as the stream made it: if it did not
                // read to the end, the body did not reach its end.
                if r.transport == "in-process"
                    && !handler_scope
                    && success
                    && !r.complete
                    && route != Some("/b")
                {
                    problems.push(format!(
                        "{dep}#{inst} told Success, but the in-process client did not get the whole body ({:?})",
                        r.action
                    ));
                }
                if r.action == Action::Reset
                    && !handler_scope
                    && success
                    && eos.is_none()
                    && route != Some("/b")
                {
                    problems.push(format!("{dep}#{inst} told Success after a stream reset"));
                }
            }
        }
        // A request-scope success means every handler-scope teardown saw one too.
        let req_success = closes.iter().any(|c| {
            matches!(c.2, Outcome::Success { .. }) && opens.iter().any(|o| o.1 == c.1 && !o.2)
        });
        if req_success
            && closes.iter().any(|c| {
                !matches!(c.2, Outcome::Success { .. }) && opens.iter().any(|o| o.1 == c.1 && o.2)
            })
        {
            problems
                .push("a request-scope teardown saw Success, a handler-scope one did not".into());
        }
        // Background tasks: only after a response sent in full, before request-scope teardown.
        if let Some(bg) = pos("bg start") {
            for (i, ev) in evs {
                if let Ev::Close {
                    dep, inst, outcome, ..
                } = ev
                {
                    let handler_scope = opens.iter().any(|o| o.1 == *inst && o.2);
                    if !handler_scope && *i < bg {
                        problems.push(format!(
                            "{dep}#{inst} closed before the background task started"
                        ));
                    }
                    if !handler_scope
                        && !matches!(
                            outcome,
                            Outcome::Success { .. } | Outcome::TeardownFailed { .. }
                        )
                    {
                        problems.push(format!(
                            "the background task ran, but {dep}#{inst} was told {}",
                            kind(outcome)
                        ));
                    }
                }
            }
        }
        // A client that got the whole body of a clean request: everyone saw Success.
        if let (Some(r), Some(s)) = (rec, spec) {
            let clean = [s.tt, s.st, s.pt].iter().all(|t| *t <= 1) && s.m <= 1 && s.h <= 1;
            if r.complete && clean && cfg.shutdown_mid_load.is_none() {
                for (dep, inst, outcome) in &closes {
                    if !matches!(outcome, Outcome::Success { .. }) {
                        problems.push(format!(
                            "{dep}#{inst}: the client got the whole body of a clean request, yet it was told {}",
                            kind(outcome)
                        ));
                    }
                }
            }
        }
        // Plain dependency cache.
        if let Some(n) = CONN_RUNS.lock().unwrap().get(&req)
            && *n > 1
        {
            problems.push(format!("plain `conn` ran {n} times in one request"));
        }
        if !problems.is_empty() {
            let log: Vec<String> = evs
                .iter()
                .map(|(i, e)| format!("  [{i}] {}", show(e)))
                .collect();
            failures.push(format!(
                "request {req:#x} {:?}\n problems: {problems:#?}\n events:\n{}",
                rec.map(|r| (
                    r.transport,
                    r.route,
                    &r.spec,
                    r.action,
                    r.status,
                    r.complete,
                    &r.note
                )),
                log.join("\n")
            ));
        }
    }
    // Clients that hit the safety net.
    for rec in records.values() {
        if rec.note.contains("LIMIT") {
            failures.push(format!("a client waited {CLIENT_LIMIT:?}: {rec:?}"));
        }
    }
    // App scope: opened twice (two apps), closed once each, after every request teardown of
    // its app, and nothing opened after it.
    let app_closes: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Ev::AppClose { .. }))
        .map(|(i, _)| i)
        .collect();
    let app_opens = events
        .iter()
        .filter(|e| matches!(e, Ev::AppOpen { .. }))
        .count();
    if app_opens != 2 || app_closes.len() != 2 {
        failures.push(format!(
            "app scope: {app_opens} opens, {} closes",
            app_closes.len()
        ));
    }
    for ev in events {
        if let Ev::AppClose { outcome, .. } = ev
            && !matches!(outcome, Outcome::Stopped)
        {
            failures.push(format!("app scope told {}", kind(outcome)));
        }
    }
    // The last app close is after every request event of any app; the first is after every
    // request event of its app: both apps stop at once in the mid-load variant, so check the
    // weaker (but still strict) bound per app by id space.
    let last_req_event = |in_process: bool| {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(e, Ev::Open { .. } | Ev::Close { .. })
                    && e.req().is_some_and(|r| (r & IN_PROCESS != 0) == in_process)
            })
            .map(|(i, _)| i)
            .max()
    };
    if let Some(first_close) = app_closes.first() {
        // Both apps' teardowns must come after... at least the app that closed first must have
        // no later request events of its own; we do not know which app it is, so require that
        // one of the two apps is fully done before it.
        let tcp_last = last_req_event(false).unwrap_or(0);
        let local_last = last_req_event(true).unwrap_or(0);
        if tcp_last > *first_close && local_last > *first_close {
            failures.push(format!(
                "an app-scope teardown ([{first_close}]) ran before request teardowns of both apps ended (tcp last [{tcp_last}], in-process last [{local_last}])"
            ));
        }
    }
    if let Some(last_close) = app_closes.last()
        && let Some(last) = last_req_event(false).max(last_req_event(true))
        && last > *last_close
    {
        let req = events[last].req().unwrap();
        let evs: Vec<String> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.req() == Some(req) || e.req().is_none())
            .map(|(i, e)| format!("[{i}] {}", show(e)))
            .collect();
        failures.push(format!(
                    "request-scope event [{last}] {} after the last app-scope teardown [{last_close}]: request {req:#x} {:?}\n  {}",
                    show(&events[last]),
                    records.get(&req),
                    evs.join("\n  ")
                ));
    }
}

/// Not run by default (about 16 s, and bounds on how long a client may wait that a loaded
/// machine could miss): `cargo test -p di-tests --test chaos -- --ignored`. Its first run
/// found the HTTP/2 shutdown race that `tests/tcp.rs`
/// `an_http2_stream_cut_at_shutdown_is_torn_down_before_app_scope` now guards.
#[test]
#[ignore = "a randomized soak of about 16 s; run with --ignored"]
fn chaos() {
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => {
            let iters: u64 = std::env::var("CHAOS_ITERS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(24);
            let from: u64 = std::env::var("CHAOS_FROM")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            (from..from + iters).collect()
        }
    };
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.to_string();
        if ![
            "setup panic",
            "teardown panic",
            "handler panic",
            "stream panic",
            "background panic",
        ]
        .iter()
        .any(|p| text.contains(p))
        {
            default_hook(info);
        }
    }));
    // A guard: a seed that makes the process grow without bound is named, not OOM-killed.
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let rss_pages: u64 = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
                .unwrap_or(0);
            if rss_pages * 4096 > 2 << 30 {
                eprintln!(
                    "==== seed {} FAILED: resident memory over 2 GiB; live requests: {:?}",
                    CURRENT_SEED.load(Ordering::SeqCst),
                    since_start()
                );
                std::process::exit(3);
            }
        }
    });
    let mut total = 0;
    let mut failed = Vec::new();
    let started = Instant::now();
    for seed in seeds {
        // A fresh runtime per seed, so a stuck task of one seed cannot leak into the next.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        CURRENT_SEED.store(seed, Ordering::SeqCst);
        let result = runtime.block_on(run(seed));
        runtime.shutdown_timeout(Duration::from_secs(1));
        total += result.requests;
        if !result.failures.is_empty() {
            let mut rng = Rng::new(seed);
            eprintln!("==== seed {seed} FAILED (config {:?})", config(&mut rng));
            for f in &result.failures {
                eprintln!("{f}");
            }
            failed.push(seed);
        }
    }
    if std::env::var("CHAOS_TALLY").is_ok() {
        for (k, v) in TALLY.lock().unwrap().iter() {
            eprintln!("  {k}: {v}");
        }
    }
    let mut notice = NOTICE.lock().unwrap().clone();
    notice.sort_unstable();
    eprintln!("ms from the last client's end to every connection closed: {notice:?}");
    eprintln!(
        "chaos: {total} requests in {:?}; failed seeds: {failed:?}",
        started.elapsed()
    );
    assert!(failed.is_empty(), "failed seeds: {failed:?}");
}
