//! hotline — a call-center (CTI) server for an after-sales service hotline.
//!
//! Customers dial a 400 number; the call arrives over a carrier's SIP trunk;
//! hotline answers it with IVR flows defined in files, looks the caller and
//! their tickets up, and keeps a record of every call and its path.
//!
//! # Architecture: pure cores, one driver
//! The protocol and call logic are state machines that never touch a socket,
//! a file, the database or a clock (the sans-IO style of str0m and
//! quinn-proto). Time and bytes come in as arguments; what to send, store or
//! wait for comes out of `poll_*` methods.
//!
//! - [`sip`], [`media`]: leaves. SIP messages, transactions, dialogs and SDP;
//!   RTP, G.711, RFC 4733 DTMF and the prompt player.
//! - [`engine`]: composes the leaves into calls and runs each call's IVR.
//! - [`ivr`]: flows as data — loading and checking flow files, and the
//!   per-call interpreter; pure like the leaves.
//! - [`phone`]: a leaf; caller numbers in one canonical form for lookups.
//! - [`campaign`]: outbound campaigns' dialling rules: calling windows,
//!   retries per outcome, caps, do-not-call, which contacts to dial; pure.
//! - [`qa`]: scorecards, the score of a review and the daily sample of
//!   calls to review; pure.
//! - [`ticket`]: service tickets' stages, their legal moves and SLA due
//!   times; pure like the leaves.
//! - [`rt`]: the only tokio code. It owns the engine, the sockets, the clock,
//!   flow and prompt files, message WAVs and the store, and carries out the
//!   engine's outputs.
//! - [`store`]: sqlx over SQLite (default) or PostgreSQL; plain rows.
//! - [`validate`]: field errors for input checks; [`import`]: CSV rows of
//!   customers and products parsed and checked; both pure.
//! - [`wallboard`]: the supervisor's wallboard as data: today's figures
//!   counted from the engine's records, the alerts, the frame; pure.
//! - [`api`]: axum routes over the store and the runtime's live counters.
//!
//! The contract between [`engine::Engine`] and the runtime: feed an input
//! (`handle_sip`, `handle_rtp`, `handle_timeout`, ...), drain `poll_output`
//! until `None`, then sleep until `poll_timeout`. `tests/layering.rs` checks
//! that the pure modules import no I/O.

pub mod acd;
pub mod api;
pub mod campaign;
pub mod config;
pub mod cti;
pub mod engine;
pub mod import;
pub mod ivr;
pub mod media;
pub mod phone;
pub mod qa;
pub mod records;
pub mod rt;
pub mod sip;
pub mod store;
pub mod ticket;
pub mod validate;
pub mod wallboard;
