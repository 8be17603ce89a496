//! `idle`: N authenticated STOMP connections with heart-beats, held for a while; reports the
//! server's RSS per connection above its baseline.

use crate::Target;
use crate::net::{self, Error, Stomp};
use crate::stats::{self, Stats};
use clap::Args;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Args, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: Target,
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Distinct accounts the connections are spread over (one session may hold several sockets).
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Seconds to hold the connections once all are open.
    #[arg(long, default_value_t = 30)]
    pub hold_secs: u64,
    /// STOMP heart-beat in ms, both ways.
    #[arg(long, default_value_t = 10_000)]
    pub heart_beat_ms: u64,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    pub parallel: usize,
}

pub async fn run(a: IdleArgs) -> Result<(), Error> {
    let t = a.target.clone();
    for node in t.nodes() {
        net::loopback(node)?;
    }
    let tokens = net::accounts(&t.base(), &t.prefix, a.users.max(1), t.login_parallel).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = stats::procs_sample(&t.pid);
    let own_base = stats::proc_sample(std::process::id());
    println!("server baseline: {base:?}; loadavg {}", stats::loadavg());
    let stats = Arc::new(Stats::default());
    let reporter = stats::spawn_reporter(stats.clone(), t.pid.clone(), "idle".into());
    // Opening may take a while; everything stops at this deadline.
    let deadline = Instant::now() + Duration::from_secs(600 + a.hold_secs);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let opened: Vec<bool> = futures::stream::iter(0..a.connections)
        .map(|i| {
            let (tok, stats, mut done) = (tokens[i % tokens.len()].clone(), stats.clone(), done_rx.clone());
            let (server, src, hb) = (t.node_of(i, 1), net::source(i, t.sources), a.heart_beat_ms);
            async move {
                let mut s = match Stomp::connect(server, src, &tok, hb).await {
                    Ok(s) => s,
                    Err(e) => {
                        stats.error(&format!("connect: {}", short(&e)));
                        return false;
                    }
                };
                if s.subscribe("/user/queue/errors", "e").await.is_err()
                    || s.subscribe("/user/queue/events", "v").await.is_err()
                {
                    stats.error("subscribe");
                    return false;
                }
                stats.connections.fetch_add(1, Relaxed);
                tokio::spawn(async move {
                    let mut beat = tokio::time::interval(Duration::from_millis(hb.max(1000)));
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep_until(deadline) => break,
                            _ = done.changed() => break,
                            _ = beat.tick() => {
                                use futures::SinkExt;
                                if s.ws.send(tokio_tungstenite::tungstenite::Message::text("\n")).await.is_err() {
                                    stats.error("heartbeat send");
                                    break;
                                }
                            }
                            m = s.ws.next() => match m {
                                Some(Ok(m)) => { if !s.feed(m) { stats.error("closed by server"); break; }
                                    while let Ok(Some(f)) = s.buffered() {
                                        if f.command == liar_stomp::Command::Error {
                                            stats.error(f.get("message").unwrap_or("ERROR"));
                                        }
                                    }
                                }
                                _ => { stats.error("closed by server"); break; }
                            }
                        }
                    }
                    stats.connections.fetch_sub(1, Relaxed);
                });
                true
            }
        })
        .buffer_unordered(a.parallel.max(1))
        .collect()
        .await;
    let ok = opened.iter().filter(|o| **o).count();
    println!(
        "opened {ok}/{} connections in {:.1} s; errors {:?}",
        a.connections,
        started.elapsed().as_secs_f64(),
        stats.errors()
    );
    tokio::time::sleep(Duration::from_secs(a.hold_secs)).await;
    let after = stats::procs_sample(&t.pid);
    let own_after = stats::proc_sample(std::process::id());
    let held = stats.connections.load(Relaxed);
    if let (Some(b), Some(x)) = (base, after) {
        println!(
            "RESULT idle: held {held} of {} | server RSS {:.1} MiB -> {:.1} MiB = {:.2} KiB per connection | load-gen RSS {:.2} KiB per connection | errors {:?} | loadavg {}",
            a.connections,
            b.rss_kib as f64 / 1024.0,
            x.rss_kib as f64 / 1024.0,
            (x.rss_kib as f64 - b.rss_kib as f64) / held.max(1) as f64,
            own_after
                .zip(own_base)
                .map(|(x, b)| (x.rss_kib as f64 - b.rss_kib as f64) / held.max(1) as f64)
                .unwrap_or(0.0),
            stats.errors(),
            stats::loadavg()
        );
    } else {
        println!(
            "RESULT idle: held {held} (no --pid: no RSS) errors {:?}",
            stats.errors()
        );
    }
    let _ = done_tx.send(true);
    reporter.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

pub fn short(e: &Error) -> String {
    let s = e.to_string();
    s.chars().take(60).collect()
}
