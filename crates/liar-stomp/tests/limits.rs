//! The limits that bound what a peer can make the decoder hold.

mod support;

use liar_stomp::{DecodeError, Decoded, Limits, decode};
use support::{buf, error_of, error_with};

#[test]
fn a_content_length_beyond_the_limit_fails_before_the_body_arrives() {
    let limit = Limits::default().max_frame_bytes;
    assert_eq!(
        error_of(b"SEND\ncontent-length:9000\n\n"),
        DecodeError::FrameTooLarge { limit }
    );
    assert_eq!(
        error_of(b"SEND\ncontent-length:184467440737095516150\n\n"),
        DecodeError::FrameTooLarge { limit }
    );
}

#[test]
fn half_a_heart_beat_never_trips_a_limit() {
    let tiny = Limits {
        max_frame_bytes: 1,
        max_headers: 0,
        max_header_bytes: 0,
    };
    for input in [&b""[..], b"\r"] {
        let mut b = buf(input);
        assert_eq!(decode(&mut b, &tiny), Ok(None), "{input:?}");
    }
}

#[test]
fn a_frame_of_exactly_the_limit_passes_and_one_byte_more_fails() {
    let limits = Limits {
        max_frame_bytes: 16,
        ..Limits::default()
    };
    // "SEND\n\n" is 6 bytes, the NUL 1: a 9-byte body makes 16.
    let mut fits = buf(b"SEND\n\n123456789\0");
    assert!(matches!(
        decode(&mut fits, &limits),
        Ok(Some(Decoded::Frame(_)))
    ));
    let too_big = error_with(b"SEND\n\n1234567890\0", &limits);
    assert_eq!(too_big, DecodeError::FrameTooLarge { limit: 16 });
    let counted = error_with(b"SEND\ncontent-length:10\n\n", &limits);
    assert_eq!(counted, DecodeError::FrameTooLarge { limit: 16 });
}

#[test]
fn a_frame_without_nul_fails_once_it_outgrows_the_limit() {
    let limits = Limits::default();
    let mut wire = b"SEND\n\n".to_vec();
    wire.resize(limits.max_frame_bytes - 1, b'x');
    let mut b = buf(&wire);
    assert_eq!(decode(&mut b, &limits), Ok(None));
    b.extend_from_slice(b"x");
    assert_eq!(
        decode(&mut b, &limits),
        Err(DecodeError::FrameTooLarge {
            limit: limits.max_frame_bytes
        })
    );
}

#[test]
fn a_head_without_end_fails_once_it_outgrows_the_limit() {
    let limits = Limits {
        max_frame_bytes: 64,
        ..Limits::default()
    };
    let mut wire = b"SEND\n".to_vec();
    for i in 0..20 {
        wire.extend_from_slice(format!("h{i}:v\n").as_bytes());
    }
    assert_eq!(
        error_with(&wire, &limits),
        DecodeError::FrameTooLarge { limit: 64 }
    );
}

#[test]
fn too_many_headers_are_rejected() {
    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    let mut b = buf(b"SEND\na:1\nb:2\n\n\0");
    assert!(matches!(
        decode(&mut b, &limits),
        Ok(Some(Decoded::Frame(_)))
    ));
    assert_eq!(
        error_with(b"SEND\na:1\nb:2\nc:3\n", &limits),
        DecodeError::TooManyHeaders { limit: 2 }
    );
}

#[test]
fn a_header_line_over_the_limit_is_rejected_even_before_its_eol() {
    let limits = Limits {
        max_header_bytes: 8,
        ..Limits::default()
    };
    let mut b = buf(b"SEND\nabc:1234\r\n\n\0");
    assert!(matches!(
        decode(&mut b, &limits),
        Ok(Some(Decoded::Frame(_)))
    ));
    let long = DecodeError::HeaderTooLong { limit: 8 };
    assert_eq!(error_with(b"SEND\nabc:12345\n\n\0", &limits), long);
    assert_eq!(error_with(b"SEND\nabc:123456", &limits), long);
}

#[test]
fn a_long_first_line_is_rejected_before_its_eol() {
    let err = error_of(&[b'A'; 200]);
    let DecodeError::UnknownCommand(echo) = err else {
        panic!("expected UnknownCommand, got {err:?}");
    };
    assert!(echo.len() <= DecodeError::MAX_ECHO);
}

#[test]
fn unbounded_limits_do_not_overflow() {
    let unbounded = Limits {
        max_frame_bytes: usize::MAX,
        max_headers: usize::MAX,
        max_header_bytes: usize::MAX,
    };
    for partial in [&b"SEND\nname:val"[..], b"SEND\ncontent-length:3\n\nab"] {
        let mut b = buf(partial);
        assert_eq!(decode(&mut b, &unbounded), Ok(None));
    }
}
