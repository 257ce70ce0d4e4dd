//! gowt over loopback: echo in both roles, uni and bidi from both sides,
//! reset and STOP_SENDING codes, datagrams, close code and reason, refusal.
mod common;
use common::*;

use gowt::{Dispatch, Error, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TEN_MB: usize = 10 * 1000 * 1000;

/// Echoes every bidi stream of the session (recv -> send, then FIN).
fn spawn_echo(s: gowt::Session) {
    tokio::spawn(async move {
        while let Ok((mut send, mut recv)) = s.accept_bi().await {
            tokio::spawn(async move {
                tokio::io::copy(&mut recv, &mut send).await.unwrap();
                send.shutdown().await.unwrap();
            });
        }
    });
}

/// Sends data on a bidi stream and reads the echo concurrently.
async fn echo_through(
    send: gowt::SendStream,
    mut recv: gowt::RecvStream,
    data: Vec<u8>,
) -> Vec<u8> {
    let n = data.len();
    let w = tokio::spawn(async move {
        let mut send = send;
        send.write_all(&data).await.unwrap();
        send.finish().unwrap();
        send
    });
    let got = recv.read_to_end(n + 1).await.unwrap();
    drop(w.await.unwrap());
    got
}

fn echo_10mb_client_opens(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/echo", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        spawn_echo(ss);
        let data = pattern(TEN_MB);
        let (send, recv) = cs.open_bi().await.unwrap();
        let got = echo_through(send, recv, data.clone()).await;
        assert_eq!(got.len(), data.len());
        assert!(got == data, "echoed bytes differ");
        let st = cs.stats().unwrap();
        assert_eq!(st.bytes_sent, TEN_MB as u64);
        assert_eq!(st.bytes_received, TEN_MB as u64);
    });
}

fn echo_10mb_server_opens(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/echo", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        spawn_echo(cs); // the client echoes
        let data = pattern(TEN_MB);
        let (send, recv) = ss.open_bi().await.unwrap();
        let got = echo_through(send, recv, data.clone()).await;
        assert!(got == data, "echoed bytes differ");
    });
}

fn uni_streams_both_ways_and_bidi_from_both_sides(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/uni", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        // Server: answer each uni stream with a uni stream carrying it reversed.
        let ss2 = ss.clone();
        tokio::spawn(async move {
            for _ in 0..3 {
                let mut r = ss2.accept_uni().await.unwrap();
                let mut v = r.read_to_end(1 << 20).await.unwrap();
                v.reverse();
                let mut w = ss2.open_uni().await.unwrap();
                w.write_all(&v).await.unwrap();
                w.finish().unwrap();
            }
        });
        for i in 0..3 {
            let msg = format!("uni message {i}").into_bytes();
            let mut w = cs.open_uni().await.unwrap();
            assert_eq!(w.id() & 0x3, 0x2, "client uni stream ID");
            w.write_all(&msg).await.unwrap();
            w.finish().unwrap();
            let mut r = cs.accept_uni().await.unwrap();
            assert_eq!(r.id() & 0x3, 0x3, "server uni stream ID");
            let mut want = msg.clone();
            want.reverse();
            assert_eq!(r.read_to_end(1 << 20).await.unwrap(), want);
        }
        // Bidi opened by each side, answered by the other.
        for (opener, acceptor) in [(&cs, &ss), (&ss, &cs)] {
            let a = acceptor.clone();
            let t = tokio::spawn(async move {
                let (mut s, mut r) = a.accept_bi().await.unwrap();
                let mut buf = String::new();
                r.read_to_string(&mut buf).await.unwrap();
                s.write_all(format!("re: {buf}").as_bytes()).await.unwrap();
                s.finish().unwrap();
            });
            let (mut s, mut r) = opener.open_bi().await.unwrap();
            s.write_all(b"ping").await.unwrap();
            s.finish().unwrap();
            assert_eq!(r.read_to_end(100).await.unwrap(), b"re: ping");
            t.await.unwrap();
        }
    });
}

fn reset_code_reaches_reader(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/reset", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        let mut w = cs.open_uni().await.unwrap();
        w.write_all(b"some bytes").await.unwrap();
        let mut r = ss.accept_uni().await.unwrap();
        let mut buf = [0u8; 10];
        r.read_exact(&mut buf).await.unwrap();
        w.reset(42).unwrap();
        let mut rest = [0u8; 16];
        match r.read(&mut rest).await {
            Err(Error::Reset(42)) => {}
            other => panic!("want Reset(42), got {other:?}"),
        }
        // And the other way, on a bidi stream the server opened.
        let (mut sw, _sr) = ss.open_bi().await.unwrap();
        sw.write_all(b"x").await.unwrap();
        let (_cw, mut cr) = cs.accept_bi().await.unwrap();
        let mut one = [0u8; 1];
        cr.read_exact(&mut one).await.unwrap();
        sw.reset(0xdead).unwrap();
        let e = cr.read(&mut one).await.unwrap_err();
        assert_eq!(e, Error::Reset(0xdead));
    });
}

fn stop_sending_code_reaches_writer(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/stop", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        let (mut w, _r) = cs.open_bi().await.unwrap();
        w.write_all(b"hello").await.unwrap();
        let (_sw, mut sr) = ss.accept_bi().await.unwrap();
        let mut b = [0u8; 5];
        sr.read_exact(&mut b).await.unwrap();
        sr.stop(7).unwrap();
        assert_eq!(w.stopped().await.unwrap(), Some(7));
        // Writing now fails with the peer's code.
        let chunk = vec![0u8; 64 * 1024];
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = w.write(&chunk).await {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(Error::Stopped(7)));
    });
}

fn datagrams_echo_and_limits(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/dg", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        let ss2 = ss.clone();
        tokio::spawn(async move {
            while let Ok(d) = ss2.read_datagram().await {
                let mut v = b"echo:".to_vec();
                v.extend_from_slice(&d);
                ss2.send_datagram_wait(&v).await.unwrap();
            }
        });
        let max = cs.max_datagram_size().unwrap();
        assert!(max >= 1000, "max datagram size {max}");
        let e = cs.send_datagram(&vec![0u8; max + 1]).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::TooLarge));
        // Datagrams are unreliable: resend until each echo arrives.
        for i in 0..20u32 {
            let msg = format!("dgram {i}").into_bytes();
            let mut want = b"echo:".to_vec();
            want.extend_from_slice(&msg);
            let mut got = false;
            for _ in 0..50 {
                cs.send_datagram_wait(&msg).await.unwrap();
                match tokio::time::timeout(
                    std::time::Duration::from_millis(200),
                    cs.read_datagram(),
                )
                .await
                {
                    Ok(d) if d.as_ref().unwrap() == &want => {
                        got = true;
                        break;
                    }
                    _ => {}
                }
            }
            assert!(got, "no echo of datagram {i}");
        }
        assert!(cs.stats().unwrap().datagrams_received >= 20);
        // Unpaced burst: send_datagram_wait waits for room instead of failing.
        for _ in 0..5000 {
            cs.send_datagram_wait(&[1u8; 100]).await.unwrap();
        }
    });
}

fn close_code_and_reason_both_ways(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/close", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        ss.close(4242, "bye now").unwrap();
        let c = cs.closed().await;
        assert_eq!(
            (c.code, c.reason.as_str(), c.remote),
            (4242, "bye now", true)
        );
        let s = ss.closed().await;
        assert!(s.local && s.code == 4242, "{s:?}");
        // Calls on a closed session report how it closed.
        match cs.open_bi().await {
            Err(Error::SessionClosed(info)) => assert_eq!(info.code, 4242),
            other => panic!("want SessionClosed, got {other:?}"),
        }
        // Client side closing.
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        cs.close(7, "client leaves").unwrap();
        let s = ss.closed().await;
        assert_eq!((s.code, s.reason.as_str()), (7, "client leaves"));
        assert_eq!(ss.close_reason().unwrap().code, 7);
        // Reason longer than 1024 bytes.
        let (_ss, cs) = sessions(&srv, &cli, &url).await;
        let e = cs.close(1, &"x".repeat(1025)).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::TooLarge));
    });
}

fn refuse_and_request_fields(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/gate", d);
        let s2 = srv.clone();
        tokio::spawn(async move {
            let req = s2.accept().await;
            assert_eq!((req.path(), req.query()), ("/gate", "who=me"));
            assert!(
                req.headers()
                    .iter()
                    .any(|(n, v)| n == "x-test" && v == "42"),
                "{:?}",
                req.headers()
            );
            req.forbidden().unwrap();
            // Dropping an undecided request refuses it with 500.
            drop(s2.accept().await);
        });
        let opts = gowt::ConnectOptions {
            headers: vec![("x-test".into(), "42".into())],
            ..Default::default()
        };
        match cli.connect_with(&format!("{url}?who=me"), &opts).await {
            Err(Error::Refused { status: 403, .. }) => {}
            other => panic!("want Refused 403, got {other:?}"),
        }
        match cli.connect(&url).await {
            Err(Error::Refused { status: 500, .. }) => {}
            other => panic!("want Refused 500, got {other:?}"),
        }
        // A path nobody registered: 404.
        match cli.connect(&url.replace("/gate", "/nothing")).await {
            Err(Error::Refused { status: 404, .. }) => {}
            other => panic!("want Refused 404, got {other:?}"),
        }
    });
}

#[test]
fn sub_protocol_negotiation() {
    run(async {
        let srv = gowt::Context::new().unwrap();
        let port = srv.listen("127.0.0.1", 0).unwrap();
        srv.register_with(
            "/p",
            &gowt::PathOptions {
                protocols: Some("b,a".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let cli = gowt::Context::builder()
            .insecure_skip_verify(true)
            .build()
            .unwrap();
        let s2 = srv.clone();
        let t = tokio::spawn(async move {
            let req = s2.accept().await;
            assert_eq!(req.protocols(), ["a", "b"]);
            req.accept().unwrap()
        });
        let opts = gowt::ConnectOptions {
            protocols: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let cs = cli
            .connect_with(&format!("https://127.0.0.1:{port}/p"), &opts)
            .await
            .unwrap();
        // The first offered one the path supports.
        assert_eq!(cs.protocol().as_deref(), Some("a"));
        let _ss = t.await.unwrap();
        // The server's own choice.
        let s2 = srv.clone();
        let t = tokio::spawn(async move { s2.accept().await.accept_with_protocol("b").unwrap() });
        let cs = cli
            .connect_with(&format!("https://127.0.0.1:{port}/p"), &opts)
            .await
            .unwrap();
        assert_eq!(cs.protocol().as_deref(), Some("b"));
        assert_eq!(t.await.unwrap().protocol().as_deref(), Some("b"));
    });
}

/// A server that holds the CONNECT undecided: the client's connect fails
/// after `connect_response_timeout` (status 0), not at the server's 10 s
/// decision timeout, and the server's held request is gone by then.
#[test]
fn connect_response_timeout_ends_an_unanswered_connect() {
    run(async {
        let srv = gowt::Context::new().unwrap();
        let port = srv.listen("127.0.0.1", 0).unwrap();
        srv.register("/slow").unwrap();
        let cli = gowt::Context::builder()
            .insecure_skip_verify(true)
            .connect_response_timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        let s2 = srv.clone();
        let held = tokio::spawn(async move { s2.accept().await });
        let t0 = std::time::Instant::now();
        match cli.connect(&format!("https://127.0.0.1:{port}/slow")).await {
            Err(Error::Refused { status: 0, reason }) => {
                assert!(reason.contains("no CONNECT response"), "{reason}")
            }
            other => panic!("want Refused 0, got {other:?}"),
        }
        let waited = t0.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(300)
                && waited < std::time::Duration::from_secs(9),
            "{waited:?}"
        );
        // The reset request ends the server's pending session: accepting
        // the held request is too late (given a moment for the reset).
        let req = held.await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(req.accept().is_err());
    });
}

/// Contexts with a small library send buffer (16 KiB, below the crate's
/// 64 KiB pieces): writes of every size, small ones (which the send queue
/// joins into larger sends) and large ones (cut to what the buffer takes),
/// arrive whole and in order through an echo.
fn small_send_buffer_writes_of_every_size(d: Dispatch) {
    run(async move {
        let b = || {
            gowt::Context::builder()
                .dispatch(d)
                .max_incoming_data(0)
                .stream_send_buffer(16 * 1024)
        };
        let srv = b().build().unwrap();
        let port = srv.listen("127.0.0.1", 0).unwrap();
        srv.register("/small").unwrap();
        let cli = b().insecure_skip_verify(true).build().unwrap();
        let url = format!("https://127.0.0.1:{port}/small");
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        spawn_echo(ss);
        let data = pattern(3_000_000);
        let d2 = data.clone();
        let (mut send, mut recv) = cs.open_bi().await.unwrap();
        let w = tokio::spawn(async move {
            let (mut at, mut i) = (0, 0usize);
            while at < d2.len() {
                // 1..3000 bytes, and every 50th write 100 KB.
                let k = if i % 50 == 49 {
                    100_000
                } else {
                    1 + i * 7 % 3000
                };
                let end = (at + k).min(d2.len());
                send.write_all(&d2[at..end]).await.unwrap();
                at = end;
                i += 1;
            }
            send.finish().unwrap();
            send
        });
        let got = recv.read_to_end(data.len() + 1).await.unwrap();
        drop(w.await.unwrap());
        assert_eq!(got.len(), data.len());
        assert!(got == data, "echoed bytes differ");
    });
}

/// Back-pressure holds with the send queue: a writer whose peer does not
/// read stops (its writes wait) after a bounded amount, and everything it
/// wrote arrives in order once the peer reads.
fn writer_waits_while_the_peer_does_not_read(d: Dispatch) {
    run(async move {
        let (srv, cli, url) = pair_with("/bp", d);
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        let data = pattern(64 << 20);
        let mut w = cs.open_uni().await.unwrap();
        w.write_all(&data[..1000]).await.unwrap();
        let mut r = ss.accept_uni().await.unwrap();
        let mut sent = 1000;
        loop {
            let end = (sent + 65536).min(data.len());
            match tokio::time::timeout(
                std::time::Duration::from_millis(500),
                w.write(&data[sent..end]),
            )
            .await
            {
                Ok(n) => sent += n.unwrap(),
                Err(_) => break, // the write waits: back-pressure
            }
            assert!(sent < data.len(), "all 64 MiB taken with nobody reading");
        }
        let blocked_at = sent;
        let d2 = data.clone();
        let writer = tokio::spawn(async move {
            // On to 8 MiB (or stop where it blocked, if that is beyond).
            let end = (8 << 20).max(blocked_at);
            w.write_all(&d2[blocked_at..end]).await.unwrap();
            w.finish().unwrap();
            (w, end)
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 100_000];
        while let Some(n) = r.read(&mut buf).await.unwrap() {
            got.extend_from_slice(&buf[..n]);
        }
        let (_w, total) = writer.await.unwrap();
        assert_eq!(got.len(), total, "blocked after {blocked_at} bytes");
        assert!(got[..] == data[..total], "bytes differ");
    });
}

/// Every test above, in both dispatch modes.
macro_rules! both_modes {
    ($($name:ident),*) => {$(
        mod $name {
            #[test]
            fn poll() { super::$name(super::Dispatch::Poll) }
            #[test]
            fn thread() { super::$name(super::Dispatch::Thread) }
        }
    )*};
}
both_modes!(
    echo_10mb_client_opens,
    echo_10mb_server_opens,
    uni_streams_both_ways_and_bidi_from_both_sides,
    reset_code_reaches_reader,
    stop_sending_code_reaches_writer,
    datagrams_echo_and_limits,
    close_code_and_reason_both_ways,
    refuse_and_request_fields,
    small_send_buffer_writes_of_every_size,
    writer_waits_while_the_peer_does_not_read
);

#[test]
fn open_waits_for_stream_credit() {
    run(async {
        // WebTransport flow control on (the default) on both sides: the
        // limit is then exactly WT_MAX_STREAMS (without it, QUIC's limit
        // has an allowance for HTTP/3's own streams).
        let srv = gowt::Context::builder()
            .max_incoming_streams(2, 2)
            .build()
            .unwrap();
        let port = srv.listen("127.0.0.1", 0).unwrap();
        srv.register("/limit").unwrap();
        let cli = gowt::Context::builder()
            .insecure_skip_verify(true)
            .build()
            .unwrap();
        let (ss, cs) = sessions(&srv, &cli, &format!("https://127.0.0.1:{port}/limit")).await;
        assert!(cs.stats().unwrap().flow_control);
        let mut open = Vec::new();
        for i in 0..2u8 {
            let (mut w, r) = cs.open_bi().await.unwrap();
            w.write_all(&[i]).await.unwrap();
            open.push((w, r));
        }
        // The third waits: the server allows two bidi streams.
        let cs2 = cs.clone();
        let third = tokio::spawn(async move { cs2.open_bi().await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !third.is_finished(),
            "a third bidi stream opened beyond the peer's limit of 2"
        );
        // Ending the first stream both ways gives credit back
        // (GOWT_EV_STREAMS_AVAILABLE wakes the waiting open_bi).
        // (The peer's streams may be announced in any order.)
        let a = ss.accept_bi().await.unwrap();
        let b = ss.accept_bi().await.unwrap();
        let (mut w0, mut r0) = open.remove(0);
        let ((mut sw, mut sr), _other) = if a.1.id() == w0.id() { (a, b) } else { (b, a) };
        assert_eq!(sr.id(), w0.id());
        w0.finish().unwrap();
        assert_eq!(sr.read_to_end(10).await.unwrap(), [0]);
        sw.write_all(b"ok").await.unwrap();
        sw.finish().unwrap();
        assert_eq!(r0.read_to_end(10).await.unwrap(), b"ok");
        drop((sw, sr, w0, r0));
        let (mut w, _r) = tokio::time::timeout(std::time::Duration::from_secs(10), third)
            .await
            .expect("open_bi still waiting after a stream ended")
            .unwrap()
            .unwrap();
        w.write_all(b"third").await.unwrap();
    });
}

#[test]
fn stats_addresses_certificate_and_log() {
    run(async {
        let (srv, cli, url) = pair("/stats");
        let logs =
            std::sync::Arc::new(std::sync::Mutex::new(
                Vec::<(gowt::LogLevel, String, String)>::new(),
            ));
        let l2 = logs.clone();
        cli.set_log(Some(gowt::LogLevel::Debug), move |lvl, comp, msg| {
            l2.lock()
                .unwrap()
                .push((lvl, comp.to_string(), msg.to_string()));
        })
        .unwrap();
        let s2 = srv.clone();
        let t = tokio::spawn(async move {
            let req = s2.accept().await;
            let peer = req.peer_addr().to_string();
            let local = req.local_addr().to_string();
            (req.accept().unwrap(), peer, local)
        });
        let cs = cli.connect(&url).await.unwrap();
        let (ss, peer, local) = t.await.unwrap();
        assert!(peer.starts_with("127.0.0.1:"), "request peer_addr {peer:?}");
        assert!(
            url.contains(&local),
            "request local_addr {local:?} not in {url}"
        );
        assert_eq!(cs.peer_cert_sha256(), Some(srv.cert_hash().unwrap()));
        let (mut w, _r) = cs.open_bi().await.unwrap();
        w.set_priority(5, 1).unwrap();
        w.write_all(&[1u8; 5000]).await.unwrap();
        let (_sw, mut sr) = ss.accept_bi().await.unwrap();
        let mut buf = [0u8; 5000];
        sr.read_exact(&mut buf).await.unwrap();
        let st = cs.stats().unwrap();
        assert!(st.peer_addr.starts_with("127.0.0.1:"), "{st:?}");
        assert!(url.contains(&st.peer_addr), "{st:?}");
        assert!(st.rtt_smoothed > std::time::Duration::ZERO, "{st:?}");
        assert!(
            st.conn_bytes_sent >= 5000 && st.conn_packets_received > 0,
            "{st:?}"
        );
        assert!(st.conn_sessions >= 1 && st.congestion_window > 0, "{st:?}");
        assert_eq!(st.peer_cert_sha256, Some(srv.cert_hash().unwrap()));
        assert!(
            !logs.lock().unwrap().is_empty(),
            "no DEBUG log message for a new connection"
        );
        cli.set_log(None, |_, _, _| {}).unwrap();
    });
}

#[test]
fn read_chunk_gives_the_stream_in_order() {
    run(async {
        let (srv, cli, url) = pair("/chunks");
        let (ss, cs) = sessions(&srv, &cli, &url).await;
        let data = pattern(3_000_000);
        let d2 = data.clone();
        let mut w = cs.open_uni().await.unwrap();
        let writer = tokio::spawn(async move {
            w.write_all(&d2).await.unwrap();
            w.finish().unwrap();
            w
        });
        let mut r = ss.accept_uni().await.unwrap();
        let mut got = Vec::new();
        let mut pieces = 0;
        while let Some(c) = r.read_chunk(10_000).await.unwrap() {
            assert!(
                !c.is_empty() && c.len() <= 10_000,
                "chunk of {} bytes",
                c.len()
            );
            got.extend_from_slice(&c);
            pieces += 1;
        }
        drop(writer.await.unwrap());
        assert!(
            got == data,
            "read_chunk reassembled {} of {} bytes, differing",
            got.len(),
            data.len()
        );
        assert!(pieces >= 300, "{pieces} chunks");
    });
}
