//! Sockets, STOMP framing and HTTP accounts.

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use liar_stomp::{Command, Decoded, Decoder, Frame, Limits};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Ws = WebSocketStream<TcpStream>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub const WAIT: Duration = Duration::from_secs(10);

/// Refuses anything that is not a loopback address: this tool only loads the local machine.
pub fn loopback(addr: SocketAddr) -> Result<SocketAddr, Error> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!("{addr} is not a loopback address; only loopback may be load-tested").into())
    }
}

/// Source address number `i` of `n` (127.0.0.1, 127.0.0.2, …): every one routes to `lo`, and
/// each has its own ~28k ephemeral ports towards one destination.
pub fn source(i: usize, n: usize) -> IpAddr {
    let k = (i % n.max(1)) as u32 + 1;
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 | k))
}

pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
}

/// Opens a WebSocket to `ws://addr{path}` from `src`, offering `protocol` when given.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    src: IpAddr,
    protocol: Option<&'static str>,
) -> Result<Ws, Error> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    let stream = tokio::time::timeout(WAIT, sock.connect(addr)).await??;
    stream.set_nodelay(true)?;
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static(p));
    }
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async_with_config(req, stream, Some(ws_config())),
    )
    .await??;
    Ok(ws)
}

/// One STOMP connection.
pub struct Stomp {
    pub ws: Ws,
    buf: BytesMut,
    decoder: Decoder,
    pub user_id: i64,
}

impl Stomp {
    /// Upgrades, sends `CONNECT` with the bearer token and waits for `CONNECTED`.
    pub async fn connect(
        addr: SocketAddr,
        src: IpAddr,
        token: &str,
        heart_beat_ms: u64,
    ) -> Result<Stomp, Error> {
        let ws = ws_connect(addr, "/ws", src, Some("v12.stomp")).await?;
        let mut s = Stomp {
            ws,
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits {
                max_frame_bytes: 1 << 20,
                max_headers: 64,
                max_header_bytes: 1 << 16,
            }),
            user_id: 0,
        };
        let hb = format!("{heart_beat_ms},{heart_beat_ms}");
        s.send(
            &Frame::new(Command::Connect)
                .header("accept-version", "1.2")
                .header("host", "liar")
                .header("heart-beat", hb)
                .header("Authorization", format!("Bearer {token}")),
        )
        .await?;
        let f = tokio::time::timeout(WAIT, s.next())
            .await??
            .ok_or("closed before CONNECTED")?;
        if f.command != Command::Connected {
            return Err(format!(
                "expected CONNECTED, got {:?} {:?}",
                f.command,
                f.get("message")
            )
            .into());
        }
        s.user_id = f.get("user-name").and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(s)
    }

    pub async fn send(&mut self, f: &Frame) -> Result<(), Error> {
        let text = String::from_utf8(f.encode().to_vec())?;
        tokio::time::timeout(WAIT, self.ws.send(Message::text(text))).await??;
        Ok(())
    }

    pub async fn subscribe(&mut self, dest: &str, id: &str) -> Result<(), Error> {
        self.send(
            &Frame::new(Command::Subscribe)
                .header("id", id)
                .header("destination", dest)
                .header("ack", "auto"),
        )
        .await
    }

    /// `SUBSCRIBE` resuming after room event `since` (`since-seq`).
    pub async fn subscribe_since(&mut self, dest: &str, id: &str, since: u64) -> Result<(), Error> {
        self.send(
            &Frame::new(Command::Subscribe)
                .header("id", id)
                .header("destination", dest)
                .header("ack", "auto")
                .header("since-seq", since.to_string()),
        )
        .await
    }

    /// `SEND` with a JSON body.
    pub async fn command(
        &mut self,
        dest: &str,
        body: &Value,
        receipt: Option<&str>,
    ) -> Result<(), Error> {
        let mut f = Frame::new(Command::Send)
            .header("destination", dest)
            .header("content-type", "application/json");
        if let Some(r) = receipt {
            f = f.header("receipt", r);
        }
        self.send(&f.with_body(body.to_string())).await
    }

    /// A frame already buffered, if any.
    pub fn buffered(&mut self) -> Result<Option<Frame>, Error> {
        loop {
            match self.decoder.decode(&mut self.buf)? {
                Some(Decoded::Frame(f)) => return Ok(Some(f)),
                Some(Decoded::HeartBeat) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Feeds one WebSocket message; false when the socket closed.
    pub fn feed(&mut self, m: Message) -> bool {
        match m {
            Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
            Message::Binary(b) => self.buf.extend_from_slice(&b),
            Message::Close(_) => return false,
            _ => {}
        }
        true
    }

    /// The next frame, or None when the socket closed. Not cancel-safe across a partial frame
    /// only in the sense that buffered bytes stay buffered; nothing is lost.
    pub async fn next(&mut self) -> Result<Option<Frame>, Error> {
        loop {
            if let Some(f) = self.buffered()? {
                return Ok(Some(f));
            }
            match self.ws.next().await {
                Some(Ok(m)) => {
                    if !self.feed(m) {
                        return Ok(None);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(None),
            }
        }
    }
}

/// A forwarded client address for bot `i` (10.x.y.z), so per-IP limits apply per bot.
pub fn bot_ip(i: usize) -> String {
    let i = i as u32 + 1;
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

pub const PASSWORD: &str = "load-test-password-1";

/// Logs bot `name` in (registering it first when it does not exist yet); returns the access token.
pub async fn account(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    ip: &str,
) -> Result<String, Error> {
    let email = format!("{name}@load.test");
    let login = || async {
        http.post(format!("{base}/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
    };
    let mut r = login().await?;
    if r.status() == reqwest::StatusCode::UNAUTHORIZED {
        let reg = http
            .post(format!("{base}/api/auth/register"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "username": name, "password": PASSWORD}))
            .send()
            .await?;
        if !reg.status().is_success() {
            return Err(format!("register {name}: {} {}", reg.status(), reg.text().await?).into());
        }
        r = login().await?;
    }
    if !r.status().is_success() {
        return Err(format!("login {name}: {} {}", r.status(), r.text().await?).into());
    }
    let v: Value = r.json().await?;
    Ok(v["accessToken"]
        .as_str()
        .ok_or("no accessToken")?
        .to_owned())
}

/// `POST /api/rooms`; returns the room id.
pub async fn create_room(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    ip: &str,
    body: Value,
) -> Result<i64, Error> {
    let r = http
        .post(format!("{base}/api/rooms"))
        .header("x-forwarded-for", ip)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("create room: {} {}", r.status(), r.text().await?).into());
    }
    let v: Value = r.json().await?;
    v["roomId"].as_i64().ok_or_else(|| "no roomId".into())
}

/// Logs in `n` bots named `{prefix}{i}`, `parallel` at a time, in index order.
pub async fn accounts(
    base: &str,
    prefix: &str,
    n: usize,
    parallel: usize,
) -> Result<Vec<String>, Error> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let names: Vec<(usize, String)> = (0..n).map(|i| (i, format!("{prefix}{i}"))).collect();
    let started = std::time::Instant::now();
    let results: Vec<Result<String, Error>> = futures::stream::iter(names)
        .map(|(i, name)| {
            let http = http.clone();
            async move { account(&http, base, &name, &bot_ip(i)).await }
        })
        .buffered(parallel.max(1))
        .collect()
        .await;
    let tokens = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    println!(
        "logged in {n} bots in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(tokens)
}
