//! Call records as plain data: what the call logic asks the store to keep.
//!
//! The engine (pure) emits [`RecordOp`]s; the runtime hands them, in order,
//! to the store, which retries until each is written. Every op is
//! idempotent (an upsert keyed by call id, an event keyed by call id and
//! sequence number, a message keyed by call id and file), so a retry after
//! an ambiguous failure never duplicates a row. Times are epoch milliseconds (wall time is an input to the core).

use serde::Serialize;

/// Which side ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HangupSide {
    /// The caller (or the carrier on their behalf) hung up.
    Caller,
    /// hotline ended the call (flow finished, media timeout, shutdown).
    Hotline,
}

impl HangupSide {
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSide::Caller => "caller",
            HangupSide::Hotline => "hotline",
        }
    }
}

/// One change to the stored record of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOp {
    /// A call arrived: insert its row (if it is not there yet).
    Arrived {
        call_id: String,
        sip_call_id: String,
        from_number: String,
        to_number: String,
        service_number: String,
        arrived_at: i64,
    },
    /// The call was answered (200 OK sent).
    Answered { call_id: String, at: i64 },
    /// The digits the caller has pressed so far (the whole string each time).
    Digits { call_id: String, digits: String },
    /// The call ended; `cause` is a short reason such as `caller-bye`,
    /// `cancelled`, `flow-complete`, `rtp-timeout`, `ack-timeout`, `shutdown`.
    Ended {
        call_id: String,
        at: i64,
        cause: String,
        side: HangupSide,
    },
    /// One entry in the call's timeline. `seq` counts from 1 per call.
    Event {
        call_id: String,
        seq: i64,
        at: i64,
        kind: String,
        detail: String,
    },
    /// The caller left a message in the IVR: `file` is the recording's path
    /// relative to the data directory, unique within the call.
    Message {
        call_id: String,
        file: String,
        duration_ms: i64,
        at: i64,
    },
}

impl RecordOp {
    /// The call this op belongs to.
    pub fn call_id(&self) -> &str {
        match self {
            RecordOp::Arrived { call_id, .. }
            | RecordOp::Answered { call_id, .. }
            | RecordOp::Digits { call_id, .. }
            | RecordOp::Ended { call_id, .. }
            | RecordOp::Event { call_id, .. }
            | RecordOp::Message { call_id, .. } => call_id,
        }
    }
}
