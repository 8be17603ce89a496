//! Group commit of room states (SPEC §3 "Durable rooms"). Every room actor hands its saves to one
//! saver task per process, which writes whatever has queued up meanwhile in one transaction:
//! at low load a save is written alone and at once, under load many rooms share a transaction.
//! Several saves of one room in a batch are coalesced (its last state, all its events). A failed
//! write is retried with backoff until it succeeds; the actors keep their events unpublished
//! meanwhile, so clients are never told of a transition that could be lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

use crate::store::{RoomStore, RoomWrite};

/// Most saves written in one transaction.
const MAX_BATCH: usize = 512;
/// First retry delay after a failed write; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How a save ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Saved,
    /// Another process owns the room now (its epoch moved on): the write changed nothing.
    Fenced,
}

struct Request {
    write: RoomWrite,
    done: oneshot::Sender<Saved>,
    queued: Instant,
}

/// A cheap handle to the process's saver task.
#[derive(Clone)]
pub struct Saver {
    tx: mpsc::UnboundedSender<Request>,
    healthy: Arc<AtomicBool>,
}

impl Saver {
    /// Starts the saver task; it ends when every `Saver` handle is dropped and the queue is
    /// written out.
    pub fn start(store: Arc<dyn RoomStore>) -> (Saver, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let healthy = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(run(store, rx, healthy.clone()));
        (Saver { tx, healthy }, task)
    }

    /// Queues a save; the receiver resolves once it is durable (or fenced).
    pub fn save(&self, write: RoomWrite) -> oneshot::Receiver<Saved> {
        let (done, rx) = oneshot::channel();
        // A closed saver (shutdown) drops `done`: the actor sees the save as not acknowledged.
        let _ = self.tx.send(Request {
            write,
            done,
            queued: Instant::now(),
        });
        rx
    }

    /// False while the last write failed (for `/readyz`).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

async fn run(
    store: Arc<dyn RoomStore>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    healthy: Arc<AtomicBool>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        // How long the oldest save of the batch waited for the saver (it was busy writing).
        metrics::histogram!("liar_room_save_queue_seconds")
            .record(batch[0].queued.elapsed().as_secs_f64());
        let mut done = Vec::with_capacity(batch.len());
        let writes = coalesce(batch.into_iter().map(|request| {
            done.push((request.write.id, request.done));
            request.write
        }));
        let fenced = write_until_done(store.as_ref(), &writes, &healthy).await;
        for (id, done) in done {
            let outcome = if fenced.contains(&id) {
                Saved::Fenced
            } else {
                Saved::Saved
            };
            let _ = done.send(outcome);
        }
    }
}

/// Writes the batch, retrying with backoff until the database takes it.
async fn write_until_done(
    store: &dyn RoomStore,
    writes: &[RoomWrite],
    healthy: &AtomicBool,
) -> Vec<i64> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        match store.save_rooms(writes).await {
            Ok(fenced) => {
                metrics::histogram!("liar_room_save_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("liar_room_save_batch_size").record(writes.len() as f64);
                metrics::counter!("liar_room_saves_total").increment(writes.len() as u64);
                if !fenced.is_empty() {
                    metrics::counter!("liar_room_saves_fenced_total")
                        .increment(fenced.len() as u64);
                }
                if !healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("room saves work again");
                }
                return fenced;
            }
            Err(e) => {
                metrics::counter!("liar_room_saves_failed_total").increment(1);
                healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, rooms = writes.len(), retry_in = ?backoff,
                    "saving rooms failed; their events wait until the save succeeds");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One write per room: the last state, every event, the furthest prune.
fn coalesce(batch: impl Iterator<Item = RoomWrite>) -> Vec<RoomWrite> {
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut out: Vec<RoomWrite> = Vec::new();
    for w in batch {
        match index.get(&w.id) {
            Some(&i) => {
                let merged = &mut out[i];
                merged.epoch = w.epoch;
                merged.seq = merged.seq.max(w.seq);
                merged.format = w.format;
                merged.state = w.state;
                merged.events.extend(w.events);
                merged.prune_through = merged.prune_through.max(w.prune_through);
                merged.saved_at = w.saved_at;
                if w.summary.is_some() {
                    merged.summary = w.summary;
                }
                merged.unseated.extend(w.unseated);
            }
            None => {
                index.insert(w.id, out.len());
                out.push(w);
            }
        }
    }
    // Rows are locked in id order by every writer (saves, lease renewals), so concurrent
    // transactions of several nodes wait for each other instead of deadlocking.
    out.sort_by_key(|w| w.id);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: i64, seq: i64, state: Option<&str>) -> RoomWrite {
        RoomWrite {
            id,
            epoch: 1,
            seq,
            format: 1,
            state: state.map(str::to_owned),
            events: vec![(seq, format!("e{seq}"))],
            prune_through: None,
            saved_at: 0,
            summary: None,
            unseated: Vec::new(),
        }
    }

    #[test]
    fn saves_of_one_room_in_a_batch_become_one_write_with_every_event() {
        let batch = [
            write(1, 1, Some("a")),
            write(2, 1, Some("x")),
            write(1, 2, Some("b")),
            write(1, 3, None),
        ];
        let out = coalesce(batch.into_iter());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id, 1);
        assert_eq!(out[0].state, None, "the last state wins (a delete here)");
        assert_eq!(out[0].seq, 3);
        let seqs: Vec<i64> = out[0].events.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(out[1].state.as_deref(), Some("x"));
    }
}
