//! One WebSocket connection: a reader loop that decodes STOMP frames and turns them into room
//! commands, and a writer task fed by a bounded outbox. Nothing outside this module writes to a
//! socket. Room and private events arrive through forwarder tasks, one per subscription, which
//! resync a subscriber that fell behind with a fresh snapshot instead of stalling anyone.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use liar_stomp::{Command as Stomp, Decoded, Decoder, Frame, Limits, encode_message};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::app::AppState;
use crate::auth::Revocation;
use crate::auth::tokens::random_token;
use crate::domain::UserId;
use crate::error::ApiError;
use crate::hub::PresenceChange;
use crate::room::{Person, RoomError, RoomFrame, RoomId, Rooms, Subscription};
use crate::store::SessionState;

/// The first frame must be CONNECT within this time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames queued for one socket; beyond it, room subscriptions resync from a snapshot.
const OUTBOX: usize = 1024;
/// Seconds of continuous excess over `ws_frames_per_second` after which the connection is
/// closed.
const FLOOD_SECONDS: u32 = 3;
/// After the server's close frame, how long the client has to answer it before the socket is
/// dropped. Dropping a socket with unread bytes in it (the rest of an oversize message) sends a
/// TCP reset, which can destroy the `ERROR` and close frames before the client reads them.
const LINGER: Duration = Duration::from_secs(2);

enum Out {
    Frame(Bytes),
    HeartBeat(Duration),
    Close(Option<CloseFrame>),
}

/// How a connection ends, so its socket is closed the right way.
enum Ending {
    /// The peer closed or the socket failed: nothing more to read.
    PeerGone,
    /// The server ends the connection (any `ERROR` already queued); a normal close.
    Closed,
    /// A frame over the size limit: close code 1009 (SPEC §4).
    TooLarge,
    /// The server is shutting down: close code 1012, "service restart" (SPEC §6.3).
    Restart,
}

impl Ending {
    fn for_refusal(code: &str) -> Ending {
        if code == "FRAME_TOO_LARGE" {
            Ending::TooLarge
        } else {
            Ending::Closed
        }
    }

    fn close_frame(&self) -> Option<CloseFrame> {
        match self {
            Ending::TooLarge => Some(CloseFrame {
                code: close_code::SIZE,
                reason: Utf8Bytes::from_static("frame too large"),
            }),
            Ending::Restart => Some(CloseFrame {
                code: CLOSE_RESTART,
                reason: Utf8Bytes::from_static("server restarting"),
            }),
            Ending::PeerGone | Ending::Closed => None,
        }
    }

    fn lingers(&self) -> bool {
        matches!(self, Ending::Closed | Ending::TooLarge)
    }
}

/// WebSocket close code "Service Restart" (RFC 6455 §7.4.1, IANA registry): the server is
/// restarting; reconnect.
const CLOSE_RESTART: u16 = 1012;

/// What the reader loop does after a frame.
enum Flow {
    Continue,
    Close,
}

pub async fn run(socket: WebSocket, state: AppState) {
    let (sink, mut stream) = socket.split();
    let (out, out_rx) = mpsc::channel(OUTBOX);
    let writer = tokio::spawn(write_loop(sink, out_rx));
    let mut revocations = state.auth().revocations();
    let mut input = Input::new(state.config().ws_max_frame_bytes);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, input.next_frame(&mut stream)).await;
    let conn = match connect {
        Err(_) => Err(("CONNECT_TIMEOUT", "no CONNECT frame in time".to_owned())),
        Ok(Err(e)) => Err(e),
        Ok(Ok(frame)) => Conn::connect(&state, out.clone(), frame).await,
    };
    let ending = match conn {
        Ok(mut conn) => {
            metrics::gauge!("liar_ws_connections").increment(1.0);
            let ending = conn.serve(&mut stream, &mut input, &mut revocations).await;
            conn.finish().await;
            metrics::gauge!("liar_ws_connections").decrement(1.0);
            ending
        }
        Err((code, message)) => {
            let _ = out.send(Out::Frame(error_frame(code, &message))).await;
            match code {
                "CLOSED" => Ending::PeerGone,
                _ => Ending::for_refusal(code),
            }
        }
    };
    let _ = out.send(Out::Close(ending.close_frame())).await;
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    if ending.lingers() {
        linger(&mut stream).await;
    }
}

/// Reads (and ignores) whatever the client still sends until it answers the close, holding the
/// socket open for up to [`LINGER`], so it is dropped only after the client has read everything.
/// An oversize message is never read: after it the stream has ended and the socket is just held.
async fn linger(stream: &mut SplitStream<WebSocket>) {
    let deadline = Instant::now() + LINGER;
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if matches!(msg, Ok(Message::Close(_))) {
            return;
        }
    }
    tokio::time::sleep_until(deadline).await;
}

/// Whether a read failed because a WebSocket message is over the size limit.
fn oversize(e: &axum::Error) -> bool {
    use tungstenite::error::{CapacityError, Error};
    let inner = std::error::Error::source(e).and_then(|e| e.downcast_ref::<Error>());
    matches!(
        inner,
        Some(Error::Capacity(CapacityError::MessageTooLong { .. }))
    )
}

async fn write_loop(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Out>) {
    let mut beat: Option<Duration> = None;
    // Taken off the queue behind a run of frames; handled next.
    let mut next: Option<Out> = None;
    loop {
        let every = beat;
        let idle = async move {
            match every {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let msg = match next.take() {
            Some(out) => Some(out),
            None => tokio::select! {
                msg = rx.recv() => msg,
                _ = idle => {
                    if sink.send(Message::Text(Utf8Bytes::from_static("\n"))).await.is_err() {
                        break;
                    }
                    continue;
                }
            },
        };
        let sent = match msg {
            Some(Out::Frame(bytes)) => {
                // The frames queued behind this one go out in the same write (one system
                // call for a burst, such as a transition's events and a private card).
                let mut fed = sink.feed(to_message(bytes)).await;
                for _ in 0..MAX_FRAMES_PER_WRITE {
                    if fed.is_err() {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(Out::Frame(bytes)) => fed = sink.feed(to_message(bytes)).await,
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match fed {
                    Ok(()) => sink.flush().await,
                    Err(e) => Err(e),
                }
            }
            Some(Out::HeartBeat(d)) => {
                beat = Some(d);
                Ok(())
            }
            Some(Out::Close(frame)) => {
                let _ = sink.send(Message::Close(frame)).await;
                break;
            }
            None => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Most queued frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

fn to_message(bytes: Bytes) -> Message {
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// Decodes STOMP frames out of WebSocket messages.
struct Input {
    buf: BytesMut,
    decoder: Decoder,
}

impl Input {
    fn new(max_frame_bytes: usize) -> Input {
        Input {
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits {
                max_frame_bytes,
                ..Limits::default()
            }),
        }
    }
}

type Refusal = (&'static str, String);

impl Input {
    /// The next complete frame (heart-beats skipped), reading more messages as needed.
    async fn next_frame(&mut self, stream: &mut SplitStream<WebSocket>) -> Result<Frame, Refusal> {
        loop {
            if let Some(frame) = self.decoded()? {
                return Ok(frame);
            }
            match stream.next().await {
                Some(Ok(msg)) => self.push(msg),
                Some(Err(e)) if oversize(&e) => return Err(self.too_large()),
                _ => return Err(("CLOSED", "connection closed".into())),
            }
        }
    }

    fn push(&mut self, msg: Message) {
        match msg {
            Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
            Message::Binary(b) => self.buf.extend_from_slice(&b),
            _ => {}
        }
    }

    /// The refusal of a WebSocket message too big to even read.
    fn too_large(&self) -> Refusal {
        let limit = self.decoder.limits().max_frame_bytes;
        let e = liar_stomp::DecodeError::FrameTooLarge { limit };
        (e.code(), e.to_string())
    }

    /// A complete frame already buffered, if any.
    fn decoded(&mut self) -> Result<Option<Frame>, Refusal> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Decoded::Frame(f))) => return Ok(Some(f)),
                Ok(Some(Decoded::HeartBeat)) => continue,
                Ok(None) => return Ok(None),
                Err(e) => return Err((e.code(), e.to_string())),
            }
        }
    }
}

/// An authenticated connection.
struct Conn {
    state: AppState,
    out: mpsc::Sender<Out>,
    user: UserId,
    username: String,
    session: String,
    subs: HashMap<String, (String, Option<JoinHandle<()>>)>,
    errors_sub: Option<String>,
    events_sub: Option<String>,
    message_ids: Arc<AtomicU64>,
    incoming: Option<Duration>,
    window_start: Instant,
    window_frames: u32,
    flood_streak: u32,
}

impl Conn {
    async fn connect(
        state: &AppState,
        out: mpsc::Sender<Out>,
        frame: Frame,
    ) -> Result<Conn, Refusal> {
        if !matches!(frame.command, Stomp::Connect | Stomp::Stomp) {
            return Err(("NOT_CONNECTED", "the first frame must be CONNECT".into()));
        }
        let token = bearer(&frame).ok_or(("UNAUTHENTICATED", "missing access token".to_owned()))?;
        let claims = state
            .auth()
            .authenticate(&token)
            .await
            .map_err(|e| match e {
                ApiError::Unauthorized(f) => (f.code(), f.to_string()),
                other => (other.code(), "authentication failed".to_owned()),
            })?;
        let member = state
            .store()
            .member(claims.user)
            .await
            .ok()
            .flatten()
            .ok_or(("INVALID_TOKEN", "unknown member".to_owned()))?;
        // STOMP 1.2 §Heart-beating: each direction runs at the larger of what one side can
        // do and the other wants; the server offers and wants `ws_heartbeat_ms` (at least 1 ms).
        let hb = state.config().ws_heartbeat_ms.max(1);
        let (cx, cy) = heart_beat(&frame);
        let outgoing = (cy > 0).then(|| Duration::from_millis(cy.max(hb)));
        let incoming = (cx > 0).then(|| Duration::from_millis(cx.max(hb)));
        let conn_id = format!("c-{}", random_token(6));
        let connected = Frame::new(Stomp::Connected)
            .header("version", "1.2")
            .header("heart-beat", format!("{hb},{hb}"))
            .header("server", concat!("liar/", env!("CARGO_PKG_VERSION")))
            .header("user-name", member.id.to_string())
            .header("session", conn_id);
        let _ = out.send(Out::Frame(connected.encode())).await;
        if let Some(d) = outgoing {
            let _ = out.send(Out::HeartBeat(d)).await;
        }
        if state.hub().connected(member.id) == PresenceChange::CameOnline {
            state.rooms().presence(member.id, true).await;
        }
        Ok(Conn {
            state: state.clone(),
            out,
            user: member.id,
            username: member.username,
            session: claims.session,
            subs: HashMap::new(),
            errors_sub: None,
            events_sub: None,
            message_ids: Arc::new(AtomicU64::new(0)),
            incoming,
            window_start: Instant::now(),
            window_frames: 0,
            flood_streak: 0,
        })
    }

    async fn serve(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        input: &mut Input,
        revocations: &mut broadcast::Receiver<Revocation>,
    ) -> Ending {
        let mut last_seen = Instant::now();
        let mut rechecks = self.state.auth().rechecks();
        rechecks.borrow_and_update();
        // Cluster mode: every socket re-checks its session now and then, so a revocation whose
        // Redis message was lost still closes it (SPEC §6.4). Spread over the interval.
        let every = Duration::from_secs(self.state.config().session_check_secs.max(1));
        let checking =
            self.state.config().redis_url.is_some() && self.state.config().session_check_secs > 0;
        let first = Duration::from_millis(rand::random_range(0..every.as_millis() as u64 + 1));
        let mut check = tokio::time::interval_at(Instant::now() + first, every);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = self.state.hub().shutdown_signal();
        let already = *shutdown.borrow_and_update();
        if let Some(after) = already {
            return self.server_shutdown(after).await;
        }
        loop {
            let silent = async {
                match self.incoming {
                    Some(d) => tokio::time::sleep_until(last_seen + d * 2).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = stream.next() => {
                    let msg = match msg {
                        Some(Ok(msg)) => msg,
                        Some(Err(e)) if oversize(&e) => {
                            let (code, message) = input.too_large();
                            self.refuse(code, &message).await;
                            return Ending::TooLarge;
                        }
                        Some(Err(_)) => return Ending::PeerGone,
                        None => return Ending::PeerGone,
                    };
                    last_seen = Instant::now();
                    if matches!(msg, Message::Close(_)) {
                        return Ending::PeerGone;
                    }
                    input.push(msg);
                    loop {
                        match input.decoded() {
                            Ok(Some(frame)) => {
                                if let Flow::Close = self.on_frame(frame).await {
                                    return Ending::Closed;
                                }
                            }
                            Ok(None) => break,
                            Err((code, message)) => {
                                self.refuse(code, &message).await;
                                return Ending::for_refusal(code);
                            }
                        }
                    }
                }
                rev = revocations.recv() => {
                    if let Some(reason) = self.revoked(rev).await {
                        self.kick(reason).await;
                        return Ending::Closed;
                    }
                }
                Ok(()) = rechecks.changed() => {
                    if let Some(reason) = self.session_ended().await {
                        self.kick(reason).await;
                        return Ending::Closed;
                    }
                }
                _ = check.tick(), if checking => {
                    if let Some(reason) = self.session_ended().await {
                        self.kick(reason).await;
                        return Ending::Closed;
                    }
                }
                _ = shutdown.changed() => {
                    let after = *shutdown.borrow();
                    if let Some(after) = after {
                        return self.server_shutdown(after).await;
                    }
                }
                _ = silent => return Ending::PeerGone,
            }
        }
    }

    /// Whether this connection's session just ended (and why).
    async fn revoked(
        &self,
        rev: Result<Revocation, broadcast::error::RecvError>,
    ) -> Option<SessionState> {
        match rev {
            Ok(r) if r.session == self.session => Some(r.reason),
            Ok(_) | Err(broadcast::error::RecvError::Closed) => None,
            // Missed some revocations: ask the store directly.
            Err(broadcast::error::RecvError::Lagged(_)) => self.session_ended().await,
        }
    }

    /// Why this connection's session is no longer live, per the store (`None`: live, or the
    /// store did not answer; the next check asks again).
    async fn session_ended(&self) -> Option<SessionState> {
        let state = self
            .state
            .store()
            .session_state(&self.session, self.user, crate::auth::now_millis())
            .await
            .ok()?;
        (state != SessionState::Live).then_some(state)
    }

    async fn kick(&self, reason: SessionState) {
        let (code, event) = match reason {
            SessionState::Replaced => ("SESSION_REPLACED", "session.replaced"),
            SessionState::Reused => ("REFRESH_REUSED", "session.ended"),
            _ => ("SESSION_REVOKED", "session.ended"),
        };
        if let Some(sub) = &self.events_sub {
            let body = json!({"type": event, "code": code, "message": "this session was ended by a newer login or a logout"});
            let _ = self
                .out
                .send(Out::Frame(self.message("/user/queue/events", sub, &body)))
                .await;
        }
        self.refuse(code, "session ended").await;
    }

    /// The server is going away: `server.shutdown` on the member's queue, then a close with
    /// code 1012 and a reason (SPEC §6.3), so clients reconnect instead of reporting an error.
    async fn server_shutdown(&self, reconnect_after_ms: u64) -> Ending {
        if let Some(sub) = &self.events_sub {
            let body = json!({"type": "server.shutdown", "reconnectAfterMs": reconnect_after_ms});
            let _ = self
                .out
                .send(Out::Frame(self.message("/user/queue/events", sub, &body)))
                .await;
        }
        Ending::Restart
    }

    async fn refuse(&self, code: &str, message: &str) {
        let _ = self.out.send(Out::Frame(error_frame(code, message))).await;
    }

    async fn finish(&mut self) {
        for (_, (_, task)) in self.subs.drain() {
            if let Some(task) = task {
                task.abort();
                // Wait for it to end, so its queue receiver is gone before the queue is released.
                let _ = task.await;
            }
        }
        let hub = self.state.hub();
        hub.release_user(self.user);
        if hub.disconnected(self.user) == PresenceChange::WentOffline {
            self.state.rooms().presence(self.user, false).await;
        }
    }

    /// Counts a frame against the rate limit; `Err` when it must be dropped or the connection
    /// closed.
    fn rate(&mut self) -> Result<(), Flow> {
        let per_second = self.state.config().ws_frames_per_second;
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            if self.window_frames > per_second {
                self.flood_streak += 1;
            } else {
                self.flood_streak = 0;
            }
            self.window_start = now;
            self.window_frames = 0;
        }
        self.window_frames += 1;
        if self.window_frames <= per_second {
            return Ok(());
        }
        if self.flood_streak + 1 >= FLOOD_SECONDS {
            return Err(Flow::Close);
        }
        if self.window_frames == per_second + 1 {
            self.error_message(
                "RATE_LIMITED",
                &format!("more than {per_second} frames per second; frames dropped"),
                None,
            );
        }
        Err(Flow::Continue)
    }

    async fn on_frame(&mut self, frame: Frame) -> Flow {
        match self.rate() {
            Ok(()) => {}
            Err(Flow::Close) => {
                self.refuse("FLOOD", "too many frames for too long").await;
                return Flow::Close;
            }
            Err(Flow::Continue) => return Flow::Continue,
        }
        let receipt = frame.get("receipt").map(str::to_owned);
        let result = match frame.command {
            Stomp::Subscribe => self.subscribe(&frame).await,
            Stomp::Unsubscribe => self.unsubscribe(&frame),
            Stomp::Send => self.send(&frame).await,
            Stomp::Ack | Stomp::Nack => Ok(()),
            Stomp::Begin | Stomp::Commit | Stomp::Abort => {
                Err(("UNSUPPORTED", "transactions are not supported".to_owned()))
            }
            Stomp::Disconnect => {
                if let Some(r) = receipt {
                    let _ = self.out.send(Out::Frame(receipt_frame(&r))).await;
                }
                return Flow::Close;
            }
            other => {
                self.refuse(
                    "UNEXPECTED_COMMAND",
                    &format!("{} is not a client frame", other.as_str()),
                )
                .await;
                return Flow::Close;
            }
        };
        match result {
            Ok(()) => {
                if let Some(r) = receipt {
                    self.enqueue(receipt_frame(&r));
                }
                Flow::Continue
            }
            Err(("MISSING_HEADER", message)) => {
                self.refuse("MISSING_HEADER", &message).await;
                Flow::Close
            }
            Err((code, message)) => {
                self.error_message(code, &message, receipt.as_deref());
                Flow::Continue
            }
        }
    }

    async fn subscribe(&mut self, frame: &Frame) -> Result<(), Refusal> {
        let (Some(id), Some(dest)) = (frame.get("id"), frame.get("destination")) else {
            return Err((
                "MISSING_HEADER",
                "SUBSCRIBE needs id and destination".into(),
            ));
        };
        let (id, dest) = (id.to_owned(), dest.to_owned());
        self.admit_subscription(&id)?;
        let task = match dest.as_str() {
            "/user/queue/errors" => {
                self.errors_sub = Some(id.clone());
                None
            }
            "/user/queue/events" => {
                self.events_sub = Some(id.clone());
                let rx = self.state.hub().user_events(self.user);
                let catchup = queue_catchup(self.state.rooms().clone(), self.user);
                let task = tokio::spawn(forward_plain(self.forwarder(&dest, &id), rx, catchup));
                // A reconnecting player gets his card again (SPEC §3).
                self.state.rooms().resync(self.user).await;
                Some(task)
            }
            "/topic/lobby" => {
                let rx = self.state.hub().lobby();
                let catchup = lobby_catchup(self.state.rooms().clone());
                Some(tokio::spawn(forward_plain(
                    self.forwarder(&dest, &id),
                    rx,
                    catchup,
                )))
            }
            d => {
                let room = room_topic(d)?;
                let since = frame.get("since-seq").and_then(|s| s.trim().parse().ok());
                let rooms = self.state.rooms().clone();
                let sub = match rooms.subscribe(self.user, room, since).await {
                    Ok(sub) => Some(sub),
                    // Cluster mode: the room is moving to another node (its node died or
                    // restarts). Accept now and attach once it is served again, as a
                    // subscription that fell behind does.
                    Err(RoomError::Unavailable) if rooms.remote().is_some() => None,
                    Err(RoomError::NotAMember) => {
                        return Err(("FORBIDDEN", format!("not a member of room {room}")));
                    }
                    Err(other) => return Err((other.code(), other.message())),
                };
                let fwd = self.forwarder(&dest, &id);
                let user = self.user;
                Some(tokio::spawn(async move {
                    let sub = match sub {
                        Some(sub) => sub,
                        None => match subscribe_when_served(&rooms, user, room, since).await {
                            Some(sub) => sub,
                            None => return,
                        },
                    };
                    forward_room(fwd, rooms, user, room, sub).await
                }))
            }
        };
        self.subs.insert(id, (dest, task));
        Ok(())
    }

    /// Refuses a subscription id already in use (STOMP 1.2: ids are unique per connection) and
    /// one subscription past `ws_max_subscriptions`: each costs a forwarder task and a copy of
    /// every event, so their number is bounded (SPEC §4).
    fn admit_subscription(&self, id: &str) -> Result<(), Refusal> {
        if self.subs.contains_key(id) {
            return Err((
                "SUBSCRIPTION_ID_IN_USE",
                format!("subscription id `{id}` is already in use; UNSUBSCRIBE it first"),
            ));
        }
        let max = self.state.config().ws_max_subscriptions;
        if self.subs.len() >= max {
            return Err((
                "TOO_MANY_SUBSCRIPTIONS",
                format!("a connection holds at most {max} subscriptions"),
            ));
        }
        Ok(())
    }

    fn unsubscribe(&mut self, frame: &Frame) -> Result<(), Refusal> {
        let id = frame
            .get("id")
            .ok_or(("MISSING_HEADER", "UNSUBSCRIBE needs id".to_owned()))?;
        if let Some((_, Some(task))) = self.subs.remove(id) {
            task.abort();
        }
        if self.errors_sub.as_deref() == Some(id) {
            self.errors_sub = None;
        }
        if self.events_sub.as_deref() == Some(id) {
            self.events_sub = None;
        }
        Ok(())
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Refusal> {
        let dest = frame
            .get("destination")
            .ok_or(("MISSING_HEADER", "SEND needs a destination".to_owned()))?;
        let (room, command) = app_destination(dest, self.state.rooms()).await?;
        let body: Value = if frame.body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&frame.body)
                .map_err(|e| ("MALFORMED_JSON", format!("body is not JSON: {e}")))?
        };
        let started = std::time::Instant::now();
        let result = self.command(room, command, &body).await;
        metrics::histogram!("liar_command_seconds", "command" => command.to_owned())
            .record(started.elapsed().as_secs_f64());
        result.map_err(|e| (e.code(), e.message()))
    }

    async fn command(&self, room: RoomId, command: &str, body: &Value) -> Result<(), RoomError> {
        let rooms = self.state.rooms();
        let field = |name: &'static str, what: &str| {
            RoomError::Validation(vec![crate::error::FieldError::new(
                name,
                "REQUIRED",
                format!("{name} must be {what}"),
            )])
        };
        match command {
            "join" => {
                let who = Person {
                    id: self.user,
                    username: self.username.clone(),
                };
                rooms
                    .join(who, room, body["password"].as_str())
                    .await
                    .map(|_| ())
            }
            "leave" => rooms.leave(self.user, room).await,
            "ready" => {
                let ready = body["ready"]
                    .as_bool()
                    .ok_or_else(|| field("ready", "true or false"))?;
                rooms.ready(self.user, room, ready).await
            }
            "settings" => rooms.settings(self.user, room, body.clone()).await,
            "kick" => {
                let target = body["userId"]
                    .as_i64()
                    .ok_or_else(|| field("userId", "a member id"))?;
                rooms.kick(self.user, room, target).await
            }
            "chat" => {
                let text = body["text"]
                    .as_str()
                    .ok_or_else(|| field("text", "a string"))?;
                rooms.chat(self.user, room, text.to_owned()).await
            }
            "start" => rooms.start(self.user, room).await,
            "hint" | "defense" | "guess" => {
                let key = if command == "guess" { "word" } else { "text" };
                let text = body[key]
                    .as_str()
                    .ok_or_else(|| field(key, "a string"))?
                    .to_owned();
                let play = match command {
                    "hint" => liar_rules::Command::Hint(text),
                    "defense" => liar_rules::Command::Defense(text),
                    _ => liar_rules::Command::Guess(text),
                };
                rooms.play(self.user, room, play).await
            }
            "vote" => {
                let target = body["targetId"]
                    .as_i64()
                    .ok_or_else(|| field("targetId", "a player id"))?;
                rooms
                    .play(self.user, room, liar_rules::Command::Vote(target))
                    .await
            }
            _ => Err(RoomError::Internal),
        }
    }

    fn forwarder(&self, dest: &str, sub: &str) -> Forwarder {
        Forwarder {
            out: self.out.clone(),
            dest: dest.to_owned(),
            sub: sub.to_owned(),
            ids: self.message_ids.clone(),
        }
    }

    fn message(&self, dest: &str, sub: &str, body: &Value) -> Bytes {
        let fwd = self.forwarder(dest, sub);
        fwd.frame(&serde_json::to_vec(body).unwrap_or_default())
    }

    /// Queues a frame without waiting; a connection whose outbox is full is too slow and its
    /// subscriptions resync, so a dropped receipt or error here is the least harm.
    fn enqueue(&self, frame: Bytes) {
        let _ = self.out.try_send(Out::Frame(frame));
    }

    fn error_message(&self, code: &str, message: &str, receipt: Option<&str>) {
        let Some(sub) = &self.errors_sub else { return };
        let mut body = json!({"type": "error", "code": code, "message": message});
        if let Some(r) = receipt {
            body["receiptId"] = json!(r);
        }
        self.enqueue(self.message("/user/queue/errors", sub, &body));
    }
}

/// Parses `/topic/rooms/{id}`; other destinations are refused.
fn room_topic(dest: &str) -> Result<RoomId, Refusal> {
    if let Some(rest) = dest.strip_prefix("/topic/rooms/") {
        return rest
            .parse()
            .map_err(|_| ("ROOM_NOT_FOUND", format!("no room `{rest}`")));
    }
    if dest.starts_with("/user/") || dest.starts_with("/queue/") {
        return Err((
            "FORBIDDEN",
            "only your own /user/queue/events and /user/queue/errors".into(),
        ));
    }
    Err(("UNKNOWN_DESTINATION", format!("no destination `{dest}`")))
}

/// Parses `/app/rooms/{id or code}/{command}`.
async fn app_destination<'a>(dest: &'a str, rooms: &Rooms) -> Result<(RoomId, &'a str), Refusal> {
    let unknown = || ("UNKNOWN_DESTINATION", format!("no destination `{dest}`"));
    let rest = dest.strip_prefix("/app/rooms/").ok_or_else(unknown)?;
    let (room, command) = rest.split_once('/').ok_or_else(unknown)?;
    const COMMANDS: &[&str] = &[
        "join", "leave", "ready", "settings", "kick", "chat", "start", "hint", "vote", "defense",
        "guess",
    ];
    if !COMMANDS.contains(&command) {
        return Err(unknown());
    }
    let room = rooms
        .resolve(room)
        .await
        .ok_or(("ROOM_NOT_FOUND", format!("no room `{room}`")))?;
    Ok((room, command))
}

fn bearer(frame: &Frame) -> Option<String> {
    let auth = frame
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim());
    if let Some(value) = auth {
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
            .filter(|t| !t.is_empty());
    }
    frame
        .get("passcode")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
}

/// The client's `heart-beat:cx,cy` (0,0 when absent or malformed).
fn heart_beat(frame: &Frame) -> (u64, u64) {
    frame
        .get("heart-beat")
        .and_then(|h| h.split_once(','))
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
        .unwrap_or((0, 0))
}

fn error_frame(code: &str, message: &str) -> Bytes {
    Frame::new(Stomp::Error)
        .header("message", code)
        .header("content-type", "application/json")
        .with_body(json!({"code": code, "message": message}).to_string())
        .encode()
}

fn receipt_frame(id: &str) -> Bytes {
    Frame::new(Stomp::Receipt).header("receipt-id", id).encode()
}

/// Writes MESSAGE frames of one subscription to the connection's outbox.
struct Forwarder {
    out: mpsc::Sender<Out>,
    dest: String,
    sub: String,
    ids: Arc<AtomicU64>,
}

impl Forwarder {
    fn frame(&self, body: &[u8]) -> Bytes {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let mut out = BytesMut::with_capacity(body.len() + 128);
        encode_message(&self.dest, &self.sub, &id.to_string(), body, &mut out);
        out.freeze()
    }

    async fn send(&self, body: &[u8]) -> bool {
        self.out.send(Out::Frame(self.frame(body))).await.is_ok()
    }
}

/// How a plain subscription catches up after it fell behind: the frames that replace what it
/// missed (a `lobby.snapshot`; the member's `room.snapshot` and card).
type Catchup = Box<dyn Fn() -> BoxFuture<'static, Vec<Bytes>> + Send + Sync>;

fn lobby_catchup(rooms: Rooms) -> Catchup {
    Box::new(move || {
        let rooms = rooms.clone();
        Box::pin(async move { vec![rooms.lobby_snapshot().await] })
    })
}

fn queue_catchup(rooms: Rooms, user: UserId) -> Catchup {
    Box::new(move || {
        let rooms = rooms.clone();
        Box::pin(async move {
            let snapshot = rooms.snapshot_of(user).await;
            rooms.resync(user).await;
            snapshot.into_iter().collect()
        })
    })
}

async fn forward_plain(fwd: Forwarder, mut rx: broadcast::Receiver<Bytes>, catchup: Catchup) {
    loop {
        match rx.recv().await {
            Ok(body) => {
                if !fwd.send(&body).await {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Events were lost to this subscriber: never silently; send the state instead.
                tracing::debug!(missed = n, dest = %fwd.dest, "subscriber lagged; resyncing");
                metrics::counter!("liar_subscriber_resyncs_total").increment(1);
                for body in catchup().await {
                    if !fwd.send(&body).await {
                        return;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// How often a room subscription asks again while the room's node does not answer (30 s in
/// all: a failover takes the lease TTL plus a scan), and how long it waits in between.
const RESUBSCRIBE_ATTEMPTS: u32 = 60;
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(500);

/// Subscribes to `room`, asking again while its node is busy, restarting or being replaced
/// (`UNAVAILABLE`); `None` when it refused or never came back.
async fn subscribe_when_served(
    rooms: &Rooms,
    user: UserId,
    room: RoomId,
    since: Option<u64>,
) -> Option<Subscription> {
    for _ in 0..RESUBSCRIBE_ATTEMPTS {
        match rooms.subscribe(user, room, since).await {
            Ok(sub) => return Some(sub),
            Err(RoomError::Unavailable) => tokio::time::sleep(RESUBSCRIBE_PAUSE).await,
            Err(_) => return None,
        }
    }
    None
}

async fn forward_room(
    fwd: Forwarder,
    rooms: Rooms,
    user: UserId,
    room: RoomId,
    mut sub: Subscription,
) {
    loop {
        for body in std::mem::take(&mut sub.first) {
            if !fwd.send(&body).await {
                return;
            }
        }
        // The last event this subscriber has: what it missed is asked for from here.
        let mut last = sub.through;
        loop {
            match sub.live.recv().await {
                // Already in the catch-up.
                Ok(RoomFrame::Event { seq, .. }) if seq <= last => {}
                // A gap: events were lost on the way from the room's node.
                Ok(RoomFrame::Event { seq, .. }) if seq > last + 1 => break,
                Ok(RoomFrame::Event { seq, json }) => {
                    last = seq;
                    if !fwd.send(&json).await {
                        return;
                    }
                }
                Ok(RoomFrame::Evict(u)) if u == user => return,
                Ok(RoomFrame::Evict(_)) => {}
                // Closed: the room ended, or (cluster mode) its actor here stopped because
                // another node serves it now; asking again tells which.
                Ok(RoomFrame::Resync)
                | Err(broadcast::error::RecvError::Lagged(_))
                | Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        // Fell behind: exactly the missed events from the room's log, or a snapshot.
        metrics::counter!("liar_room_resubscribes_total").increment(1);
        match subscribe_when_served(&rooms, user, room, Some(last)).await {
            Some(fresh) => sub = fresh,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plain_subscriber_that_falls_behind_gets_the_catch_up_not_a_silent_gap() {
        let (tx, rx) = broadcast::channel(2);
        for i in 0..5 {
            tx.send(Bytes::from(format!("event-{i}"))).unwrap();
        }
        drop(tx);
        let (out, mut frames) = mpsc::channel(16);
        let fwd = Forwarder {
            out,
            dest: "/topic/lobby".into(),
            sub: "s".into(),
            ids: Arc::default(),
        };
        let catchup: Catchup =
            Box::new(|| Box::pin(async { vec![Bytes::from_static(b"snapshot")] }));
        forward_plain(fwd, rx, catchup).await;
        let mut bodies = Vec::new();
        while let Ok(Out::Frame(f)) = frames.try_recv() {
            let text = String::from_utf8_lossy(&f).into_owned();
            let body = text.split("\n\n").nth(1).unwrap_or_default();
            bodies.push(body.trim_end_matches('\0').to_owned());
        }
        assert_eq!(bodies, ["snapshot", "event-3", "event-4"]);
    }
}
