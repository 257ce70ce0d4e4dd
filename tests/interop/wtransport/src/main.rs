//! A WebTransport peer on wtransport (crates.io, 0.7, on quinn), written for
//! gowt's interop tests (tests/interop/run.py). Our code on wtransport's
//! public API. It speaks the same JSON-lines protocol as
//! tests/interop/aioquic/peer.py: events on stdout (one JSON object per
//! line, named by "ev"), commands on stdin.
//!
//! Roles:
//!   wtransport-peer server [--protocols a,b]       prints {"ev": "listening", "port": N}
//!   wtransport-peer client --url https://127.0.0.1:PORT/path [--protocols a,b]
//!   wtransport-peer baton-server [--choose NAME] PATH     prints "Listening on port N"
//!   wtransport-peer baton-client [--protocols a,b] [-T SECS] HOST PORT "PATH?version=0&baton=N&count=K"
//!
//! What wtransport 0.7.2 leaves out, and so this peer cannot do (see
//! tests/interop/README.md): the client sees neither the response status of
//! a refused CONNECT (only "rejected") nor the response headers (no
//! WT-Protocol); `Connection::close` closes the QUIC connection (no
//! CLOSE_WEBTRANSPORT_SESSION capsule); no DRAIN capsule; no SETTINGS
//! accessor. Application error codes are passed to quinn unchanged, so this
//! program maps them into the WebTransport range itself (wtcommon.py).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

mod baton;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use wtransport::error::{ConnectionError, StreamReadError, StreamWriteError};
use wtransport::{
    ClientConfig, Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig, VarInt,
};

thread_local! {
    static T0: Instant = Instant::now();
}

fn emit(mut ev: Value) {
    let t = T0.with(|t0| t0.elapsed().as_secs_f64());
    if let Value::Object(m) = &mut ev {
        m.insert("t".into(), json!((t * 10000.0).round() / 10000.0));
    }
    println!("{}", ev);
}

// --- wire helpers (as tests/interop/wtcommon.py) ----------------------------

const WT_APP_ERROR_FIRST: u64 = 0x52E4_A40F_A8DB;
const WT_APP_ERROR_LAST: u64 = 0x52E5_AC98_3162;

fn code_to_wire(n: u64) -> u64 {
    WT_APP_ERROR_FIRST + n + n / 0x1e
}

fn code_from_wire(h: u64) -> Value {
    if !(WT_APP_ERROR_FIRST..=WT_APP_ERROR_LAST).contains(&h) || (h - 0x21) % 0x1f == 0 {
        return Value::Null;
    }
    let s = h - WT_APP_ERROR_FIRST;
    json!(s - s / 0x1f)
}

/// wtcommon.pattern: a block of Python's random.Random(seed).randbytes(1048583),
/// repeated. Rather than reimplement Python's generator, the runner writes
/// each block it names in a command to `--pattern-dir`/<seed>.bin first.
const BLOCK: usize = 1_048_583;

struct Patterns {
    dir: String,
    cache: HashMap<u64, Rc<Vec<u8>>>,
}

impl Patterns {
    fn block(&mut self, seed: u64) -> std::io::Result<Rc<Vec<u8>>> {
        if let Some(b) = self.cache.get(&seed) {
            return Ok(b.clone());
        }
        let b = std::fs::read(format!("{}/{}.bin", self.dir, seed))?;
        if b.len() != BLOCK {
            return Err(std::io::Error::other(format!(
                "pattern {} has {} bytes",
                seed,
                b.len()
            )));
        }
        let b = Rc::new(b);
        self.cache.insert(seed, b.clone());
        Ok(b)
    }

    fn pattern(&mut self, seed: u64, n: usize) -> std::io::Result<Vec<u8>> {
        let blk = self.block(seed)?;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let take = (n - out.len()).min(BLOCK);
            out.extend_from_slice(&blk[..take]);
        }
        Ok(out)
    }
}

pub(crate) fn sf_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The strings of a Structured Fields list (parameters ignored).
pub(crate) fn parse_sf_strings(v: &str) -> Vec<String> {
    let b: Vec<char> = v.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == ' ' || b[i] == '\t' || b[i] == ',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if b[i] == '"' {
            i += 1;
            let mut s = String::new();
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' && i + 1 < b.len() {
                    i += 1;
                }
                s.push(b[i]);
                i += 1;
            }
            out.push(s);
            i += 1;
        }
        while i < b.len() && b[i] != ',' {
            i += 1;
        }
    }
    out
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn varint(v: u64) -> VarInt {
    VarInt::try_from_u64(v).unwrap_or(VarInt::MAX)
}

// --- streams ------------------------------------------------------------------

enum SendCmd {
    Data(Vec<u8>, bool),
    Reset(u64),
}

struct Peer {
    conn: Connection,
    session: u64,
    senders: HashMap<u64, mpsc::UnboundedSender<SendCmd>>,
    stoppers: HashMap<u64, tokio::sync::oneshot::Sender<u64>>,
    patterns: Patterns,
    closed: bool,
}

type Shared = Rc<RefCell<Peer>>;

/// The send half of a stream: a task owns it, takes commands, and reports
/// the peer's STOP_SENDING.
fn spawn_sender(p: &Shared, id: u64, mut s: SendStream) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    p.borrow_mut().senders.insert(id, tx);
    tokio::task::spawn_local(async move {
        enum Ev {
            Cmd(Option<SendCmd>),
            Stopped(StreamWriteError),
        }
        let report = |e: StreamWriteError| match e {
            StreamWriteError::Stopped(code) => {
                let w = code.into_inner();
                emit(
                    json!({"ev": "stop_sending", "stream": id, "wire": w, "code": code_from_wire(w)}),
                );
                true
            }
            _ => false,
        };
        loop {
            let ev = tokio::select! {
                c = rx.recv() => Ev::Cmd(c),
                e = s.stopped() => Ev::Stopped(e),
            };
            match ev {
                Ev::Cmd(None) => return,
                Ev::Cmd(Some(SendCmd::Data(data, fin))) => {
                    let mut failed = None;
                    for chunk in data.chunks(256 * 1024) {
                        if let Err(e) = s.write_all(chunk).await {
                            failed = Some(e);
                            break;
                        }
                    }
                    if failed.is_none() && fin {
                        if let Err(e) = s.finish().await {
                            failed = Some(e);
                        }
                    }
                    if let Some(e) = failed {
                        if !report(e) {
                            return;
                        }
                        // Stopped: later commands are resets at most.
                    }
                    // The task keeps the stream (until the peer has it all or
                    // stops it): finish() only queues the FIN.
                }
                Ev::Cmd(Some(SendCmd::Reset(wire))) => {
                    let _ = s.reset(varint(wire));
                }
                Ev::Stopped(e) => {
                    report(e);
                    // Keep taking commands (a reset after a stop is harmless).
                    while let Some(c) = rx.recv().await {
                        if let SendCmd::Reset(wire) = c {
                            let _ = s.reset(varint(wire));
                        }
                    }
                    return;
                }
            }
        }
    });
}

/// The receive half: read all, report FIN (bytes, SHA-256) or RESET_STREAM;
/// a "stop" command sends STOP_SENDING.
fn spawn_receiver(p: &Shared, id: u64, bidi: bool, local: bool, mut r: RecvStream) {
    let (tx, mut stop_rx) = tokio::sync::oneshot::channel::<u64>();
    p.borrow_mut().stoppers.insert(id, tx);
    tokio::task::spawn_local(async move {
        let mut sha = Sha256::new();
        let mut n: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            enum Ev {
                Read(Result<Option<usize>, StreamReadError>),
                Stop(u64),
            }
            let ev = tokio::select! {
                res = r.read(&mut buf) => Ev::Read(res),
                Ok(w) = &mut stop_rx => Ev::Stop(w),
            };
            match ev {
                Ev::Stop(w) => {
                    r.stop(varint(w));
                    return;
                }
                Ev::Read(Ok(Some(k))) => {
                    sha.update(&buf[..k]);
                    n += k as u64;
                }
                Ev::Read(Ok(None)) => {
                    emit(
                        json!({"ev": "fin", "stream": id, "bidi": bidi, "local": local, "bytes": n,
                                "sha256": hex(&sha.finalize())}),
                    );
                    return;
                }
                Ev::Read(Err(StreamReadError::Reset(code))) => {
                    let w = code.into_inner();
                    emit(
                        json!({"ev": "reset", "stream": id, "wire": w, "code": code_from_wire(w), "bytes": n}),
                    );
                    return;
                }
                Ev::Read(Err(e)) => {
                    emit(json!({"ev": "stream_error", "stream": id, "what": format!("{:?}", e)}));
                    return;
                }
            }
        }
    });
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

fn on_conn_error(p: &Shared, e: ConnectionError, from: &str) {
    let mut pm = p.borrow_mut();
    if pm.closed {
        return;
    }
    pm.closed = true;
    // A CLOSE_WEBTRANSPORT_SESSION capsule (or a clean FIN of the CONNECT
    // stream) reaches wtransport's API as ApplicationClosed from the driver;
    // wtransport then closes the QUIC connection itself with H3_NO_ERROR.
    // quinn's own CONNECTION_CLOSE with an application code gives the same
    // variant: the QUIC connection's close_reason tells them apart.
    let quic = pm.conn.quic_connection().close_reason();
    match e {
        ConnectionError::ApplicationClosed(c) => {
            let by_capsule = !matches!(quic, Some(quinn_err) if is_peer_app_close(&quinn_err));
            let reason = String::from_utf8_lossy(c.reason()).to_string();
            if by_capsule {
                emit(
                    json!({"ev": "close_capsule", "code": c.code().into_inner(), "reason": reason, "from": from}),
                );
            }
            emit(
                json!({"ev": "session_closed", "code": c.code().into_inner(), "reason": reason,
                        "how": if by_capsule {"capsule"} else {"connection_close"}}),
            );
        }
        other => {
            emit(json!({"ev": "conn_closed", "what": format!("{:?}", other), "from": from}));
        }
    }
}

fn is_peer_app_close(e: &wtransport::quinn::ConnectionError) -> bool {
    matches!(e, wtransport::quinn::ConnectionError::ApplicationClosed(_))
}

fn start_session(p: &Shared) {
    let conn = p.borrow().conn.clone();
    // Incoming uni streams.
    {
        let p = p.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.accept_uni().await {
                    Ok(r) => {
                        let id = r.id().into_u64();
                        emit(json!({"ev": "stream_opened", "stream": id, "bidi": false}));
                        spawn_receiver(&p, id, false, false, r);
                    }
                    Err(e) => return on_conn_error(&p, e, "accept_uni"),
                }
            }
        });
    }
    {
        let p = p.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.accept_bi().await {
                    Ok((s, r)) => {
                        let id = r.id().into_u64();
                        emit(json!({"ev": "stream_opened", "stream": id, "bidi": true}));
                        spawn_sender(&p, id, s);
                        spawn_receiver(&p, id, true, false, r);
                    }
                    Err(e) => return on_conn_error(&p, e, "accept_bi"),
                }
            }
        });
    }
    {
        let p = p.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.receive_datagram().await {
                    Ok(d) => {
                        let b = d.payload();
                        emit(
                            json!({"ev": "datagram", "len": b.len(), "sha256": hex(&Sha256::digest(&b))}),
                        );
                    }
                    Err(e) => return on_conn_error(&p, e, "receive_datagram"),
                }
            }
        });
    }
    {
        let p = p.clone();
        tokio::task::spawn_local(async move {
            let e = conn.closed().await;
            if matches!(e, ConnectionError::LocallyClosed) {
                // Either we closed (reported already) or wtransport's driver
                // closed the connection after a CLOSE_WEBTRANSPORT_SESSION
                // capsule, whose code and reason reach the accept calls.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            on_conn_error(&p, e, "closed");
        });
    }
}

async fn command(p: &Shared, c: Value) {
    let op = c
        .get("cmd")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tag = c.get("tag").cloned().unwrap_or(Value::Null);
    let stream = c.get("stream").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let wire = c
        .get("wire")
        .and_then(Value::as_u64)
        .or_else(|| c.get("code").and_then(Value::as_u64).map(code_to_wire));
    let conn = p.borrow().conn.clone();
    let res: Result<(), String> = async {
        match op.as_str() {
            "open" => {
                let bidi = c.get("bidi").and_then(Value::as_bool).unwrap_or(true);
                let id;
                if bidi {
                    let (s, r) = conn.open_bi().await.map_err(|e| format!("{:?}", e))?.await.map_err(|e| format!("{:?}", e))?;
                    id = s.id().into_u64();
                    spawn_sender(p, id, s);
                    spawn_receiver(p, id, true, true, r);
                } else {
                    let s = conn.open_uni().await.map_err(|e| format!("{:?}", e))?.await.map_err(|e| format!("{:?}", e))?;
                    id = s.id().into_u64();
                    spawn_sender(p, id, s);
                }
                emit(json!({"ev": "opened", "stream": id, "bidi": bidi, "tag": tag}));
            }
            "send" => {
                let fin = c.get("fin").and_then(Value::as_bool).unwrap_or(false);
                let data = if let Some(h) = c.get("hex").and_then(Value::as_str) {
                    hex_decode(h)
                } else {
                    let seed = c.get("seed").and_then(Value::as_u64).unwrap_or(0);
                    let n = c.get("bytes").and_then(Value::as_u64).unwrap_or(0) as usize;
                    p.borrow_mut().patterns.pattern(seed, n).map_err(|e| e.to_string())?
                };
                let n = data.len();
                let tx = p.borrow().senders.get(&stream).cloned().ok_or("no such stream")?;
                tx.send(SendCmd::Data(data, fin)).map_err(|_| "stream gone")?;
                emit(json!({"ev": "sent", "stream": stream, "bytes": n, "fin": fin, "tag": tag}));
            }
            "reset" => {
                let w = wire.ok_or("no code")?;
                let tx = p.borrow().senders.get(&stream).cloned().ok_or("no such stream")?;
                tx.send(SendCmd::Reset(w)).map_err(|_| "stream gone")?;
                emit(json!({"ev": "did_reset", "stream": stream, "wire": w, "tag": tag}));
            }
            "stop" => {
                let w = wire.ok_or("no code")?;
                let tx = p.borrow_mut().stoppers.remove(&stream).ok_or("no such stream")?;
                let _ = tx.send(w);
                emit(json!({"ev": "did_stop", "stream": stream, "wire": w, "tag": tag}));
            }
            "datagram" => {
                let size = match c.get("size") {
                    Some(Value::String(s)) if s == "max" => conn.max_datagram_size().unwrap_or(0),
                    Some(v) => v.as_u64().unwrap_or(0) as usize,
                    None => 0,
                };
                let seed = c.get("seed").and_then(Value::as_u64).unwrap_or(0);
                let data = p.borrow_mut().patterns.pattern(seed, size).map_err(|e| e.to_string())?;
                conn.send_datagram(&data).map_err(|e| format!("{:?}", e))?;
                emit(json!({"ev": "datagram_sent", "len": size, "sha256": hex(&Sha256::digest(&data)), "tag": tag}));
            }
            "close" => {
                // wtransport 0.7: Connection::close is a QUIC CONNECTION_CLOSE
                // with this application code and reason; there is no
                // CLOSE_WEBTRANSPORT_SESSION capsule in its API.
                let code = c.get("code").and_then(Value::as_u64).unwrap_or(0);
                let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
                p.borrow_mut().closed = true;
                conn.close(varint(code), reason.as_bytes());
                emit(json!({"ev": "did_close", "tag": tag}));
            }
            "drain" => return Err("wtransport 0.7 has no DRAIN_WEBTRANSPORT_SESSION".into()),
            "ping" => emit(json!({"ev": "pong", "tag": tag})),
            "quit" => {
                conn.close(VarInt::from_u32(0), b"bye");
                emit(json!({"ev": "quitting"}));
                tokio::time::sleep(Duration::from_millis(200)).await;
                std::process::exit(0);
            }
            _ => return Err(format!("unknown command {:?}", op)),
        }
        Ok(())
    }
    .await;
    if let Err(what) = res {
        emit(json!({"ev": "error", "what": format!("{}: {}", op, what), "tag": tag}));
    }
}

async fn run_commands(p: Shared) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Ok(c) = serde_json::from_str::<Value>(line) {
            // One command at a time, in order, as peer.py does.
            command(&p, c).await;
        }
    }
    std::process::exit(0);
}

fn new_peer(conn: Connection, pattern_dir: &str) -> Shared {
    let session = conn.session_id().session_stream().into_u64();
    Rc::new(RefCell::new(Peer {
        conn,
        session,
        senders: HashMap::new(),
        stoppers: HashMap::new(),
        patterns: Patterns {
            dir: pattern_dir.to_string(),
            cache: HashMap::new(),
        },
        closed: false,
    }))
}

fn session_event(p: &Shared, protocol: Option<String>) {
    let pm = p.borrow();
    emit(
        json!({"ev": "session", "session": pm.session, "protocol": protocol,
                "max_datagram": pm.conn.max_datagram_size().unwrap_or(0),
                "sent_settings": Value::Null}),
    );
}

// --- roles --------------------------------------------------------------------

struct Args {
    rest: Vec<String>,
    timeout: f64,
    protocols_given: bool,
    role: String,
    url: String,
    protocols: Vec<String>,
    choose: Option<String>,
    pattern_dir: String,
}

async fn run_server(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let identity = Identity::self_signed(["localhost", "127.0.0.1"])?;
    let cfg = ServerConfig::builder()
        .with_bind_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .with_identity(identity)
        .max_idle_timeout(Some(Duration::from_secs(30)))?
        .build();
    let ep = Endpoint::server(cfg)?;
    emit(json!({"ev": "listening", "port": ep.local_addr()?.port()}));
    let current: Rc<RefCell<Option<Shared>>> = Rc::new(RefCell::new(None));
    {
        let current = current.clone();
        tokio::task::spawn_local(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(c) = serde_json::from_str::<Value>(line.trim()) else {
                    continue;
                };
                let p = current.borrow().clone();
                match p {
                    Some(p) => command(&p, c).await,
                    None => emit(json!({"ev": "error", "what": "no session yet"})),
                }
            }
            std::process::exit(0);
        });
    }
    // Requests held unanswered (`?answer=none`): kept, not dropped, since
    // dropping a SessionRequest answers it.
    let mut held = Vec::new();
    loop {
        let incoming = ep.accept().await;
        let req = match incoming.await {
            Ok(r) => r,
            Err(e) => {
                emit(json!({"ev": "incoming_failed", "what": format!("{:?}", e)}));
                continue;
            }
        };
        let path = req.path().to_string();
        let headers = req.headers().clone();
        let offered = headers
            .get("wt-available-protocols")
            .map(|v| parse_sf_strings(v))
            .unwrap_or_default();
        let mut info = Map::new();
        info.insert("ev".into(), json!("connect"));
        info.insert("path".into(), json!(path));
        info.insert("authority".into(), json!(req.authority()));
        info.insert("protocol".into(), json!(headers.get(":protocol")));
        info.insert("method".into(), json!(headers.get(":method")));
        info.insert("offered".into(), json!(offered));
        info.insert("origin".into(), json!(req.origin()));
        info.insert("settings".into(), Value::Null);
        let query = path
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default();
        if query.split('&').any(|kv| kv == "answer=none") {
            // A server that hangs: the client's timeout must end it.
            info.insert("answer".into(), Value::Null);
            emit(Value::Object(info));
            held.push(req);
            continue;
        }
        let status = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("status="))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        if status != 200 {
            info.insert("answer".into(), json!(status));
            emit(Value::Object(info));
            // wtransport 0.7 refuses with 403, 404 or 429 only.
            match status {
                403 => req.forbidden().await,
                429 => req.too_many_requests().await,
                _ => req.not_found().await,
            }
            continue;
        }
        let chosen = match &a.choose {
            Some(c) if c.is_empty() => None,
            Some(c) => Some(c.clone()),
            None => a.protocols.iter().find(|s| offered.contains(s)).cloned(),
        };
        let mut resp = Vec::new();
        if let Some(c) = &chosen {
            resp.push(("wt-protocol".to_string(), sf_list(&[c.clone()])));
        }
        let conn = match req.accept_with_headers(resp).await {
            Ok(c) => c,
            Err(e) => {
                emit(json!({"ev": "accept_failed", "what": format!("{:?}", e)}));
                continue;
            }
        };
        info.insert("answer".into(), json!(200));
        info.insert("chosen".into(), json!(chosen));
        emit(Value::Object(info));
        let p = new_peer(conn, &a.pattern_dir);
        *current.borrow_mut() = Some(p.clone());
        session_event(&p, chosen);
        start_session(&p);
    }
}

async fn run_client(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = ClientConfig::builder()
        .with_bind_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .with_no_cert_validation()
        .max_idle_timeout(Some(Duration::from_secs(30)))?
        .build();
    let ep = Endpoint::client(cfg)?;
    let mut req = wtransport::endpoint::ConnectOptions::builder(&a.url);
    if !a.protocols.is_empty() {
        req = req.add_header("wt-available-protocols", sf_list(&a.protocols));
    }
    match ep.connect(req.build()).await {
        Ok(conn) => {
            emit(json!({"ev": "connected"}));
            // wtransport 0.7 does not show the response (status, headers):
            // an established session means 200, and WT-Protocol is unknown.
            emit(
                json!({"ev": "response", "status": 200, "protocol": Value::Null, "headers": Value::Null,
                        "settings": Value::Null}),
            );
            let p = new_peer(conn, &a.pattern_dir);
            session_event(&p, None);
            start_session(&p);
            run_commands(p).await;
        }
        Err(wtransport::error::ConnectingError::SessionRejected) => {
            // The status is not in wtransport's API.
            emit(json!({"ev": "refused", "status": Value::Null}));
            emit(json!({"ev": "response", "status": Value::Null, "rejected": true}));
            // Wait for the runner to end us.
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
        }
        Err(e) => {
            emit(json!({"ev": "connect_failed", "what": format!("{:?}", e)}));
            std::process::exit(1);
        }
    }
    Ok(())
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        rest: Vec::new(),
        timeout: 30.0,
        protocols_given: false,
        role: String::new(),
        url: String::new(),
        protocols: Vec::new(),
        choose: None,
        pattern_dir: String::new(),
    };
    while let Some(x) = it.next() {
        match x.as_str() {
            "--url" => a.url = it.next().unwrap_or_default(),
            "-T" | "--timeout" => {
                a.timeout = it.next().and_then(|t| t.parse().ok()).unwrap_or(30.0)
            }
            "--protocols" => {
                a.protocols_given = true;
                a.protocols = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--choose" => a.choose = it.next(),
            "--pattern-dir" => a.pattern_dir = it.next().unwrap_or_default(),
            "--h3-protocol" | "--udp-payload" => {
                // peer.py options that have no wtransport counterpart: the
                // :protocol is wtransport's ("webtransport"), and quinn does
                // path MTU discovery itself.
                let _ = it.next();
            }
            r if a.role.is_empty() && !r.starts_with('-') => a.role = r.to_string(),
            r if !r.starts_with('-') || r == "-" => a.rest.push(r.to_string()),
            other => {
                eprintln!("wtransport-peer: unknown argument {}", other);
                std::process::exit(2);
            }
        }
    }
    a
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let res = local.block_on(&rt, async move {
        match a.role.as_str() {
            "server" => run_server(a).await,
            "client" => run_client(a).await,
            "baton-server" => {
                if a.rest.len() != 1 {
                    eprintln!("wtransport-peer: baton-server PATH");
                    std::process::exit(2);
                }
                baton::server(a.rest[0].clone(), a.choose.clone()).await
            }
            "baton-client" => {
                if a.rest.len() != 3 {
                    eprintln!("wtransport-peer: baton-client HOST PORT PATH");
                    std::process::exit(2);
                }
                let offer = if a.protocols_given {
                    a.protocols.clone()
                } else {
                    vec!["wrong-end-baton".to_string(), baton::PROTOCOL.to_string()]
                };
                let rc = baton::client(
                    a.rest[0].clone(),
                    a.rest[1].clone(),
                    a.rest[2].clone(),
                    offer,
                    a.timeout,
                )
                .await;
                std::process::exit(rc);
            }
            r => {
                eprintln!("wtransport-peer: role {:?}: server or client", r);
                std::process::exit(2);
            }
        }
    });
    if let Err(e) = res {
        emit(json!({"ev": "fatal", "what": e.to_string()}));
        std::process::exit(1);
    }
}
