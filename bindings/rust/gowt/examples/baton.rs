//! A devious-baton client (draft-frindell-webtrans-devious-baton-00) on the
//! gowt crate, with the command line and summary lines of picoquic's
//! pico_baton and examples_c/gowt_baton:
//!
//!   cargo run --example baton -- [-T SECONDS] [-P PROTOCOLS] HOST PORT "PATH?version=0&count=K"
//!
//! Prints "Final baton state: N" (6 = closed), "Nb turns: N", one "Lane ..."
//! line per lane and counters; exits 0 only when the game really succeeded
//! (closed with code 0, turns played, every lane ended with 0x00 or 0xff).
//! The server certificate is not verified (as pico_baton without options).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gowt::{ConnectOptions, RecvStream, SendStream, Session};

const PAD: usize = 0x3FFF; // picoquic pads stream batons this much...
const PAD_LIMIT: u64 = 65536; // ...while the session has sent at most 64 KiB
const BRUH: u32 = 0x02;
const GAME_OVER: u32 = 0x03;
const ST_CLOSED: i32 = 6;
const ST_ERROR: i32 = 5;

#[derive(Clone, Copy, Default)]
struct Lane {
    started: bool,
    done: bool,
    first: u8,
    last_sent: u8,
    last_received: u8,
}

#[derive(Default)]
struct Game {
    lanes: Vec<Lane>,
    started: usize,
    done: usize,
    turns: u32,
    bytes_sent: u64,
    bytes_received: u64,
    dgrams_sent: u64,
    dgrams_received: u64,
    closing: bool,
}

/// Where a baton arrived, which decides where the next one goes.
enum Via {
    Uni,
    PeerBidi(SendStream),
    OwnBidi,
}

type Shared = Arc<Mutex<Game>>;

fn encode(pad: usize, v: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(pad + 3);
    if pad < 64 {
        m.push(pad as u8);
    } else {
        m.push(0x40 | (pad >> 8) as u8);
        m.push(pad as u8);
    }
    m.resize(m.len() + pad, 0);
    m.push(v);
    m
}

/// One complete baton message: Some(value), or None when malformed.
fn decode(p: &[u8]) -> Option<u8> {
    let first = *p.first()?;
    let len = 1usize << (first >> 6);
    if p.len() < len + 1 {
        return None;
    }
    let pad = p[1..len]
        .iter()
        .fold((first & 0x3f) as u64, |a, &b| a << 8 | b as u64);
    (p.len() as u64 - len as u64 - 1 == pad).then(|| p[p.len() - 1])
}

fn close(s: &Session, g: &Shared, code: u32, why: &str) {
    let mut g = g.lock().unwrap();
    if !g.closing {
        g.closing = true;
        let _ = s.close(code, why);
    }
}

/// Sends baton v on w, then FIN.
async fn send_baton(g: &Shared, mut w: SendStream, v: u8) {
    let msg = {
        let mut g = g.lock().unwrap();
        let pad = if g.bytes_sent <= PAD_LIMIT { PAD } else { 0 };
        let m = encode(pad, v);
        g.bytes_sent += m.len() as u64;
        m
    };
    if w.write_all(&msg).await.is_ok() {
        let _ = w.finish();
    }
}

/// Reads one message off r and plays it (boxed: play spawns receive).
fn receive(
    s: Session,
    g: Shared,
    r: RecvStream,
    via: Via,
    sent_zero: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(receive_inner(s, g, r, via, sent_zero))
}

async fn receive_inner(s: Session, g: Shared, mut r: RecvStream, via: Via, sent_zero: bool) {
    let data = match r.read_to_end(1 << 20).await {
        Ok(d) => d,
        Err(_) => {
            if !sent_zero && !g.lock().unwrap().closing {
                close(&s, &g, GAME_OVER, "Game over");
            }
            return;
        }
    };
    g.lock().unwrap().bytes_received += data.len() as u64;
    if data.is_empty() && sent_zero {
        return; // the empty FIN that ends a lane on a bidi stream
    }
    let Some(v) = decode(&data) else {
        close(&s, &g, BRUH, "Malformed baton");
        return;
    };
    play(s, g, v, via).await;
}

async fn play(s: Session, g: Shared, v: u8, via: Via) {
    let next = v.wrapping_add(1);
    let (finished, dgram) = {
        let mut gm = g.lock().unwrap();
        if gm.closing {
            return;
        }
        let Game { lanes, started, .. } = &mut *gm;
        let idx = match lanes[..*started]
            .iter()
            .position(|l| l.started && !l.done && l.last_sent.wrapping_add(1) == v)
        {
            Some(i) => i,
            None if *started < lanes.len() => {
                let i = *started;
                *started += 1;
                lanes[i].started = true;
                lanes[i].first = v;
                i
            }
            None => {
                drop(gm);
                close(&s, &g, BRUH, &format!("Baton 0x{v:02x} fits no lane"));
                return;
            }
        };
        gm.turns += 1;
        let lane = &mut gm.lanes[idx];
        lane.last_received = v;
        if v == 0 {
            lane.done = true;
            gm.done += 1;
            (gm.done == gm.lanes.len(), false)
        } else {
            lane.last_sent = next;
            if next == 0 {
                lane.done = true;
                gm.done += 1;
            }
            (false, v % 7 == 1)
        }
    };
    if v == 0 {
        if let Via::PeerBidi(mut w) = via {
            let _ = w.finish(); // end our half with an empty FIN
        }
        if finished {
            close(&s, &g, 0, "Have a nice day");
        }
        return;
    }
    if dgram && s.send_datagram(&encode(0, v)).is_ok() {
        g.lock().unwrap().dgrams_sent += 1;
    }
    let sent_zero = next == 0;
    match via {
        Via::PeerBidi(w) => send_baton(&g, w, next).await,
        Via::Uni => match s.open_bi().await {
            Ok((w, r)) => {
                send_baton(&g, w, next).await;
                tokio::spawn(receive(s, g, r, Via::OwnBidi, sent_zero));
            }
            Err(_) => close(&s, &g, GAME_OVER, "Game over"),
        },
        Via::OwnBidi => match s.open_uni().await {
            Ok(w) => send_baton(&g, w, next).await,
            Err(_) => close(&s, &g, GAME_OVER, "Game over"),
        },
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: baton [-T SECONDS] [-P PROTOCOLS] HOST PORT \"PATH?version=0&baton=N&count=K\""
    );
    std::process::exit(2)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut timeout = 30u64;
    let mut protocols = "wrong-end-baton,devious-baton-00".to_string();
    while args.first().is_some_and(|a| a.starts_with('-')) {
        let opt = args.remove(0);
        if args.is_empty() {
            usage();
        }
        let val = args.remove(0);
        match opt.as_str() {
            "-T" => timeout = val.parse().unwrap_or_else(|_| usage()),
            "-P" => protocols = val,
            _ => usage(),
        }
    }
    let [host, port, path] = &args[..] else {
        usage()
    };
    let count = path
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("count="))
        .map_or(1, |c| c.parse::<usize>().unwrap_or_else(|_| usage()));
    if !(1..=256).contains(&count) {
        usage();
    }
    let host_url = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let url = format!("https://{host_url}:{port}{path}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let code = rt.block_on(async move {
        let ctx = gowt::Context::builder()
            .insecure_skip_verify(true)
            .build()
            .expect("context");
        let opts = ConnectOptions {
            protocols: protocols
                .split(',')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            ..Default::default()
        };
        let s = match ctx.connect_with(&url, &opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("baton: {e}");
                println!("Final baton state: {ST_ERROR}");
                return 1;
            }
        };
        let g: Shared = Arc::new(Mutex::new(Game {
            lanes: vec![Lane::default(); count],
            ..Default::default()
        }));
        {
            let (s, g) = (s.clone(), g.clone());
            tokio::spawn(async move {
                while let Ok(r) = s.accept_uni().await {
                    tokio::spawn(receive(s.clone(), g.clone(), r, Via::Uni, false));
                }
            });
        }
        {
            let (s, g) = (s.clone(), g.clone());
            tokio::spawn(async move {
                while let Ok((w, r)) = s.accept_bi().await {
                    tokio::spawn(receive(s.clone(), g.clone(), r, Via::PeerBidi(w), false));
                }
            });
        }
        {
            let (s, g) = (s.clone(), g.clone());
            tokio::spawn(async move {
                while let Ok(d) = s.read_datagram().await {
                    if decode(&d).is_some() {
                        g.lock().unwrap().dgrams_received += 1;
                    }
                }
            });
        }
        let closed = match tokio::time::timeout(Duration::from_secs(timeout), s.closed()).await {
            Ok(c) => Some(c),
            Err(_) => {
                eprintln!("baton: no result after {timeout} s");
                None
            }
        };
        let g = g.lock().unwrap();
        let state = match &closed {
            Some(c) if c.code == 0 && !c.error => ST_CLOSED,
            Some(_) => ST_ERROR,
            None => 3,
        };
        println!("Final baton state: {state}");
        println!("Nb turns: {}", g.turns);
        for (i, l) in g.lanes.iter().enumerate() {
            println!(
                "Lane {i}, first baton: 0x{:02x}, last sent: 0x{:02x}, last received: 0x{:02x}",
                l.first, l.last_sent, l.last_received
            );
        }
        println!("Bytes sent: {}", g.bytes_sent);
        println!("Bytes received: {}", g.bytes_received);
        println!("Datagrams sent: {}", g.dgrams_sent);
        println!("Datagrams received: {}", g.dgrams_received);
        println!(
            "Sub-protocol: {}",
            s.protocol().unwrap_or_else(|| "none".into())
        );
        if let Some(c) = &closed {
            eprintln!("baton: {c}");
        }
        let ok = state == ST_CLOSED
            && g.turns > 0
            && g.lanes
                .iter()
                .all(|l| l.done && (l.last_sent == 0 || l.last_sent == 0xff));
        if ok {
            0
        } else {
            1
        }
    });
    drop(rt);
    std::process::exit(code);
}
