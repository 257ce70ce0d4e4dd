//! Throughput of the Rust layer against the C API, on gowt_bench's upload /
//! download workload (bench/gowt_bench.c): one bidi stream on a fresh
//! session over 127.0.0.1, 200 MB (20 MB with -short) written in 64 KB
//! pieces, timed from the first write to the receiver seeing FIN; server and
//! client contexts in this one process, WebTransport flow control off, idle
//! timeout 60 s, stream limits 1000.
//!
//!   cargo run --release --example bench -- [-short] [-rounds N] [-c PATH_TO_gowt_bench]
//!       [-w upload|download] [-dispatch poll|thread] [-rt current|N] [-noc]
//!       [-read buf|chunk]
//!
//! Each round runs the Rust upload and download (Dispatch::Poll and
//! Dispatch::Thread), then `gowt_bench -w upload,download` in its default
//! callback style (refills inside STREAM_WRITABLE, data counted inside the
//! callback) and in `-style thread` (an application thread woken by the
//! callbacks, the model an async layer is in) (default binary:
//! ../../build/bench/gowt_bench, or $GOWT_BENCH);
//! rounds alternate so both see the same machine load. Prints one JSON line
//! per result (gowt_bench's fields, "impl":"gowt-rust" / "gowt-c"), then the
//! medians and the Rust/C ratio. The Rust side runs on a current-thread
//! tokio runtime unless -rt N asks for N worker threads. The receiver
//! reads into a 64 KB buffer (`RecvStream::read`), or takes the chunks as
//! delivered with -read chunk (`read_chunk`, one copy less). Every line has
//! "cpu_s": the process CPU time from the contexts' creation to the
//! receiver's FIN, as gowt_bench's (Rust lines also "cs", context
//! switches).
use std::process::Command;
use std::time::{Duration, Instant};

use gowt::Context;

const PIECE: usize = 64 * 1024;

extern "C" {
    // POSIX getrusage(2), from the C library every Rust program on Linux links.
    fn getrusage(who: std::ffi::c_int, usage: *mut [i64; 18]) -> std::ffi::c_int;
}

/// (CPU seconds, context switches) of the whole process so far (every
/// thread: tokio's, the library's, Go's), as gowt_bench's "cpu_s".
fn usage() -> (f64, i64) {
    let mut u = [0i64; 18];
    // SAFETY: struct rusage on 64-bit Linux is 18 longs (two timevals, 14
    // counters); RUSAGE_SELF = 0.
    unsafe { getrusage(0, &mut u) };
    let cpu = (u[0] + u[2]) as f64 + (u[1] + u[3]) as f64 / 1e6;
    (cpu, u[16] + u[17])
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

fn builder(d: gowt::Dispatch) -> gowt::ContextBuilder {
    Context::builder()
        .dispatch(d)
        .insecure_skip_verify(true)
        .idle_timeout(Duration::from_secs(60))
        .max_incoming_streams(1000, 1000)
        .max_incoming_data(0)
        .cert_hostnames("localhost,127.0.0.1")
}

/// One bulk transfer; upload = client sends. Returns MB/s, and the CPU
/// seconds and context switches of the process from the creation of the
/// contexts to the receiver's FIN.
async fn bulk(
    d: gowt::Dispatch,
    upload: bool,
    total: u64,
    chunks: bool,
) -> gowt::Result<(f64, f64, i64)> {
    // CPU counted from here, as gowt_bench's cpu_s (from the workload's
    // start: contexts, handshake and transfer).
    let u0 = usage();
    let srv = builder(d).build()?;
    let port = srv.listen("127.0.0.1", 0)?;
    srv.register("/bench")?;
    let cli = builder(d).build()?;
    let s2 = srv.clone();
    let accept = tokio::spawn(async move { s2.accept().await.accept() });
    let cs = cli
        .connect(&format!("https://127.0.0.1:{port}/bench"))
        .await?;
    let ss = accept.await.expect("accept task")?;
    let (tx, rx) = if upload {
        (cs.clone(), ss.clone())
    } else {
        (ss.clone(), cs.clone())
    };

    let pattern: Vec<u8> = (0..PIECE).map(|i| (i * 7 % 251) as u8).collect();
    let (mut w, _r) = tx.open_bi().await?;
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        let mut left = total;
        while left > 0 {
            let k = left.min(PIECE as u64) as usize;
            w.write_all(&pattern[..k]).await?;
            left -= k as u64;
        }
        w.finish()?;
        Ok::<_, gowt::Error>(w)
    });
    let (_rw, mut r) = rx.accept_bi().await?;
    let mut buf = vec![0u8; PIECE];
    let mut got = 0u64;
    if chunks {
        // -read chunk: the chunks the callback copied, no second copy.
        while let Some(c) = r.read_chunk(PIECE).await? {
            got += c.len() as u64;
        }
    } else {
        while let Some(n) = r.read(&mut buf).await? {
            got += n as u64;
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let u1 = usage();
    drop(writer.await.expect("writer task")?);
    assert_eq!(got, total, "received bytes");
    let _ = cs.close(0, "");
    Ok((total as f64 / 1e6 / el, u1.0 - u0.0, u1.1 - u0.1))
}

/// gowt_bench's upload and download results: (MB/s, cpu_s) each.
fn c_bench(path: &str, short: bool, style: &str) -> Option<((f64, f64), (f64, f64))> {
    let mut cmd = Command::new(path);
    cmd.args(["-w", "upload,download", "-style", style]);
    if short {
        cmd.arg("-short");
    }
    let out = cmd
        .output()
        .map_err(|e| eprintln!("bench: {path}: {e}"))
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |line: &str, name: &str| {
        line.split(&format!("\"{name}\":")).nth(1).and_then(|s| {
            s.trim_end_matches('}')
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
    };
    let mut up = None;
    let mut down = None;
    for line in text.lines() {
        let v = field(line, "value").zip(field(line, "cpu_s"));
        if line.contains("\"workload\":\"upload\"") {
            up = v;
        } else if line.contains("\"workload\":\"download\"") {
            down = v;
        }
    }
    Some((up?, down?))
}

fn main() {
    let mut short = false;
    let mut rounds = 3;
    let mut cpath = std::env::var("GOWT_BENCH").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../build/bench/gowt_bench"
        )
        .into()
    });
    let mut only_w: Option<String> = None;
    let mut only_d: Option<String> = None;
    let mut no_c = false;
    let mut rt_kind = "current".to_string();
    let mut chunks = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-short" => short = true,
            "-rounds" => rounds = args.next().and_then(|n| n.parse().ok()).expect("-rounds N"),
            "-c" => cpath = args.next().expect("-c PATH"),
            "-w" => only_w = args.next(),
            "-dispatch" => only_d = args.next(),
            "-noc" => no_c = true,
            "-rt" => rt_kind = args.next().expect("-rt current|N"),
            "-read" => chunks = args.next().as_deref() == Some("chunk"),
            _ => {
                eprintln!("usage: bench [-short] [-rounds N] [-c PATH_TO_gowt_bench] [-w upload|download] [-dispatch poll|thread] [-noc] [-rt current|N] [-read buf|chunk]");
                std::process::exit(2);
            }
        }
    }
    let total: u64 = if short { 20_000_000 } else { 200_000_000 };
    // -rt current|N: a current-thread runtime (default: the driver, the
    // writer and the reader then share one thread, no wake-up crosses
    // threads) or a multi-thread one with N workers.
    let rt = match rt_kind.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.parse().expect("-rt"))
            .enable_all()
            .build()
            .unwrap(),
    };
    // Per series: (MB/s, CPU seconds) per round.
    type Series = Vec<(f64, f64)>;
    let (mut ru, mut rd, mut cu, mut cd): (Series, Series, Series, Series) = Default::default();
    let (mut tu, mut td): (Series, Series) = Default::default();
    let (mut ctu, mut ctd): (Series, Series) = Default::default();
    for round in 0..rounds {
        let runs = [
            (gowt::Dispatch::Poll, true, &mut ru, "upload"),
            (gowt::Dispatch::Poll, false, &mut rd, "download"),
            (gowt::Dispatch::Thread, true, &mut tu, "upload"),
            (gowt::Dispatch::Thread, false, &mut td, "download"),
        ];
        for (d, upload, list, name) in runs {
            let dn = if d == gowt::Dispatch::Poll {
                "poll"
            } else {
                "thread"
            };
            if only_w.as_deref().is_some_and(|w| w != name)
                || only_d.as_deref().is_some_and(|x| x != dn)
            {
                continue;
            }
            match rt.block_on(bulk(d, upload, total, chunks)) {
                Ok((v, cpu, cs)) => {
                    println!("{{\"impl\":\"gowt-rust\",\"workload\":\"{name}\",\"dispatch\":\"{dn}\",\"runtime\":\"{rt_kind}\",\"metric\":\"MB/s\",\"value\":{v:.1},\"round\":{round},\"cpu_s\":{cpu:.3},\"cs\":{cs}}}");
                    list.push((v, cpu));
                }
                Err(e) => {
                    eprintln!("bench: rust {name}: {e}");
                    std::process::exit(1);
                }
            }
        }
        if no_c {
            continue;
        }
        for (style, lu, ld) in [
            ("callback", &mut cu, &mut cd),
            ("thread", &mut ctu, &mut ctd),
        ] {
            if let Some((u, d)) = c_bench(&cpath, short, style) {
                for (w, (v, cpu)) in [("upload", u), ("download", d)] {
                    println!("{{\"impl\":\"gowt-c\",\"workload\":\"{w}\",\"style\":\"{style}\",\"metric\":\"MB/s\",\"value\":{v:.1},\"round\":{round},\"cpu_s\":{cpu:.3}}}");
                }
                lu.push(u);
                ld.push(d);
            }
        }
    }
    // Median of the per-round ratios (each Rust run next to the C runs of
    // its round), as scripts/bench.sh does: steadier than a ratio of medians
    // on a machine whose speed drifts.
    let paired = |r: &Series, c: &Series| {
        let mut v: Vec<f64> = r.iter().zip(c).map(|(a, b)| a.0 / b.0).collect();
        median(&mut v)
    };
    if !cu.is_empty() {
        println!("median of per-round ratios rust/C (MB/s):     upload   download");
        for (name, u, d) in [("Dispatch::Poll", &ru, &rd), ("Dispatch::Thread", &tu, &td)] {
            if u.is_empty() || d.is_empty() {
                continue;
            }
            println!(
                "  {name:<17} vs C callback style   {:8.2} {:8.2}",
                paired(u, &cu),
                paired(d, &cd)
            );
            println!(
                "  {name:<17} vs C thread style     {:8.2} {:8.2}",
                paired(u, &ctu),
                paired(d, &ctd)
            );
        }
    }
    let med = |s: &Series| {
        let mut v: Vec<f64> = s.iter().map(|x| x.0).collect();
        let mut c: Vec<f64> = s.iter().map(|x| x.1).collect();
        (median(&mut v), median(&mut c))
    };
    let (ru, rd, tu, td) = (med(&ru), med(&rd), med(&tu), med(&td));
    let (cu, cd, ctu, ctd) = (med(&cu), med(&cd), med(&ctu), med(&ctd));
    println!("medians of {rounds} rounds:   MB/s upload   download   CPU s upload   download");
    let line = |name: &str, u: (f64, f64), d: (f64, f64), note: &str| {
        println!(
            "  {name:<26} {:8.1} {:10.1} {:14.3} {:10.3}   {note}",
            u.0, d.0, u.1, d.1
        )
    };
    line("C API, callback style", cu, cd, "(gowt_bench default)");
    line(
        "C API, thread style",
        ctu,
        ctd,
        "(gowt_bench -style thread)",
    );
    line(
        "Rust, Dispatch::Poll",
        ru,
        rd,
        &format!("rust/C callback {:.2} {:.2}", ru.0 / cu.0, rd.0 / cd.0),
    );
    line(
        "Rust, Dispatch::Thread",
        tu,
        td,
        &format!("rust/C callback {:.2} {:.2}", tu.0 / cu.0, td.0 / cd.0),
    );
    if cu.0 == 0.0 {
        println!("(no C numbers: build bench/gowt_bench or pass -c)");
    }
}
