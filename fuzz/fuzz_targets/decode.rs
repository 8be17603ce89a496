//! Feeds arbitrary bytes to the STOMP decoder and checks what it promises: no panic, only the
//! front of the buffer consumed, untouched input on `Ok(None)` and errors, the same frames
//! whether the input arrives whole or in pieces, and decoded frames that survive re-encoding.
#![no_main]

use bytes::BytesMut;
use liar_stomp::{DecodeError, Decoded, Decoder, Frame, Limits, decode};
use libfuzzer_sys::fuzz_target;

/// Limits roomy enough that any re-encoded frame decodes again.
const ROOMY: Limits = Limits {
    max_frame_bytes: usize::MAX,
    max_headers: usize::MAX,
    max_header_bytes: usize::MAX,
};

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the limits and the chunk size, so tiny limits get explored.
    let (limits, chunk, input) = match data {
        [a, b, rest @ ..] if a & 1 == 1 => (small_limits(*a), usize::from(*b).max(1), rest),
        [_, b, rest @ ..] => (Limits::default(), usize::from(*b).max(1), rest),
        _ => (Limits::default(), 1, data),
    };
    let (whole, whole_end) = drain(input, &limits);
    let (pieces, pieces_end) = drain_chunked(input, chunk, limits);
    assert_eq!(
        frames(&whole),
        frames(&pieces),
        "chunking changed the frames"
    );
    assert_eq!(
        whole_end.is_err(),
        pieces_end.is_err(),
        "chunking changed the outcome"
    );
    for frame in frames(&whole) {
        check_reencoding(&frame);
    }
});

fn small_limits(seed: u8) -> Limits {
    let seed = usize::from(seed);
    Limits {
        max_frame_bytes: 16 + seed,
        max_headers: seed >> 5,
        max_header_bytes: seed >> 2,
    }
}

fn drain(bytes: &[u8], limits: &Limits) -> (Vec<Decoded>, Result<(), DecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut items = Vec::new();
    loop {
        let before = buf.clone();
        match decode(&mut buf, limits) {
            Ok(Some(item)) => {
                let consumed = before.len() - buf.len();
                assert!(consumed > 0);
                assert_eq!(&before[consumed..], &buf[..]);
                items.push(item);
            }
            Ok(None) => {
                assert_eq!(before, buf);
                return (items, Ok(()));
            }
            Err(err) => {
                assert_eq!(before, buf);
                assert!(!err.code().is_empty());
                return (items, Err(err));
            }
        }
    }
}

fn drain_chunked(
    bytes: &[u8],
    chunk: usize,
    limits: Limits,
) -> (Vec<Decoded>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(chunk) {
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

fn frames(items: &[Decoded]) -> Vec<Frame> {
    items
        .iter()
        .filter_map(|item| match item {
            Decoded::Frame(frame) => Some(frame.clone()),
            Decoded::HeartBeat => None,
        })
        .collect()
}

/// A decoded frame, encoded again, decodes to itself with `content-length` rewritten.
fn check_reencoding(frame: &Frame) {
    let mut expected = frame.clone();
    expected.headers.retain(|(k, _)| k != "content-length");
    if !expected.body.is_empty() {
        let len = expected.body.len().to_string();
        expected.headers.push(("content-length".into(), len));
    }
    let mut buf = BytesMut::from(&frame.encode()[..]);
    let again = decode(&mut buf, &ROOMY).expect("re-encoded frame must decode");
    assert_eq!(again, Some(Decoded::Frame(expected)));
    assert!(buf.is_empty());
}
