//! A WebTransport echo server on the gowt crate:
//!
//!   cargo run --example echo_server -- [PORT] [PATH]     (defaults 4433, /echo)
//!
//! Bidirectional streams are echoed on the same stream; each unidirectional
//! stream is answered with a unidirectional stream carrying the same bytes;
//! datagrams are sent back. Uses a generated self-signed certificate and
//! prints its SHA-256 (for browsers' serverCertificateHashes) and
//! "Listening on port N". Runs until killed.
use tokio::io::AsyncWriteExt;

async fn serve(session: gowt::Session) {
    let s = session.clone();
    tokio::spawn(async move {
        while let Ok((mut send, mut recv)) = s.accept_bi().await {
            tokio::spawn(async move {
                if tokio::io::copy(&mut recv, &mut send).await.is_ok() {
                    let _ = send.shutdown().await;
                }
            });
        }
    });
    let s = session.clone();
    tokio::spawn(async move {
        while let Ok(mut recv) = s.accept_uni().await {
            let s = s.clone();
            tokio::spawn(async move {
                let Ok(data) = recv.read_to_end(16 << 20).await else {
                    return;
                };
                if let Ok(mut send) = s.open_uni().await {
                    if send.write_all(&data).await.is_ok() {
                        let _ = send.finish();
                    }
                }
            });
        }
    });
    let s = session.clone();
    tokio::spawn(async move {
        while let Ok(d) = s.read_datagram().await {
            let _ = s.send_datagram(&d);
        }
    });
    let why = session.closed().await;
    eprintln!("session {}: {why}", session.handle());
}

fn main() -> gowt::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(4433, |p| p.parse().expect("PORT"));
    let path = args.next().unwrap_or_else(|| "/echo".into());
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let ctx = gowt::Context::new()?;
        let port = ctx.listen("127.0.0.1", port)?;
        ctx.register(&path)?;
        let hash: String = ctx
            .cert_hash()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("Certificate SHA-256: {hash}");
        println!("Listening on port {port}");
        loop {
            let req = ctx.accept().await;
            eprintln!(
                "session request {} {}?{}",
                req.authority(),
                req.path(),
                req.query()
            );
            match req.accept() {
                Ok(session) => {
                    tokio::spawn(serve(session));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}
