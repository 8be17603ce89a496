//! A small STOMP 1.2 test client over a real WebSocket (`GET /ws`, subprotocol `v12.stomp`).
//!
//! Frames are decoded with `liar-stomp`. Every frame received is kept in [`StompClient::frames`]
//! (for secrecy checks); frames not yet consumed wait in an inbox, so waiting for one kind of
//! frame never loses another. Every wait has a timeout.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use liar_stomp::{Command, Decoded, Decoder, Frame, Limits};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// How long to wait for something that must happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that must not happen.
pub const QUIET: Duration = Duration::from_millis(600);

pub const ERRORS: &str = "/user/queue/errors";
pub const EVENTS: &str = "/user/queue/events";

pub fn room_topic(room: i64) -> String {
    format!("/topic/rooms/{room}")
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The server's `ERROR` frame: its `message` header, JSON body, and whether the socket closed
/// after it (within [`WAIT`]).
#[derive(Debug)]
pub struct ErrorFrame {
    pub code: String,
    pub body: Value,
    pub closed: bool,
}

pub struct StompClient {
    ws: Ws,
    buf: BytesMut,
    decoder: Decoder,
    inbox: VecDeque<Frame>,
    log: Vec<Frame>,
    closed: bool,
    receipts: u64,
    /// Heart-beats (bare end-of-lines) received so far.
    heart_beats: u64,
    /// `user-name` of `CONNECTED`.
    pub user_id: Option<i64>,
    /// `session` of `CONNECTED`.
    pub session: Option<String>,
    /// The server's close frame: code and reason (`None` before a close, or when the socket
    /// ended without one).
    pub close: Option<(u16, String)>,
    /// The code of the server's close frame, once one arrived (None after a reset).
    pub close_code: Option<u16>,
}

impl StompClient {
    /// Opens the WebSocket (offering `v12.stomp`) and sends nothing.
    pub async fn open(app: &TestApp) -> StompClient {
        Self::open_at(app.addr).await
    }

    /// Opens the WebSocket of the server at `addr`.
    pub async fn open_at(addr: std::net::SocketAddr) -> StompClient {
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v12.stomp"),
        );
        let (ws, resp) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(req, None, true),
        )
        .await
        .expect("websocket upgrade timed out")
        .expect("websocket upgrade");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some("v12.stomp"),
            "the server selects the STOMP subprotocol"
        );
        StompClient {
            ws,
            buf: BytesMut::new(),
            // Generous limits: the client must be able to read whatever the server sends.
            decoder: Decoder::new(Limits {
                max_frame_bytes: 1 << 22,
                max_headers: 64,
                max_header_bytes: 1 << 16,
            }),
            inbox: VecDeque::new(),
            log: Vec::new(),
            closed: false,
            receipts: 0,
            heart_beats: 0,
            user_id: None,
            session: None,
            close: None,
            close_code: None,
        }
    }

    /// Connects with `Authorization: Bearer <access>` and waits for `CONNECTED`.
    pub async fn connect(app: &TestApp, access: &str) -> Result<StompClient, ErrorFrame> {
        Self::connect_with(app, &[("Authorization", &format!("Bearer {access}"))]).await
    }

    /// Connects with extra `CONNECT` headers (or none) and waits for `CONNECTED` or `ERROR`.
    pub async fn connect_with(
        app: &TestApp,
        headers: &[(&str, &str)],
    ) -> Result<StompClient, ErrorFrame> {
        Self::connect_at(app.addr, headers).await
    }

    /// Connects to the server at `addr` and subscribes to both private queues.
    pub async fn member_at(addr: std::net::SocketAddr, access: &str) -> StompClient {
        let auth = format!("Bearer {access}");
        let mut c = Self::connect_at(addr, &[("Authorization", &auth)])
            .await
            .expect("CONNECTED");
        c.subscribe(ERRORS, "errors").await.expect("errors queue");
        c.subscribe(EVENTS, "events").await.expect("events queue");
        c
    }

    async fn connect_at(
        addr: std::net::SocketAddr,
        headers: &[(&str, &str)],
    ) -> Result<StompClient, ErrorFrame> {
        let mut c = Self::open_at(addr).await;
        let mut f = Frame::new(Command::Connect)
            .header("accept-version", "1.2")
            .header("host", "liar")
            .header("heart-beat", "0,0");
        for (k, v) in headers {
            f = f.header(*k, *v);
        }
        c.send_frame(&f).await;
        match c.next_frame(WAIT).await {
            Some(f) if f.command == Command::Connected => {
                c.user_id = f.get("user-name").and_then(|v| v.parse().ok());
                c.session = f.get("session").map(str::to_owned);
                Ok(c)
            }
            Some(f) if f.command == Command::Error => Err(c.error_frame(f).await),
            other => panic!("expected CONNECTED or ERROR, got {other:?}"),
        }
    }

    /// Connects and subscribes to both private queues (`errors`, `events`).
    pub async fn member(app: &TestApp, access: &str) -> StompClient {
        let mut c = Self::connect(app, access).await.expect("CONNECTED");
        c.subscribe(ERRORS, "errors").await.expect("errors queue");
        c.subscribe(EVENTS, "events").await.expect("events queue");
        c
    }

    /// `SUBSCRIBE` with a receipt; waits for the `RECEIPT` or the refusal on the errors queue.
    pub async fn subscribe(&mut self, dest: &str, id: &str) -> Result<(), Value> {
        self.subscribe_with(dest, id, None).await
    }

    /// `SUBSCRIBE` with `since-seq:<seq>`.
    pub async fn subscribe_since(&mut self, dest: &str, id: &str, seq: u64) -> Result<(), Value> {
        self.subscribe_with(dest, id, Some(seq)).await
    }

    async fn subscribe_with(
        &mut self,
        dest: &str,
        id: &str,
        since: Option<u64>,
    ) -> Result<(), Value> {
        let receipt = format!("sub-{id}");
        let mut f = Frame::new(Command::Subscribe)
            .header("id", id)
            .header("destination", dest)
            .header("ack", "auto")
            .header("receipt", &receipt);
        if let Some(seq) = since {
            f = f.header("since-seq", seq.to_string());
        }
        self.send_frame(&f).await;
        self.expect_receipt_or_error(&receipt, WAIT).await
    }

    /// Subscribes to a room's topic and returns the `room.snapshot` that comes first.
    pub async fn watch(&mut self, room: i64) -> Value {
        let topic = room_topic(room);
        self.subscribe(&topic, &format!("room-{room}"))
            .await
            .expect("room topic subscription");
        let first = self
            .next_message_on(&topic, WAIT)
            .await
            .expect("a snapshot");
        assert_eq!(first["type"], "room.snapshot", "{first}");
        first
    }

    /// `SEND` with a JSON body (and a `receipt` header when given).
    pub async fn send(&mut self, dest: &str, body: &Value, receipt: Option<&str>) {
        let mut f = Frame::new(Command::Send)
            .header("destination", dest)
            .header("content-type", "application/json");
        if let Some(r) = receipt {
            f = f.header("receipt", r);
        }
        self.send_frame(&f.with_body(body.to_string())).await;
    }

    /// Sends `/app/rooms/{room}/{command}` with a fresh receipt and waits for the outcome.
    pub async fn command(&mut self, room: i64, command: &str, body: Value) -> Result<(), Value> {
        self.receipts += 1;
        let receipt = format!("r-{}", self.receipts);
        self.send(
            &format!("/app/rooms/{room}/{command}"),
            &body,
            Some(&receipt),
        )
        .await;
        self.expect_receipt_or_error(&receipt, WAIT).await
    }

    /// Waits for `RECEIPT receipt-id:<receipt>` (Ok) or an error message on the errors queue
    /// carrying that `receiptId` (Err with its body). An `ERROR` frame is an Err too, shaped
    /// `{"type":"ERROR","code":<message header>}`. Panics on timeout.
    pub async fn expect_receipt_or_error(
        &mut self,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), Value> {
        let f = self
            .take(timeout, |f| match f.command {
                Command::Receipt => f.get("receipt-id") == Some(receipt),
                Command::Message => {
                    f.get("destination") == Some(ERRORS) && json(f)["receiptId"] == receipt
                }
                Command::Error => true,
                _ => false,
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no RECEIPT or error for {receipt}; got {:?}",
                    self.summary()
                )
            });
        match f.command {
            Command::Receipt => Ok(()),
            Command::Error => Err(serde_json::json!({"type": "ERROR", "code": f.get("message")})),
            _ => Err(json(&f)),
        }
    }

    /// The next frame not yet consumed, or None on timeout or close.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<Frame> {
        self.take(timeout, |_| true).await
    }

    /// The body of the next `MESSAGE` whose destination or subscription id is `dest`.
    pub async fn next_message_on(&mut self, dest: &str, timeout: Duration) -> Option<Value> {
        self.take(timeout, |f| {
            f.command == Command::Message
                && (f.get("destination") == Some(dest) || f.get("subscription") == Some(dest))
        })
        .await
        .map(|f| json(&f))
    }

    /// The next message on `dest` of type `kind`; panics after [`WAIT`].
    pub async fn expect_event(&mut self, dest: &str, kind: &str) -> Value {
        self.expect_message(dest, |v| v["type"] == kind).await
    }

    /// The next message on `dest` whose body satisfies `pred`; panics after [`WAIT`].
    pub async fn expect_message(&mut self, dest: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.take(WAIT, |f| {
            f.command == Command::Message && f.get("destination") == Some(dest) && pred(&json(f))
        })
        .await
        .map(|f| json(&f))
        .unwrap_or_else(|| panic!("no such message on {dest}; got {:#?}", self.summary()))
    }

    /// The next `ERROR` frame, or None.
    pub async fn next_error_frame(&mut self, timeout: Duration) -> Option<ErrorFrame> {
        let f = self.take(timeout, |f| f.command == Command::Error).await?;
        Some(self.error_frame(f).await)
    }

    /// Reads (keeping what arrives) until the socket closes; true if it did within `timeout`.
    pub async fn closes_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed && self.read_more(deadline).await {}
        self.closed
    }

    /// Reads whatever arrives during `d` into the inbox (for checks on [`Self::frames`]).
    pub async fn drain(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while self.read_more(deadline).await {}
    }

    /// Heart-beats received while reading for `d`.
    pub async fn heart_beats_within(&mut self, d: Duration) -> u64 {
        let before = self.heart_beats;
        self.drain(d).await;
        self.heart_beats - before
    }

    /// Whether the socket is known to be closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Every frame received so far, in order.
    pub fn frames(&self) -> &[Frame] {
        &self.log
    }

    /// Bodies of every `MESSAGE` received on `dest` so far (consumed or not).
    pub fn messages_on(&self, dest: &str) -> Vec<Value> {
        self.log
            .iter()
            .filter(|f| f.command == Command::Message && f.get("destination") == Some(dest))
            .map(json)
            .collect()
    }

    pub async fn send_frame(&mut self, f: &Frame) -> bool {
        let bytes = f.encode();
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => self.send_ws(Message::text(text)).await,
            Err(_) => self.send_raw(bytes).await,
        }
    }

    /// Sends bytes as one binary WebSocket message; false if the socket is gone.
    pub async fn send_raw(&mut self, bytes: impl Into<Bytes>) -> bool {
        self.send_ws(Message::Binary(bytes.into())).await
    }

    /// Sends text as one text WebSocket message; false if the socket is gone.
    pub async fn send_text(&mut self, text: &str) -> bool {
        self.send_ws(Message::text(text.to_owned())).await
    }

    async fn send_ws(&mut self, m: Message) -> bool {
        matches!(
            tokio::time::timeout(WAIT, self.ws.send(m)).await,
            Ok(Ok(()))
        )
    }

    /// `UNSUBSCRIBE` with a receipt; waits for the `RECEIPT`.
    pub async fn unsubscribe(&mut self, id: &str) {
        let receipt = format!("unsub-{id}");
        let f = Frame::new(Command::Unsubscribe)
            .header("id", id)
            .header("receipt", &receipt);
        self.send_frame(&f).await;
        self.expect_receipt_or_error(&receipt, WAIT)
            .await
            .expect("unsubscribed");
    }

    /// Closes the WebSocket (like a tab being closed) and waits for the server's close.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.ws.close(None)).await;
        self.closes_within(WAIT).await;
    }

    /// One line per frame received, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|f| {
                let head = f
                    .get("destination")
                    .or(f.get("message"))
                    .or(f.get("receipt-id"));
                format!(
                    "{:?} {:?} {}",
                    f.command,
                    head,
                    String::from_utf8_lossy(&f.body)
                )
            })
            .collect()
    }

    async fn error_frame(&mut self, f: Frame) -> ErrorFrame {
        ErrorFrame {
            code: f.get("message").unwrap_or_default().to_owned(),
            body: serde_json::from_slice(&f.body).unwrap_or(Value::Null),
            closed: self.closes_within(WAIT).await,
        }
    }

    /// Removes and returns the first inbox frame matching `pred`, reading more until `timeout`.
    async fn take(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Frame) -> bool,
    ) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            if let Some(i) = self.inbox.iter().skip(scanned).position(&mut pred) {
                return self.inbox.remove(scanned + i);
            }
            scanned = self.inbox.len();
            if !self.read_more(deadline).await {
                return None;
            }
        }
    }

    /// Reads one WebSocket message into the inbox; false on timeout or close.
    async fn read_more(&mut self, deadline: Instant) -> bool {
        if self.closed {
            return false;
        }
        let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
            Err(_) => return false,
            Ok(Some(Ok(m))) => m,
            Ok(None) | Ok(Some(Err(_))) => {
                self.closed = true;
                return false;
            }
        };
        match msg {
            Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
            Message::Binary(b) => self.buf.extend_from_slice(&b),
            Message::Close(frame) => {
                self.close_code = frame.as_ref().map(|f| u16::from(f.code));
                self.close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                self.closed = true;
                return false;
            }
            _ => return true,
        }
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Decoded::Frame(f))) => {
                    self.log.push(f.clone());
                    self.inbox.push_back(f);
                }
                Ok(Some(Decoded::HeartBeat)) => self.heart_beats += 1,
                Ok(None) => return true,
                Err(e) => panic!("the server sent bytes that are not STOMP: {e}"),
            }
        }
    }
}

/// A frame's body as JSON (Null when it is not JSON).
pub fn json(f: &Frame) -> Value {
    serde_json::from_slice(&f.body).unwrap_or(Value::Null)
}
