//! wtbench-wtransport: the workloads of cmd/wtbench-go run on wtransport
//! (Rust, quinn underneath), client and server in this one process over
//! 127.0.0.1, printing the same JSON lines on stdout, so that
//! scripts/bench.sh can put wtransport beside gowt and webtransport-go.
//!
//! Usage: wtbench-wtransport [-w upload,download,...] [-short]
//!
//! The method follows cmd/wtbench-go/workloads.go (read it for the details);
//! differences, all forced by wtransport's API:
//! - setup_shared: wtransport has exactly one session per QUIC connection,
//!   so it cannot run; it is accepted and skipped with a note on stderr.
//! - idle_mem: there is no GC to force; RSS is read after the same settle.
//! - the datagram sender runs on a blocking thread (like the Go goroutine
//!   that loops on SendDatagram), so that the unpaced loop does not starve
//!   a tokio worker.
//! - TLS session resumption is disabled on the client (rustls enables it by
//!   default) so that setup_* do full handshakes, as the Go side does.
//!
//! Every line carries cpu_s: the process CPU time (user+system, getrusage)
//! from the start of the workload (each datagram rate on its own) to its
//! result, client and server together.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wtransport::endpoint::endpoint_side::{Client, Server};
use wtransport::quinn;
use wtransport::tls::rustls;
use wtransport::tls::Sha256Digest;
use wtransport::{
    ClientConfig, Connection, Endpoint, Identity, RecvStream, SendStream, ServerConfig, VarInt,
};

const CHUNK_SIZE: usize = 64 << 10;
const BULK_TIMEOUT: Duration = Duration::from_secs(120);
const DATAGRAM_SIZE: usize = 1000;
const DATAGRAM_GRACE: Duration = Duration::from_millis(200);
const MEM_SETTLE: Duration = Duration::from_millis(500);
const SETUP_WORKERS: usize = 8;
const IDLE_MEM_WORKERS: usize = 8;
const DATAGRAM_RATES: [u64; 4] = [0, 10_000, 20_000, 40_000];
const WORKLOADS: [&str; 8] = [
    "upload",
    "download",
    "streams100",
    "datagrams",
    "setup_seq",
    "setup_conc8",
    "setup_shared",
    "idle_mem",
];

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

// ---- output -------------------------------------------------------------------

/// Process CPU time (user + system) in seconds.
fn cpu_now() -> f64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is valid.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

struct Out {
    metric: &'static str,
    value: f64,
    decimals: usize,
    extra: String, // ,"rate":...  (JSON fields, leading comma)
    human: String,
    cpu_s: f64,
}

fn emit(workload: &str, o: &Out) -> Res<()> {
    if !o.value.is_finite() {
        return Err(format!("{workload}: value is not a finite number"));
    }
    println!(
        "{{\"impl\":\"wtransport\",\"workload\":\"{}\",\"metric\":\"{}\",\"value\":{:.*}{},\"cpu_s\":{:.3}}}",
        workload, o.metric, o.decimals, o.value, o.extra, o.cpu_s
    );
    eprintln!(
        "wtransport {:<12} {} (cpu {:.2}s)",
        workload, o.human, o.cpu_s
    );
    Ok(())
}

// ---- harness --------------------------------------------------------------------

struct Opts {
    short: bool,
}

impl Opts {
    fn scale(&self, full: u64) -> u64 {
        if self.short {
            (full / 10).max(1)
        } else {
            full
        }
    }
    fn dur(&self, full: Duration, short: Duration) -> Duration {
        if self.short {
            short
        } else {
            full
        }
    }
}

/// One self-signed ECDSA P-256 identity per process (wtransport's rcgen
/// helper; 14 days, which the certificate-hash verifier requires).
struct Pki {
    identity: Identity,
    hash: Sha256Digest,
}

fn transport_config() -> quinn::TransportConfig {
    // As cmd/wtbench-go's quicConfig: room for 100 concurrent streams plus
    // the CONNECT stream, 60 s idle timeout. Everything else: quinn defaults.
    let mut tc = quinn::TransportConfig::default();
    tc.max_concurrent_bidi_streams(quinn::VarInt::from_u32(1000));
    tc.max_concurrent_uni_streams(quinn::VarInt::from_u32(1000));
    tc.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(60)).expect("valid"),
    ));
    tc
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running server; dropping it closes the endpoint (and with it every
/// connection) and stops the accept loop.
struct ServerHandle {
    ep: Arc<Endpoint<Server>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
        self.ep.close(VarInt::from_u32(0), b"");
    }
}

/// A server on 127.0.0.1:0 whose accepted sessions go to `on_session`
/// (spawned as a task of its own).
fn start_server<F, Fut>(pki: &Pki, on_session: F) -> Res<(ServerHandle, String)>
where
    F: Fn(Connection) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut cfg = ServerConfig::builder()
        .with_bind_address(loopback())
        .with_identity(pki.identity.clone_identity())
        .build();
    cfg.quic_config_mut()
        .transport_config(Arc::new(transport_config()));
    let ep = Arc::new(Endpoint::server(cfg).map_err(err("server endpoint"))?);
    let url = format!(
        "https://127.0.0.1:{}/bench",
        ep.local_addr().map_err(err("local_addr"))?.port()
    );
    let acc = ep.clone();
    let on_session = Arc::new(on_session);
    let task = tokio::spawn(async move {
        loop {
            let incoming = acc.accept().await;
            let on_session = on_session.clone();
            tokio::spawn(async move {
                let req = match incoming.await {
                    Ok(r) => r,
                    Err(_) => return,
                };
                // The client may close right after connecting (setup_*).
                if let Ok(conn) = req.accept().await {
                    on_session(conn).await;
                }
            });
        }
    });
    Ok((ServerHandle { ep, task }, url))
}

fn client(pki: &Pki) -> Res<Endpoint<Client>> {
    use wtransport::tls::client::{build_default_tls_config, ServerHashVerification};
    let mut tls = build_default_tls_config(
        Arc::new(rustls::RootCertStore::empty()),
        Some(Arc::new(ServerHashVerification::new([pki.hash.clone()]))),
    );
    tls.resumption = rustls::client::Resumption::disabled();
    let cfg = ClientConfig::builder()
        .with_bind_address(loopback())
        .with_custom_tls_and_transport(tls, transport_config())
        .build();
    Endpoint::client(cfg).map_err(err("client endpoint"))
}

async fn dial(cli: &Endpoint<Client>, url: &str) -> Res<Connection> {
    match tokio::time::timeout(Duration::from_secs(10), cli.connect(url)).await {
        Ok(r) => r.map_err(err("dial")),
        Err(_) => Err("dial: timed out".into()),
    }
}

fn close(c: &Connection) {
    c.close(VarInt::from_u32(0), b"");
}

/// Holds a server session until the peer closes it.
async fn hold(conn: Connection) {
    conn.closed().await;
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7) as u8).collect()
}

async fn write_n(s: &mut SendStream, mut total: u64) -> Res<()> {
    let buf = pattern(CHUNK_SIZE);
    while total > 0 {
        let k = total.min(buf.len() as u64) as usize;
        s.write_all(&buf[..k]).await.map_err(err("write"))?;
        total -= k as u64;
    }
    Ok(())
}

/// Sends FIN without waiting for the peer's acknowledgement (wtransport's
/// SendStream::finish waits for it; Go's Close does not).
fn fin(s: &mut SendStream) {
    let _ = s.quic_stream_mut().finish();
}

async fn drain(r: &mut RecvStream) -> Res<u64> {
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut n = 0u64;
    while let Some(k) = r.read(&mut buf).await.map_err(err("read"))? {
        n += k as u64;
    }
    Ok(n)
}

async fn recv_timeout<T>(rx: &mut mpsc::UnboundedReceiver<T>, d: Duration) -> Res<T> {
    match tokio::time::timeout(d, rx.recv()).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err("server side ended without a result".into()),
        Err(_) => Err("timed out".into()),
    }
}

fn mb_per_sec(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

// ---- upload / download ------------------------------------------------------------

async fn run_upload(pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    let cpu0 = cpu_now();
    let total = o.scale(200) * 1_000_000;
    let (tx, mut rx) = mpsc::unbounded_channel::<Res<(u64, Instant)>>();
    let (_srv, url) = start_server(pki, move |conn| {
        let tx = tx.clone();
        async move {
            let r = async {
                let (mut s, mut r) = conn.accept_bi().await.map_err(err("server accept"))?;
                let n = drain(&mut r).await?;
                let at = Instant::now();
                fin(&mut s);
                Ok((n, at))
            }
            .await;
            let _ = tx.send(r);
            hold(conn).await;
        }
    })?;
    let cli = client(pki)?;
    let conn = dial(&cli, &url).await?;
    let (mut s, _r) = conn
        .open_bi()
        .await
        .map_err(err("open"))?
        .await
        .map_err(err("open"))?;
    let start = Instant::now();
    write_n(&mut s, total).await?;
    fin(&mut s);
    let (n, at) = recv_timeout(&mut rx, BULK_TIMEOUT).await??;
    close(&conn);
    if n != total {
        return Err(format!("server received {n} bytes, want {total}"));
    }
    let el = at - start;
    let v = mb_per_sec(total, el);
    Ok(vec![Out {
        metric: "MB/s",
        value: v,
        decimals: 1,
        extra: String::new(),
        human: format!(
            "{v:.1} MB/s ({} MB in {:.2}s)",
            total / 1_000_000,
            el.as_secs_f64()
        ),
        cpu_s: cpu_now() - cpu0,
    }])
}

async fn run_download(pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    let cpu0 = cpu_now();
    let total = o.scale(200) * 1_000_000;
    let (tx, mut rx) = mpsc::unbounded_channel::<Res<Instant>>();
    let (_srv, url) = start_server(pki, move |conn| {
        let tx = tx.clone();
        async move {
            let r = async {
                let (mut s, _r) = conn
                    .open_bi()
                    .await
                    .map_err(err("server open"))?
                    .await
                    .map_err(err("server open"))?;
                let start = Instant::now();
                write_n(&mut s, total).await?;
                fin(&mut s);
                Ok(start)
            }
            .await;
            let _ = tx.send(r);
            hold(conn).await;
        }
    })?;
    let cli = client(pki)?;
    let conn = dial(&cli, &url).await?;
    let (_s, mut r) = match tokio::time::timeout(BULK_TIMEOUT, conn.accept_bi()).await {
        Ok(x) => x.map_err(err("client accept"))?,
        Err(_) => return Err("client accept: timed out".into()),
    };
    let n = drain(&mut r).await?;
    let end = Instant::now();
    let start = recv_timeout(&mut rx, BULK_TIMEOUT).await??;
    close(&conn);
    if n != total {
        return Err(format!("client received {n} bytes, want {total}"));
    }
    let el = end - start;
    let v = mb_per_sec(total, el);
    Ok(vec![Out {
        metric: "MB/s",
        value: v,
        decimals: 1,
        extra: String::new(),
        human: format!(
            "{v:.1} MB/s ({} MB in {:.2}s)",
            total / 1_000_000,
            el.as_secs_f64()
        ),
        cpu_s: cpu_now() - cpu0,
    }])
}

// ---- streams100 -------------------------------------------------------------------------

async fn run_streams100(pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    const N: u64 = 100;
    let cpu0 = cpu_now();
    let per = o.scale(1_000_000);
    let total = per * N;
    let (tx, mut rx) = mpsc::unbounded_channel::<Res<(u64, Instant)>>();
    let (_srv, url) = start_server(pki, move |conn| {
        let tx = tx.clone();
        async move {
            let finished = Arc::new(AtomicI64::new(0));
            let bytes = Arc::new(AtomicI64::new(0));
            while let Ok((mut s, mut r)) = conn.accept_bi().await {
                let (tx, finished, bytes) = (tx.clone(), finished.clone(), bytes.clone());
                tokio::spawn(async move {
                    match drain(&mut r).await {
                        Err(e) => {
                            let _ = tx.send(Err(format!("server {e}")));
                        }
                        Ok(n) => {
                            fin(&mut s);
                            bytes.fetch_add(n as i64, Ordering::SeqCst);
                            if finished.fetch_add(1, Ordering::SeqCst) + 1 == N as i64 {
                                let _ = tx.send(Ok((
                                    bytes.load(Ordering::SeqCst) as u64,
                                    Instant::now(),
                                )));
                            }
                        }
                    }
                });
            }
        }
    })?;
    let cli = client(pki)?;
    let conn = dial(&cli, &url).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..N {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let (mut s, mut r) = conn
                .open_bi()
                .await
                .map_err(err("client open"))?
                .await
                .map_err(err("client open"))?;
            write_n(&mut s, per).await?;
            fin(&mut s);
            drain(&mut r).await?; // wait for the server's FIN
            Ok::<(), String>(())
        }));
    }
    let (n, at) = recv_timeout(&mut rx, BULK_TIMEOUT).await??;
    for t in tasks {
        t.await.map_err(err("client task"))??;
    }
    close(&conn);
    if n != total {
        return Err(format!("server received {n} bytes, want {total}"));
    }
    let el = at - start;
    let v = mb_per_sec(total, el);
    Ok(vec![Out {
        metric: "MB/s",
        value: v,
        decimals: 1,
        extra: String::new(),
        human: format!(
            "{v:.1} MB/s aggregate ({N} x {} KB in {:.2}s)",
            per / 1000,
            el.as_secs_f64()
        ),
        cpu_s: cpu_now() - cpu0,
    }])
}

// ---- datagrams ---------------------------------------------------------------------------

async fn run_datagrams(pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    let d = o.dur(Duration::from_secs(2), Duration::from_millis(500));
    let mut out = Vec::new();
    for rate in DATAGRAM_RATES {
        match datagram_phase(pki, rate, d).await {
            Ok(r) => out.push(r),
            Err(e) => {
                for r in &out {
                    emit("datagrams", r)?;
                }
                return Err(format!("rate {rate}: {e}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(out)
}

async fn datagram_phase(pki: &Pki, rate: u64, d: Duration) -> Res<Out> {
    let cpu0 = cpu_now();
    let delivered = Arc::new(AtomicI64::new(0));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
    let dl = delivered.clone();
    let (_srv, url) = start_server(pki, move |conn| {
        let (dl, ready_tx) = (dl.clone(), ready_tx.clone());
        async move {
            let _ = ready_tx.send(());
            while conn.receive_datagram().await.is_ok() {
                dl.fetch_add(1, Ordering::Relaxed);
            }
        }
    })?;
    let cli = client(pki)?;
    let conn = dial(&cli, &url).await?;
    recv_timeout(&mut ready_rx, Duration::from_secs(5))
        .await
        .map_err(|_| "server session did not start".to_string())?;

    let sc = conn.clone();
    let (sent, send_time) = tokio::task::spawn_blocking(move || -> Res<(i64, Duration)> {
        let payload = pattern(DATAGRAM_SIZE);
        let mut sent: i64 = 0;
        let start = Instant::now();
        if rate == 0 {
            while start.elapsed() < d {
                sc.send_datagram(&payload).map_err(err("send"))?;
                sent += 1;
            }
        } else {
            // Paced against a monotonic schedule, as in cmd/wtbench-go.
            let target = (rate as f64 * d.as_secs_f64()) as i64;
            while sent < target {
                let due = ((start.elapsed().as_secs_f64() * rate as f64) as i64 + 1).min(target);
                while sent < due {
                    sc.send_datagram(&payload).map_err(err("send"))?;
                    sent += 1;
                }
                if sent >= target {
                    break;
                }
                let next = start + Duration::from_secs_f64(sent as f64 / rate as f64);
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
            }
        }
        Ok((sent, start.elapsed()))
    })
    .await
    .map_err(err("sender"))??;
    tokio::time::sleep(DATAGRAM_GRACE).await;
    let got = delivered.load(Ordering::Relaxed);
    close(&conn);
    if sent == 0 {
        return Err("nothing sent".into());
    }
    let frac = got as f64 / sent as f64;
    let label = if rate == 0 {
        "unpaced".to_string()
    } else {
        format!("{rate}/s")
    };
    Ok(Out {
        metric: "delivered_fraction",
        value: frac,
        decimals: 4,
        extra: format!(",\"rate\":{rate},\"sent\":{sent},\"delivered\":{got}"),
        human: format!(
            "{label:<8} sent {sent} in {:.2}s ({:.0}/s), delivered {got} ({:.1}%)",
            send_time.as_secs_f64(),
            sent as f64 / send_time.as_secs_f64(),
            100.0 * frac
        ),
        cpu_s: cpu_now() - cpu0,
    })
}

// ---- session setup --------------------------------------------------------------------------

async fn run_setup(pki: &Pki, o: &Opts, workers: usize) -> Res<Vec<Out>> {
    let cpu0 = cpu_now();
    let d = o.dur(Duration::from_secs(3), Duration::from_secs(1));
    let (_srv, url) = start_server(pki, hold)?;
    let cli = Arc::new(client(pki)?);
    let count = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let deadline = start + d;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (cli, url, count) = (cli.clone(), url.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let c = dial(&cli, &url).await?;
                count.fetch_add(1, Ordering::Relaxed);
                close(&c);
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(err("dialer"))??;
    }
    let el = start.elapsed();
    let n = count.load(Ordering::Relaxed);
    let v = n as f64 / el.as_secs_f64();
    Ok(vec![Out {
        metric: "sessions/s",
        value: v,
        decimals: 1,
        extra: String::new(),
        human: format!(
            "{v:.1} sessions/s ({n} sessions, {workers} dialer(s), new connection each, {:.2}s)",
            el.as_secs_f64()
        ),
        cpu_s: cpu_now() - cpu0,
    }])
}

// ---- idle_mem -------------------------------------------------------------------------------------

fn rss_kb() -> Res<i64> {
    let s = std::fs::read_to_string("/proc/self/status").map_err(err("/proc/self/status"))?;
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix("VmRSS:") {
            if let Some(v) = rest.split_whitespace().next() {
                return v.parse().map_err(err("VmRSS"));
            }
        }
    }
    Err("VmRSS not found in /proc/self/status".into())
}

async fn measure_rss() -> Res<i64> {
    tokio::time::sleep(MEM_SETTLE).await;
    rss_kb()
}

async fn run_idle_mem(pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    let cpu0 = cpu_now();
    let n = o.scale(1000) as i64;
    let (_srv, url) = start_server(pki, hold)?;
    let cli = Arc::new(client(pki)?);
    let before = measure_rss().await?;
    let next = Arc::new(AtomicI64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..IDLE_MEM_WORKERS {
        let (cli, url, next) = (cli.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return Ok::<_, String>(mine);
                }
                mine.push(
                    dial(&cli, &url)
                        .await
                        .map_err(|e| format!("session {i}: {e}"))?,
                );
            }
        }));
    }
    let mut sessions = Vec::new();
    let mut first_err = None;
    for t in tasks {
        match t.await.map_err(err("dialer")).and_then(|r| r) {
            Ok(v) => sessions.extend(v),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let after = measure_rss().await?;
    for s in &sessions {
        close(s);
    }
    let v = (after - before) as f64 / n as f64;
    Ok(vec![Out {
        metric: "KB/session",
        value: v,
        decimals: 1,
        extra: format!(",\"sessions\":{n},\"both_sides\":true"),
        human: format!(
            "{v:.1} KB/session (client+server in one process; RSS {before} -> {after} KB for {n} sessions, one connection each)"
        ),
        cpu_s: cpu_now() - cpu0,
    }])
}

// ---- main --------------------------------------------------------------------------------------------

async fn run(name: &str, pki: &Pki, o: &Opts) -> Res<Vec<Out>> {
    match name {
        "upload" => run_upload(pki, o).await,
        "download" => run_download(pki, o).await,
        "streams100" => run_streams100(pki, o).await,
        "datagrams" => run_datagrams(pki, o).await,
        "setup_seq" => run_setup(pki, o, 1).await,
        "setup_conc8" => run_setup(pki, o, SETUP_WORKERS).await,
        "idle_mem" => run_idle_mem(pki, o).await,
        _ => unreachable!(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: wtbench-wtransport [-w {}] [-short]",
        WORKLOADS.join(",")
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut short = false;
    let mut spec = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-short" | "--short" => short = true,
            "-w" | "--w" => spec = args.next().unwrap_or_else(|| usage()),
            _ if a.starts_with("-w=") => spec = a[3..].to_string(),
            _ => usage(),
        }
    }
    let mut sel: Vec<String> = Vec::new();
    if spec.trim().is_empty() || spec == "all" {
        sel = WORKLOADS.iter().map(|s| s.to_string()).collect();
    } else {
        for w in spec.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if !WORKLOADS.contains(&w) {
                eprintln!("unknown workload {w:?} (known: {})", WORKLOADS.join(","));
                std::process::exit(2);
            }
            sel.push(w.to_string());
        }
    }
    let identity = Identity::self_signed(["localhost", "127.0.0.1"]).expect("self-signed identity");
    let hash = identity.certificate_chain().as_slice()[0].hash();
    let pki = Pki { identity, hash };
    let o = Opts { short };
    let mut failed = false;
    for w in &sel {
        if w == "setup_shared" {
            eprintln!(
                "wtransport {:<12} not supported: wtransport has one session per QUIC connection (no pooling)",
                w
            );
            continue;
        }
        match run(w, &pki, &o).await {
            Ok(res) => {
                for r in &res {
                    if let Err(e) = emit(w, r) {
                        eprintln!("wtransport {w:<12} FAILED: {e}");
                        failed = true;
                    }
                }
            }
            Err(e) => {
                eprintln!("wtransport {w:<12} FAILED: {e}");
                failed = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if failed {
        std::process::exit(1);
    }
}
