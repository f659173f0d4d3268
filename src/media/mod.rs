//! Media, as pure state machines (no sockets, no clock, no files).
//!
//! - [`g711`]: PCMU/PCMA sample codecs (ITU-T G.711, Sun `g711.c` conventions).
//! - [`rtp`]: RFC 3550 header parsing and writing, telling RTCP apart (RFC 5761).
//! - [`dtmf`]: RFC 4733 telephone-event reception (one report per key press)
//!   and encoding.
//! - [`loss`]: packet loss of a received stream, from its sequence numbers.
//! - [`player`]: prompts and their 20 ms framing (160 samples at 8 kHz).
//! - [`session`]: the per-call media state machine the call engine drives:
//!   a paced outgoing RTP stream carrying prompts or silence, DTMF and
//!   inactivity detection on the incoming side.
//! - [`webrtc`]: an agent's browser as a media peer (ICE, DTLS-SRTP, G.711),
//!   behind the one trait [`webrtc::BrowserPeer`].
//!
//! Invariants: nothing here reads a clock or touches I/O. Time arrives as an
//! `Instant` argument, datagrams arrive as byte slices and leave as
//! [`MediaOutput::Transmit`]. Bytes from the network never cause a panic:
//! every malformed input becomes an [`Error`].

pub mod dtmf;
pub mod g711;
pub mod loss;
pub mod player;
pub mod recording;
pub mod rtp;
pub mod session;
pub mod webrtc;

pub use dtmf::{DtmfDigit, DtmfReceiver};
pub use g711::Law;
pub use player::{Prompt, PromptId};
pub use rtp::{RtpHeader, RtpPacket};
pub use session::{MediaConfig, MediaOutput, MediaSession, MediaStats};

/// What went wrong while reading media from the network.
///
/// Every variant describes a datagram (or payload) the peer sent that we
/// cannot use; the session counts it and otherwise ignores it, so none of
/// these ends a call on its own.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The datagram is shorter than the 12-byte fixed RTP header.
    #[error("datagram too short for an RTP header ({len} bytes)")]
    TooShort {
        /// Length of the datagram.
        len: usize,
    },
    /// The version field is not 2 (STUN, DTLS, or garbage on the media port).
    #[error("not RTP version 2 (version field is {0})")]
    BadVersion(u8),
    /// The second byte is an RTCP packet type (192..=223, RFC 5761 §4): the
    /// peer multiplexes RTCP on the RTP port. Not a failure, just not audio.
    #[error("RTCP packet (type {0}), not RTP")]
    NotRtp(u8),
    /// The CSRC list or the header extension runs past the end of the datagram.
    #[error("RTP header needs {needed} bytes but the datagram has {len}")]
    HeaderPastEnd {
        /// Bytes the header claims (fixed part, CSRCs, extension).
        needed: usize,
        /// Length of the datagram.
        len: usize,
    },
    /// The padding count is zero or larger than what follows the header.
    #[error("RTP padding of {padding} bytes but only {available} bytes follow the header")]
    BadPadding {
        /// The padding count from the last byte.
        padding: u8,
        /// Bytes between the end of the header and the end of the datagram.
        available: usize,
    },
    /// A telephone-event payload shorter than the 4 bytes RFC 4733 requires.
    #[error("telephone-event payload too short ({0} bytes, need 4)")]
    DtmfTooShort(usize),
}
