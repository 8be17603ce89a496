//! The fifteen STOMP 1.2 commands, as the first line of a frame spells them.

use std::fmt;

/// A STOMP 1.2 frame command. Commands are case-sensitive on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Client opens a session (STOMP 1.0 spelling).
    Connect,
    /// Client opens a session (STOMP 1.2 spelling).
    Stomp,
    /// Server accepts a session.
    Connected,
    /// Client sends a message to a destination.
    Send,
    /// Client subscribes to a destination.
    Subscribe,
    /// Client ends a subscription.
    Unsubscribe,
    /// Client acknowledges a message.
    Ack,
    /// Client rejects a message.
    Nack,
    /// Client starts a transaction.
    Begin,
    /// Client commits a transaction.
    Commit,
    /// Client aborts a transaction.
    Abort,
    /// Client closes the session.
    Disconnect,
    /// Server delivers a message to a subscription.
    Message,
    /// Server confirms a frame that asked for a receipt.
    Receipt,
    /// Server reports an error; the connection is closed after it.
    Error,
}

impl Command {
    /// Every command, in declaration order.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// Length of the longest command name (`UNSUBSCRIBE`); a first line longer than this
    /// cannot name a command, which lets the decoder reject garbage before its EOL arrives.
    pub(crate) const MAX_LEN: usize = 11;

    /// The command as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Connected => "CONNECTED",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses a command name exactly as spelled on the wire.
    pub fn from_wire(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether header names and values of this command are escaped. STOMP 1.2 exempts
    /// `CONNECT` and `CONNECTED` so that 1.0 peers can still negotiate a version.
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Command::Connect | Command::Connected)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_wire_name() {
        for command in Command::ALL {
            assert_eq!(Command::from_wire(command.as_str()), Some(command));
            assert!(command.as_str().len() <= Command::MAX_LEN);
        }
        assert_eq!(Command::from_wire("send"), None);
    }
}
