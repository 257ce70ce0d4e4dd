//! Dropping sessions and contexts mid-transfer: no crash, no hang, and every
//! context, session and stream entry is released. One test in its own
//! binary, because the live-object counters are process-wide.
mod common;
use common::*;

use std::time::Duration;

use gowt::{live_objects, Error};
use tokio::io::AsyncReadExt;

/// Writes up to 50 MB; returns the error that stopped it (None if all went).
async fn write_until_error(mut w: gowt::SendStream) -> Option<Error> {
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..800 {
        if let Err(e) = w.write_all(&chunk).await {
            return Some(e);
        }
    }
    None
}

async fn wait_no_objects() {
    for _ in 0..500 {
        if live_objects() == (0, 0, 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "objects left: {:?} (contexts, sessions, streams)",
        live_objects()
    );
}

#[test]
fn drops_mid_transfer_release_everything() {
    run(async {
        assert_eq!(live_objects(), (0, 0, 0));

        for d in [gowt::Dispatch::Poll, gowt::Dispatch::Thread] {
            // 1. The server drops its session and streams mid-transfer.
            {
                let (srv, cli, url) = pair_with("/drop", d);
                let (ss, cs) = sessions(&srv, &cli, &url).await;
                let (w, _r) = cs.open_bi().await.unwrap();
                let writer = tokio::spawn(write_until_error(w));
                let (sw, mut sr) = ss.accept_bi().await.unwrap();
                let mut buf = vec![0u8; 1 << 20];
                sr.read_exact(&mut buf).await.unwrap();
                drop((sw, sr, ss));
                let e = writer
                    .await
                    .unwrap()
                    .expect("the writer must fail once the peer dropped everything");
                assert!(
                    matches!(e, Error::SessionClosed(_) | Error::Stopped(0)),
                    "{e:?}"
                );
                let c = cs.closed().await;
                assert!(c.remote && c.code == 0, "{c:?}");
                assert_eq!(live_objects().0, 2);
            }
            wait_no_objects().await;

            // 2. The server's whole context goes (its task is aborted while
            //    reading, which drops the context, session and stream handles).
            {
                let (srv, cli, url) = pair_with("/drop", d);
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
                let server = tokio::spawn(async move {
                    let s = srv.accept().await.accept().unwrap();
                    let (_w, mut r) = s.accept_bi().await.unwrap();
                    let mut buf = vec![0u8; 1 << 20];
                    r.read_exact(&mut buf).await.unwrap();
                    ready_tx.send(()).unwrap();
                    loop {
                        if r.read(&mut buf).await.unwrap().is_none() {
                            break;
                        }
                    }
                });
                let cs = cli.connect(&url).await.unwrap();
                let (w, _r) = cs.open_bi().await.unwrap();
                let writer = tokio::spawn(write_until_error(w));
                ready_rx.await.unwrap();
                server.abort();
                assert!(server.await.unwrap_err().is_cancelled());
                let e = writer
                    .await
                    .unwrap()
                    .expect("the writer must fail once the server context is gone");
                assert!(
                    matches!(e, Error::SessionClosed(_) | Error::Stopped(_)),
                    "{e:?}"
                );
                // The dropped session handle closed it (code 0) just before the
                // context went.
                let c = cs.closed().await;
                assert!(c.remote && c.code == 0, "{c:?}");
                // (The driver may hold the context for the rest of an event batch.)
                for _ in 0..500 {
                    if live_objects().0 == 1 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(live_objects().0, 1, "the server context must be destroyed");
            }
            wait_no_objects().await;
        }

        // 3. The client's context goes while a reader waits in another task
        //    and the server keeps writing.
        {
            let (srv, cli, url) = pair("/drop");
            let (ss, cs) = sessions(&srv, &cli, &url).await;
            let (w, _r) = ss.open_bi().await.unwrap();
            let writer = tokio::spawn(write_until_error(w));
            let reader = tokio::spawn(async move {
                let (_w, mut r) = cs.accept_bi().await.unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                while r.read(&mut buf).await.unwrap().is_some() {}
            });
            drop(cli);
            tokio::time::sleep(Duration::from_millis(100)).await;
            reader.abort();
            let _ = reader.await;
            assert!(writer.await.unwrap().is_some());
            let c = ss.closed().await;
            assert!(c.remote && c.code == 0, "{c:?}");
        }
        wait_no_objects().await;

        // 4. Undecided requests and unaccepted streams are released too.
        {
            let (srv, cli, url) = pair("/drop");
            let (ss, cs) = sessions(&srv, &cli, &url).await;
            for _ in 0..5 {
                let mut w = cs.open_uni().await.unwrap();
                w.write_all(b"never read").await.unwrap();
            }
            let c2 = cli.clone();
            let u2 = url.clone();
            let pending = tokio::spawn(async move { c2.connect(&u2).await });
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop((ss, cs, srv));
            assert!(pending.await.unwrap().is_err());
        }
        wait_no_objects().await;
    });
}
