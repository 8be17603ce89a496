//! `GET /ws`: STOMP 1.2 over WebSocket (SPEC §4, docs/protocol.md).

mod session;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;

use crate::app::AppState;

/// Largest WebSocket message accepted, in STOMP frames' worth of bytes (`ws_max_frame_bytes`):
/// a client may batch a few frames in one message; each frame is held to the limit by the codec.
const FRAMES_PER_WS_MESSAGE: usize = 8;
/// Per-socket read and write buffers. tungstenite's 128 KiB defaults cost ~129 KiB per idle
/// socket (measured with `liar-load idle`, docs/benchmarks.md); STOMP frames are ≤ 8 KiB, so
/// small buffers lose nothing and keep idle connections cheap.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let max_message = state
        .config()
        .ws_max_frame_bytes
        .saturating_mul(FRAMES_PER_WS_MESSAGE);
    ws.protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| session::run(socket, state))
}
