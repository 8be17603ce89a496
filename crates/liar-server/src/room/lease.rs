//! Room ownership by lease (SPEC §6.4 "Failover", ARCHITECTURE.md `Leases`). In cluster mode
//! every room is served by the node whose lease on it is valid (`rooms.lease_until`, on the
//! database's clock). Each node:
//! - renews the leases of the rooms it runs every `renew` (TTL/3 by default). A room the
//!   answer leaves out was taken over by another node: its actor stops at once. The node counts
//!   its leases from *before* each renewal request, and every actor checks that count before it
//!   serves anything, so a node that was paused or cut off stops serving its rooms without
//!   waiting to hear it lost them. Its saves are refused anyway: each carries the room's epoch,
//!   and a takeover bumps it;
//! - looks every `scan` for rooms whose lease passed (a dead, paused or stopping node's) and
//!   takes them over with one conditional update each (of racing nodes one wins). It resumes
//!   each room from its saved state with its deadlines, and tells the other nodes the room
//!   moved, so their subscribers re-subscribe to the new owner from the last event they have.

use std::collections::HashSet;
use std::time::Duration;

use super::Rooms;

/// Rooms taken over per scan at most (the rest at the next scan).
const TAKEOVER_BATCH: i64 = 200;

#[derive(Debug, Clone, Copy)]
pub struct LeaseTimes {
    pub ttl: Duration,
    pub renew: Duration,
    pub scan: Duration,
}

impl LeaseTimes {
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Renews this node's leases until the process ends.
pub async fn renew(rooms: Rooms, times: LeaseTimes) {
    let Some(remote) = rooms.remote().cloned() else {
        return;
    };
    let mut tick = tokio::time::interval(times.renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ours = rooms.local_rooms();
        let sent = tokio::time::Instant::now();
        match rooms
            .store()
            .renew_leases(remote.node(), &ours, times.ttl_ms())
            .await
        {
            Ok(kept) => {
                rooms.renewed(&kept, sent);
                metrics::gauge!("liar_rooms_owned").set(kept.len() as f64);
                let kept: HashSet<i64> = kept.into_iter().collect();
                for room in ours.into_iter().filter(|r| !kept.contains(r)) {
                    metrics::counter!("liar_lease_lost_total").increment(1);
                    rooms.lose(room).await;
                }
            }
            Err(e) => {
                // The rooms stop by themselves once the last renewal's lease has passed.
                metrics::counter!("liar_lease_renew_failures_total").increment(1);
                tracing::warn!(error = %e, rooms = ours.len(), "renewing room leases failed");
            }
        }
    }
}

/// Takes over rooms whose lease passed, until the process ends.
pub async fn scan(rooms: Rooms, times: LeaseTimes) {
    let Some(remote) = rooms.remote().cloned() else {
        return;
    };
    let mut tick = tokio::time::interval(times.scan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = rooms.stopping();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        if *stopping.borrow() {
            return;
        }
        let sent = tokio::time::Instant::now();
        let taken = match rooms
            .store()
            .take_over_expired(remote.node(), times.ttl_ms(), TAKEOVER_BATCH)
            .await
        {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "looking for rooms to take over failed");
                continue;
            }
        };
        if taken.is_empty() {
            continue;
        }
        let ids: Vec<i64> = taken.iter().map(|r| r.id).collect();
        let resumed = rooms.resume(taken, sent).await;
        metrics::counter!("liar_takeovers_total").increment(resumed as u64);
        tracing::info!(rooms = resumed, "took over rooms whose lease had passed");
        for id in ids {
            remote.announce_moved(id);
        }
    }
}
