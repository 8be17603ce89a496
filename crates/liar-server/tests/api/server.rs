//! The real `liar` binary as a child process, for tests that kill, stop or restart it.

use crate::helpers::JWT_SECRET;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;
use tokio::time::Instant;

pub const BIN: &str = env!("CARGO_BIN_EXE_liar");

pub fn db_url(dir: &Path) -> String {
    format!("sqlite://{}/liar.db", dir.display())
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `liar serve` on a free port with the test settings on `database_url` and waits
    /// until it answers.
    pub async fn start(dir: &Path, database_url: &str, run: u32) -> Server {
        Server::start_with(dir, run, &[("LIAR_DATABASE_URL", database_url)]).await
    }

    /// Starts `liar serve` on the SQLite file in `dir` (unless `env` names another database),
    /// with extra `LIAR_*` variables.
    pub async fn start_with(dir: &Path, run: u32, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.join(format!("server-{run}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(BIN)
            .arg("serve")
            .env("LIAR_BIND", addr.to_string())
            .env("LIAR_DATABASE_URL", db_url(dir))
            .env("LIAR_JWT_SECRET", JWT_SECRET)
            .env("LIAR_DEAL_SECS", "0")
            .env("LIAR_RESULT_DISPLAY_SECS", "1")
            .env("LIAR_LOGIN_PER_IP__LIMIT", "100000")
            .env("LIAR_REGISTER_PER_IP__LIMIT", "100000")
            .env("LIAR_PASSWORD_HASH__MEMORY_KIB", "256")
            .env("LIAR_PASSWORD_HASH__ITERATIONS", "1")
            .env("LIAR_PASSWORD_HASH__PARALLELISM", "1")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the liar binary starts");
        let server = Server { child, addr, log };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = client
                .get(server.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server never answered: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// SIGKILL: no graceful shutdown, nothing flushed beyond what was committed.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

impl Server {
    /// Sends SIGTERM and waits up to `limit` for the exit status (`None`: still running).
    pub async fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal by name (`STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- server log ----\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}
