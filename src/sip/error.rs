//! The one error type of the SIP layer.

use thiserror::Error;

/// What went wrong while reading or building SIP (or SDP).
///
/// Each variant says what a peer sent that we cannot accept; the engine maps
/// them to the SIP answer that is due (400, 481, 488 ...) or drops the packet.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not a SIP message we can parse.
    #[error("malformed SIP message: {0}")]
    Malformed(String),
    /// A header every request or response must carry is missing or unreadable.
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    /// A message or a TCP frame is larger than we accept.
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    /// The SDP body cannot be parsed.
    #[error("malformed SDP: {0}")]
    Sdp(String),
    /// The SDP offer has no audio codec we speak (PCMU or PCMA).
    #[error("no common codec in the offer (we need PCMU or PCMA)")]
    NoCommonCodec,
    /// A response was given for a server transaction that does not exist
    /// (it ended, or never was).
    #[error("no server transaction {0}")]
    NoTransaction(String),
    /// A second final response for a server transaction.
    #[error("server transaction {0} already sent its final response")]
    AlreadyAnswered(String),
    /// An in-dialog request with a lower CSeq than the last one
    /// (RFC 3261 §12.2.2; answered with 500).
    #[error("CSeq out of order")]
    CSeqOutOfOrder,
}
