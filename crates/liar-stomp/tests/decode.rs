//! The STOMP 1.2 framing rules, one behaviour per test, through the public API.

mod support;

use bytes::BytesMut;
use liar_stomp::{Command, DecodeError, Decoded, Decoder, Frame, Limits, decode};
use support::{buf, error_of, frame_of};

#[test]
fn a_minimal_frame_decodes() {
    let frame = frame_of(b"DISCONNECT\n\n\0");
    assert_eq!(frame, Frame::new(Command::Disconnect));
}

#[test]
fn headers_and_body_decode_in_order() {
    let frame = frame_of(b"SEND\ndestination:/app/x\nreceipt:7\n\nhello\0");
    assert_eq!(frame.command, Command::Send);
    assert_eq!(
        frame.headers,
        vec![
            ("destination".into(), "/app/x".into()),
            ("receipt".into(), "7".into())
        ]
    );
    assert_eq!(&frame.body[..], b"hello");
}

#[test]
fn every_command_is_recognised() {
    for command in Command::ALL {
        let wire = format!("{command}\n\n\0");
        assert_eq!(frame_of(wire.as_bytes()).command, command);
    }
}

#[test]
fn header_escapes_are_undone_in_names_and_values() {
    let frame = frame_of(b"SEND\na\\cb\\\\:x\\ny\\rz\\c\\\\\n\n\0");
    assert_eq!(frame.headers, vec![("a:b\\".into(), "x\ny\rz:\\".into())]);
}

#[test]
fn an_unknown_or_truncated_escape_is_rejected() {
    assert_eq!(error_of(b"SEND\na:\\t\n\n\0"), DecodeError::InvalidEscape);
    assert_eq!(error_of(b"SEND\na:b\\\n\n\0"), DecodeError::InvalidEscape);
    assert_eq!(error_of(b"SEND\n\\x:b\n\n\0"), DecodeError::InvalidEscape);
}

#[test]
fn connect_and_connected_headers_are_taken_literally() {
    for command in ["CONNECT", "CONNECTED"] {
        let wire = format!("{command}\npasscode:a\\cb\\t:c\n\n\0");
        let frame = frame_of(wire.as_bytes());
        assert_eq!(frame.get("passcode"), Some("a\\cb\\t:c"));
    }
}

#[test]
fn only_the_first_colon_separates_name_from_value() {
    let frame = frame_of(b"STOMP\nAuthorization:Bearer a:b:c\n\n\0");
    assert_eq!(frame.get("Authorization"), Some("Bearer a:b:c"));
    let empty = frame_of(b"SEND\nempty:\n\n\0");
    assert_eq!(empty.get("empty"), Some(""));
}

#[test]
fn the_first_of_repeated_headers_wins() {
    let frame = frame_of(b"MESSAGE\nfoo:first\nfoo:second\n\n\0");
    assert_eq!(frame.get("foo"), Some("first"));
    assert_eq!(frame.headers.len(), 2, "repeats are kept");
    assert_eq!(frame.get("bar"), None);
}

#[test]
fn the_first_content_length_wins() {
    let frame = frame_of(b"SEND\ncontent-length:2\ncontent-length:5\n\nab\0");
    assert_eq!(&frame.body[..], b"ab");
}

#[test]
fn content_length_allows_nul_inside_the_body() {
    let frame = frame_of(b"SEND\ncontent-length:5\n\na\0b\0c\0");
    assert_eq!(&frame.body[..], b"a\0b\0c");
}

#[test]
fn without_content_length_the_body_ends_at_the_first_nul() {
    let mut b = buf(b"SEND\n\nab\0cd\0");
    let Ok(Some(Decoded::Frame(frame))) = decode(&mut b, &Limits::default()) else {
        panic!("expected a frame");
    };
    assert_eq!(&frame.body[..], b"ab");
    assert_eq!(&b[..], b"cd\0");
}

#[test]
fn a_body_longer_than_content_length_is_missing_its_nul() {
    assert_eq!(
        error_of(b"SEND\ncontent-length:1\n\nab\0"),
        DecodeError::MissingNul
    );
}

#[test]
fn a_malformed_content_length_is_rejected() {
    for bad in ["-1", "", "+3", " 3", "3 ", "x", "1e3"] {
        let wire = format!("SEND\ncontent-length:{bad}\n\nabc\0");
        assert_eq!(
            error_of(wire.as_bytes()),
            DecodeError::BadContentLength,
            "{bad:?}"
        );
    }
}

#[test]
fn crlf_and_lf_line_endings_both_work_and_may_mix() {
    let frame = frame_of(b"SEND\r\ndestination:/a\r\nx:y\n\r\nbody\0");
    assert_eq!(frame.get("destination"), Some("/a"));
    assert_eq!(frame.get("x"), Some("y"));
    assert_eq!(&frame.body[..], b"body");
}

#[test]
fn a_bare_carriage_return_in_a_header_is_malformed() {
    assert_eq!(
        error_of(b"SEND\na:b\rc\n\n\0"),
        DecodeError::MalformedHeader
    );
    assert_eq!(
        error_of(b"CONNECT\na:b\rc\n\n\0"),
        DecodeError::MalformedHeader
    );
}

#[test]
fn a_run_of_eols_is_one_heart_beat() {
    let mut b = buf(b"\n\r\n\n\r\nSEND\n\n\0\n");
    let limits = Limits::default();
    assert_eq!(decode(&mut b, &limits), Ok(Some(Decoded::HeartBeat)));
    assert_eq!(&b[..], b"SEND\n\n\0\n");
    assert!(matches!(
        decode(&mut b, &limits),
        Ok(Some(Decoded::Frame(_)))
    ));
    assert_eq!(decode(&mut b, &limits), Ok(Some(Decoded::HeartBeat)));
    assert_eq!(decode(&mut b, &limits), Ok(None));
    assert!(b.is_empty());
}

#[test]
fn a_lone_carriage_return_waits_for_its_line_feed() {
    let mut b = buf(b"\r");
    assert_eq!(decode(&mut b, &Limits::default()), Ok(None));
    assert_eq!(&b[..], b"\r");
    b.extend_from_slice(b"\n");
    assert_eq!(
        decode(&mut b, &Limits::default()),
        Ok(Some(Decoded::HeartBeat))
    );
}

#[test]
fn empty_input_is_partial() {
    assert_eq!(decode(&mut BytesMut::new(), &Limits::default()), Ok(None));
}

/// Frames whose every proper prefix must decode to `Ok(None)`.
const SPLIT_SAMPLES: &[&[u8]] = &[
    b"SEND\ndestination:/app/rooms/1/chat\nreceipt:r-1\n\n{\"text\":\"hi\"}\0",
    b"SEND\r\ncontent-length:4\r\n\r\na\0b\0\0",
    b"CONNECT\naccept-version:1.2\nhost:liar\n\n\0",
    b"MESSAGE\nk\\c:v\\n\n\n\0",
];

#[test]
fn every_split_point_of_a_frame_is_partial_until_the_last_byte() {
    let limits = Limits::default();
    for wire in SPLIT_SAMPLES {
        let whole = frame_of(wire);
        for split in 0..wire.len() {
            let mut b = buf(&wire[..split]);
            assert_eq!(decode(&mut b, &limits), Ok(None), "split at {split}");
            assert_eq!(&b[..], &wire[..split], "split at {split} consumed bytes");
            b.extend_from_slice(&wire[split..]);
            assert_eq!(
                decode(&mut b, &limits),
                Ok(Some(Decoded::Frame(whole.clone())))
            );
            assert!(b.is_empty());
        }
    }
}

#[test]
fn a_decoder_fed_one_byte_at_a_time_yields_the_same_frame() {
    for wire in SPLIT_SAMPLES {
        let mut decoder = Decoder::new(Limits::default());
        let mut b = BytesMut::new();
        for (i, &byte) in wire.iter().enumerate() {
            b.extend_from_slice(&[byte]);
            let got = decoder.decode(&mut b).unwrap();
            if i + 1 < wire.len() {
                assert_eq!(got, None, "byte {i}");
            } else {
                assert_eq!(got, Some(Decoded::Frame(frame_of(wire))));
            }
        }
        assert!(b.is_empty());
    }
}

#[test]
fn two_frames_in_one_buffer_decode_one_per_call() {
    let mut b = buf(b"SEND\na:1\n\nx\0SUBSCRIBE\nid:0\n\n\0");
    let limits = Limits::default();
    let Ok(Some(Decoded::Frame(first))) = decode(&mut b, &limits) else {
        panic!("first frame");
    };
    assert_eq!((first.command, first.get("a")), (Command::Send, Some("1")));
    assert_eq!(&b[..], b"SUBSCRIBE\nid:0\n\n\0");
    let Ok(Some(Decoded::Frame(second))) = decode(&mut b, &limits) else {
        panic!("second frame");
    };
    assert_eq!(
        (second.command, second.get("id")),
        (Command::Subscribe, Some("0"))
    );
    assert!(b.is_empty());
}

#[test]
fn an_unknown_command_is_named_in_the_error() {
    assert_eq!(
        error_of(b"send\n\n\0"),
        DecodeError::UnknownCommand("send".into())
    );
    assert_eq!(
        error_of(b"GET / HTTP/1.1\r\n"),
        DecodeError::UnknownCommand("GET / HTTP/1.1".into())
    );
}

#[test]
fn command_and_headers_must_be_utf8() {
    assert_eq!(error_of(b"SE\xffD\n\n\0"), DecodeError::InvalidUtf8);
    assert_eq!(error_of(b"SEND\na:\xc3\n\n\0"), DecodeError::InvalidUtf8);
    let frame = frame_of("SEND\nnom:방\n\n\0".as_bytes());
    assert_eq!(frame.get("nom"), Some("방"));
}

#[test]
fn a_header_without_colon_or_name_is_malformed() {
    assert_eq!(
        error_of(b"SEND\nnocolon\n\n\0"),
        DecodeError::MalformedHeader
    );
    assert_eq!(
        error_of(b"SEND\n:value\n\n\0"),
        DecodeError::MalformedHeader
    );
}

#[test]
fn error_codes_are_stable() {
    let cases = [
        (DecodeError::FrameTooLarge { limit: 1 }, "FRAME_TOO_LARGE"),
        (DecodeError::TooManyHeaders { limit: 1 }, "TOO_MANY_HEADERS"),
        (DecodeError::HeaderTooLong { limit: 1 }, "HEADER_TOO_LONG"),
        (DecodeError::UnknownCommand("X".into()), "UNKNOWN_COMMAND"),
        (DecodeError::MalformedHeader, "MALFORMED_HEADER"),
        (DecodeError::InvalidEscape, "INVALID_ESCAPE"),
        (DecodeError::InvalidUtf8, "INVALID_UTF8"),
        (DecodeError::BadContentLength, "BAD_CONTENT_LENGTH"),
        (DecodeError::MissingNul, "MISSING_NUL"),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code);
    }
}
