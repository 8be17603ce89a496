//! An in-process `RoomStore`: rooms kept in memory only. Used when an operator turns room saving
//! off (`save_rooms = false`, for measuring what saving costs) and by the actor tests, which
//! can make it fail to see that nothing is published before a save succeeds.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Millis, RoomStore, RoomWrite, SavedRoom, StoreError};

#[derive(Default)]
pub struct MemoryRoomStore {
    rooms: Mutex<HashMap<i64, Row>>,
    next_id: Mutex<i64>,
    /// While set, every save fails as a database outage would.
    failing: AtomicBool,
}

#[derive(Debug, Clone)]
struct Row {
    code: String,
    epoch: i64,
    seq: i64,
    format: i32,
    state: Option<String>,
    events: Vec<(i64, String)>,
}

impl MemoryRoomStore {
    pub fn new() -> MemoryRoomStore {
        MemoryRoomStore::default()
    }

    /// Makes saves fail (`true`) or work again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The saved state of a room, if any.
    pub fn state(&self, id: i64) -> Option<String> {
        self.rooms().get(&id).and_then(|r| r.state.clone())
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Row>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RoomStore for MemoryRoomStore {
    async fn create_room(&self, code: &str, _now: Millis) -> Result<Option<i64>, StoreError> {
        let mut rooms = self.rooms();
        if rooms.values().any(|r| r.code == code) {
            return Ok(None);
        }
        let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        let row = Row {
            code: code.to_owned(),
            epoch: 0,
            seq: 0,
            format: 0,
            state: None,
            events: Vec::new(),
        };
        rooms.insert(*next, row);
        Ok(Some(*next))
    }

    async fn save_rooms(&self, writes: &[RoomWrite]) -> Result<Vec<i64>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store set to fail".into()));
        }
        let mut rooms = self.rooms();
        let mut fenced = Vec::new();
        for w in writes {
            let Some(row) = rooms.get_mut(&w.id).filter(|r| r.epoch == w.epoch) else {
                fenced.push(w.id);
                continue;
            };
            if w.state.is_none() {
                rooms.remove(&w.id);
                continue;
            }
            row.seq = w.seq;
            row.format = w.format;
            row.state = w.state.clone();
            row.events.extend(w.events.iter().cloned());
            if let Some(through) = w.prune_through {
                row.events.retain(|(seq, _)| *seq > through);
            }
        }
        Ok(fenced)
    }

    async fn take_over_rooms(&self) -> Result<Vec<SavedRoom>, StoreError> {
        let mut rooms = self.rooms();
        rooms.retain(|_, r| r.state.is_some());
        let mut out: Vec<SavedRoom> = rooms
            .iter_mut()
            .map(|(id, r)| {
                r.epoch += 1;
                SavedRoom {
                    id: *id,
                    epoch: r.epoch,
                    seq: r.seq,
                    format: r.format,
                    state: r.state.clone().unwrap_or_default(),
                    events: r.events.clone(),
                }
            })
            .collect();
        out.sort_by_key(|r| r.id);
        Ok(out)
    }
}
