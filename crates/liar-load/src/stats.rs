//! Counters, latency histograms and the periodic report (every 5 s and at the end).

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, up to 60 s.
const MAX_MICROS: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds")
}

/// Shared by every connection of one run.
pub struct Stats {
    pub connections: AtomicI64,
    pub commands: AtomicU64,
    pub deliveries: AtomicU64,
    pub games: AtomicU64,
    /// `game.started` seen by hosts (a soak compares it with games ended).
    pub games_started: AtomicU64,
    pub games_aborted: AtomicU64,
    /// Games still running at the end whose room had said nothing for 30 s (lost games).
    pub games_stuck: AtomicU64,
    /// Games running at the end, room alive.
    pub games_running: AtomicU64,
    /// Sockets re-opened on another node after theirs closed.
    pub reconnects: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Since the last report.
    interval: Mutex<Histogram<u64>>,
    /// Since the last [`Stats::reset_step`] (one step of a sweep, or the whole run).
    step: Mutex<Histogram<u64>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connections: AtomicI64::new(0),
            commands: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            games: AtomicU64::new(0),
            games_started: AtomicU64::new(0),
            games_aborted: AtomicU64::new(0),
            games_stuck: AtomicU64::new(0),
            games_running: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            interval: Mutex::new(histogram()),
            step: Mutex::new(histogram()),
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let ms = |v: u64| v as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} ms (n={})",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

impl Stats {
    pub fn latency(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_MICROS);
        let _ = self.interval.lock().unwrap().record(us);
        let _ = self.step.lock().unwrap().record(us);
    }

    pub fn error(&self, code: &str) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(code.to_owned())
            .or_default() += 1;
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().unwrap().clone()
    }

    pub fn error_total(&self) -> u64 {
        self.errors.lock().unwrap().values().sum()
    }

    fn take_interval(&self) -> Latency {
        let mut h = self.interval.lock().unwrap();
        let l = Latency::of(&h);
        h.reset();
        l
    }

    pub fn step_latency(&self) -> Latency {
        Latency::of(&self.step.lock().unwrap())
    }

    pub fn reset_step(&self) {
        self.step.lock().unwrap().reset();
    }
}

/// A process's resident memory and cumulative CPU time, read from `/proc/<pid>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub rss_kib: u64,
    pub cpu_secs: f64,
}

pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ProcSample {
        rss_kib,
        cpu_secs: ticks / hz,
    })
}

/// The sum over several processes (the nodes of a cluster); `None` without any or when one is
/// gone.
pub fn procs_sample(pids: &[u32]) -> Option<ProcSample> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(ProcSample::default(), |sum, &pid| {
        let s = proc_sample(pid)?;
        Some(ProcSample {
            rss_kib: sum.rss_kib + s.rss_kib,
            cpu_secs: sum.cpu_secs + s.cpu_secs,
        })
    })
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Rates over one report window.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Window {
    pub secs: f64,
    pub connections: i64,
    pub games_per_min: f64,
    pub commands_per_sec: f64,
    pub deliveries_per_sec: f64,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
    pub server_rss_mib: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    pub load_cpu_pct: Option<f64>,
    pub loadavg: String,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conns {} | games/min {:.1} | cmd/s {:.0} | deliv/s {:.0} | {} | errors {:?}",
            self.connections,
            self.games_per_min,
            self.commands_per_sec,
            self.deliveries_per_sec,
            self.latency,
            self.errors
        )?;
        if let (Some(rss), Some(cpu)) = (self.server_rss_mib, self.server_cpu_pct) {
            write!(f, " | server rss {rss:.1} MiB cpu {cpu:.0}%")?;
        }
        if let Some(cpu) = self.load_cpu_pct {
            write!(f, " | load-gen cpu {cpu:.0}%")?;
        }
        write!(f, " | loadavg {}", self.loadavg)
    }
}

/// Turns counter snapshots into windows.
pub struct Meter {
    pids: Vec<u32>,
    at: Instant,
    commands: u64,
    deliveries: u64,
    games: u64,
    server: Option<ProcSample>,
    own: Option<ProcSample>,
}

impl Meter {
    pub fn new(stats: &Stats, pids: &[u32]) -> Meter {
        Meter {
            pids: pids.to_vec(),
            at: Instant::now(),
            commands: stats.commands.load(Relaxed),
            deliveries: stats.deliveries.load(Relaxed),
            games: stats.games.load(Relaxed),
            server: procs_sample(pids),
            own: proc_sample(std::process::id()),
        }
    }

    /// The window since the last call (or creation); `latency` is supplied by the caller.
    pub fn window(&mut self, stats: &Stats, latency: Latency) -> Window {
        let now = Instant::now();
        let secs = now.duration_since(self.at).as_secs_f64().max(1e-9);
        let (c, d, g) = (
            stats.commands.load(Relaxed),
            stats.deliveries.load(Relaxed),
            stats.games.load(Relaxed),
        );
        let server = procs_sample(&self.pids);
        let own = proc_sample(std::process::id());
        let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| {
            Some((b?.cpu_secs - a?.cpu_secs) / secs * 100.0)
        };
        let w = Window {
            secs,
            connections: stats.connections.load(Relaxed),
            games_per_min: (g - self.games) as f64 / secs * 60.0,
            commands_per_sec: (c - self.commands) as f64 / secs,
            deliveries_per_sec: (d - self.deliveries) as f64 / secs,
            latency,
            errors: stats.errors(),
            server_rss_mib: server.map(|s| s.rss_kib as f64 / 1024.0),
            server_cpu_pct: cpu(self.server, server),
            load_cpu_pct: cpu(self.own, own),
            loadavg: loadavg(),
        };
        self.at = now;
        (self.commands, self.deliveries, self.games) = (c, d, g);
        self.server = server;
        self.own = own;
        w
    }
}

/// Prints a window every 5 s until dropped (abort the handle).
pub fn spawn_reporter(
    stats: std::sync::Arc<Stats>,
    pids: Vec<u32>,
    label: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut meter = Meter::new(&stats, &pids);
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            let w = meter.window(&stats, stats.take_interval());
            println!("[{label} {:>4}s] {w}", start.elapsed().as_secs());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let s = Stats::default();
        for ms in 1..=100u64 {
            s.latency(Duration::from_millis(ms));
        }
        let l = s.step_latency();
        assert_eq!(l.count, 100);
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.1, "{l:?}");
        s.reset_step();
        assert_eq!(s.step_latency().count, 0);
    }

    #[test]
    fn meter_reports_rates_and_errors() {
        let s = Stats::default();
        let mut m = Meter::new(&s, &[std::process::id()]);
        s.commands.fetch_add(10, Relaxed);
        s.error("RATE_LIMITED");
        s.error("RATE_LIMITED");
        let w = m.window(&s, Latency::default());
        assert!(w.commands_per_sec > 0.0);
        assert_eq!(w.errors["RATE_LIMITED"], 2);
        assert!(w.server_rss_mib.unwrap() > 0.0);
    }
}
