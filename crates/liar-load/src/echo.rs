//! The bare-transport baseline: a minimal tokio WebSocket fan-out server. A client's first text
//! message `J <room>` puts it in a room; every later message is sent, unchanged, to every member
//! of that room (the sender too). One writer task and a bounded queue per socket, like the server.

use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Rooms = Arc<Mutex<HashMap<u64, Vec<(u64, mpsc::Sender<Message>)>>>>;

pub async fn serve(bind: SocketAddr) -> Result<(), crate::net::Error> {
    let listener = TcpListener::bind(crate::net::loopback(bind)?).await?;
    println!("echo listening on {bind}");
    let rooms: Rooms = Arc::default();
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        next_id += 1;
        let (id, rooms) = (next_id, rooms.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(crate::net::ws_config()))
                    .await
            else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            let (tx, mut rx) = mpsc::channel::<Message>(1024);
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
            });
            let mut room = None;
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                match room {
                    None => {
                        let r: u64 = t
                            .strip_prefix("J ")
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0);
                        rooms
                            .lock()
                            .unwrap()
                            .entry(r)
                            .or_default()
                            .push((id, tx.clone()));
                        room = Some(r);
                    }
                    Some(r) => {
                        let members: Vec<_> = rooms.lock().unwrap()[&r]
                            .iter()
                            .map(|(_, s)| s.clone())
                            .collect();
                        let msg = Message::Text(t);
                        for s in members {
                            let _ = s.try_send(msg.clone());
                        }
                    }
                }
            }
            if let Some(r) = room
                && let Some(v) = rooms.lock().unwrap().get_mut(&r)
            {
                v.retain(|(i, _)| *i != id);
            }
            drop(tx);
            writer.abort();
        });
    }
}
