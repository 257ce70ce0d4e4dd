//! Checks an echo server (examples/echo_server.rs) end to end:
//!
//!   cargo run --example echo_client -- URL [BYTES]
//!
//! Sends BYTES (default 1 MB) on a bidirectional stream, a message on a
//! unidirectional stream and a datagram, and verifies every echo. Exits 0
//! when all came back intact. The certificate is not verified.
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| {
        eprintln!("usage: echo_client URL [BYTES]");
        std::process::exit(2)
    });
    let n: usize = args.next().map_or(1_000_000, |b| b.parse().expect("BYTES"));
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let r: gowt::Result<()> = rt.block_on(async {
        let ctx = gowt::Context::builder()
            .insecure_skip_verify(true)
            .build()?;
        let s = ctx.connect(&url).await?;
        let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let (mut w, mut r) = s.open_bi().await?;
        let d2 = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&d2).await?;
            w.finish()
        });
        let back = r.read_to_end(n + 1).await?;
        writer.await.expect("writer task")?;
        assert!(
            back == data,
            "bidi echo differs ({} of {n} bytes back)",
            back.len()
        );
        println!("bidi: {n} bytes echoed");

        let mut u = s.open_uni().await?;
        u.write_all(b"uni hello").await?;
        u.finish()?;
        let mut ur = s.accept_uni().await?;
        assert_eq!(ur.read_to_end(1024).await?, b"uni hello");
        println!("uni: echoed");

        let mut ok = false;
        for _ in 0..20 {
            s.send_datagram(b"dgram hello")?;
            if let Ok(d) = tokio::time::timeout(Duration::from_millis(250), s.read_datagram()).await
            {
                assert_eq!(d?, b"dgram hello");
                ok = true;
                break;
            }
        }
        assert!(ok, "no datagram echo");
        println!("datagram: echoed");
        s.close(0, "done")?;
        Ok(())
    });
    if let Err(e) = r {
        eprintln!("echo_client: {e}");
        std::process::exit(1);
    }
}
