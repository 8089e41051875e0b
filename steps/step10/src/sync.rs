//! The channel between `create` and the processes it makes: a
//! `SOCK_SEQPACKET` socket pair, so that each `send` arrives as one
//! message, whole, and a closed end reads as the end of the conversation.
//!
//! ```text
//! create (host)                 setup process               init (PID 1)
//!   Go ──────────────────────────▶
//!   ◀──────────────────── UserNs     (only with a new user namespace)
//!   Mapped ──────────────────────▶
//!   ◀──────────────────── Pid(N)  ─ fork ─▶
//!   ◀───────────────────────────────────────────── Hooks
//!   HooksDone ────────────────────────────────────▶
//!   ◀───────────────────────────────────────────── Ready
//! ```
//! A process that fails sends `Error(line)` instead and exits.

use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::bail;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Go,
    UserNs,
    Mapped,
    Pid(i32),
    Hooks,
    HooksDone,
    Ready,
    Error(String),
}

impl Msg {
    fn encode(&self) -> String {
        match self {
            Msg::Go => "go".into(),
            Msg::UserNs => "userns".into(),
            Msg::Mapped => "mapped".into(),
            Msg::Pid(pid) => format!("pid {pid}"),
            Msg::Hooks => "hooks".into(),
            Msg::HooksDone => "hooks-done".into(),
            Msg::Ready => "ready".into(),
            Msg::Error(line) => format!("error {line}"),
        }
    }

    fn decode(text: &str) -> Option<Msg> {
        Some(match text {
            "go" => Msg::Go,
            "userns" => Msg::UserNs,
            "mapped" => Msg::Mapped,
            "hooks" => Msg::Hooks,
            "hooks-done" => Msg::HooksDone,
            "ready" => Msg::Ready,
            _ => {
                if let Some(pid) = text.strip_prefix("pid ") {
                    Msg::Pid(pid.parse().ok()?)
                } else {
                    Msg::Error(text.strip_prefix("error ")?.to_owned())
                }
            }
        })
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

/// The runtime's end and the children's end.
pub fn pair() -> anyhow::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> anyhow::Result<()> {
        send(
            self.0.as_raw_fd(),
            msg.encode().as_bytes(),
            MsgFlags::MSG_NOSIGNAL,
        )?;
        Ok(())
    }

    /// The next message; an error if the other side closed its end first
    /// or said `Error`.
    pub fn recv(&self) -> anyhow::Result<Msg> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other?,
            }
        };
        if n == 0 {
            bail!("the container's setup ended without a word (killed?)");
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        match Msg::decode(&text) {
            Some(Msg::Error(line)) => bail!("{line}"),
            Some(msg) => Ok(msg),
            None => bail!("unexpected message from the container's setup: {text:?}"),
        }
    }

    /// Receives and checks that it is `want`.
    pub fn expect(&self, want: &Msg) -> anyhow::Result<()> {
        let got = self.recv()?;
        if &got != want {
            bail!("the container's setup said {got:?} where {want:?} was due");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_the_wire() {
        for msg in [
            Msg::Go,
            Msg::UserNs,
            Msg::Mapped,
            Msg::Pid(4242),
            Msg::Hooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Error("mount /proc: EPERM".into()),
        ] {
            assert_eq!(Msg::decode(&msg.encode()), Some(msg));
        }
    }

    #[test]
    fn an_error_arrives_as_an_error_and_a_closed_end_as_one_too() {
        let (a, b) = pair().unwrap();
        b.send(&Msg::Error("no such file".into())).unwrap();
        assert_eq!(a.recv().unwrap_err().to_string(), "no such file");
        drop(b);
        assert!(a.recv().is_err());
    }
}
