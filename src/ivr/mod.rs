//! The IVR: call flows as data, checked before they go live, and the
//! interpreter that walks one per call.
//!
//! PURE, like the SIP and media layers: flows arrive as text
//! ([`load::Sources`]), the interpreter takes the time as an input and
//! answers with [`interp::Effect`]s. The engine drives an [`Ivr`] per
//! call; the runtime reads the files and reloads them when they change.
//!
//! - [`flow`]: the loaded shape of a flow (nodes, edges, templates).
//! - [`load`]: TOML text → a checked [`FlowSet`], or errors with
//!   file:line and node; [`check`] holds the whole-flow checks.
//! - [`interp`]: the per-call interpreter.
//! - [`pattern`]: keypad patterns (`_XXXXXXXXXX`) for collect validation
//!   and the transfer allow-list.
//! - [`say`]: numbers, digits, dates and times as prompt lists, in
//!   English and Mandarin.
//! - [`calendar`]: business hours and holiday calendars.

pub mod calendar;
mod check;
pub mod flow;
pub mod interp;
pub mod load;
pub mod pattern;
pub mod say;

pub use flow::{Flow, FlowSet, LookupKind};
pub use interp::{Clock, Effect, Ivr, LookupAnswer, Start, announcement};
pub use load::{FlowError, FlowErrors, Sources, load};

#[cfg(test)]
mod tests;
