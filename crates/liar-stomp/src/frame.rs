//! A decoded STOMP frame and the encoder that writes one to the wire.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Command;

/// The header that fixes the body length; the encoder owns it (see [`Frame::encode_into`]).
pub(crate) const CONTENT_LENGTH: &str = "content-length";

/// One STOMP frame: a command, ordered headers (repeats allowed) and an opaque body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame asks for or reports.
    pub command: Command,
    /// Headers in wire order, unescaped. A name may repeat; [`Frame::get`] sees the first.
    pub headers: Vec<(String, String)>,
    /// The body, shared rather than copied when the frame is decoded from a buffer.
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and an empty body.
    pub fn new(command: Command) -> Self {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header; repeated names are kept in order.
    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header named `name` (case-sensitive), as STOMP 1.2 requires
    /// of repeated headers.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The frame's wire bytes; see [`Frame::encode_into`].
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out);
        out.freeze()
    }

    /// Appends the frame's wire bytes to `out`.
    ///
    /// Header names and values are escaped unless the command is `CONNECT` or `CONNECTED`,
    /// whose headers must then hold no CR or LF (nor `:` in a name) to decode as written.
    /// Any `content-length` header in [`Frame::headers`] is replaced: a non-empty body gets
    /// one with its true length, written last, so a body may safely contain NUL.
    pub fn encode_into(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len_hint());
        out.put_slice(self.command.as_str().as_bytes());
        out.put_u8(b'\n');
        let escape = self.command.escapes_headers();
        for (name, value) in self.headers.iter().filter(|(k, _)| k != CONTENT_LENGTH) {
            put_header(out, name, value, escape);
        }
        if !self.body.is_empty() {
            put_content_length(out, self.body.len());
        }
        out.put_u8(b'\n');
        out.put_slice(&self.body);
        out.put_u8(0);
    }

    /// Close to the encoded size, so one allocation usually suffices.
    fn encoded_len_hint(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        self.command.as_str().len() + headers + self.body.len() + 40
    }
}

/// Appends a MESSAGE frame carrying a JSON `body` to `out` without building a [`Frame`].
///
/// The server fans one event out to many subscribers; this writes the few per-subscriber
/// headers around the shared body with no intermediate allocation. The frame carries
/// `destination`, `subscription`, `message-id`, `content-type:application/json` and
/// `content-length`, in that order.
pub fn encode_message(
    destination: &str,
    subscription: &str,
    message_id: &str,
    body: &[u8],
    out: &mut BytesMut,
) {
    out.reserve(destination.len() + subscription.len() + message_id.len() + body.len() + 110);
    out.put_slice(b"MESSAGE\n");
    put_header(out, "destination", destination, true);
    put_header(out, "subscription", subscription, true);
    put_header(out, "message-id", message_id, true);
    out.put_slice(b"content-type:application/json\n");
    put_content_length(out, body.len());
    out.put_u8(b'\n');
    out.put_slice(body);
    out.put_u8(0);
}

fn put_header(out: &mut BytesMut, name: &str, value: &str, escape: bool) {
    if escape {
        put_escaped(out, name);
        out.put_u8(b':');
        put_escaped(out, value);
    } else {
        out.put_slice(name.as_bytes());
        out.put_u8(b':');
        out.put_slice(value.as_bytes());
    }
    out.put_u8(b'\n');
}

fn put_content_length(out: &mut BytesMut, len: usize) {
    // Writing to a BytesMut cannot fail.
    let _ = writeln!(out, "{CONTENT_LENGTH}:{len}");
}

/// Writes `text` with STOMP 1.2 header escapes (`\r`, `\n`, `\c`, `\\`).
fn put_escaped(out: &mut BytesMut, text: &str) {
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\r' => b"\\r",
            b'\n' => b"\\n",
            b':' => b"\\c",
            b'\\' => b"\\\\",
            _ => continue,
        };
        out.put_slice(&bytes[clean_from..i]);
        out.put_slice(escaped);
        clean_from = i + 1;
    }
    out.put_slice(&bytes[clean_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> BytesMut {
        let mut out = BytesMut::new();
        put_escaped(&mut out, text);
        out
    }

    #[test]
    fn escaping_covers_the_four_special_characters() {
        assert_eq!(&escaped("a\rb\nc:d\\e")[..], b"a\\rb\\nc\\cd\\\\e");
        assert_eq!(&escaped("plain")[..], b"plain");
        assert_eq!(&escaped("")[..], b"");
    }

    #[test]
    fn connect_headers_are_written_raw() {
        let frame = Frame::new(Command::Connect).header("passcode", "a:b\\c");
        assert_eq!(&frame.encode()[..], b"CONNECT\npasscode:a:b\\c\n\n\0");
    }

    #[test]
    fn the_encoder_owns_content_length() {
        let frame = Frame::new(Command::Send)
            .header("content-length", "999")
            .with_body("hi");
        assert_eq!(&frame.encode()[..], b"SEND\ncontent-length:2\n\nhi\0");
        let empty = Frame::new(Command::Send).header("content-length", "3");
        assert_eq!(&empty.encode()[..], b"SEND\n\n\0");
    }
}
