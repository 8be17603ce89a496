//! One task per live room: a thin loop around the pure [`Room`]. It `select!`s over its inbox,
//! the room's next deadline, the acknowledgements of its saves and shutdown. After every
//! transition the room is handed to the [`Saver`](super::saver::Saver); the transition's events,
//! private sends and the command's reply are held until that save is durable, then carried out in
//! order (save, then publish). Reads (a view, a subscription, a card) wait until nothing is
//! pending, so nobody sees a state that is not saved. Nothing here awaits a client.

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

use liar_rules::rand::SeedableRng;
use liar_rules::rand::rngs::StdRng;

use super::registry::{Shared, Subscription};
use super::saver::Saved;
use super::state::{Ctx, Input, Output, REPLAY_LOG, ROOM_FORMAT, Reply, Room, Step};
use super::{RoomError, RoomFrame, RoomSummary, RoomView};
use crate::domain::UserId;
use crate::store::{FinishedGame, RoomWrite};

/// Attempts to store a finished game before it is announced unstored (each waits twice as long).
const RECORD_ATTEMPTS: u32 = 6;
/// After that, the write is retried in the background this often, this many times.
const BACKGROUND_RECORD_INTERVAL: Duration = Duration::from_secs(30);
const BACKGROUND_RECORD_ATTEMPTS: u32 = 120;
/// The saved event log is pruned when `seq` passes a multiple of this.
const PRUNE_EVERY: u64 = 32;

pub type ReplyTx<T> = oneshot::Sender<Result<T, RoomError>>;

pub enum Command {
    /// An input that may change the room.
    Step {
        input: Input,
        reply: Option<ReplyTx<Reply>>,
    },
    View {
        reply: ReplyTx<RoomView>,
    },
    Subscribe {
        user: UserId,
        since: Option<u64>,
        /// The node asking for a subscriber there (cluster mode): it gets the room's events.
        node: Option<String>,
        reply: ReplyTx<Subscription>,
    },
    /// Re-send the member's card (after he resubscribed to his queue).
    Resync {
        user: UserId,
    },
    /// Cluster mode: another node owns the room now; stop serving it at once.
    Stop,
}

/// Something to do once the transition that produced it is saved.
enum Effect {
    Out(Output),
    Reply(ReplyTx<Reply>, Result<Reply, RoomError>),
}

pub struct RoomActor {
    room: Room,
    shared: Arc<Shared>,
    inbox: mpsc::WeakSender<Command>,
    events: broadcast::Sender<RoomFrame>,
    rng: StdRng,
    /// Effects of transitions whose saves are not acknowledged yet, oldest first.
    /// Each with the moment its save was queued.
    pending: VecDeque<(Instant, Vec<Effect>)>,
    saves: FuturesOrdered<oneshot::Receiver<Saved>>,
    /// Reads that arrived while something was pending.
    deferred: VecDeque<Command>,
    counted_phase: Option<&'static str>,
    last_summary: Option<RoomSummary>,
    /// Cluster mode: the other nodes with subscribers of this room (they get its events).
    nodes: Vec<String>,
    /// Cluster mode: members unseated since the last save (their directory rows go with it).
    unseated: Vec<UserId>,
    /// Cluster mode: the list row as last saved.
    saved_summary: Option<RoomSummary>,
    /// Cluster mode: until when this node's lease on the room surely holds.
    lease: Arc<AtomicU64>,
}

impl RoomActor {
    pub fn new(
        room: Room,
        shared: Arc<Shared>,
        inbox: mpsc::WeakSender<Command>,
        lease: Arc<AtomicU64>,
    ) -> RoomActor {
        RoomActor {
            room,
            shared,
            inbox,
            events: broadcast::channel(REPLAY_LOG).0,
            rng: StdRng::from_rng(&mut liar_rules::rand::rng()),
            pending: VecDeque::new(),
            saves: FuturesOrdered::new(),
            deferred: VecDeque::new(),
            counted_phase: None,
            last_summary: None,
            nodes: Vec::new(),
            unseated: Vec::new(),
            saved_summary: None,
            lease,
        }
    }

    /// Runs the room until it closes, its ownership is lost, or the server shuts down.
    /// `first` are the outputs of its creation (saved first); `resumed` restores a saved room.
    pub async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Command>,
        first: Vec<Output>,
        resumed: bool,
    ) {
        let mut stopping = self.shared.stopping();
        self.last_summary = Some(self.room.summary());
        if resumed {
            self.step(Input::Resumed, None);
            if let Some(game) = self.room.unstored_result() {
                let no = self.room.game_no();
                self.push_effects(vec![Effect::Out(Output::Record {
                    game: no,
                    result: Box::new(game),
                })]);
            }
        } else {
            let effects = first.into_iter().map(Effect::Out).collect();
            self.save_and_hold(effects);
        }
        let fenced = loop {
            let wake = self
                .room
                .next_deadline()
                .map(|at| self.shared.clock.instant_of(at));
            tokio::select! {
                biased;
                Some(outcome) = self.saves.next(), if !self.saves.is_empty() => {
                    if !self.saved(outcome) {
                        break true;
                    }
                }
                _ = stopping.changed() => {
                    self.stop(&mut inbox).await;
                    break false;
                }
                command = inbox.recv() => match command {
                    // Cluster mode: past this node's lease nothing more is served here.
                    Some(command)
                        if !self.shared.lease_ok(&self.lease)
                            || matches!(command, Command::Stop) =>
                    {
                        refuse(command, RoomError::Unavailable);
                        break true;
                    }
                    Some(command) => self.command(command),
                    None => break false,
                },
                _ = sleep_until(wake) => {
                    if !self.shared.lease_ok(&self.lease) {
                        break true;
                    }
                    self.fire_timers();
                }
            }
            if self.room.is_closed() && self.pending.is_empty() {
                break false;
            }
        };
        self.finish(fenced);
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Step { input, reply } => self.step(input, reply),
            read if !self.pending.is_empty() => self.deferred.push_back(read),
            Command::View { reply } => {
                let _ = reply.send(Ok(self.room.view()));
            }
            Command::Subscribe {
                user,
                since,
                node,
                reply,
            } => {
                // A member who subscribes is connected (after a takeover every member is away
                // until his client shows up, and a client on another node shows up this way).
                if self.room.is_member(user) && !self.room.is_connected(user) {
                    self.step(Input::Presence { user, online: true }, None);
                    if !self.pending.is_empty() {
                        self.deferred.push_back(Command::Subscribe {
                            user,
                            since,
                            node,
                            reply,
                        });
                        return;
                    }
                }
                let subscription = self.subscribe(user, since);
                if let (Ok(_), Some(node)) = (&subscription, node)
                    && !self.nodes.contains(&node)
                {
                    self.nodes.push(node);
                }
                let _ = reply.send(subscription);
            }
            Command::Resync { user } => {
                if let Some(card) = self.room.card(user) {
                    self.shared.hub.send_to_user(user, card);
                }
            }
            Command::Stop => {}
        }
    }

    /// Applies one input to the room and saves the result before anything goes out.
    fn step(&mut self, input: Input, reply: Option<ReplyTx<Reply>>) {
        let starting = matches!(input, Input::Start(_));
        let catalog = self.shared.topics.snapshot();
        let mut ctx = Ctx {
            now: self.shared.clock.now(),
            rng: &mut self.rng,
            topics: &catalog,
            rules: &self.shared.rules,
        };
        let room = &mut self.room;
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| room.handle(input, &mut ctx)))
            .unwrap_or_else(|_| {
                tracing::error!(
                    room = self.room.id(),
                    "room input panicked; the room goes on"
                );
                Step {
                    reply: Err(RoomError::Internal),
                    outputs: Vec::new(),
                    changed: false,
                }
            });
        if starting && step.reply.is_ok() {
            metrics::counter!("liar_games_started_total").increment(1);
        }
        let mut effects = Vec::with_capacity(step.outputs.len() + 1);
        for output in step.outputs {
            match output {
                // The directory changes at once: it is what keeps one member in one room.
                Output::Seated(user) => self.shared.set_member(user, self.room.id()),
                Output::Unseated(user) => {
                    self.shared.clear_member(user, self.room.id());
                    if self.shared.remote.is_some() {
                        self.unseated.push(user);
                    }
                }
                other => effects.push(Effect::Out(other)),
            }
        }
        if let Some(tx) = reply {
            effects.push(Effect::Reply(tx, step.reply));
        }
        if step.changed {
            self.save_and_hold(effects);
        } else {
            self.push_effects(effects);
        }
    }

    /// Queues the room's save; `effects` go out once it is acknowledged.
    fn save_and_hold(&mut self, effects: Vec<Effect>) {
        let write = self.write(&effects);
        self.saves.push_back(self.shared.saver.save(write));
        self.pending.push_back((Instant::now(), effects));
    }

    /// Effects of an input that changed nothing: after what is pending, or now.
    fn push_effects(&mut self, effects: Vec<Effect>) {
        match self.pending.back_mut() {
            Some((_, last)) => last.extend(effects),
            None => self.execute(effects),
        }
    }

    fn write(&mut self, effects: &[Effect]) -> RoomWrite {
        let events: Vec<(i64, String)> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Out(Output::Event { seq, json }) => {
                    Some((*seq as i64, String::from_utf8_lossy(json).into_owned()))
                }
                _ => None,
            })
            .collect();
        let crossed = events.iter().any(|(seq, _)| {
            (*seq as u64).is_multiple_of(PRUNE_EVERY) && *seq as u64 > REPLAY_LOG as u64
        });
        let seq = self.room.seq();
        // Cluster mode: the list row and the directory go with the state.
        let mut summary = None;
        if self.shared.remote.is_some() && !self.room.is_closed() {
            let now = self.room.summary();
            if self.saved_summary.as_ref() != Some(&now) {
                summary = serde_json::to_string(&now).ok();
                self.saved_summary = Some(now);
            }
        }
        RoomWrite {
            id: self.room.id(),
            epoch: self.room.epoch(),
            seq: seq as i64,
            format: ROOM_FORMAT,
            state: (!self.room.is_closed()).then(|| self.room.to_saved()),
            events,
            prune_through: crossed.then(|| (seq - REPLAY_LOG as u64) as i64),
            saved_at: self.shared.clock.now().0,
            summary,
            unseated: std::mem::take(&mut self.unseated),
        }
    }

    /// A save was acknowledged: carry out its effects. `false` when the room must stop.
    fn saved(&mut self, outcome: Result<Saved, oneshot::error::RecvError>) -> bool {
        match outcome {
            Ok(Saved::Saved) => {
                if let Some((queued, effects)) = self.pending.pop_front() {
                    // What durability costs a transition: from its save queued to its effects out.
                    metrics::histogram!("liar_room_save_wait_seconds")
                        .record(queued.elapsed().as_secs_f64());
                    self.execute(effects);
                }
                while self.pending.is_empty() {
                    let Some(read) = self.deferred.pop_front() else {
                        break;
                    };
                    self.command(read);
                }
                true
            }
            Ok(Saved::Fenced) => {
                tracing::warn!(
                    room = self.room.id(),
                    epoch = self.room.epoch(),
                    "another process owns this room now; this one stops serving it"
                );
                false
            }
            Err(_) => {
                tracing::error!(room = self.room.id(), "the saver is gone; the room stops");
                false
            }
        }
    }

    fn execute(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Reply(tx, reply) => {
                    let _ = tx.send(reply);
                }
                Effect::Out(Output::Event { seq, json }) => {
                    if let Some(remote) = &self.shared.remote {
                        remote.publish_event(&self.nodes, self.room.id(), seq, &json);
                    }
                    let _ = self.events.send(RoomFrame::Event { seq, json });
                }
                Effect::Out(Output::Private { to, json }) => self.shared.hub.send_to_user(to, json),
                Effect::Out(Output::Evict(user)) => {
                    if let Some(remote) = &self.shared.remote {
                        remote.publish_evict(&self.nodes, self.room.id(), user);
                    }
                    let _ = self.events.send(RoomFrame::Evict(user));
                }
                Effect::Out(Output::Record { game, result }) => self.record(game, *result),
                Effect::Out(Output::Seated(_) | Output::Unseated(_) | Output::Closed) => {}
            }
        }
        self.count_phase();
        self.sync_lobby();
    }

    fn fire_timers(&mut self) {
        let now = self.shared.clock.now();
        for timer in self.room.take_due(now) {
            self.step(Input::Timer(timer), None);
        }
    }

    fn subscribe(&mut self, user: UserId, since: Option<u64>) -> Result<Subscription, RoomError> {
        if !self.room.is_member(user) {
            return Err(RoomError::NotAMember);
        }
        let first = since
            .and_then(|n| self.room.replay(n))
            .unwrap_or_else(|| vec![self.room.snapshot()]);
        Ok(Subscription {
            first,
            live: self.events.subscribe(),
            through: self.room.seq(),
        })
    }

    /// Stores a finished game (exactly once, by key), then tells the room.
    fn record(&self, no: u64, game: FinishedGame) {
        metrics::counter!("liar_games_finished_total").increment(1);
        let store = self.shared.results.clone();
        let inbox = self.inbox.clone();
        self.shared.tasks.spawn(async move {
            let mut stored = None;
            for attempt in 0..RECORD_ATTEMPTS {
                match store.record_game(game.clone()).await {
                    Ok(totals) => {
                        stored = Some(totals);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, key = %game.key, "storing a result failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
            let done = stored.is_some();
            if let Some(tx) = inbox.upgrade() {
                let input = Input::ResultStored { game: no, stored };
                let _ = tx.send(Command::Step { input, reply: None }).await;
            }
            if done {
                return;
            }
            // The room moves on (announced `stored: false`), but the result is not dropped: the
            // write is idempotent by key, so keep trying while the database is away.
            tracing::error!(key = %game.key, "result not stored yet; retrying in the background");
            for _ in 0..BACKGROUND_RECORD_ATTEMPTS {
                tokio::time::sleep(BACKGROUND_RECORD_INTERVAL).await;
                if store.record_game(game.clone()).await.is_ok() {
                    tracing::info!(key = %game.key, "result stored after retrying");
                    return;
                }
            }
            tracing::error!(key = %game.key, "result could not be stored; giving up");
        });
    }

    /// Shutdown: refuse what is queued, let the pending saves finish and their effects go out.
    async fn stop(&mut self, inbox: &mut mpsc::Receiver<Command>) {
        inbox.close();
        while let Ok(command) = inbox.try_recv() {
            refuse(command, RoomError::ShuttingDown);
        }
        while let Some(outcome) = self.saves.next().await {
            if !self.saved(outcome) {
                break;
            }
        }
        for command in std::mem::take(&mut self.deferred) {
            refuse(command, RoomError::ShuttingDown);
        }
    }

    fn finish(&mut self, fenced: bool) {
        self.room_phase_gauge_off();
        for (_, effects) in std::mem::take(&mut self.pending) {
            for effect in effects {
                if let Effect::Reply(tx, _) = effect {
                    let _ = tx.send(Err(RoomError::Unavailable));
                }
            }
        }
        let closed = self.room.is_closed() && !fenced;
        self.shared
            .remove_room(self.room.id(), closed && !self.room.is_private(), closed);
    }

    fn room_phase_gauge_off(&mut self) {
        if let Some(old) = self.counted_phase.take() {
            metrics::gauge!("liar_games", "phase" => old).decrement(1.0);
        }
    }

    /// Keeps the `liar_games{phase}` gauge in step with this room's game.
    fn count_phase(&mut self) {
        use liar_rules::Phase;
        let phase = self.room.phase().map(|p| match p {
            Phase::Deal => "deal",
            Phase::Hints => "hints",
            Phase::Discussion => "discussion",
            Phase::Vote => "vote",
            Phase::Defense => "defense",
            Phase::Guess => "guess",
            Phase::Result => "result",
        });
        if phase == self.counted_phase {
            return;
        }
        self.room_phase_gauge_off();
        if let Some(new) = phase {
            metrics::gauge!("liar_games", "phase" => new).increment(1.0);
        }
        self.counted_phase = phase;
    }

    /// Keeps the room list current and tells the lobby when this room's summary changed.
    fn sync_lobby(&mut self) {
        if self.room.is_closed() {
            return;
        }
        let summary = self.room.summary();
        if self.last_summary.as_ref() == Some(&summary) {
            return;
        }
        self.last_summary = Some(summary.clone());
        self.shared.update_summary(summary);
    }
}

fn refuse(command: Command, error: RoomError) {
    match command {
        Command::Step { reply, .. } => {
            if let Some(tx) = reply {
                let _ = tx.send(Err(error));
            }
        }
        Command::View { reply } => {
            let _ = reply.send(Err(error));
        }
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Command::Resync { .. } | Command::Stop => {}
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
