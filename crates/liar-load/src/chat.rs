//! `chat`: R rooms × M members sending chat at a swept rate; every member's receipt of every
//! message is a delivery, its latency measured from the sender's SEND (the send time travels in
//! the text). The same pattern runs against the bare `echo` baseline for a ratio.

use crate::net::{self, Error, Stomp};
use crate::stats::{self, Latency, Meter, Stats};
use crate::{Target, micros_now};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: Target,
    #[arg(long, default_value_t = 50)]
    pub rooms: usize,
    #[arg(long, default_value_t = 8)]
    pub members: usize,
    /// Messages per second per member, one sweep step each. The server's chat limit (default
    /// 5 per 5 s, `LIAR_CHAT_PER_MEMBER__LIMIT`) caps it; load runs raise that setting.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.9")]
    pub rates: Vec<f64>,
    /// Extra, higher rates tried on the echo baseline only (it has no chat limit); none by
    /// default, so both transports run the same steps.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub echo_rates: Vec<f64>,
    #[arg(long, default_value_t = 20)]
    pub step_secs: u64,
    /// Which transports to run: liar, echo or both.
    #[arg(long, default_value = "both")]
    pub against: String,
    #[arg(long, default_value = "127.0.0.1:9099")]
    pub echo_bind: std::net::SocketAddr,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Step {
    transport: &'static str,
    rate: f64,
    deliveries_per_sec: f64,
    commands_per_sec: f64,
    latency: Latency,
    errors: u64,
    server_cpu_pct: Option<f64>,
    server_rss_mib: Option<f64>,
    loadavg: String,
}

pub async fn run(a: ChatArgs) -> Result<(), Error> {
    for node in a.target.nodes() {
        net::loopback(node)?;
    }
    net::loopback(a.echo_bind)?;
    let mut steps = Vec::new();
    if a.against != "echo" {
        steps.extend(sweep(&a, false).await?);
    }
    if a.against != "liar" {
        steps.extend(sweep(&a, true).await?);
    }
    println!("RESULT chat {} rooms x {} members", a.rooms, a.members);
    let best = |t: &str| {
        steps
            .iter()
            .filter(|s| s.transport == t && s.latency.p99 <= 50.0 && s.errors == 0)
            .map(|s| s.deliveries_per_sec)
            .fold(0.0, f64::max)
    };
    for s in &steps {
        let echo = steps
            .iter()
            .find(|e| e.transport == "echo" && e.rate == s.rate)
            .map(|e| s.deliveries_per_sec / e.deliveries_per_sec.max(1e-9));
        println!(
            "  {:5} rate {:>5}/s/member: deliv/s {:>8.0} cmd/s {:>6.0} {} errors {} server cpu {:?}% rss {:?} MiB | vs echo at same rate {:?} | loadavg {}",
            s.transport,
            s.rate,
            s.deliveries_per_sec,
            s.commands_per_sec,
            s.latency,
            s.errors,
            s.server_cpu_pct.map(|c| c.round()),
            s.server_rss_mib.map(|c| c.round()),
            echo.map(|r| (r * 100.0).round() / 100.0),
            s.loadavg
        );
    }
    let (l, e) = (best("liar"), best("echo"));
    println!(
        "  best deliveries/s with p99 <= 50 ms: liar {l:.0}, echo {e:.0}, ratio {:.2}",
        l / e.max(1e-9)
    );
    Ok(())
}

/// Runs every step of one transport; members stay connected across steps.
async fn sweep(a: &ChatArgs, echo: bool) -> Result<Vec<Step>, Error> {
    let label = if echo { "echo" } else { "liar" };
    let n = a.rooms * a.members;
    let mut child = None;
    let (addr, pid) = if echo {
        let c = tokio::process::Command::new(std::env::current_exe()?)
            .args(["echo", "--bind", &a.echo_bind.to_string()])
            .kill_on_drop(true)
            .spawn()?;
        let pid = c.id().into_iter().collect::<Vec<u32>>();
        child = Some(c);
        tokio::time::sleep(Duration::from_millis(500)).await;
        (Some(a.echo_bind), pid)
    } else {
        (None, a.target.pid.clone())
    };
    let stats = Arc::new(Stats::default());
    let (rate_tx, rate_rx) = watch::channel(0.0f64);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut rooms: Vec<i64> = (0..a.rooms as i64).collect();
    let mut tokens = vec![String::new(); n];
    if !echo {
        tokens = net::accounts(
            &a.target.base(),
            &a.target.prefix,
            n,
            a.target.login_parallel,
        )
        .await?;
        let http = reqwest::Client::new();
        for (r, room) in rooms.iter_mut().enumerate() {
            let host = r * a.members;
            *room = net::create_room(
                &http,
                &format!("http://{}", a.target.node_of(host, a.members)),
                &tokens[host],
                &net::bot_ip(host),
                json!({"name": format!("chat {r}"), "settings": {"maxPlayers": a.members}}),
            )
            .await?;
        }
    }
    let started = Instant::now();
    let joined: Vec<Result<(), String>> = futures::stream::iter(0..n)
        .map(|i| {
            let room = rooms[i / a.members];
            let host = i % a.members == 0;
            let (tok, stats, rate) = (tokens[i].clone(), stats.clone(), rate_rx.clone());
            let src = net::source(i, a.target.sources);
            let addr = addr.unwrap_or_else(|| a.target.node_of(i, a.members));
            async move {
                if echo {
                    let mut ws = net::ws_connect(addr, "/", src, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    ws.send(Message::text(format!("J {room}")))
                        .await
                        .map_err(|e| e.to_string())?;
                    stats.connections.fetch_add(1, Relaxed);
                    tokio::spawn(echo_member(ws, i, stats, rate, deadline));
                } else {
                    let mut s = Stomp::connect(addr, src, &tok, 0)
                        .await
                        .map_err(|e| e.to_string())?;
                    s.subscribe("/user/queue/errors", "e")
                        .await
                        .map_err(|e| e.to_string())?;
                    if !host {
                        s.command(&format!("/app/rooms/{room}/join"), &json!({}), Some("j"))
                            .await
                            .map_err(|e| e.to_string())?;
                        loop {
                            let f = tokio::time::timeout(net::WAIT, s.next())
                                .await
                                .map_err(|_| "join timed out".to_string())?
                                .map_err(|e| e.to_string())?
                                .ok_or("closed")?;
                            if f.command == liar_stomp::Command::Receipt {
                                break;
                            }
                            if f.get("destination") == Some("/user/queue/errors") {
                                return Err(String::from_utf8_lossy(&f.body).into_owned());
                            }
                        }
                    }
                    s.subscribe(&format!("/topic/rooms/{room}"), "r")
                        .await
                        .map_err(|e| e.to_string())?;
                    stats.connections.fetch_add(1, Relaxed);
                    tokio::spawn(liar_member(s, room, i, stats, rate, deadline));
                }
                Ok(())
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let failed: Vec<_> = joined.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "[{label}] {} members connected in {:.1} s; {} failed {:?}",
        n - failed.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    let reporter = stats::spawn_reporter(stats.clone(), pid.clone(), label.into());
    let mut out = Vec::new();
    let rates: Vec<f64> = if echo {
        a.rates.iter().chain(a.echo_rates.iter()).copied().collect()
    } else {
        a.rates.clone()
    };
    for rate in rates {
        let _ = rate_tx.send(rate);
        // Let the new rate settle before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let errors_before = stats.error_total();
        stats.reset_step();
        let mut meter = Meter::new(&stats, &pid);
        tokio::time::sleep(Duration::from_secs(a.step_secs)).await;
        let w = meter.window(&stats, stats.step_latency());
        println!("[{label}] step rate {rate}/s/member: {w}");
        out.push(Step {
            transport: label,
            rate,
            deliveries_per_sec: w.deliveries_per_sec,
            commands_per_sec: w.commands_per_sec,
            latency: w.latency,
            errors: stats.error_total() - errors_before,
            server_cpu_pct: w.server_cpu_pct,
            server_rss_mib: w.server_rss_mib,
            loadavg: w.loadavg,
        });
    }
    let _ = rate_tx.send(-1.0);
    reporter.abort();
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(mut c) = child {
        let _ = c.kill().await;
    }
    Ok(out)
}

/// The send time embedded in a message: `m@<micros>#`.
pub fn marker(at: u64) -> String {
    format!("m@{at}#")
}

pub fn parse_marker(body: &[u8]) -> Option<u64> {
    let i = body.windows(2).position(|w| w == b"m@")? + 2;
    let end = body[i..].iter().position(|b| *b == b'#')? + i;
    std::str::from_utf8(&body[i..end]).ok()?.parse().ok()
}

fn received(stats: &Stats, body: &[u8]) {
    if let Some(at) = parse_marker(body) {
        stats.deliveries.fetch_add(1, Relaxed);
        stats.latency(Duration::from_micros(micros_now().saturating_sub(at)));
    }
}

/// Sleep until the next send at `rate` per second; far away when paused.
fn next_send(rate: f64, i: usize, first: bool) -> Instant {
    if rate <= 0.0 {
        return Instant::now() + Duration::from_secs(3600);
    }
    let period = 1.0 / rate;
    // Spread members' phases evenly over one period.
    let offset = if first {
        period * ((i * 7919) % 1000) as f64 / 1000.0
    } else {
        period
    };
    Instant::now() + Duration::from_secs_f64(offset)
}

async fn liar_member(
    mut s: Stomp,
    room: i64,
    i: usize,
    stats: Arc<Stats>,
    mut rate: watch::Receiver<f64>,
    deadline: Instant,
) {
    let dest = format!("/app/rooms/{room}/chat");
    let mut r = *rate.borrow();
    let mut due = next_send(r, i, true);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            c = rate.changed() => {
                if c.is_err() { break; }
                r = *rate.borrow();
                if r < 0.0 { break; }
                due = next_send(r, i, true);
            }
            _ = tokio::time::sleep_until(due) => {
                due = next_send(r, i, false);
                stats.commands.fetch_add(1, Relaxed);
                if s.command(&dest, &json!({"text": marker(micros_now())}), None).await.is_err() {
                    stats.error("send failed");
                    break;
                }
            }
            m = s.ws.next() => {
                let Some(Ok(m)) = m else { stats.error("closed by server"); break };
                if !s.feed(m) { stats.error("closed by server"); break; }
                loop {
                    match s.buffered() {
                        Ok(Some(f)) => match f.command {
                            liar_stomp::Command::Message if f.get("destination") == Some("/user/queue/errors") => {
                                let v: serde_json::Value = serde_json::from_slice(&f.body).unwrap_or_default();
                                stats.error(v["code"].as_str().unwrap_or("error"));
                            }
                            liar_stomp::Command::Message => received(&stats, &f.body),
                            liar_stomp::Command::Error => stats.error(f.get("message").unwrap_or("ERROR")),
                            _ => {}
                        },
                        Ok(None) => break,
                        Err(_) => { stats.error("decode"); return; }
                    }
                }
            }
        }
    }
    stats.connections.fetch_sub(1, Relaxed);
    let _ = s.ws.close(None).await;
}

async fn echo_member(
    mut ws: net::Ws,
    i: usize,
    stats: Arc<Stats>,
    mut rate: watch::Receiver<f64>,
    deadline: Instant,
) {
    let mut r = *rate.borrow();
    let mut due = next_send(r, i, true);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            c = rate.changed() => {
                if c.is_err() { break; }
                r = *rate.borrow();
                if r < 0.0 { break; }
                due = next_send(r, i, true);
            }
            _ = tokio::time::sleep_until(due) => {
                due = next_send(r, i, false);
                stats.commands.fetch_add(1, Relaxed);
                if ws.send(Message::text(marker(micros_now()))).await.is_err() {
                    stats.error("send failed");
                    break;
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => received(&stats, t.as_bytes()),
                Some(Ok(_)) => {}
                _ => { stats.error("closed by server"); break; }
            }
        }
    }
    stats.connections.fetch_sub(1, Relaxed);
    let _ = ws.close(None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_inside_json() {
        let body = format!(r#"{{"type":"chat","text":"{}","seq":3}}"#, marker(123456));
        assert_eq!(parse_marker(body.as_bytes()), Some(123456));
        assert_eq!(parse_marker(b"no marker"), None);
    }
}
