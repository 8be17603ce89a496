//! Property tests: round trips, arbitrary input, arbitrary chunking.

use bytes::BytesMut;
use liar_stomp::{Command, DecodeError, Decoded, Decoder, Frame, Limits, decode};
use proptest::prelude::*;
use proptest::sample::select;

/// Limits large enough that generated frames never hit them.
const ROOMY: Limits = Limits {
    max_frame_bytes: 1 << 20,
    max_headers: 64,
    max_header_bytes: 4096,
};

/// Headers a frame of `command` can carry and get back unchanged: any text when the command
/// escapes headers; for CONNECT and CONNECTED, no CR or LF anywhere and no colon in names.
fn headers_for(command: Command) -> BoxedStrategy<Vec<(String, String)>> {
    let (name, value) = if command.escapes_headers() {
        (".{1,12}", ".{0,24}")
    } else {
        ("[^\r\n:]{1,12}", "[^\r\n]{0,24}")
    };
    let header = (name, value).prop_filter("the encoder owns content-length", |(k, _)| {
        k != "content-length"
    });
    prop::collection::vec(header, 0..6).boxed()
}

fn frame() -> impl Strategy<Value = Frame> {
    select(Command::ALL.to_vec()).prop_flat_map(|command| {
        (
            headers_for(command),
            prop::collection::vec(any::<u8>(), 0..64),
        )
            .prop_map(move |(headers, body)| Frame {
                command,
                headers,
                body: body.into(),
            })
    })
}

/// What decoding the encoding of `frame` must give: the encoder adds `content-length` last.
fn as_decoded(frame: &Frame) -> Frame {
    let mut expected = frame.clone();
    if !frame.body.is_empty() {
        expected = expected.header("content-length", frame.body.len().to_string());
    }
    expected
}

/// Bytes that look enough like STOMP to reach every stage of the decoder: a few
/// frame-shaped runs, each a (mostly valid) command line followed by header and body pieces.
fn stompish_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Repeats weight the choice towards input that gets further.
    let commands: Vec<&'static [u8]> = vec![
        b"SEND\n",
        b"SEND\n",
        b"SEND\n",
        b"CONNECT\n",
        b"MESSAGE\r\n",
        b"MESSAGE\n",
        b"\n",
        b"\r\n",
        b"SEND",
        b"NOPE\n",
    ];
    let pieces: Vec<&'static [u8]> = vec![
        b"\n",
        b"\n",
        b"\n",
        b"\r\n",
        b"\0",
        b"\0",
        b"\0",
        b"a:b\n",
        b"a:b\n",
        b"a:b\n",
        b"a",
        b"content-length:3\n",
        b"destination:/x\n",
        b"k\\c:v\\n\n",
        b"\r",
        b":",
        b"\\",
        b"\\t",
        b"content-length:",
        b"3",
        b"-",
        b"\xff",
    ];
    let run = (
        select(commands),
        prop::collection::vec(select(pieces), 0..16),
    )
        .prop_map(|(command, rest)| [command, &rest.concat()].concat());
    prop::collection::vec(run, 0..5).prop_map(|runs| runs.concat())
}

fn any_limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1usize..80, 0usize..5, 0usize..20).prop_map(|(f, h, l)| Limits {
            max_frame_bytes: f,
            max_headers: h,
            max_header_bytes: l,
        }),
    ]
}

/// Decodes everything in `bytes`, checking the buffer contract at every step.
fn drain(bytes: &[u8], limits: &Limits) -> (Vec<Decoded>, Result<(), DecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut items = Vec::new();
    loop {
        let before = buf.clone();
        match decode(&mut buf, limits) {
            Ok(Some(item)) => {
                let consumed = before.len() - buf.len();
                assert!(consumed > 0, "an item must consume bytes");
                assert_eq!(&before[consumed..], &buf[..], "only the front is consumed");
                items.push(item);
            }
            Ok(None) => {
                assert_eq!(before, buf, "partial input must be left untouched");
                return (items, Ok(()));
            }
            Err(err) => {
                assert_eq!(before, buf, "an error must leave the buffer untouched");
                return (items, Err(err));
            }
        }
    }
}

/// Feeds `bytes` to a [`Decoder`] in pieces of the given sizes, draining after each.
fn drain_chunked(
    bytes: &[u8],
    sizes: &[usize],
    limits: Limits,
) -> (Vec<Decoded>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in pieces(bytes, sizes) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(err) => return (items, Err(err)),
            }
        }
    }
    (items, Ok(()))
}

/// Splits `bytes` into consecutive pieces whose sizes cycle through `sizes` (all non-zero).
fn pieces<'a>(mut bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    for size in sizes.iter().cycle() {
        if bytes.is_empty() {
            break;
        }
        let (piece, rest) = bytes.split_at((*size).min(bytes.len()));
        out.push(piece);
        bytes = rest;
    }
    out
}

fn frames_only(items: Vec<Decoded>) -> Vec<Frame> {
    items
        .into_iter()
        .filter_map(|item| match item {
            Decoded::Frame(frame) => Some(frame),
            Decoded::HeartBeat => None,
        })
        .collect()
}

proptest! {
    #[test]
    fn an_encoded_frame_decodes_back_to_itself(frame in frame()) {
        let (items, end) = drain(&frame.encode(), &ROOMY);
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(items, vec![Decoded::Frame(as_decoded(&frame))]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_overconsume(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), stompish_bytes()],
        limits in any_limits(),
    ) {
        let _ = drain(&bytes, &limits);
    }

    #[test]
    fn a_chunked_decoder_agrees_with_decoding_the_whole(
        bytes in stompish_bytes(),
        sizes in prop::collection::vec(1usize..16, 1..8),
        limits in any_limits(),
    ) {
        let (whole, whole_end) = drain(&bytes, &limits);
        let (chunked, chunked_end) = drain_chunked(&bytes, &sizes, limits);
        // Heart-beat runs split across chunks may be reported more than once.
        prop_assert_eq!(frames_only(whole), frames_only(chunked));
        prop_assert_eq!(whole_end.is_err(), chunked_end.is_err());
    }

    #[test]
    fn any_chunking_of_a_stream_yields_the_same_frames(
        frames in prop::collection::vec(frame(), 0..6),
        beats in prop::collection::vec(select(vec!["", "\n", "\r\n", "\n\r\n"]), 6),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut stream = Vec::new();
        for (frame, beat) in frames.iter().zip(beats.iter().cycle()) {
            stream.extend_from_slice(beat.as_bytes());
            stream.extend_from_slice(&frame.encode());
        }
        let expected: Vec<Frame> = frames.iter().map(as_decoded).collect();

        let (items, end) = drain_chunked(&stream, &sizes, ROOMY);
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(frames_only(items), expected.clone());

        // The stateless function, fed the same pieces, must agree.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in pieces(&stream, &sizes) {
            buf.extend_from_slice(piece);
            while let Some(item) = decode(&mut buf, &ROOMY).unwrap() {
                got.push(item);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(frames_only(got), expected);
    }
}
