#![allow(dead_code)]
use std::future::Future;
use std::time::Duration;

use gowt::{Context, Session};

/// Runs f on a 2-thread runtime, failing after 60 s.
pub fn run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), f)
            .await
            .expect("test timed out")
    });
}

/// A server context listening on 127.0.0.1:0 serving `path`, and a client
/// context; returns (server, client, url).
pub fn pair(path: &str) -> (Context, Context, String) {
    pair_with(path, gowt::Dispatch::Poll)
}

/// [`pair`] with both contexts in the given dispatch mode.
pub fn pair_with(path: &str, d: gowt::Dispatch) -> (Context, Context, String) {
    let srv = Context::builder()
        .dispatch(d)
        .max_incoming_data(0)
        .build()
        .unwrap();
    let port = srv.listen("127.0.0.1", 0).unwrap();
    srv.register(path).unwrap();
    let cli = Context::builder()
        .dispatch(d)
        .insecure_skip_verify(true)
        .max_incoming_data(0)
        .build()
        .unwrap();
    (srv, cli, format!("https://127.0.0.1:{port}{path}"))
}

/// Connects and accepts one session: (server session, client session).
pub async fn sessions(srv: &Context, cli: &Context, url: &str) -> (Session, Session) {
    let s2 = srv.clone();
    let t = tokio::spawn(async move { s2.accept().await.accept().unwrap() });
    let c = cli.connect(url).await.unwrap();
    (t.await.unwrap(), c)
}

/// n bytes of a pattern that shows misordering.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_right(13) as u8)
        .collect()
}
