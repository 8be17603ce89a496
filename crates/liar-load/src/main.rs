//! `liar-load`: drives a running Liar server over real HTTP and STOMP (loopback only).
//!
//! - `idle`: N authenticated STOMP connections with heart-beats, held.
//! - `chat`: R rooms × M members chatting at a swept rate (pure fan-out), against the server
//!   and against the bare-WebSocket `echo` baseline in the same run.
//! - `play`: bots playing complete games by the rules.
//! - `echo`: the baseline fan-out server on its own.
//!
//! Every loop is bounded in count and time; reports come every 5 s and at the end.

mod chat;
mod echo;
mod idle;
mod net;
mod play;
mod stats;

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Hold N authenticated STOMP connections with heart-beats.
    Idle(idle::IdleArgs),
    /// R rooms × M members chatting; sweeps the send rate; compares with the echo baseline.
    Chat(chat::ChatArgs),
    /// Bots play complete games in rooms of a chosen size.
    Play(play::PlayArgs),
    /// Run the bare WebSocket fan-out baseline server.
    Echo {
        #[arg(long, default_value = "127.0.0.1:9099")]
        bind: SocketAddr,
    },
}

/// Where the server is and how to reach it.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// The server's address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: SocketAddr,
    /// A cluster's nodes (`a,b,c`): clients are spread over them so that the members of one
    /// room sit on different nodes, and rooms are created on every node. Replaces `--server`.
    #[arg(long, value_delimiter = ',')]
    servers: Vec<SocketAddr>,
    /// The server's pid (or the nodes' pids, `1,2,3`), to read RSS and CPU from /proc
    /// (summed over the nodes).
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
    /// How many loopback source addresses (127.0.0.1, .2, …) client sockets bind to.
    #[arg(long, default_value_t = 4)]
    sources: usize,
    /// Bot name prefix (accounts are reused across runs).
    #[arg(long, default_value = "ld")]
    prefix: String,
    /// Logins in flight at once.
    #[arg(long, default_value_t = 8)]
    login_parallel: usize,
}

impl Target {
    pub fn base(&self) -> String {
        format!("http://{}", self.nodes()[0])
    }

    /// Every node to spread clients over (the one `--server` without `--servers`).
    pub fn nodes(&self) -> Vec<SocketAddr> {
        if self.servers.is_empty() {
            vec![self.server]
        } else {
            self.servers.clone()
        }
    }

    /// The node of client `i` in rooms of `size`: consecutive seats on different nodes, and
    /// each room's first seat (its host, who creates it) on a different node than the last
    /// room's.
    pub fn node_of(&self, i: usize, size: usize) -> SocketAddr {
        let nodes = self.nodes();
        nodes[(i + i / size.max(1)) % nodes.len()]
    }
}

/// A process-wide time origin, so a timestamp can travel inside a message.
pub fn micros_now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Raises the open-files limit to the hard limit (to `want` when running as root).
fn raise_nofile(want: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let mut n = libc::rlimit {
            rlim_cur: want.max(r.rlim_max),
            rlim_max: want.max(r.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &n) != 0 {
            n.rlim_cur = r.rlim_max;
            n.rlim_max = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &n);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    println!("open-files limit: {}", r.rlim_cur);
}

fn main() -> Result<(), net::Error> {
    let cli = Cli::parse();
    micros_now();
    raise_nofile(1 << 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Idle(a) => idle::run(a).await,
            Cmd::Chat(a) => chat::run(a).await,
            Cmd::Play(a) => play::run(a).await,
            Cmd::Echo { bind } => echo::serve(bind).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        let cli = Cli::try_parse_from([
            "liar-load",
            "chat",
            "--rooms",
            "3",
            "--members",
            "4",
            "--rates",
            "0.5,1",
            "--pid",
            "7",
        ])
        .unwrap();
        let Cmd::Chat(a) = cli.cmd else {
            panic!("chat")
        };
        assert_eq!((a.rooms, a.members), (3, 4));
        assert_eq!(a.rates, vec![0.5, 1.0]);
        assert_eq!(a.target.pid, vec![7]);
    }

    #[test]
    fn a_cluster_spreads_each_rooms_members_and_hosts_over_the_nodes() {
        let cli = Cli::try_parse_from([
            "liar-load",
            "play",
            "--servers",
            "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
            "--pid",
            "7,8,9",
        ])
        .unwrap();
        let Cmd::Play(a) = cli.cmd else {
            panic!("play")
        };
        let t = &a.target;
        assert_eq!(t.pid, vec![7, 8, 9]);
        let port = |i: usize| t.node_of(i, 6).port();
        for room in 0..6 {
            let seats: std::collections::HashSet<u16> =
                (0..6).map(|k| port(room * 6 + k)).collect();
            assert_eq!(
                seats.len(),
                3,
                "room {room}'s members sit on all three nodes"
            );
        }
        let hosts: std::collections::HashSet<u16> = (0..6).map(|r| port(r * 6)).collect();
        assert_eq!(hosts.len(), 3, "rooms are created on every node");
        assert_eq!(t.base(), "http://127.0.0.1:1");
    }

    #[test]
    fn non_loopback_is_refused() {
        assert!(net::loopback("10.0.0.1:80".parse().unwrap()).is_err());
        assert!(net::loopback("127.0.0.1:80".parse().unwrap()).is_ok());
        assert_eq!(net::source(5, 4).to_string(), "127.0.0.2");
        assert_eq!(net::bot_ip(0), "10.0.0.1");
    }
}
