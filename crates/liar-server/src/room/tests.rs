//! The room as a value: synchronous tests of `Room::handle` with a fixed clock and a seeded
//! generator, and of saving and loading it.

use liar_rules::rand::SeedableRng;
use liar_rules::rand::rngs::StdRng;
use liar_rules::{Catalog, Millis};
use serde_json::{Value, json};

use super::state::{Ctx, Input, NewRoom, Output, Reply, Room, RoomRules, RoomTimer};
use super::{Person, RoomError, RoomSettings};
use crate::config::WindowRule;

const T0: Millis = Millis(1_795_428_000_000);

struct Bench {
    room: Room,
    now: Millis,
    rng: StdRng,
    topics: Catalog,
    rules: RoomRules,
}

impl Bench {
    /// A room hosted by member 1, with members `2..=n` joined.
    fn new(n: i64, settings: Value) -> Bench {
        let topics = Catalog::builtin().unwrap();
        let rules = RoomRules {
            grace_secs: 60,
            deal_secs: 5,
            turn_grace_secs: 10,
            result_display_secs: 10,
            chat_limit: WindowRule {
                limit: 5,
                window_secs: 5,
            },
        };
        let mut rng = StdRng::seed_from_u64(7);
        let settings = RoomSettings::default()
            .patched(&settings, |_| true)
            .unwrap();
        let new = NewRoom {
            id: 1,
            code: "ABCDEF".into(),
            name: "bench".into(),
            password_hash: None,
            host: person(1),
            settings,
        };
        let mut ctx = Ctx {
            now: T0,
            rng: &mut rng,
            topics: &topics,
            rules: &rules,
        };
        let (room, _) = Room::new(new, true, &mut ctx);
        let mut b = Bench {
            room,
            now: T0,
            rng,
            topics,
            rules,
        };
        for id in 2..=n {
            assert_eq!(b.input(Input::Join(person(id))).0, Ok(Reply::Joined));
        }
        b
    }

    fn input(&mut self, input: Input) -> (Result<Reply, RoomError>, Vec<Output>) {
        let mut ctx = Ctx {
            now: self.now,
            rng: &mut self.rng,
            topics: &self.topics,
            rules: &self.rules,
        };
        let step = self.room.handle(input, &mut ctx);
        (step.reply, step.outputs)
    }

    /// Moves the clock to the next deadline and fires what is due.
    fn fire(&mut self) -> Vec<Output> {
        self.now = self.room.next_deadline().expect("a pending deadline");
        let mut out = Vec::new();
        for timer in self.room.take_due(self.now) {
            out.extend(self.input(Input::Timer(timer)).1);
        }
        out
    }

    fn start(&mut self) {
        for id in self.room.member_ids() {
            if id != 1 {
                self.input(Input::Ready {
                    user: id,
                    ready: true,
                })
                .0
                .unwrap();
            }
        }
        assert_eq!(self.input(Input::Start(1)).0, Ok(Reply::Done));
    }

    fn phase(&self) -> Value {
        serde_json::to_value(self.room.view().game.unwrap()["phase"].clone()).unwrap()
    }
}

impl PartialEq for RoomError {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

fn person(id: i64) -> Person {
    Person {
        id,
        username: format!("p{id}"),
    }
}

fn events(out: &[Output]) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event { json, .. } => Some(serde_json::from_slice(json).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn refused_commands_change_nothing_and_say_nothing() {
    let mut b = Bench::new(3, json!({"maxPlayers": 3}));
    let seq = b.room.seq();
    let (reply, out) = b.input(Input::Join(person(9)));
    assert_eq!(reply, Err(RoomError::Full));
    assert!(out.is_empty());
    assert_eq!(b.input(Input::Start(2)).0, Err(RoomError::NotHost));
    assert_eq!(b.input(Input::Start(1)).0, Err(RoomError::NotReady));
    assert_eq!(
        b.input(Input::Ready {
            user: 1,
            ready: true
        })
        .0
        .unwrap_err()
        .code(),
        "VALIDATION"
    );
    assert_eq!(b.room.seq(), seq, "no event was numbered");
}

#[test]
fn a_started_game_runs_on_its_timers_and_only_cards_are_private() {
    let mut b = Bench::new(3, json!({"hintRounds": 1, "hintSeconds": 10}));
    let seq = b.room.seq();
    b.start();
    assert!(b.room.seq() > seq);
    assert_eq!(b.phase(), "deal");
    assert_eq!(b.room.next_deadline(), Some(T0.plus_secs(5)));
    let out = b.fire();
    assert!(
        events(&out).iter().any(|e| e["type"] == "turn.started"),
        "{:?}",
        events(&out)
    );
    assert_eq!(b.phase(), "hints");
    for id in 1..=3 {
        let card: Value = serde_json::from_slice(&b.room.card(id).unwrap()).unwrap();
        assert_eq!(card["type"], "game.card");
    }
}

#[test]
fn a_saved_room_loads_as_the_same_room_and_resumes_with_fresh_graces() {
    let mut b = Bench::new(4, json!({"hintRounds": 1}));
    b.start();
    b.fire();
    let saved = b.room.to_saved();
    let log: Vec<(i64, String)> = (1..=b.room.seq())
        .filter_map(|s| {
            b.room
                .replay(s - 1)
                .and_then(|e| e.first().cloned())
                .map(|e| (s as i64, String::from_utf8(e.to_vec()).unwrap()))
        })
        .collect();
    let mut loaded = Room::from_saved(super::state::ROOM_FORMAT, &saved, 1, log).unwrap();
    assert_eq!(loaded.epoch(), 1);
    let (before, after) = (b.room.view(), loaded.view());
    assert_eq!(
        after.game, before.game,
        "same game: phase, deadline, order, hints"
    );
    assert_eq!(loaded.seq(), b.room.seq());
    for id in 1..=4 {
        assert_eq!(loaded.card(id), b.room.card(id), "same card for {id}");
    }
    assert_eq!(
        loaded.replay(0).map(|e| e.len()),
        Some(b.room.seq() as usize),
        "the log came back"
    );

    let later = b.now.plus_secs(3);
    let mut ctx = Ctx {
        now: later,
        rng: &mut b.rng,
        topics: &b.topics,
        rules: &b.rules,
    };
    let step = loaded.handle(Input::Resumed, &mut ctx);
    assert!(step.changed, "resuming is saved");
    assert!(
        loaded.view().members.iter().all(|m| !m.connected),
        "everyone is away"
    );
    let graces: Vec<Millis> = loaded
        .timers
        .iter()
        .filter(|(t, _)| {
            matches!(
                t,
                RoomTimer::Game {
                    timer: liar_rules::Timer::Grace { .. }
                }
            )
        })
        .map(|(_, at)| *at)
        .collect();
    assert_eq!(graces, vec![later.plus_secs(60); 4], "a fresh grace each");
}

#[test]
fn a_format_this_binary_does_not_know_is_refused_not_misread() {
    let b = Bench::new(3, json!({}));
    let err = Room::from_saved(super::state::ROOM_FORMAT + 1, &b.room.to_saved(), 0, vec![]);
    assert!(err.is_err());
    assert!(Room::from_saved(super::state::ROOM_FORMAT, "{}", 0, vec![]).is_err());
}

#[test]
fn replay_gives_exactly_the_missed_events_or_nothing_when_the_log_is_too_short() {
    let mut b = Bench::new(3, json!({}));
    let from = b.room.seq();
    for i in 0..3 {
        b.input(Input::Chat {
            user: 2,
            text: format!("c{i}"),
        })
        .0
        .unwrap();
    }
    let replayed = b.room.replay(from).unwrap();
    assert_eq!(replayed.len(), 3);
    assert_eq!(b.room.replay(b.room.seq()).unwrap().len(), 0);
    assert!(
        b.room.replay(b.room.seq() + 5).is_none(),
        "a seq from the future"
    );
    for _ in 0..(super::state::REPLAY_LOG + 10) {
        b.now = b.now.plus_secs(2);
        b.input(Input::Chat {
            user: 3,
            text: "x".into(),
        })
        .0
        .unwrap();
    }
    assert!(
        b.room.replay(from).is_none(),
        "older than the log: a snapshot instead"
    );
    assert_eq!(b.room.view().chat.len(), super::state::CHAT_KEPT);
}

#[test]
fn a_lobby_member_away_past_his_grace_leaves_and_the_host_leaving_closes_the_room() {
    let mut b = Bench::new(3, json!({"onHostLeave": "close"}));
    let (_, out) = b.input(Input::Presence {
        user: 3,
        online: false,
    });
    assert!(
        events(&out)
            .iter()
            .any(|e| e["type"] == "player.disconnected")
    );
    assert_eq!(b.room.next_deadline(), Some(T0.plus_secs(60)));
    let out = b.fire();
    assert!(
        events(&out)
            .iter()
            .any(|e| e["type"] == "member.left" && e["reason"] == "timeout")
    );
    assert!(out.iter().any(|o| matches!(o, Output::Unseated(3))));
    let (reply, out) = b.input(Input::Leave(1));
    assert_eq!(reply, Ok(Reply::Done));
    assert!(events(&out).iter().any(|e| e["type"] == "room.closed"));
    assert!(b.room.is_closed());
    assert!(out.iter().any(|o| matches!(o, Output::Closed)));
}

mod actor {
    //! The actor around the room, under `tokio::time::pause()`: saves before publishing, and
    //! timers on tokio's clock.

    use async_trait::async_trait;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::auth::password::Hasher;
    use crate::config::{HashCost, WindowRule};
    use crate::hub::Hub;
    use crate::room::{Person, RoomError, RoomFrame, RoomRules, Rooms, RoomsConfig};
    use crate::store::memory::MemoryRoomStore;
    use crate::store::{
        FinishedGame, PlayerTotals, ResultStore, StoreError, TopicOverride, TopicStore,
    };
    use crate::topics::Topics;

    struct NoResults;

    #[async_trait]
    impl ResultStore for NoResults {
        async fn record_game(
            &self,
            _game: FinishedGame,
        ) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
            Ok((1, Vec::new()))
        }
    }

    #[async_trait]
    impl TopicStore for NoResults {
        async fn topic_overrides(&self) -> Result<Vec<TopicOverride>, StoreError> {
            Ok(Vec::new())
        }
        async fn save_topic_override(&self, _edit: TopicOverride) -> Result<(), StoreError> {
            Ok(())
        }
        async fn delete_topic_override(&self, _id: &str) -> Result<(), StoreError> {
            Ok(())
        }
    }

    async fn rooms(store: Arc<MemoryRoomStore>, hub: Arc<Hub>) -> Rooms {
        let builtin = liar_rules::Catalog::builtin().unwrap();
        let topics = Topics::load(builtin, Arc::new(NoResults)).await.unwrap();
        let cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        Rooms::new(RoomsConfig {
            hub,
            hasher: Hasher::new(cost, 1).unwrap(),
            topics,
            results: Arc::new(NoResults),
            store,
            remote: None,
            lease_ms: 5000,
            rules: RoomRules {
                grace_secs: 60,
                deal_secs: 5,
                turn_grace_secs: 10,
                result_display_secs: 10,
                chat_limit: WindowRule {
                    limit: 5,
                    window_secs: 5,
                },
            },
        })
    }

    fn person(id: i64) -> Person {
        Person {
            id,
            username: format!("p{id}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_published_before_its_save_succeeds_and_a_failed_save_is_retried() {
        let store = Arc::new(MemoryRoomStore::new());
        let hub = Arc::new(Hub::default());
        let rooms = rooms(store.clone(), hub.clone()).await;
        let (room, _) = rooms
            .create(person(1), Some("r"), None, None)
            .await
            .unwrap();
        let mut sub = rooms.subscribe(1, room, None).await.unwrap();
        store.set_failing(true);
        let chat = {
            let rooms = rooms.clone();
            tokio::spawn(async move { rooms.chat(1, room, "hello".into()).await })
        };
        // The database is away for 30 s (of tokio's clock): the command answers UNAVAILABLE
        // after 10 s, and nobody sees the chat line.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(chat.await.unwrap().unwrap_err().code(), "UNAVAILABLE");
        assert!(
            sub.live.try_recv().is_err(),
            "nothing published before it is saved"
        );
        assert!(!rooms.saving(), "readiness says saving fails");
        store.set_failing(false);
        let frame = tokio::time::timeout(Duration::from_secs(5), sub.live.recv()).await;
        let Ok(Ok(RoomFrame::Event { json, .. })) = frame else {
            panic!("the chat line after the save: {frame:?}");
        };
        let event: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(event["text"], "hello", "published once saved");
        assert!(store.state(room).unwrap().contains("hello"));
        assert!(rooms.saving());
    }

    #[tokio::test(start_paused = true)]
    async fn a_games_deadlines_fire_on_tokios_clock() {
        let store = Arc::new(MemoryRoomStore::new());
        let hub = Arc::new(Hub::default());
        for id in 1..=3 {
            hub.connected(id);
        }
        let rooms = rooms(store, hub).await;
        let (room, _) = rooms
            .create(person(1), Some("r"), None, None)
            .await
            .unwrap();
        for id in 2..=3 {
            rooms.join(person(id), room, None).await.unwrap();
            rooms.ready(id, room, true).await.unwrap();
        }
        rooms.start(1, room).await.unwrap();
        let phase = |v: &crate::room::RoomView| v.game.as_ref().unwrap()["phase"].clone();
        assert_eq!(phase(&rooms.view(room).await.unwrap()), "deal");
        tokio::time::sleep(Duration::from_millis(4_900)).await;
        assert_eq!(phase(&rooms.view(room).await.unwrap()), "deal");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            phase(&rooms.view(room).await.unwrap()),
            "hints",
            "5 s of card reading"
        );
        let err: RoomError = rooms.start(1, room).await.unwrap_err();
        assert_eq!(err.code(), "IN_GAME");
    }
}
