//! SIP, as pure state machines (no sockets, no clock).
//!
//! - [`message`]: parsing through rsip behind a normalising wrapper (compact
//!   header names, folded lines, case-insensitive names), response building.
//! - [`framing`]: splitting a TCP byte stream into messages by Content-Length.
//! - [`sdp`]: SDP offer/answer for PCMU, PCMA and telephone-event.
//! - [`transaction`]: the RFC 3261 transaction layer with RFC 6026 fixes.
//! - [`dialog`]: dialog state (tags, CSeq, route set, remote target).
//!
//! Invariant: nothing here reads a clock or touches I/O; time arrives as an
//! `Instant` argument and bytes to send leave as outputs.

pub mod dialog;
pub mod digest;
pub mod framing;
pub mod message;
pub mod sdp;
pub mod transaction;

mod error;
mod peer;
pub use error::Error;
pub use peer::{Peer, Transport};
