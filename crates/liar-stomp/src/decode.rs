//! Turning the front of a byte buffer into frames and heart-beats.
//!
//! Decoding is one pass over the input: the head (command and header lines) is parsed a line
//! at a time, then the body is located either by `content-length` or by the first NUL. The
//! free function [`decode`] is stateless, so a frame that arrives in many pieces is rescanned
//! from its start on each call, never past `max_frame_bytes`. A [`Decoder`] remembers how far
//! it got, so the same trickle costs time linear in its length.

use bytes::{Buf, BytesMut};

use crate::frame::CONTENT_LENGTH;
use crate::{Command, DecodeError, Frame};

/// Default [`Limits::max_frame_bytes`]: the specification caps every command frame at 8 KiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 8 * 1024;
/// Default [`Limits::max_headers`]: stock clients send fewer than ten; 32 leaves room for
/// custom headers without letting a frame become a header flood.
pub const DEFAULT_MAX_HEADERS: usize = 32;
/// Default [`Limits::max_header_bytes`]: a bearer token of a few hundred bytes fits with room
/// to spare.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1024;

/// Bounds on what one frame may make the decoder hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame, counted from the first byte of its command through its NUL.
    pub max_frame_bytes: usize,
    /// Most header lines in one frame, `content-length` included.
    pub max_headers: usize,
    /// Longest header line, in bytes, not counting its EOL.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// One item taken from the front of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame.
    Frame(Frame),
    /// A run of bare EOLs between frames: the peer is alive.
    HeartBeat,
}

/// Decodes at most one item from the front of `buf`, consuming exactly its bytes.
///
/// A run of EOLs is one [`Decoded::HeartBeat`]. Partial input yields `Ok(None)` with `buf`
/// untouched; so does an error, after which the stream cannot be resynchronised. Never panics.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Decoded>, DecodeError> {
    Decoder::new(*limits).decode(buf)
}

/// A [`decode`] that remembers how much of an incomplete frame it has already read.
///
/// Between calls the caller may only append to the buffer; the decoder alone consumes from
/// its front. Feeding it a buffer shorter than what it has read starts it afresh.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    limits: Limits,
    partial: Partial,
}

/// What is known about the frame at the front of the buffer.
#[derive(Debug, Clone, Default)]
struct Partial {
    /// First byte not yet examined: the start of the next head line, or, once the head is
    /// read and there is no `content-length`, the next byte to search for NUL.
    scanned: usize,
    command: Option<Command>,
    headers: Vec<(String, String)>,
    /// Set once the blank line that ends the head has been read.
    body: Option<Body>,
}

#[derive(Debug, Clone, Copy)]
struct Body {
    start: usize,
    content_length: Option<usize>,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            partial: Partial::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// As [`decode`], resuming where the previous `Ok(None)` stopped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        if self.partial.scanned > buf.len() {
            self.partial = Partial::default();
        }
        let result = self.step(buf);
        if !matches!(result, Ok(None)) {
            self.partial = Partial::default();
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        if self.partial.command.is_none() {
            let eols = leading_eols(buf);
            if eols > 0 {
                buf.advance(eols);
                return Ok(Some(Decoded::HeartBeat));
            }
        }
        if self.partial.body.is_none() && !self.read_head(buf)? {
            return Ok(None);
        }
        self.read_body(buf)
    }

    /// Reads complete head lines; true once the blank line ending the head has been read.
    fn read_head(&mut self, buf: &[u8]) -> Result<bool, DecodeError> {
        loop {
            let start = self.partial.scanned;
            let Some(eol) = find(&buf[start..], b'\n') else {
                if self.partial.command.is_none() && matches!(&buf[start..], b"" | b"\r") {
                    // Nothing yet, or half a heart-beat: no frame has started.
                    return Ok(false);
                }
                self.check_partial_line(&buf[start..])?;
                // The frame still needs at least an EOL and its NUL.
                self.ensure_fits(buf.len() + 2)?;
                return Ok(false);
            };
            let end = start + eol;
            self.ensure_fits(end + 2)?;
            self.partial.scanned = end + 1;
            let line = &buf[start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.partial.command.is_none() {
                self.partial.command = Some(parse_command(line)?);
            } else if line.is_empty() {
                let content_length = content_length(&self.partial.headers)?;
                self.partial.body = Some(Body {
                    start: end + 1,
                    content_length,
                });
                return Ok(true);
            } else {
                self.read_header(line)?;
            }
        }
    }

    /// Rejects an unfinished line that is already too long to be valid.
    fn check_partial_line(&self, line: &[u8]) -> Result<(), DecodeError> {
        // One byte of slack: the line may yet end in CRLF.
        if self.partial.command.is_none() {
            if line.len() > Command::MAX_LEN + 1 {
                return Err(DecodeError::unknown_command(line));
            }
        } else if line.len() > self.limits.max_header_bytes.saturating_add(1) {
            return Err(self.header_too_long());
        }
        Ok(())
    }

    fn read_header(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        if line.len() > self.limits.max_header_bytes {
            return Err(self.header_too_long());
        }
        if self.partial.headers.len() >= self.limits.max_headers {
            return Err(DecodeError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        }
        let escaped = self.partial.command.is_some_and(Command::escapes_headers);
        let header = parse_header(line, escaped)?;
        self.partial.headers.push(header);
        Ok(())
    }

    fn read_body(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, DecodeError> {
        let (Some(command), Some(body)) = (self.partial.command, self.partial.body) else {
            return Ok(None);
        };
        let Some(nul) = self.find_body_end(buf, body)? else {
            return Ok(None);
        };
        let wire = buf.split_to(nul + 1).freeze();
        let frame = Frame {
            command,
            headers: std::mem::take(&mut self.partial.headers),
            body: wire.slice(body.start..nul),
        };
        Ok(Some(Decoded::Frame(frame)))
    }

    /// The offset of the NUL that ends the frame, once it has arrived.
    fn find_body_end(&mut self, buf: &[u8], body: Body) -> Result<Option<usize>, DecodeError> {
        if let Some(len) = body.content_length {
            let nul = body.start.saturating_add(len);
            self.ensure_fits(nul.saturating_add(1))?;
            return match buf.get(nul) {
                None => Ok(None),
                Some(0) => Ok(Some(nul)),
                Some(_) => Err(DecodeError::MissingNul),
            };
        }
        // Never look past the largest frame allowed: a NUL beyond it is an error anyway.
        let window = buf.len().min(self.limits.max_frame_bytes);
        let from = self
            .partial
            .scanned
            .clamp(body.start, window.max(body.start));
        if let Some(i) = find(buf.get(from..window).unwrap_or_default(), 0) {
            return Ok(Some(from + i));
        }
        self.ensure_fits(buf.len() + 1)?;
        self.partial.scanned = window;
        Ok(None)
    }

    /// Fails once the frame is known to span at least `min_len` bytes and that is too many.
    fn ensure_fits(&self, min_len: usize) -> Result<(), DecodeError> {
        if min_len > self.limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                limit: self.limits.max_frame_bytes,
            });
        }
        Ok(())
    }

    fn header_too_long(&self) -> DecodeError {
        DecodeError::HeaderTooLong {
            limit: self.limits.max_header_bytes,
        }
    }
}

/// Length of the run of `\n` and `\r\n` at the front of `buf`.
fn leading_eols(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match &buf[i..] {
            [b'\n', ..] => i += 1,
            [b'\r', b'\n', ..] => i += 2,
            _ => return i,
        }
    }
}

fn find(haystack: &[u8], needle: u8) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn parse_command(line: &[u8]) -> Result<Command, DecodeError> {
    if line.len() > Command::MAX_LEN {
        return Err(DecodeError::unknown_command(line));
    }
    let name = std::str::from_utf8(line).map_err(|_| DecodeError::InvalidUtf8)?;
    Command::from_wire(name).ok_or_else(|| DecodeError::unknown_command(line))
}

/// Splits `name:value` at the first colon and undoes escaping when the command uses it.
fn parse_header(line: &[u8], escaped: bool) -> Result<(String, String), DecodeError> {
    let line = std::str::from_utf8(line).map_err(|_| DecodeError::InvalidUtf8)?;
    if line.contains('\r') {
        return Err(DecodeError::MalformedHeader);
    }
    let (name, value) = line.split_once(':').ok_or(DecodeError::MalformedHeader)?;
    if name.is_empty() {
        return Err(DecodeError::MalformedHeader);
    }
    if escaped {
        Ok((unescape(name)?, unescape(value)?))
    } else {
        Ok((name.to_owned(), value.to_owned()))
    }
}

/// Undoes the four STOMP 1.2 escapes; any other backslash sequence is an error.
fn unescape(text: &str) -> Result<String, DecodeError> {
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('r') => '\r',
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            _ => return Err(DecodeError::InvalidEscape),
        });
    }
    Ok(out)
}

/// The body length fixed by the first `content-length` header, if any.
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, DecodeError> {
    let Some((_, value)) = headers.iter().find(|(k, _)| k == CONTENT_LENGTH) else {
        return Ok(None);
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadContentLength);
    }
    // All digits, so the only failure is overflow: a length no limit could allow.
    Ok(Some(value.parse().unwrap_or(usize::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_accepts_exactly_four_escapes() {
        assert_eq!(unescape("a\\r\\n\\c\\\\b").unwrap(), "a\r\n:\\b");
        for bad in ["\\t", "\\", "a\\", "\\C", "\\ "] {
            assert_eq!(unescape(bad), Err(DecodeError::InvalidEscape), "{bad:?}");
        }
    }

    #[test]
    fn content_length_must_be_plain_digits() {
        let cl = |v: &str| content_length(&[(CONTENT_LENGTH.into(), v.into())]);
        assert_eq!(cl("42"), Ok(Some(42)));
        assert_eq!(cl("007"), Ok(Some(7)));
        assert_eq!(cl("99999999999999999999999"), Ok(Some(usize::MAX)));
        for bad in ["", "-1", "+1", " 1", "1 ", "0x10", "1.0"] {
            assert_eq!(cl(bad), Err(DecodeError::BadContentLength), "{bad:?}");
        }
    }

    #[test]
    fn leading_eols_stops_at_a_lone_carriage_return() {
        assert_eq!(leading_eols(b"\n\r\n\nX"), 4);
        assert_eq!(leading_eols(b"\n\r"), 1);
        assert_eq!(leading_eols(b"\rX"), 0);
    }
}
