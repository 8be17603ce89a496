//! Whole games over real STOMP connections (SPEC §3, §4; docs/rules.md): the happy path with a
//! secrecy audit of every frame, refusals, a reconnect mid-game, a liar who never comes back,
//! and a rematch.
//!
//! The bots only use what a client can know: their own card and the public events. The test
//! itself reads every card (to know the liar and the word for the audit and the expected
//! result), and only the rematch test uses that knowledge to steer the vote.

use crate::helpers::*;
use crate::ws_client::*;
use liar_stomp::{Command, Frame};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Long enough for anything the server does on its own (a hint turn is at least 10 s).
const LONG: Duration = Duration::from_secs(15);

/// Settings for quick games: one rotation, no discussion, no defense.
fn quick() -> Value {
    json!({"hintRounds": 1, "discussionSeconds": 0, "defenseSeconds": 0, "mode": "classic",
           "hintSeconds": 10, "voteSeconds": 10, "guessSeconds": 10})
}

fn fast(config: &mut liar_server::Config) {
    config.deal_secs = 0;
    config.turn_grace_secs = 1;
    config.result_display_secs = 1;
}

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

fn code(err: &Value) -> &str {
    err["code"].as_str().unwrap_or_default()
}

fn id(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an id: {v}"))
}

/// The next message on `dest` satisfying `pred`; messages before it are consumed (they stay in
/// the client's log). Panics after `timeout`.
async fn next_on(
    ws: &mut StompClient,
    dest: &str,
    pred: impl Fn(&Value) -> bool,
    timeout: Duration,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next_message_on(dest, left).await {
            Some(v) if pred(&v) => return v,
            Some(_) => continue,
            None => panic!(
                "user {:?}: the awaited message on {dest} never came; received {:#?}",
                ws.user_id,
                ws.summary()
            ),
        }
    }
}

fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == kind
}

fn phase(p: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "phase.changed" && v["phase"] == p
}

// ---- A table of players -----------------------------------------------------------------------

struct Seat {
    id: i64,
    tokens: Tokens,
    /// `None` while his socket is closed.
    ws: Option<StompClient>,
    /// Every frame of his earlier (closed) connections.
    archive: Vec<Frame>,
}

impl Seat {
    fn ws(&mut self) -> &mut StompClient {
        let id = self.id;
        self.ws
            .as_mut()
            .unwrap_or_else(|| panic!("user {id} is not connected"))
    }

    /// Every frame this member received, over all his connections.
    fn all_frames(&self) -> Vec<Frame> {
        let mut all = self.archive.clone();
        if let Some(ws) = &self.ws {
            all.extend(ws.frames().iter().cloned());
        }
        all
    }

    /// Closes his socket (a closed tab), keeping what it received.
    async fn drop_connection(&mut self) {
        let mut ws = self.ws.take().expect("connected");
        ws.drain(Duration::from_millis(100)).await;
        self.archive.extend(ws.frames().iter().cloned());
        ws.close().await;
    }
}

struct Table {
    room: i64,
    topic: String,
    seats: Vec<Seat>,
}

/// What the test learned from the cards of one game.
#[derive(Debug, Clone)]
pub(crate) struct Deal {
    pub(crate) order: Vec<i64>,
    pub(crate) liar: i64,
    pub(crate) word: String,
    pub(crate) cards: HashMap<i64, Value>,
}

impl Table {
    /// `names[0]` creates the room with `settings` and watches it; the others join and watch.
    async fn open(app: &TestApp, settings: Value, names: &[&str]) -> Table {
        let (host_id, host_tokens) = app.member(names[0]).await;
        let mut ws = StompClient::member(app, &host_tokens.access).await;
        let (room, _) = app
            .create_room(
                &host_tokens.access,
                &format!("{}'s table", names[0]),
                settings,
            )
            .await;
        ws.watch(room).await;
        let mut t = Table {
            room,
            topic: room_topic(room),
            seats: vec![Seat {
                id: host_id,
                tokens: host_tokens,
                ws: Some(ws),
                archive: Vec::new(),
            }],
        };
        for name in &names[1..] {
            t.join(app, name).await;
        }
        t
    }

    async fn join(&mut self, app: &TestApp, name: &str) -> i64 {
        let (id, tokens) = app.member(name).await;
        let mut ws = StompClient::member(app, &tokens.access).await;
        ws.command(self.room, "join", json!({}))
            .await
            .expect("join");
        ws.watch(self.room).await;
        self.seats.push(Seat {
            id,
            tokens,
            ws: Some(ws),
            archive: Vec::new(),
        });
        id
    }

    fn host(&self) -> i64 {
        self.seats[0].id
    }

    fn ids(&self) -> Vec<i64> {
        self.seats.iter().map(|s| s.id).collect()
    }

    fn seat(&mut self, id: i64) -> &mut Seat {
        self.seats
            .iter_mut()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no seat {id}"))
    }

    fn ws(&mut self, id: i64) -> &mut StompClient {
        self.seat(id).ws()
    }

    fn live(&self, id: i64) -> bool {
        self.seats.iter().any(|s| s.id == id && s.ws.is_some())
    }

    fn live_ids(&self) -> Vec<i64> {
        self.seats
            .iter()
            .filter(|s| s.ws.is_some())
            .map(|s| s.id)
            .collect()
    }

    async fn command(&mut self, who: i64, command: &str, body: Value) -> Result<(), Value> {
        let room = self.room;
        self.ws(who).command(room, command, body).await
    }

    /// Waits until `who` sees `phase.changed {p}` of the current game on his connection (at once
    /// when an earlier wait already went past it).
    async fn await_phase(&mut self, who: i64, p: &'static str) -> Value {
        self.seen_or_wait(who, phase(p)).await
    }

    /// The first message of the current game on the room topic matching `pred` that `who`
    /// received, waiting for it when it has not arrived yet. Only for events that happen once
    /// per game.
    async fn seen_or_wait(&mut self, who: i64, pred: impl Fn(&Value) -> bool) -> Value {
        let topic = self.topic.clone();
        let ws = self.ws(who);
        let log = ws.messages_on(&topic);
        let game_start = log
            .iter()
            .rposition(|e| e["type"] == "game.started")
            .unwrap_or(0);
        if let Some(e) = log[game_start..].iter().find(|e| pred(e)) {
            return e.clone();
        }
        next_on(ws, &topic, pred, LONG).await
    }

    async fn ready_all(&mut self) {
        let host = self.host();
        for who in self.ids() {
            if who != host {
                self.command(who, "ready", json!({"ready": true}))
                    .await
                    .expect("ready");
            }
        }
    }

    /// The host starts; everyone sees the same `game.started` and gets exactly one card.
    async fn start(&mut self) -> Deal {
        let host = self.host();
        self.command(host, "start", json!({})).await.expect("start");
        let topic = self.topic.clone();
        let mut started: Option<Value> = None;
        let mut cards = HashMap::new();
        for who in self.ids() {
            let ws = self.ws(who);
            let mut e = next_on(ws, &topic, is("game.started"), WAIT).await;
            e.as_object_mut().unwrap().remove("seq");
            match &started {
                None => started = Some(e),
                Some(s) => assert_eq!(&e, s, "everyone sees the same game.started"),
            }
            let card = next_on(ws, EVENTS, is("game.card"), WAIT).await;
            cards.insert(who, card);
        }
        let started = started.unwrap();
        let order: Vec<i64> = started["order"]
            .as_array()
            .expect("order")
            .iter()
            .map(id)
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        let mut ids = self.ids();
        ids.sort();
        assert_eq!(sorted, ids, "the order holds every member once: {started}");

        let liars: Vec<i64> = cards
            .iter()
            .filter(|(_, c)| c["role"] == "liar")
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(liars.len(), 1, "exactly one liar card: {cards:?}");
        let liar = liars[0];
        let liar_card = &cards[&liar];
        assert_eq!(liar_card["topic"], started["topic"], "{liar_card}");
        assert!(
            liar_card.get("word").is_none(),
            "a classic liar sees no word: {liar_card}"
        );
        let mut word = None;
        for (who, card) in &cards {
            if *who == liar {
                continue;
            }
            assert_eq!(card["role"], "citizen", "{card}");
            assert_eq!(card["topic"], started["topic"], "{card}");
            let w = card["word"]
                .as_str()
                .expect("a citizen's card has the word")
                .to_owned();
            assert!(!w.is_empty());
            assert_eq!(
                *word.get_or_insert(w.clone()),
                w,
                "citizens share one word: {cards:?}"
            );
        }
        Deal {
            order,
            liar,
            word: word.unwrap(),
            cards,
        }
    }

    /// Plays the hint turns as the rules ask: every connected speaker gives one hint when his
    /// `turn.started` arrives. `observer` follows the room; returns the `phase.changed` that ends
    /// the hints.
    async fn play_hints(&mut self, observer: i64) -> Value {
        let topic = self.topic.clone();
        let mut done: Vec<(i64, Value)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Driven by the observer's log, so events consumed by other waits are not missed.
            let log = self.ws(observer).messages_on(&topic);
            let start = log
                .iter()
                .rposition(|e| e["type"] == "game.started")
                .unwrap_or(0);
            let game = &log[start..];
            let mut acted = false;
            for e in game {
                if e["type"] == "phase.changed" && e["phase"] != "hints" && e["phase"] != "deal" {
                    return e.clone();
                }
                if e["type"] != "turn.started" {
                    continue;
                }
                let key = (id(&e["speaker"]), e["round"].clone());
                if done.contains(&key) {
                    continue;
                }
                done.push(key.clone());
                let over = game.iter().any(|x| {
                    (x["type"] == "hint" || x["type"] == "turn.skipped")
                        && x["userId"] == key.0
                        && x["round"] == key.1
                });
                if !over {
                    self.speak(observer, e).await;
                    acted = true;
                }
            }
            if !acted {
                assert!(
                    Instant::now() < deadline,
                    "the hints never ended: {:#?}",
                    self.ws(observer).summary()
                );
                let _ = self
                    .ws(observer)
                    .next_message_on(&topic, Duration::from_millis(250))
                    .await;
            }
        }
    }

    /// The speaker of `turn` (as seen by `observer`) sees his turn and hints, when connected.
    async fn speak(&mut self, observer: i64, turn: &Value) {
        let (speaker, round) = (id(&turn["speaker"]), turn["round"].clone());
        if !self.live(speaker) {
            return;
        }
        if speaker != observer {
            let r = round.clone();
            let mine = self
                .seen_or_wait(speaker, move |v| {
                    v["type"] == "turn.started" && v["speaker"] == speaker && v["round"] == r
                })
                .await;
            assert_eq!(&mine, turn, "everyone sees the same turn");
        }
        self.command(
            speaker,
            "hint",
            json!({"text": format!("clue of {speaker} in round {round}")}),
        )
        .await
        .expect("the speaker's hint is accepted");
        // The observer sees it before the driver looks at the next turn.
        let hint = self
            .seen_or_wait(observer, move |v| {
                v["type"] == "hint" && v["userId"] == speaker && v["round"] == round
            })
            .await;
        assert_eq!(
            hint["text"],
            format!("clue of {speaker} in round {}", hint["round"])
        );
    }

    /// Casts `ballots` (each voter waits for the vote phase on his own connection), then follows
    /// the game to its end. The accused liar guesses `guess`. Every connected member must see
    /// `game.ended` and then `room.waiting`; returns the `game.ended`.
    async fn vote_and_finish(&mut self, deal: &Deal, ballots: &[(i64, i64)], guess: &str) -> Value {
        self.cast(ballots).await;
        self.outcome(deal, ballots, guess).await
    }

    /// Each voter waits for the vote phase on his own connection, then votes.
    async fn cast(&mut self, ballots: &[(i64, i64)]) {
        for (voter, target) in ballots {
            self.await_phase(*voter, "vote").await;
            self.command(*voter, "vote", json!({"targetId": target}))
                .await
                .expect("vote accepted");
        }
    }

    /// Follows the game from the (cast) `ballots` to `game.ended`; see [`Self::vote_and_finish`].
    async fn outcome(&mut self, deal: &Deal, ballots: &[(i64, i64)], guess: &str) -> Value {
        let topic = self.topic.clone();
        let n = deal.order.len();
        let observer = *ballots
            .first()
            .map(|(v, _)| v)
            .unwrap_or(&self.live_ids()[0]);
        let result = next_on(self.ws(observer), &topic, is("vote.result"), LONG).await;

        // The expected accused: the single most-voted player.
        let mut count: HashMap<i64, i64> = HashMap::new();
        for (_, t) in ballots {
            *count.entry(*t).or_default() += 1;
        }
        let most = count.values().max().copied().unwrap_or(0);
        let top: Vec<i64> = count
            .iter()
            .filter(|(_, c)| **c == most)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(top.len(), 1, "the test's ballots must not tie: {ballots:?}");
        let accused = top[0];
        assert_eq!(result["accused"], accused, "{result}");
        assert_eq!(result["tie"], false, "{result}");
        for entry in result["tally"].as_array().expect("tally") {
            assert_eq!(entry["votes"], count[&id(&entry["userId"])], "{result}");
        }
        assert_eq!(
            result["tally"].as_array().unwrap().len(),
            count.len(),
            "{result}"
        );

        let revealed = next_on(self.ws(observer), &topic, is("liar.revealed"), LONG).await;
        assert_eq!(revealed["accusedId"], accused, "{revealed}");
        let caught = accused == deal.liar;
        assert_eq!(revealed["accusedIsLiar"], caught, "{revealed}");
        if caught {
            assert_eq!(revealed["liarId"], deal.liar, "{revealed}");
        } else {
            assert!(
                revealed.get("liarId").is_none(),
                "a wrong accusation keeps the liar secret: {revealed}"
            );
        }

        let mut winner = "liar";
        if caught {
            let liar = deal.liar;
            self.await_phase(liar, "guess").await;
            self.command(liar, "guess", json!({"word": guess}))
                .await
                .expect("the liar's guess is accepted");
            let g = next_on(self.ws(observer), &topic, is("guess.result"), WAIT).await;
            assert_eq!(g["guess"], guess, "{g}");
            let correct = g["correct"].as_bool().expect("correct");
            assert_eq!(correct, guess == deal.word, "{g}");
            if !correct {
                winner = "citizens";
            }
        }

        let mut ended: Option<Value> = None;
        for who in self.live_ids() {
            let ws = self.ws(who);
            next_on(ws, &topic, phase("result"), LONG).await;
            let mut e = next_on(ws, &topic, is("game.ended"), LONG).await;
            e.as_object_mut().unwrap().remove("seq");
            match &ended {
                None => ended = Some(e),
                Some(x) => assert_eq!(&e, x, "everyone sees the same game.ended"),
            }
        }
        let ended = ended.unwrap();
        assert_eq!(ended["winner"], winner, "{ended}");
        assert_eq!(ended["liarId"], deal.liar, "{ended}");
        assert_eq!(ended["word"], deal.word.as_str(), "{ended}");
        assert!(
            ended["gameId"].as_i64().is_some() || ended["gameId"].is_string(),
            "{ended}"
        );
        let want_votes: Vec<Value> = deal
            .order
            .iter()
            .filter_map(|v| {
                ballots
                    .iter()
                    .find(|(voter, _)| voter == v)
                    .map(|(voter, t)| json!({"voterId": voter, "targetId": t}))
            })
            .collect();
        assert_eq!(
            ended["votes"],
            json!(want_votes),
            "every ballot, in speaking order: {ended}"
        );
        assert_eq!(
            ended["players"].as_array().expect("players").len(),
            n,
            "{ended}"
        );
        ended
    }

    /// Every connected member sees `room.waiting` with all ready flags cleared.
    async fn back_in_lobby(&mut self) -> Value {
        let topic = self.topic.clone();
        let mut last = Value::Null;
        for who in self.live_ids() {
            let w = next_on(self.ws(who), &topic, is("room.waiting"), LONG).await;
            let room = &w["room"];
            assert_eq!(room["status"], "waiting", "{w}");
            let members = room["members"].as_array().expect("members");
            assert!(!members.is_empty(), "{w}");
            assert!(
                members.iter().all(|m| m["ready"] == false),
                "ready flags are cleared: {w}"
            );
            last = w;
        }
        last
    }

    fn audit(&self, games: &[Deal]) {
        for seat in &self.seats {
            audit_frames(seat.id, &seat.all_frames(), games);
        }
    }
}

/// The rule-following vote: everyone names the first speaker; he names the second.
fn vote_for_first_speaker(deal: &Deal, voters: &[i64]) -> Vec<(i64, i64)> {
    voters
        .iter()
        .map(|v| {
            let target = if *v == deal.order[0] {
                deal.order[1]
            } else {
                deal.order[0]
            };
            (*v, target)
        })
        .collect()
}

fn level(total: i64) -> &'static str {
    match total {
        t if t < 100 => "BRONZE1",
        t if t < 300 => "BRONZE2",
        t if t < 500 => "SILVER1",
        t if t < 800 => "SILVER2",
        t if t < 1200 => "GOLD1",
        t if t < 1800 => "GOLD2",
        t if t < 2500 => "PLATINUM",
        t if t < 3100 => "MASTER",
        _ => "LIAR",
    }
}

/// Checks `players` of a completed `game.ended` against SPEC §3.1. `left`: players whose grace
/// ran out. `before`: each player's total experience before this game. Returns the new totals.
fn check_players(
    ended: &Value,
    deal: &Deal,
    ballots: &[(i64, i64)],
    left: &[i64],
    before: &HashMap<i64, i64>,
) -> HashMap<i64, i64> {
    let n = deal.order.len() as i64;
    let winner = ended["winner"].as_str().expect("winner");
    let mut totals = HashMap::new();
    let players = ended["players"].as_array().expect("players");
    let mut seen: Vec<i64> = players.iter().map(|p| id(&p["userId"])).collect();
    seen.sort();
    let mut want = deal.order.clone();
    want.sort();
    assert_eq!(
        seen, want,
        "every player who started is listed once: {ended}"
    );
    for p in players {
        let who = id(&p["userId"]);
        let is_liar = who == deal.liar;
        let voted_liar = !is_liar && ballots.iter().any(|(v, t)| *v == who && *t == deal.liar);
        let gone = left.contains(&who);
        let won = !gone && (winner == "liar") == is_liar;
        let exp = match (gone, winner, is_liar, voted_liar) {
            (true, ..) => 0,
            (_, "liar", true, _) => 53 - n,
            (_, "liar", false, _) => 15,
            (_, _, true, _) => 10,
            (_, _, false, true) => 25 + n,
            (_, _, false, false) => 20,
        };
        let total = before.get(&who).copied().unwrap_or(0) + exp;
        assert_eq!(p["role"], if is_liar { "liar" } else { "citizen" }, "{p}");
        assert_eq!(p["votedCorrectly"], voted_liar, "{p}");
        assert_eq!(p["won"], won, "{p} (winner {winner})");
        assert_eq!(p["exp"], exp, "{p} (winner {winner}, N={n})");
        assert_eq!(p["left"], gone, "{p}");
        assert_eq!(p["totalExp"], total, "{p}");
        assert_eq!(p["level"], level(total), "{p}");
        totals.insert(who, total);
    }
    totals
}

// ---- The secrecy audit (SPEC §3 "Secrecy, always") --------------------------------------------

/// Calls `f(key, value, object)` for every key of every object inside `v`.
fn walk<'a>(v: &'a Value, f: &mut impl FnMut(&'a str, &'a Value, &'a Value)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                f(k, x, v);
                walk(x, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn same_word(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Audits every frame `who` received while each game of `games` (in order) was undecided: from
/// its `game.started` (or the first frame, for the first game) to the first of
/// `phase.changed {result}`, `game.ended`, `game.aborted`.
pub(crate) fn audit_frames(who: i64, frames: &[Frame], games: &[Deal]) {
    let mut game = 0usize;
    let mut started = 0usize;
    let mut open = true;
    let mut own_card: Option<Value> = None;
    for (i, f) in frames.iter().enumerate() {
        let v = json(f);
        let kind = v["type"].as_str().unwrap_or_default();
        if f.command == Command::Message && kind == "game.started" {
            started += 1;
            game = started - 1;
            open = true;
            own_card = None;
            // A since-seq resume never replays game.started; a fresh one means a new game.
        }
        let ended = kind == "game.ended"
            || kind == "game.aborted"
            || (kind == "phase.changed" && v["phase"] == "result");
        if ended {
            open = false;
        }
        if !open || game >= games.len() {
            continue;
        }
        let deal = &games[game];
        let at = || {
            format!(
                "user {who}, frame #{i}: {:?} {}",
                f.headers,
                String::from_utf8_lossy(&f.body)
            )
        };
        let dest = f.get("destination").unwrap_or_default();

        if kind == "game.card" {
            assert_eq!(
                dest,
                EVENTS,
                "a card arrives only on the private queue: {}",
                at()
            );
            if who == deal.liar {
                assert_eq!(v["role"], "liar", "{}", at());
                assert!(
                    v.get("word").is_none(),
                    "the classic liar's card has no word: {}",
                    at()
                );
            } else {
                assert_eq!(v["role"], "citizen", "{}", at());
                assert_eq!(v["word"], deal.word.as_str(), "{}", at());
            }
            assert_eq!(v, deal.cards[&who], "only his own card, ever: {}", at());
            match &own_card {
                None => own_card = Some(v.clone()),
                Some(c) => assert_eq!(&v, c, "a re-sent card is the same card: {}", at()),
            }
        } else {
            walk(&v, &mut |k, x, obj| match k {
                "liarId" | "liar" | "isLiar" => assert!(
                    k == "liarId" && obj["accusedIsLiar"] == true,
                    "the liar's identity before the result: {}",
                    at()
                ),
                "role" => assert!(
                    x != "liar" && x != "citizen",
                    "a role before the result: {}",
                    at()
                ),
                "word" | "wordId" => panic!("the word before the result: {}", at()),
                "voterId" | "targetId" | "ballots" => {
                    panic!("individual votes before the result: {}", at())
                }
                _ => {}
            });
        }
        if who == deal.liar {
            let mut all = Vec::new();
            strings(&v, &mut all);
            all.extend(f.headers.iter().map(|(_, h)| h.as_str()));
            for s in all {
                assert!(
                    !same_word(s, &deal.word),
                    "the word reached the liar: {}",
                    at()
                );
            }
            assert!(
                !String::from_utf8_lossy(&f.body).contains(&format!("\"{}\"", deal.word)),
                "the word reached the liar: {}",
                at()
            );
        }
    }
}

// ---- Tests ------------------------------------------------------------------------------------

#[tokio::test]
async fn four_players_play_a_complete_game_and_nobody_sees_a_secret_early() {
    within(90, async {
        let app = spawn_app_with(fast).await;
        let mut t = Table::open(&app, quick(), &["ann", "bob", "cy", "dee"]).await;
        t.ready_all().await;
        let deal = t.start().await;
        let host = t.host();
        let topic = t.topic.clone();

        // deal (0 s) → hints, with the first turn's deadline.
        next_on(t.ws(host), &topic, phase("deal"), WAIT).await;
        let hints = next_on(t.ws(host), &topic, phase("hints"), WAIT).await;
        assert!(hints["deadline"].is_string(), "{hints}");
        let after = t.play_hints(host).await;
        assert_eq!(
            after["phase"], "vote",
            "no discussion when discussionSeconds is 0: {after}"
        );
        let hint_events: Vec<Value> = t
            .ws(host)
            .messages_on(&topic)
            .into_iter()
            .filter(|e| e["type"] == "hint")
            .collect();
        let speakers: Vec<i64> = hint_events.iter().map(|e| id(&e["userId"])).collect();
        assert_eq!(speakers, deal.order, "one hint each, in speaking order");

        let ballots = vote_for_first_speaker(&deal, &deal.order);
        let ended = t
            .vote_and_finish(&deal, &ballots, "definitely not the word")
            .await;
        check_players(&ended, &deal, &ballots, &[], &HashMap::new());
        t.back_in_lobby().await;

        // Everyone saw the vote count grow, and only the count.
        let progress: Vec<Value> = t
            .ws(host)
            .messages_on(&topic)
            .into_iter()
            .filter(|e| e["type"] == "vote.progress")
            .collect();
        let cast: Vec<i64> = progress
            .iter()
            .map(|e| e["cast"].as_i64().unwrap())
            .collect();
        assert_eq!(cast, vec![0, 1, 2, 3, 4], "{progress:?}");
        assert!(progress.iter().all(|e| e["total"] == 4), "{progress:?}");
        for e in &progress {
            let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
            assert!(
                keys.iter()
                    .all(|k| ["type", "seq", "roomId", "epoch", "cast", "total"]
                        .contains(&k.as_str())),
                "vote.progress carries only the count: {e}"
            );
        }

        t.audit(&[deal]);
    })
    .await
}

#[tokio::test]
async fn only_the_speaker_may_hint_and_self_votes_are_refused() {
    within(90, async {
        let app = spawn_app_with(fast).await;
        let mut t = Table::open(&app, quick(), &["ann", "bob"]).await;
        let (host, bob) = (t.host(), t.seats[1].id);
        let topic = t.topic.clone();
        t.command(bob, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        let err = t
            .command(host, "start", json!({}))
            .await
            .expect_err("two members");
        assert_eq!(code(&err), "NOT_ENOUGH_PLAYERS", "{err}");

        let cy = t.join(&app, "cy").await;
        let dee = t.join(&app, "dee").await;
        t.command(cy, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        let err = t
            .command(host, "start", json!({}))
            .await
            .expect_err("dee is not ready");
        assert_eq!(code(&err), "NOT_READY", "{err}");
        let err = t
            .command(bob, "start", json!({}))
            .await
            .expect_err("bob is not the host");
        assert_eq!(code(&err), "NOT_HOST", "{err}");

        // A failed start changes nothing.
        for who in t.ids() {
            t.ws(who).drain(QUIET).await;
            let seen = t.ws(who).messages_on(&topic);
            assert!(
                seen.iter()
                    .all(|e| !e["type"].as_str().unwrap_or("").starts_with("game.")
                        && e["type"] != "phase.changed"),
                "a refused start started something: {seen:?}"
            );
        }
        let room = app.room(t.room).await;
        assert_eq!(room["status"], "waiting", "{room}");
        let ready: Vec<(i64, bool)> = room["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (id(&m["userId"]), m["ready"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            ready,
            vec![(host, false), (bob, true), (cy, true), (dee, false)],
            "{room}"
        );

        t.command(dee, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        let deal = t.start().await;

        // Hints: only the speaker.
        let first = next_on(t.ws(host), &topic, is("turn.started"), WAIT).await;
        let speaker = id(&first["speaker"]);
        assert_eq!(speaker, deal.order[0], "{first}");
        let other = deal.order[1];
        let err = t
            .command(other, "hint", json!({"text": "me first"}))
            .await
            .expect_err("not his turn");
        assert_eq!(code(&err), "NOT_YOUR_TURN", "{err}");
        let err = t
            .command(other, "vote", json!({"targetId": speaker}))
            .await
            .expect_err("no vote during hints");
        assert_eq!(code(&err), "WRONG_PHASE", "{err}");
        t.ws(host).drain(QUIET).await;
        assert!(
            !t.ws(host)
                .messages_on(&topic)
                .iter()
                .any(|e| e["type"] == "hint"
                    || e["type"] == "vote.progress"
                    || e["type"] == "turn.skipped"
                    || (e["type"] == "turn.started" && e["speaker"] != speaker)),
            "a refused command changed the game: {:?}",
            t.ws(host).summary()
        );
        t.speak(host, &first).await;
        let after = t.play_hints(host).await;
        assert_eq!(after["phase"], "vote", "{after}");

        // Vote: never for oneself.
        let voter = deal.order[2];
        t.await_phase(voter, "vote").await;
        let err = t
            .command(voter, "vote", json!({"targetId": voter}))
            .await
            .expect_err("a self-vote");
        assert_eq!(code(&err), "SELF_VOTE", "{err}");
        let err = t
            .command(voter, "vote", json!({"targetId": 987_654_321}))
            .await
            .expect_err("a vote for a stranger");
        assert_eq!(code(&err), "INVALID_TARGET", "{err}");
        t.ws(host).drain(QUIET).await;
        let progress: Vec<Value> = t
            .ws(host)
            .messages_on(&topic)
            .into_iter()
            .filter(|e| e["type"] == "vote.progress")
            .collect();
        assert!(
            progress.iter().all(|e| e["cast"] == 0),
            "a refused vote counted: {progress:?}"
        );

        // Then the game finishes normally (the voter already saw the vote phase).
        let ballots = vote_for_first_speaker(&deal, &deal.order);
        let mine = *ballots.iter().find(|(v, _)| *v == voter).unwrap();
        t.command(voter, "vote", json!({"targetId": mine.1}))
            .await
            .expect("a proper vote");
        let rest: Vec<(i64, i64)> = ballots
            .iter()
            .copied()
            .filter(|(v, _)| *v != voter)
            .collect();
        t.cast(&rest).await;
        let ended = t.outcome(&deal, &ballots, "definitely not the word").await;
        check_players(&ended, &deal, &ballots, &[], &HashMap::new());
        t.back_in_lobby().await;
        t.audit(&[deal]);
    })
    .await
}

#[tokio::test]
async fn a_player_who_drops_mid_hints_and_reconnects_gets_his_card_back_and_the_game_finishes() {
    within(90, async {
        let app = spawn_app_with(fast).await;
        let mut t = Table::open(&app, quick(), &["ann", "bob", "cy", "dee"]).await;
        t.ready_all().await;
        let deal = t.start().await;
        let topic = t.topic.clone();
        let gone = deal.order[1];
        let observer = *t.ids().iter().find(|i| **i != gone).unwrap();
        let mut first = Value::Null;
        for who in t.ids() {
            next_on(t.ws(who), &topic, phase("hints"), WAIT).await;
            first = next_on(t.ws(who), &topic, is("turn.started"), WAIT).await;
            assert_eq!(first["speaker"], deal.order[0], "{first}");
        }

        let before = t.seat(gone).ws().messages_on(&topic);
        t.seat(gone).drop_connection().await;
        let last_seq = t
            .seat(gone)
            .archive
            .iter()
            .filter(|f| f.command == Command::Message && f.get("destination") == Some(&topic))
            .filter_map(|f| json(f)["seq"].as_u64())
            .max()
            .expect("he had seen room events");
        assert!(!before.is_empty());
        for who in t.live_ids() {
            let e = next_on(t.ws(who), &topic, is("player.disconnected"), WAIT).await;
            assert_eq!(e["userId"], gone, "{e}");
        }

        // The first speaker hints; the dropped player's turn is skipped after the turn grace.
        t.speak(observer, &first).await;
        let skipped = next_on(t.ws(observer), &topic, is("turn.skipped"), WAIT).await;
        assert_eq!(skipped["userId"], gone, "{skipped}");
        assert_eq!(skipped["reason"], "disconnected", "{skipped}");

        // He comes back with a new connection and the same token.
        let access = t.seat(gone).tokens.access.clone();
        let mut ws = StompClient::member(&app, &access).await;
        let card = next_on(&mut ws, EVENTS, is("game.card"), WAIT).await;
        assert_eq!(card, deal.cards[&gone], "the same card again");
        ws.subscribe_since(&topic, "room", last_seq)
            .await
            .expect("resume");
        let first_back = ws
            .next_message_on(&topic, WAIT)
            .await
            .expect("replay or snapshot");
        if first_back["type"] == "room.snapshot" {
            let game = &first_back["room"]["game"];
            assert_eq!(game["phase"], "hints", "{first_back}");
        } else {
            assert_eq!(
                first_back["seq"],
                last_seq + 1,
                "the replay starts after his last seq"
            );
            let mut replay = vec![first_back];
            loop {
                let e = next_on(&mut ws, &topic, |_| true, WAIT).await;
                let done = e["type"] == "player.reconnected" && e["userId"] == gone;
                replay.push(e);
                if done {
                    break;
                }
            }
            let seqs: Vec<u64> = replay.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
            let want: Vec<u64> = (last_seq + 1..last_seq + 1 + seqs.len() as u64).collect();
            assert_eq!(seqs, want, "every missed event, in order: {replay:?}");
            let kinds: Vec<&str> = replay.iter().map(|e| e["type"].as_str().unwrap()).collect();
            assert!(kinds.contains(&"player.disconnected"), "{kinds:?}");
            assert!(kinds.contains(&"hint"), "{kinds:?}");
            assert!(kinds.contains(&"turn.skipped"), "{kinds:?}");
        }
        t.seat(gone).ws = Some(ws);
        for who in t.live_ids() {
            if who != gone {
                let e = next_on(t.ws(who), &topic, is("player.reconnected"), WAIT).await;
                assert_eq!(e["userId"], gone, "{e}");
            }
        }

        // The rest of the game, him included.
        let after = t.play_hints(observer).await;
        assert_eq!(after["phase"], "vote", "{after}");
        let hints: Vec<i64> = t
            .ws(observer)
            .messages_on(&topic)
            .into_iter()
            .filter(|e| e["type"] == "hint")
            .map(|e| id(&e["userId"]))
            .collect();
        assert_eq!(hints, vec![deal.order[0], deal.order[2], deal.order[3]]);
        let ballots = vote_for_first_speaker(&deal, &deal.order);
        let ended = t
            .vote_and_finish(&deal, &ballots, "definitely not the word")
            .await;
        check_players(&ended, &deal, &ballots, &[], &HashMap::new());
        t.back_in_lobby().await;
        t.audit(&[deal]);
    })
    .await
}

#[tokio::test]
async fn when_the_liar_never_returns_the_citizens_win() {
    within(90, async {
        let app = spawn_app_with(|c| {
            fast(c);
            c.reconnect_grace_secs = 2;
        })
        .await;
        let mut t = Table::open(&app, quick(), &["ann", "bob", "cy", "dee"]).await;
        t.ready_all().await;
        let deal = t.start().await;
        let topic = t.topic.clone();
        let liar = deal.liar;
        let observer = *t.ids().iter().find(|i| **i != liar).unwrap();
        for who in t.ids() {
            next_on(t.ws(who), &topic, phase("hints"), WAIT).await;
        }
        t.seat(liar).drop_connection().await;
        let dropped_at = Instant::now();

        // The others keep playing; nobody votes (a vote could decide the game first).
        let after = t.play_hints(observer).await;
        assert!(
            after["phase"] == "vote" || after["phase"] == "result",
            "{after}"
        );
        let left = next_on(t.ws(observer), &topic, is("player.left"), LONG).await;
        assert_eq!(left["userId"], liar, "{left}");
        assert!(
            dropped_at.elapsed() >= Duration::from_millis(1500),
            "the grace was honoured"
        );
        let mut ended = None;
        for who in t.live_ids() {
            let ws = t.ws(who);
            next_on(ws, &topic, phase("result"), WAIT).await;
            let e = next_on(ws, &topic, is("game.ended"), WAIT).await;
            ended = Some(e);
        }
        let ended = ended.unwrap();
        assert_eq!(ended["winner"], "citizens", "{ended}");
        assert_eq!(ended["liarId"], liar, "{ended}");
        assert_eq!(ended["word"], deal.word.as_str(), "{ended}");
        assert_eq!(ended["votes"], json!([]), "{ended}");
        check_players(&ended, &deal, &[], &[liar], &HashMap::new());
        let skipped: Vec<Value> = t
            .ws(observer)
            .messages_on(&topic)
            .into_iter()
            .filter(|e| e["type"] == "turn.skipped")
            .collect();
        assert!(
            skipped.iter().all(|e| e["userId"] == liar) && skipped.len() <= 1,
            "only the liar's turn is skipped: {skipped:?}"
        );

        // Back in the lobby he still has a seat until a fresh grace runs out.
        t.back_in_lobby().await;
        let gone = next_on(t.ws(observer), &topic, is("member.left"), LONG).await;
        assert_eq!(gone["userId"], liar, "{gone}");
        assert_eq!(gone["reason"], "timeout", "{gone}");
        t.audit(&[deal]);
    })
    .await
}

#[tokio::test]
async fn a_finished_room_can_start_a_rematch() {
    within(90, async {
        let app = spawn_app_with(fast).await;
        let mut t = Table::open(&app, quick(), &["ann", "bob", "cy", "dee"]).await;
        let host = t.host();
        let topic = t.topic.clone();
        t.ready_all().await;
        let first = t.start().await;
        next_on(t.ws(host), &topic, phase("hints"), WAIT).await;
        t.play_hints(host).await;
        let ballots = vote_for_first_speaker(&first, &first.order);
        let ended1 = t
            .vote_and_finish(&first, &ballots, "definitely not the word")
            .await;
        let totals = check_players(&ended1, &first, &ballots, &[], &HashMap::new());
        t.back_in_lobby().await;
        assert_eq!(app.room(t.room).await["status"], "waiting");

        // Ready flags were cleared: a start needs everyone ready again.
        let err = t
            .command(host, "start", json!({}))
            .await
            .expect_err("nobody is ready");
        assert_eq!(code(&err), "NOT_READY", "{err}");
        t.ready_all().await;
        let second = t.start().await;
        assert_eq!(app.room(t.room).await["status"], "playing");
        next_on(t.ws(host), &topic, phase("hints"), WAIT).await;
        t.play_hints(host).await;

        // This time the test steers the vote (it knows the liar): two citizens name him, one
        // names a citizen, the liar names a citizen. He guesses wrong: the citizens win.
        let citizens: Vec<i64> = second
            .order
            .iter()
            .copied()
            .filter(|p| *p != second.liar)
            .collect();
        let ballots = vec![
            (citizens[0], citizens[1]),
            (citizens[1], second.liar),
            (citizens[2], second.liar),
            (second.liar, citizens[0]),
        ];
        let ended2 = t
            .vote_and_finish(&second, &ballots, "definitely not the word")
            .await;
        assert_eq!(ended2["winner"], "citizens", "{ended2}");
        assert_ne!(ended2["gameId"], ended1["gameId"], "a new game is stored");
        let exps: HashMap<i64, i64> = ended2["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (id(&p["userId"]), p["exp"].as_i64().unwrap()))
            .collect();
        assert_eq!(exps[&citizens[0]], 20);
        assert_eq!(exps[&citizens[1]], 29);
        assert_eq!(exps[&citizens[2]], 29);
        assert_eq!(exps[&second.liar], 10);
        check_players(&ended2, &second, &ballots, &[], &totals);
        t.back_in_lobby().await;
        t.audit(&[first, second]);
    })
    .await
}
