//! Why a byte stream is not valid STOMP 1.2.

/// A decoding failure. The stream cannot be resynchronised after one: the server answers
/// with an `ERROR` frame carrying [`DecodeError::code`] and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame, from its command to its NUL, is longer than `max_frame_bytes`.
    #[error("frame exceeds {limit} bytes")]
    FrameTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The frame has more than `max_headers` header lines.
    #[error("frame has more than {limit} headers")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// A header line is longer than `max_header_bytes`.
    #[error("header line exceeds {limit} bytes")]
    HeaderTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// The first line is not a STOMP 1.2 command. Holds at most the first
    /// [`DecodeError::MAX_ECHO`] characters of it.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A header line has no `:`, an empty name, or a bare carriage return.
    #[error("malformed header line")]
    MalformedHeader,
    /// A header uses an escape other than `\r`, `\n`, `\c` or `\\`.
    #[error("invalid escape sequence in header")]
    InvalidEscape,
    /// The command or a header is not UTF-8.
    #[error("command or header is not UTF-8")]
    InvalidUtf8,
    /// `content-length` is not a decimal number of bytes.
    #[error("invalid content-length")]
    BadContentLength,
    /// The body announced by `content-length` is not followed by NUL.
    #[error("body is not terminated by NUL")]
    MissingNul,
}

impl DecodeError {
    /// How many characters of an unknown command are kept; enough to recognise it in a log
    /// without echoing an attacker's payload.
    pub const MAX_ECHO: usize = 32;

    /// A stable upper-snake identifier, safe to send to clients and to match on in tests.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::FrameTooLarge { .. } => "FRAME_TOO_LARGE",
            DecodeError::TooManyHeaders { .. } => "TOO_MANY_HEADERS",
            DecodeError::HeaderTooLong { .. } => "HEADER_TOO_LONG",
            DecodeError::UnknownCommand(_) => "UNKNOWN_COMMAND",
            DecodeError::MalformedHeader => "MALFORMED_HEADER",
            DecodeError::InvalidEscape => "INVALID_ESCAPE",
            DecodeError::InvalidUtf8 => "INVALID_UTF8",
            DecodeError::BadContentLength => "BAD_CONTENT_LENGTH",
            DecodeError::MissingNul => "MISSING_NUL",
        }
    }

    /// Builds [`DecodeError::UnknownCommand`] from raw bytes, lossily and truncated.
    pub(crate) fn unknown_command(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        DecodeError::UnknownCommand(text.chars().take(Self::MAX_ECHO).collect())
    }
}
