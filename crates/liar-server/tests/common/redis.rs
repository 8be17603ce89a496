//! A Redis server of the test's own, on a free port, so the test can kill it and start it again
//! (issue 13: "a Redis server the test started itself and then kills"). Nothing is kept on disk.
//!
//! The suites that need one run where a database server is configured (`scripts/engines.sh`,
//! which installs `redis-server` when it is missing); `redis_server_available()` tells the
//! others to skip.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary to start: `LIAR_TEST_REDIS_SERVER`, else `redis-server` from `PATH`.
pub fn redis_server_binary() -> Option<String> {
    if let Ok(bin) = std::env::var("LIAR_TEST_REDIS_SERVER") {
        return Some(bin);
    }
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| "redis-server".to_owned())
}

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    bin: String,
}

impl RedisServer {
    /// Starts a Redis server on a free port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let bin = redis_server_binary()
            .expect("redis-server is installed (scripts/engines.sh installs it)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            child: None,
            port,
            bin,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port (after `kill`).
    pub fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: every connection to it breaks at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
