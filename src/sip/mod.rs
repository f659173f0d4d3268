//! SIP, as pure state machines (no sockets, no clock).
//!
//! - [`message`]: parsing through rsip behind a normalising wrapper (compact
//!   header names, folded lines, case-insensitive names), response building.
//! - [`framing`]: splitting a TCP byte stream into messages by Content-Length.
//! - [`sdp`]: SDP offer/answer for PCMU, PCMA and telephone-event.
//! - [`transaction`]: the RFC 3261 transaction layer with RFC 6026 fixes.
//! - [`dialog`]: dialog state (tags, CSeq, route set, remote target).
//! - [`digest`]: digest authentication (challenge, nonce, verification).
//! - [`registrar`]: agents' phones' registrations (RFC 3261 §10), with
//!   digest authentication.
//!
//! Invariant: nothing here reads a clock or touches I/O; time arrives as an
//! argument (an `Instant`, or epoch milliseconds where the time travels in
//! messages: digest nonces, registrations) and bytes to send leave as
//! outputs.

pub mod dialog;
pub mod digest;
pub mod framing;
pub mod message;
pub mod registrar;
pub mod sdp;
pub mod transaction;

mod error;
mod peer;
pub use error::Error;
pub use peer::{Peer, Transport};
