//! The encoders, checked byte for byte and by decoding their output.

mod support;

use bytes::BytesMut;
use liar_stomp::{Command, Frame, encode_message};
use support::frame_of;

#[test]
fn encode_escapes_headers_and_adds_content_length() {
    let frame = Frame::new(Command::Message)
        .header("a:b", "line\nbreak\\")
        .with_body("{}");
    assert_eq!(
        &frame.encode()[..],
        b"MESSAGE\na\\cb:line\\nbreak\\\\\ncontent-length:2\n\n{}\0"
    );
    let mut out = BytesMut::from(&b"prefix"[..]);
    frame.encode_into(&mut out);
    assert_eq!(&out[6..], &frame.encode()[..]);
}

#[test]
fn encode_message_decodes_to_a_json_message() {
    let mut out = BytesMut::new();
    let body = br#"{"type":"chat","seq":3}"#;
    encode_message("/topic/rooms/r:1", "sub-0", "m-42", body, &mut out);
    let frame = frame_of(&out);
    assert_eq!(frame.command, Command::Message);
    let expected_headers: Vec<(String, String)> = [
        ("destination", "/topic/rooms/r:1"),
        ("subscription", "sub-0"),
        ("message-id", "m-42"),
        ("content-type", "application/json"),
        ("content-length", "23"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(frame.headers, expected_headers);
    assert_eq!(&frame.body[..], body);
}

#[test]
fn encode_message_with_an_empty_body_still_sends_content_length() {
    let mut out = BytesMut::new();
    encode_message("/user/queue/events", "s", "m", b"", &mut out);
    assert_eq!(frame_of(&out).get("content-length"), Some("0"));
}
