//! The database going away and coming back (SPEC §6.3, issue 12): requests that need it answer
//! 503 `UNAVAILABLE`, `/readyz` says not ready, and both recover by themselves once the database
//! answers again. The server reaches its database through a TCP relay the test cuts and
//! restores, so this runs on a database server (`LIAR_TEST_DATABASE_URL`); SQLite has no
//! connection to lose.

use crate::helpers::*;
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// A TCP relay on a local port it holds for the whole test: `cut()` closes every relayed
/// connection and from then on closes each new one as soon as it is accepted; `restore()`
/// relays again. The listener is never dropped, so no other socket can take its port.
struct Relay {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (cut, _) = watch::channel(false);
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            cut,
        };
        let target = target.to_owned();
        let watch = relay.cut.subscribe();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        relay
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// `host:port` of a server URL (`scheme://user@host:port/db`).
fn authority(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_port = rest[..end].rsplit('@').next().unwrap().to_owned();
    let default_port = if url.starts_with("postgres") {
        5432
    } else {
        3306
    };
    let target = if host_port.contains(':') {
        host_port.clone()
    } else {
        format!("{host_port}:{default_port}")
    };
    (host_port, target)
}

async fn status_of(app: &TestApp, path: &str) -> (StatusCode, String) {
    code_of(app.client.get(app.url(path)).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_answers_503_unavailable_and_not_ready_until_it_is_back() {
    let Ok(server) = std::env::var(crate::testdb::API_DATABASE_VAR) else {
        eprintln!("note: the outage test needs a database server (LIAR_TEST_DATABASE_URL)");
        return;
    };
    let (host_port, target) = authority(&server);
    let relay = Relay::start(&target).await;
    let app = spawn_app_with(|c| {
        c.database_url = c
            .database_url
            .replacen(&host_port, &relay.addr.to_string(), 1);
        c.database_acquire_timeout_ms = 1_000;
    })
    .await;
    app.register_member("ann").await;
    assert_eq!(status_of(&app, "/readyz").await.0, StatusCode::OK);

    relay.cut();
    assert_eq!(
        status_of(&app, "/readyz").await,
        (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE".into())
    );
    problem(
        app.register("bob@example.com", "bob", PASSWORD).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    )
    .await;
    problem(
        app.login("ann@example.com", PASSWORD).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
    )
    .await;

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&app, "/readyz").await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.register_member("bob").await;
    app.login_member("ann").await;
}
