//! `GET /ws`: STOMP 1.2 over WebSocket (SPEC §4, docs/protocol.md).

mod session;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;

/// Largest WebSocket message accepted; STOMP frames are further limited to 8 KiB by the codec.
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Per-socket write buffer. tungstenite's 128 KiB default costs ~136 KiB per idle socket; small
/// buffers keep idle connections cheap (docs/benchmarks.md).
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(socket, state))
}
