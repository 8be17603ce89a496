//! The `liar` binary as an operator runs it: help, migrate, serve, a clean SIGTERM, and granting
//! admin rights.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_liar");

#[test]
fn help_explains_the_commands_and_settings() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["serve", "migrate", "LIAR_"] {
        assert!(text.contains(word), "{text}");
    }
}

#[test]
fn migrate_creates_the_database_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let status = Command::new(BIN)
        .arg("migrate")
        .env("LIAR_DATABASE_URL", format!("sqlite://{}", db.display()))
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(db.exists());
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(BIN)
        .env("LIAR_BIND", format!("127.0.0.1:{port}"))
        .env(
            "LIAR_DATABASE_URL",
            format!("sqlite://{}/s.db", dir.path().display()),
        )
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let healthy = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply);
            break reply.starts_with("HTTP/1.1 200");
        }
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(healthy, "server answered /healthz");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// Runs `liar admin <action> <email>` on the test server's database.
async fn liar_admin(app: &crate::helpers::TestApp, action: &str, email: &str) -> Output {
    tokio::process::Command::new(BIN)
        .args(["admin", action, email])
        .env("LIAR_DATABASE_URL", &app.database_url)
        .current_dir(app.dir.path())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_grant_makes_a_member_an_admin_and_refuses_an_unknown_email() {
    use reqwest::StatusCode;
    let app = crate::helpers::spawn_app().await;
    let (_, tokens) = app.member("operator").await;
    let read_topic = || async {
        app.client
            .get(app.url("/api/topics/animals"))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        read_topic().await,
        StatusCode::FORBIDDEN,
        "not an admin yet"
    );

    let out = liar_admin(&app, "grant", "Operator@Example.com").await;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("operator@example.com is now an admin"));
    assert_eq!(
        read_topic().await,
        StatusCode::OK,
        "an admin reads whole topics"
    );

    let out = liar_admin(&app, "revoke", "operator@example.com").await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read_topic().await, StatusCode::FORBIDDEN, "revoked");

    let out = liar_admin(&app, "grant", "nobody@example.com").await;
    assert!(!out.status.success(), "an unknown email fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no member is registered with the email nobody@example.com"),
        "{stderr}"
    );
}

#[test]
fn redis_url_on_sqlite_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("serve")
        .env("LIAR_BIND", "127.0.0.1:0")
        .env(
            "LIAR_DATABASE_URL",
            format!("sqlite://{}/r.db", dir.path().display()),
        )
        .env("LIAR_REDIS_URL", "redis://:hunter2-secret@127.0.0.1:1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server refuses to start");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("redis_url") && text.contains("SQLite") && text.contains("PostgreSQL"),
        "{text}"
    );
    assert!(
        !text.contains("127.0.0.1:1"),
        "the URL is not printed: {text}"
    );
}
