//! A sans-IO STOMP 1.2 frame codec.
//!
//! The crate turns bytes into [`Frame`]s and back and does nothing else: no sockets, no
//! tasks, no clocks. The WebSocket layer of the server appends whatever arrives to a
//! [`bytes::BytesMut`], calls [`decode`] (or a [`Decoder`]) until it returns `Ok(None)`, and
//! writes the bytes of [`Frame::encode`] or [`encode_message`] back.
//!
//! Framing follows the STOMP 1.2 specification: `COMMAND EOL *(header EOL) EOL body NUL`,
//! where EOL is `\n` or `\r\n`, bare EOLs between frames are heart-beats, header names and
//! values are escaped in every frame except `CONNECT` and `CONNECTED`, the first occurrence of a
//! repeated header wins, and `content-length` (when present) fixes the body length. Every
//! input is bounded by [`Limits`] so a hostile peer cannot make the server buffer without end.

mod command;
mod decode;
mod error;
mod frame;

pub use command::Command;
pub use decode::{Decoded, Decoder, Limits, decode};
pub use error::DecodeError;
pub use frame::{Frame, encode_message};
