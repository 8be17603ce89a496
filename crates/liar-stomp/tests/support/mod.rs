//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bytes::BytesMut;
use liar_stomp::{DecodeError, Decoded, Frame, Limits, decode};

pub fn buf(bytes: &[u8]) -> BytesMut {
    BytesMut::from(bytes)
}

/// Decodes one frame that must fill the whole input.
pub fn frame_of(bytes: &[u8]) -> Frame {
    let mut b = buf(bytes);
    match decode(&mut b, &Limits::default()) {
        Ok(Some(Decoded::Frame(frame))) => {
            assert!(b.is_empty(), "left over: {:?}", &b[..]);
            frame
        }
        other => panic!("expected a frame from {bytes:?}, got {other:?}"),
    }
}

/// Decodes with `limits`, expecting an error and an untouched buffer.
pub fn error_with(bytes: &[u8], limits: &Limits) -> DecodeError {
    let mut b = buf(bytes);
    let err = decode(&mut b, limits).expect_err("expected an error");
    assert_eq!(&b[..], bytes, "an error must leave the buffer untouched");
    err
}

pub fn error_of(bytes: &[u8]) -> DecodeError {
    error_with(bytes, &Limits::default())
}
