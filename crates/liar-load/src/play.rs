//! `play`: bots playing complete games by the rules: non-hosts get ready, the host starts when
//! everyone is, the speaker hints on his turn, everyone votes for someone else, and the liar
//! guesses. Latency is measured from the sender's `SEND` to each member's receipt of the
//! resulting room event (`member.ready`, `game.started`, `hint`, `guess.result`).

use crate::Target;
use crate::net::{self, Error, Stomp};
use crate::stats::{self, Meter, Stats};
use clap::Args;
use futures::StreamExt;
use liar_stomp::Command;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Args, Debug)]
pub struct PlayArgs {
    #[command(flatten)]
    pub target: Target,
    /// Players (bots).
    #[arg(long, default_value_t = 600)]
    pub players: usize,
    /// Room size.
    #[arg(long, default_value_t = 6)]
    pub room_size: usize,
    /// Think time before each command, uniformly between these (ms).
    #[arg(long, default_value_t = 1000)]
    pub think_min_ms: u64,
    #[arg(long, default_value_t = 3000)]
    pub think_max_ms: u64,
    /// Seconds of play measured once every bot is seated.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// A login storm: this many extra accounts (`{prefix}s{i}`) log in during the second half
    /// of the run; the report compares game latency in the quiet and the storm halves.
    #[arg(long, default_value_t = 0)]
    pub storm_logins: usize,
    /// Name prefix of the storm's accounts (default `{prefix}s`); a fresh prefix makes every
    /// storm login a registration plus a login.
    #[arg(long)]
    pub storm_prefix: Option<String>,
    /// When a bot's socket closes (its node died or restarts), reconnect to the next node of
    /// `--servers` and resume the room from the last event seen (a failover soak).
    #[arg(long)]
    pub reconnect: bool,
}

/// When each command was sent, by the key of the event it causes; shared by a room's bots.
type Sent = Arc<Mutex<HashMap<String, Instant>>>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Ready,
    Start,
    Hint(i64),
    Vote,
    Guess,
}

pub async fn run(a: PlayArgs) -> Result<(), Error> {
    let t = a.target.clone();
    for node in t.nodes() {
        net::loopback(node)?;
    }
    let size = a.room_size.max(3);
    let n = a.players / size * size;
    let tokens = net::accounts(&t.base(), &t.prefix, n, t.login_parallel).await?;
    let http = reqwest::Client::new();
    let settings = json!({"maxPlayers": size, "hintRounds": 1, "hintSeconds": 10, "discussionSeconds": 0,
        "voteSeconds": 10, "defenseSeconds": 0, "guessSeconds": 10, "mode": "classic"});
    let mut rooms = Vec::new();
    for r in 0..n / size {
        let h = r * size;
        rooms.push(
            net::create_room(
                &http,
                &format!("http://{}", t.node_of(h, size)),
                &tokens[h],
                &net::bot_ip(h),
                json!({"name": format!("play {r}"), "settings": settings}),
            )
            .await?,
        );
    }
    let stats = Arc::new(Stats::default());
    let setup_allowance = Duration::from_secs(30 + n as u64 / 50);
    let deadline = Instant::now() + setup_allowance + Duration::from_secs(a.duration_secs);
    let sent: Vec<Sent> = rooms.iter().map(|_| Sent::default()).collect();
    let started = Instant::now();
    let seated: Vec<Result<(), String>> = futures::stream::iter(0..n)
        .map(|i| {
            let (room, host) = (rooms[i / size], i % size == 0);
            let (tok, stats, sent) = (tokens[i].clone(), stats.clone(), sent[i / size].clone());
            let src = net::source(i, t.sources);
            let (lo, hi) = (a.think_min_ms, a.think_max_ms.max(a.think_min_ms));
            let server = t.node_of(i, size);
            let nodes = t.nodes();
            let reconnect = a.reconnect;
            async move {
                let s = seat(server, src, &tok, room, host)
                    .await
                    .map_err(|e| e.to_string())?;
                stats.connections.fetch_add(1, Relaxed);
                let node = nodes.iter().position(|n| *n == server).unwrap_or(0);
                let bot = Bot {
                    s,
                    last: None,
                    link: Link {
                        nodes,
                        node,
                        src,
                        token: tok.clone(),
                        reconnect,
                        last_seq: 0,
                        last_event: Instant::now(),
                    },
                    room,
                    host,
                    size,
                    stats,
                    sent,
                    lo,
                    hi,
                    rng: (i as u64 + 1) * 0x9E37_79B9_7F4A_7C15,
                };
                tokio::spawn(bot.run(deadline));
                Ok(())
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    let failed: Vec<_> = seated.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "{} bots seated in {} rooms in {:.1} s; {} failed {:?}",
        n - failed.len(),
        rooms.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    let reporter = stats::spawn_reporter(stats.clone(), t.pid.clone(), "play".into());
    let total = Duration::from_secs(a.duration_secs)
        .min(deadline.saturating_duration_since(Instant::now()));
    let halves = if a.storm_logins > 0 { 2 } else { 1 };
    let mut quiet = None;
    for half in 0..halves {
        stats.reset_step();
        let mut meter = Meter::new(&stats, &t.pid);
        let storm = (half == 1).then(|| {
            let (base, prefix, n, par) = (
                t.base(),
                a.storm_prefix
                    .clone()
                    .unwrap_or_else(|| format!("{}s", t.prefix)),
                a.storm_logins,
                t.login_parallel,
            );
            tokio::spawn(
                async move { net::accounts(&base, &prefix, n, par).await.map(|v| v.len()) },
            )
        });
        tokio::time::sleep(total / halves).await;
        let w = meter.window(&stats, stats.step_latency());
        let what = match (halves, half) {
            (1, _) => "",
            (_, 0) => " [quiet half]",
            _ => " [login-storm half]",
        };
        println!(
            "RESULT play {n} players, rooms of {size}, think {}-{} ms, {:.0} s{what}: {w}",
            a.think_min_ms, a.think_max_ms, w.secs
        );
        if half == 0 {
            quiet = Some(w.latency.p99);
        } else if let (Some(q), Some(s)) = (quiet, storm) {
            let done = if s.is_finished() {
                "finished"
            } else {
                "still running"
            };
            println!(
                "RESULT login storm of {} logins ({done} at the end of the half): game p99 {:.1} ms vs quiet {q:.1} ms = {:.2}x",
                a.storm_logins,
                w.latency.p99,
                w.latency.p99 / q.max(1e-9)
            );
            s.abort();
        }
    }
    reporter.abort();
    tokio::time::sleep_until(deadline).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if a.reconnect {
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Relaxed);
        println!(
            "RESULT games: started {}, ended {}, aborted {}, running at the end {}, \
             lost (running, room silent for 30 s) {}; reconnects {}",
            g(&stats.games_started),
            g(&stats.games),
            g(&stats.games_aborted),
            g(&stats.games_running),
            g(&stats.games_stuck),
            g(&stats.reconnects),
        );
    }
    Ok(())
}

/// Connects, joins (unless host: the HTTP create seated him) and subscribes.
async fn seat(
    server: std::net::SocketAddr,
    src: std::net::IpAddr,
    tok: &str,
    room: i64,
    host: bool,
) -> Result<Stomp, Error> {
    let mut s = Stomp::connect(server, src, tok, 0).await?;
    s.subscribe("/user/queue/errors", "e").await?;
    s.subscribe("/user/queue/events", "v").await?;
    if !host {
        s.command(&format!("/app/rooms/{room}/join"), &json!({}), Some("j"))
            .await?;
        loop {
            let f = tokio::time::timeout(net::WAIT, s.next())
                .await??
                .ok_or("closed")?;
            if f.command == Command::Receipt {
                break;
            }
            if f.get("destination") == Some("/user/queue/errors") {
                return Err(String::from_utf8_lossy(&f.body).into_owned().into());
            }
        }
    }
    s.subscribe(&format!("/topic/rooms/{room}"), "r").await?;
    Ok(s)
}

/// How a bot reaches the cluster again after its socket closed.
struct Link {
    nodes: Vec<std::net::SocketAddr>,
    node: usize,
    src: std::net::IpAddr,
    token: String,
    reconnect: bool,
    /// The last room event seen (resume point) and when it came.
    last_seq: u64,
    last_event: Instant,
}

struct Bot {
    s: Stomp,
    link: Link,
    /// The last command sent: sent again when it was refused `UNAVAILABLE` (its room was
    /// moving between nodes), as a client retries.
    last: Option<Action>,
    room: i64,
    host: bool,
    size: usize,
    stats: Arc<Stats>,
    sent: Sent,
    lo: u64,
    hi: u64,
    rng: u64,
}

#[derive(Default)]
struct State {
    members: HashMap<i64, bool>,
    order: Vec<i64>,
    liar: bool,
    in_game: bool,
    pending: Vec<(Instant, Action)>,
}

impl Bot {
    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn think(&mut self) -> Instant {
        let span = self.hi - self.lo + 1;
        Instant::now() + Duration::from_millis(self.lo + self.rand() % span)
    }

    fn schedule(&mut self, st: &mut State, a: Action) {
        if !st.pending.iter().any(|(_, p)| *p == a) {
            let at = self.think();
            st.pending.push((at, a));
        }
    }

    fn arrived(&self, key: &str) {
        if let Some(t) = self.sent.lock().unwrap().get(key) {
            self.stats.latency(t.elapsed());
        }
    }

    fn check_start(&mut self, st: &mut State) {
        let me = self.s.user_id;
        if self.host
            && !st.in_game
            && st.members.len() == self.size
            && st.members.iter().all(|(id, r)| *id == me || *r)
        {
            self.schedule(st, Action::Start);
        }
    }

    async fn act(&mut self, st: &mut State, a: Action) -> Result<(), Error> {
        let me = self.s.user_id;
        let (cmd, body, key) = match a {
            Action::Ready => ("ready", json!({"ready": true}), Some(format!("r{me}"))),
            Action::Start => ("start", json!({}), Some("s".to_owned())),
            Action::Hint(round) => (
                "hint",
                json!({"text": format!("hint {round}")}),
                Some(format!("h{me}:{round}")),
            ),
            Action::Vote => {
                let others: Vec<i64> = st.order.iter().copied().filter(|p| *p != me).collect();
                if others.is_empty() {
                    return Ok(());
                }
                let target = others[(self.rand() % others.len() as u64) as usize];
                ("vote", json!({"targetId": target}), None)
            }
            Action::Guess => ("guess", json!({"word": "apple"}), Some("g".to_owned())),
        };
        if let Some(k) = key {
            self.sent.lock().unwrap().insert(k, Instant::now());
        }
        self.last = Some(a);
        self.stats.commands.fetch_add(1, Relaxed);
        self.s
            .command(&format!("/app/rooms/{}/{cmd}", self.room), &body, None)
            .await
    }

    fn room_state(&mut self, st: &mut State, room: &Value) {
        st.members = room["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["userId"].as_i64().unwrap_or(0),
                    m["ready"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        st.in_game = room["status"] != "waiting";
        if !st.in_game && !self.host && !st.members.get(&self.s.user_id).copied().unwrap_or(false) {
            self.schedule(st, Action::Ready);
        }
        self.check_start(st);
    }

    fn on_event(&mut self, st: &mut State, v: &Value) {
        let me = self.s.user_id;
        if let Some(seq) = v["seq"].as_u64() {
            self.link.last_seq = self.link.last_seq.max(seq);
            self.link.last_event = Instant::now();
        }
        let uid = v["userId"].as_i64().unwrap_or(0);
        match v["type"].as_str().unwrap_or("") {
            "room.snapshot" | "room.waiting" => {
                if v["type"] == "room.waiting" {
                    st.pending.clear();
                    // Reset here, not on `game.started`: the private `game.card` may arrive
                    // before the room's `game.started`.
                    st.liar = false;
                }
                self.room_state(st, &v["room"]);
            }
            "member.joined" => {
                st.members.insert(uid, false);
                self.check_start(st);
            }
            "member.left" | "member.kicked" => {
                st.members.remove(&uid);
            }
            "member.ready" => {
                self.arrived(&format!("r{uid}"));
                st.members
                    .insert(uid, v["ready"].as_bool().unwrap_or(false));
                self.check_start(st);
            }
            "game.started" => {
                self.arrived("s");
                if self.host {
                    self.stats.games_started.fetch_add(1, Relaxed);
                }
                st.in_game = true;
                st.order = v["order"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64)
                    .collect();
            }
            "turn.started" if v["speaker"].as_i64() == Some(me) => {
                let round = v["round"].as_i64().unwrap_or(1);
                self.schedule(st, Action::Hint(round));
            }
            "hint" => self.arrived(&format!("h{uid}:{}", v["round"].as_i64().unwrap_or(1))),
            "phase.changed" => match v["phase"].as_str() {
                Some("vote") => self.schedule(st, Action::Vote),
                Some("guess") if st.liar => self.schedule(st, Action::Guess),
                _ => {}
            },
            // A `null` guess is the timer's doing, not a command's: nothing to measure.
            "guess.result" if !v["guess"].is_null() => self.arrived("g"),
            // Timers that ran out mean a bot missed its move: reported once per room (by the host).
            "guess.result" | "turn.skipped" if self.host => self
                .stats
                .error(&format!("{} (timer)", v["type"].as_str().unwrap_or(""))),
            "game.ended" if self.host => {
                self.stats.games.fetch_add(1, Relaxed);
            }
            "game.aborted" => {
                if self.host {
                    self.stats.games_aborted.fetch_add(1, Relaxed);
                }
                self.stats.error("game.aborted")
            }
            _ => {}
        }
    }

    fn on_frame(&mut self, st: &mut State, f: &liar_stomp::Frame) -> bool {
        match f.command {
            Command::Message => {
                self.stats.deliveries.fetch_add(1, Relaxed);
                let v: Value = serde_json::from_slice(&f.body).unwrap_or_default();
                match f.get("destination") {
                    Some("/user/queue/errors") => {
                        self.stats.error(v["code"].as_str().unwrap_or("error"));
                        if v["code"] == "UNAVAILABLE"
                            && self.link.reconnect
                            && let Some(a) = self.last
                        {
                            self.schedule(st, a);
                        }
                    }
                    Some("/user/queue/events") => {
                        if v["type"] == "game.card" {
                            st.liar = v["role"] == "liar";
                        }
                    }
                    _ => self.on_event(st, &v),
                }
                true
            }
            Command::Error => {
                self.stats.error(f.get("message").unwrap_or("ERROR"));
                false
            }
            _ => true,
        }
    }

    async fn run(mut self, deadline: Instant) {
        let mut st = State::default();
        loop {
            let closed = self.play(&mut st, deadline).await;
            if !closed || !self.link.reconnect || Instant::now() >= deadline {
                break;
            }
            if !self.rejoin(deadline).await {
                break;
            }
        }
        if self.host && st.in_game {
            if self.link.last_event.elapsed() > Duration::from_secs(30) {
                self.stats.games_stuck.fetch_add(1, Relaxed);
            } else {
                self.stats.games_running.fetch_add(1, Relaxed);
            }
        }
        self.stats.connections.fetch_sub(1, Relaxed);
        let _ = self.s.ws.close(None).await;
    }

    /// Plays until the deadline (`false`) or until the socket closed (`true`).
    async fn play(&mut self, st: &mut State, deadline: Instant) -> bool {
        loop {
            let due = st
                .pending
                .iter()
                .map(|(t, _)| *t)
                .min()
                .unwrap_or(deadline)
                .min(deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {
                    if Instant::now() >= deadline { return false; }
                    let now = Instant::now();
                    let ready: Vec<Action> = st.pending.iter().filter(|(t, _)| *t <= now).map(|(_, a)| *a).collect();
                    st.pending.retain(|(t, _)| *t > now);
                    for a in ready {
                        if self.act(st, a).await.is_err() {
                            self.stats.error("send failed");
                            return true;
                        }
                    }
                }
                m = self.s.ws.next() => {
                    let Some(Ok(m)) = m else { self.stats.error("closed by server"); return true };
                    if !self.s.feed(m) { self.stats.error("closed by server"); return true; }
                    loop {
                        match self.s.buffered() {
                            Ok(Some(f)) => if !self.on_frame(st, &f) { return true; },
                            Ok(None) => break,
                            Err(_) => { self.stats.error("decode"); return true; }
                        }
                    }
                }
            }
        }
    }

    /// Opens a socket on the next node that answers and resumes the room from the last event
    /// seen; `false` when none did before the deadline.
    async fn rejoin(&mut self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            self.link.node = (self.link.node + 1) % self.link.nodes.len();
            let addr = self.link.nodes[self.link.node];
            match self.resume(addr).await {
                Ok(s) => {
                    self.s = s;
                    self.stats.reconnects.fetch_add(1, Relaxed);
                    return true;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        false
    }

    async fn resume(&self, addr: std::net::SocketAddr) -> Result<Stomp, Error> {
        let mut s = Stomp::connect(addr, self.link.src, &self.link.token, 0).await?;
        s.subscribe("/user/queue/errors", "e").await?;
        s.subscribe("/user/queue/events", "v").await?;
        let topic = format!("/topic/rooms/{}", self.room);
        s.subscribe_since(&topic, "r", self.link.last_seq).await?;
        Ok(s)
    }
}
