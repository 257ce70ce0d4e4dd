//! Devious baton (draft-frindell-webtrans-devious-baton-00) on wtransport,
//! played as examples_c/gowt_baton and tests/interop/aioquic/peer.py play it
//! (pico_baton's command line and summary lines).
//!
//! wtransport 0.7 cannot send CLOSE_WEBTRANSPORT_SESSION: the side that
//! receives the last 0 must close the session with code 0 "Have a nice
//! day", and here that is `Connection::close` (QUIC CONNECTION_CLOSE, code 0,
//! that reason). gowt reports that as a connection error, so run.py picks the
//! first batons of its games with wtransport such that gowt ends them.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use wtransport::error::{ConnectionError, StreamReadError};
use wtransport::{
    ClientConfig, Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig, VarInt,
};

pub const PROTOCOL: &str = "devious-baton-00";
const BRUH: u32 = 0x02;
const GAME_OVER: u32 = 0x03;
const PAD: usize = 0x3FFF;
const PAD_LIMIT: usize = 65536;

fn enc_varint(v: u64) -> Vec<u8> {
    if v < 0x40 {
        vec![v as u8]
    } else if v < 0x4000 {
        ((0x4000 | v) as u16).to_be_bytes().to_vec()
    } else if v < 0x4000_0000 {
        ((0x8000_0000 | v) as u32).to_be_bytes().to_vec()
    } else {
        (0xC000_0000_0000_0000 | v).to_be_bytes().to_vec()
    }
}

fn message(v: u8, pad: usize) -> Vec<u8> {
    let mut m = enc_varint(pad as u64);
    m.resize(m.len() + pad, 0);
    m.push(v);
    m
}

/// The value of a complete message; None for an empty stream.
fn parse(b: &[u8]) -> Result<Option<u8>, String> {
    if b.is_empty() {
        return Ok(None);
    }
    let n = 1usize << (b[0] >> 6);
    if b.len() < n {
        return Err("truncated padding length".into());
    }
    let mut pad = (b[0] & 0x3f) as u64;
    for x in &b[1..n] {
        pad = pad << 8 | *x as u64;
    }
    let want = n as u64 + pad + 1;
    if b.len() as u64 != want {
        return Err(format!("message of {} bytes with padding {}", b.len(), pad));
    }
    Ok(Some(b[b.len() - 1]))
}

struct Lane {
    first: u8,
    last_sent: Option<u8>,
    last_received: Option<u8>,
    done: bool,
}

struct Game {
    conn: Connection,
    is_client: bool,
    count: usize,
    first: u8,
    lanes: Vec<Lane>,
    turns: u32,
    sent_bytes: usize,
    recv_bytes: usize,
    dg_sent: u32,
    dg_recv: u32,
    state: u32,
    close_code: Option<u64>,
    protocol: Option<String>,
    sent_zero: HashSet<u64>,
    closed: bool,
    done: Rc<tokio::sync::Notify>,
}

type G = Rc<RefCell<Game>>;

fn close(g: &G, code: u32, reason: &str) {
    let mut gm = g.borrow_mut();
    if gm.closed {
        return;
    }
    gm.closed = true;
    gm.conn.close(VarInt::from_u32(code), reason.as_bytes());
    if gm.close_code.is_none() {
        gm.close_code = Some(code as u64);
    }
    if gm.state != 5 {
        gm.state = if code == 0 { 6 } else { 5 };
    }
    gm.done.notify_one();
}

fn ended(g: &G, code: u64, remote: bool) {
    let mut gm = g.borrow_mut();
    if gm.closed {
        return;
    }
    gm.closed = true;
    if gm.close_code.is_none() {
        gm.close_code = Some(code);
    }
    if gm.state != 5 {
        gm.state = if code == 0 && remote { 6 } else { 5 };
    }
    gm.done.notify_one();
}

fn next_pad(g: &G) -> usize {
    if g.borrow().sent_bytes <= PAD_LIMIT {
        PAD
    } else {
        0
    }
}

/// Sends one baton message (then FIN) on s.
fn send_on(g: &G, mut s: SendStream, v: u8) {
    let m = message(v, next_pad(g));
    {
        let mut gm = g.borrow_mut();
        gm.sent_bytes += m.len();
        if v == 0 {
            gm.sent_zero.insert(s.id().into_u64());
        }
    }
    tokio::task::spawn_local(async move {
        let _ = s.write_all(&m).await;
        let _ = s.finish().await;
        // Hold the stream until the peer has it or stops it.
        let _ = s.stopped().await;
    });
}

/// Opens a stream (bidi or uni) and sends v on it.
fn send_new(g: &G, bidi: bool, v: u8) {
    let g = g.clone();
    tokio::task::spawn_local(async move {
        let conn = g.borrow().conn.clone();
        if bidi {
            let Ok(o) = conn.open_bi().await else { return };
            let Ok((s, r)) = o.await else { return };
            let id = s.id().into_u64();
            send_on(&g, s, v);
            read_stream(g, id, true, true, None, r).await;
        } else {
            let Ok(o) = conn.open_uni().await else { return };
            let Ok(s) = o.await else { return };
            send_on(&g, s, v);
        }
    });
}

async fn read_stream(
    g: G,
    id: u64,
    bidi: bool,
    local: bool,
    send: Option<SendStream>,
    mut r: RecvStream,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        match r.read(&mut chunk).await {
            Ok(Some(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                g.borrow_mut().recv_bytes += n;
            }
            Ok(None) => break,
            Err(StreamReadError::Reset(_)) => {
                // Any reset of a session stream ends the game (as pico_baton).
                if !g.borrow().closed {
                    close(&g, GAME_OVER, "Game over");
                }
                return;
            }
            Err(_) => return,
        }
    }
    on_fin(&g, id, bidi, local, send, &buf);
}

fn on_fin(g: &G, id: u64, bidi: bool, local: bool, send: Option<SendStream>, buf: &[u8]) {
    if g.borrow().closed {
        return;
    }
    let v = match parse(buf) {
        Ok(v) => v,
        Err(e) => return close(g, BRUH, &e),
    };
    let Some(v) = v else {
        if g.borrow().sent_zero.contains(&id) {
            return; // the empty FIN after our 0
        }
        return close(g, BRUH, "FIN before the baton");
    };
    let mut gm = g.borrow_mut();
    let idx = match gm
        .lanes
        .iter()
        .position(|l| !l.done && l.last_sent.map(|s| s.wrapping_add(1) == v).unwrap_or(false))
    {
        Some(i) => i,
        None if gm.lanes.len() < gm.count => {
            gm.lanes.push(Lane {
                first: v,
                last_sent: None,
                last_received: None,
                done: false,
            });
            gm.lanes.len() - 1
        }
        None => {
            drop(gm);
            return close(g, BRUH, &format!("Baton 0x{:02x} fits no lane", v));
        }
    };
    gm.turns += 1;
    gm.state = 3;
    gm.lanes[idx].last_received = Some(v);
    if v == 0 {
        gm.lanes[idx].done = true;
        let all = gm.lanes.len() == gm.count && gm.lanes.iter().all(|l| l.done);
        drop(gm);
        if bidi && !local {
            if let Some(s) = send {
                send_empty_fin(s);
            }
        }
        if all {
            g.borrow_mut().state = 4;
            close(g, 0, "Have a nice day");
        }
        return;
    }
    let dg = v % 7 == if gm.is_client { 1 } else { 0 };
    if dg {
        let _ = gm.conn.send_datagram(message(v, 0));
        gm.dg_sent += 1;
    }
    let nxt = v.wrapping_add(1);
    gm.lanes[idx].last_sent = Some(nxt);
    if nxt == 0 {
        gm.lanes[idx].done = true;
    }
    drop(gm);
    if bidi && !local {
        if let Some(s) = send {
            send_on(g, s, nxt);
        }
    } else {
        send_new(g, !bidi, nxt);
    }
}

fn send_empty_fin(mut s: SendStream) {
    tokio::task::spawn_local(async move {
        let _ = s.finish().await;
        let _ = s.stopped().await;
    });
}

fn start(g: &G) {
    let conn = g.borrow().conn.clone();
    {
        let g = g.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.accept_uni().await {
                    Ok(r) => {
                        let id = r.id().into_u64();
                        tokio::task::spawn_local(read_stream(g.clone(), id, false, false, None, r));
                    }
                    Err(e) => return on_conn_error(&g, e),
                }
            }
        });
    }
    {
        let g = g.clone();
        let conn = conn.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.accept_bi().await {
                    Ok((s, r)) => {
                        let id = r.id().into_u64();
                        tokio::task::spawn_local(read_stream(
                            g.clone(),
                            id,
                            true,
                            false,
                            Some(s),
                            r,
                        ));
                    }
                    Err(e) => return on_conn_error(&g, e),
                }
            }
        });
    }
    {
        let g = g.clone();
        tokio::task::spawn_local(async move {
            loop {
                match conn.receive_datagram().await {
                    Ok(d) => {
                        if parse(&d.payload()).is_ok() {
                            g.borrow_mut().dg_recv += 1;
                        }
                    }
                    Err(e) => return on_conn_error(&g, e),
                }
            }
        });
    }
}

fn on_conn_error(g: &G, e: ConnectionError) {
    match e {
        // The peer's CLOSE_WEBTRANSPORT_SESSION (or FIN on the CONNECT stream).
        ConnectionError::ApplicationClosed(c) => ended(g, c.code().into_inner(), true),
        ConnectionError::LocallyClosed => {}
        _ => ended(g, u64::MAX, false),
    }
}

fn new_game(conn: Connection, is_client: bool, count: usize, first: u8) -> G {
    Rc::new(RefCell::new(Game {
        conn,
        is_client,
        count,
        first,
        lanes: Vec::new(),
        turns: 0,
        sent_bytes: 0,
        recv_bytes: 0,
        dg_sent: 0,
        dg_recv: 0,
        state: if is_client { 1 } else { 2 },
        close_code: None,
        protocol: None,
        sent_zero: HashSet::new(),
        closed: false,
        done: Rc::new(tokio::sync::Notify::new()),
    }))
}

fn query_params(path: &str) -> Vec<(String, String)> {
    path.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn server(
    path: String,
    choose: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = ServerConfig::builder()
        .with_bind_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .with_identity(Identity::self_signed(["localhost", "127.0.0.1"])?)
        .max_idle_timeout(Some(Duration::from_secs(30)))?
        .build();
    let ep = Endpoint::server(cfg)?;
    println!("Listening on port {}", ep.local_addr()?.port());
    loop {
        let Ok(req) = ep.accept().await.await else {
            continue;
        };
        let rpath = req.path().to_string();
        let p = rpath.split('?').next().unwrap_or("").to_string();
        if path != "*" && p != path {
            req.not_found().await;
            continue;
        }
        let (mut version, mut baton, mut count) = (0u64, 0u64, 1u64);
        let mut bad = false;
        for (k, v) in query_params(&rpath) {
            let n = v.parse::<u64>();
            match (k.as_str(), n) {
                ("version", Ok(n)) => version = n,
                ("baton", Ok(n)) => baton = n,
                ("count", Ok(n)) => count = n,
                ("version" | "baton" | "count", Err(_)) => bad = true,
                _ => {}
            }
        }
        if bad || version != 0 || baton > 255 || !(1..=256).contains(&count) {
            // wtransport 0.7 has no 400 response: 404 is the nearest it sends.
            req.not_found().await;
            continue;
        }
        let offered = req
            .headers()
            .get("wt-available-protocols")
            .map(|v| crate::parse_sf_strings(v))
            .unwrap_or_default();
        let chosen = match &choose {
            Some(c) if c.is_empty() => None,
            Some(c) => Some(c.clone()),
            None => offered.iter().find(|o| o.as_str() == PROTOCOL).cloned(),
        };
        let mut hdrs = Vec::new();
        if let Some(c) = &chosen {
            hdrs.push(("wt-protocol".to_string(), crate::sf_list(&[c.clone()])));
        }
        let Ok(conn) = req.accept_with_headers(hdrs).await else {
            continue;
        };
        let first = if baton == 0 {
            1 + (std::process::id() % 255) as u8
        } else {
            baton as u8
        };
        let g = new_game(conn, false, count as usize, first);
        g.borrow_mut().protocol = chosen;
        start(&g);
        for _ in 0..count {
            g.borrow_mut().lanes.push(Lane {
                first,
                last_sent: Some(first),
                last_received: None,
                done: false,
            });
            send_new(&g, false, first);
        }
    }
}

pub async fn client(
    host: String,
    port: String,
    path: String,
    offer: Vec<String>,
    timeout: f64,
) -> i32 {
    let cfg = match ClientConfig::builder()
        .with_bind_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .with_no_cert_validation()
        .max_idle_timeout(Some(Duration::from_secs(30)))
    {
        Ok(b) => b.build(),
        Err(e) => {
            eprintln!("baton: {:?}", e);
            return 1;
        }
    };
    let count = query_params(&path)
        .iter()
        .find(|(k, _)| k == "count")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1);
    let url = format!(
        "https://{}:{}{}",
        host,
        port,
        if path.starts_with('/') {
            path.clone()
        } else {
            format!("/{}", path)
        }
    );
    let ep = match Endpoint::client(cfg) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("baton: {}", e);
            return 1;
        }
    };
    let mut opts = wtransport::endpoint::ConnectOptions::builder(url);
    if !offer.is_empty() {
        opts = opts.add_header("wt-available-protocols", crate::sf_list(&offer));
    }
    let conn = match ep.connect(opts.build()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("baton: {:?}", e);
            println!("Final baton state: 0");
            return 1;
        }
    };
    let g = new_game(conn.clone(), true, count, 0);
    g.borrow_mut().state = 2;
    start(&g);
    let done = g.borrow().done.clone();
    if tokio::time::timeout(Duration::from_secs_f64(timeout), done.notified())
        .await
        .is_err()
    {
        eprintln!("baton: no result after {:.0} s", timeout);
    }
    // pico_baton's client closes the connection once the session is over.
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.close(VarInt::from_u32(0), b"");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let gm = g.borrow();
    println!("Final baton state: {}", gm.state);
    println!("Nb turns: {}", gm.turns);
    for (i, l) in gm.lanes.iter().enumerate() {
        println!(
            "Lane {}, first baton: 0x{:02x}, last sent: 0x{:02x}, last received: 0x{:02x}",
            i,
            l.first,
            l.last_sent.unwrap_or(0),
            l.last_received.unwrap_or(0)
        );
    }
    println!("Bytes sent: {}", gm.sent_bytes);
    println!("Bytes received: {}", gm.recv_bytes);
    println!("Datagrams sent: {}", gm.dg_sent);
    println!("Datagrams received: {}", gm.dg_recv);
    // wtransport's client does not see the response headers (WT-Protocol).
    println!(
        "Sub-protocol: {}",
        gm.protocol.clone().unwrap_or_else(|| "unknown".into())
    );
    let won = gm.state == 6
        && gm.close_code == Some(0)
        && gm.turns > 0
        && gm.lanes.len() == gm.count
        && gm
            .lanes
            .iter()
            .all(|l| l.done && matches!(l.last_sent, Some(0) | Some(0xff)));
    let _ = gm.first;
    if won {
        0
    } else {
        1
    }
}
