//! `GET /ws`: STOMP 1.2 over WebSocket (SPEC §4, docs/protocol.md).

mod session;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;

/// Largest WebSocket message accepted; STOMP frames are further limited to 8 KiB by the codec.
const MAX_WS_MESSAGE: usize = 64 * 1024;
/// Per-socket read and write buffers. tungstenite's 128 KiB defaults cost ~129 KiB per idle
/// socket (measured with `liar-load idle`, docs/benchmarks.md); STOMP frames are ≤ 8 KiB, so
/// small buffers lose nothing and keep idle connections cheap.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(socket, state))
}
