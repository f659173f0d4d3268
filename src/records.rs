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

/// Where a call's recording stands (`calls.recording_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Being written (or the server stopped while it was: see `CutOff`).
    Recording,
    /// Written from the answer to the hang-up.
    Complete,
    /// The server stopped in the middle; repaired at the next start, it
    /// holds the audio up to the stop.
    CutOff,
    /// It could not be written (disk full, folder not writable); what was
    /// written, if anything, is kept.
    Failed,
    /// Not kept: the call reached no queue the policy records.
    Discarded,
    /// Deleted when its retention ran out.
    Deleted,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Recording => "recording",
            RecordingState::Complete => "complete",
            RecordingState::CutOff => "cut_off",
            RecordingState::Failed => "failed",
            RecordingState::Discarded => "discarded",
            RecordingState::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<RecordingState> {
        [
            RecordingState::Recording,
            RecordingState::Complete,
            RecordingState::CutOff,
            RecordingState::Failed,
            RecordingState::Discarded,
            RecordingState::Deleted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
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
    /// A campaign dialled out: insert the call's row (if it is not there
    /// yet), direction outbound. `number` is the customer's, `caller_id`
    /// the number presented.
    Dialled {
        call_id: String,
        sip_call_id: String,
        number: String,
        caller_id: String,
        campaign: String,
        contact: i64,
        attempt: i64,
        at: i64,
    },
    /// What an outbound attempt came to (`crate::campaign::Outcome`).
    Outcome { call_id: String, outcome: String },
    /// The call was answered (200 OK sent, or the customer answered ours).
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
    /// The call joined an ACD queue (again, after a transfer to a queue:
    /// the latest queue is kept).
    Queued {
        call_id: String,
        queue: String,
        at: i64,
    },
    /// An agent's phone answered the call after `wait_ms` in the queue
    /// (the first agent is kept on the call row; later ones come with
    /// transfers).
    AgentAnswered {
        call_id: String,
        agent_id: i64,
        at: i64,
        wait_ms: i64,
    },
    /// The agent part of the call is over: totals for the reports (each
    /// value is the call's total so far; the latest wins).
    Handled {
        call_id: String,
        talk_ms: i64,
        hold_ms: i64,
        transfers: i64,
    },
    /// The agent ended the after-call work of the call.
    WrapUp {
        call_id: String,
        agent_id: i64,
        wrap_up_ms: i64,
        disposition: Option<String>,
        notes: String,
    },
    /// The call's recording file is open and being written; its first
    /// sample is `started_at`.
    RecordingStarted {
        call_id: String,
        file: String,
        started_at: i64,
    },
    /// The call's recording is over: how it ended and what the file holds
    /// (`sha256` of the whole file; `None` when there is no file).
    RecordingDone {
        call_id: String,
        state: RecordingState,
        duration_ms: i64,
        bytes: i64,
        sha256: Option<String>,
        /// Agents heard on the right channel, comma-separated ids.
        agents: String,
        /// Why, when it is not simply complete.
        note: String,
    },
    /// An agent changed state. `id` is unique per change (a retry writes
    /// nothing twice); the states are [`crate::acd::AgentState::name`]s.
    AgentState {
        id: String,
        agent_id: i64,
        from: String,
        to: String,
        /// The not-ready reason code, when `to` is not_ready.
        reason: Option<String>,
        /// What caused it ("agent", "call ended", "ring timeout" ...).
        why: String,
        at: i64,
    },
}

impl RecordOp {
    /// The call this op belongs to; empty for an agent's state change.
    pub fn call_id(&self) -> &str {
        match self {
            RecordOp::Arrived { call_id, .. }
            | RecordOp::Dialled { call_id, .. }
            | RecordOp::Outcome { call_id, .. }
            | RecordOp::Answered { call_id, .. }
            | RecordOp::Digits { call_id, .. }
            | RecordOp::Ended { call_id, .. }
            | RecordOp::Event { call_id, .. }
            | RecordOp::Message { call_id, .. }
            | RecordOp::Queued { call_id, .. }
            | RecordOp::AgentAnswered { call_id, .. }
            | RecordOp::Handled { call_id, .. }
            | RecordOp::WrapUp { call_id, .. }
            | RecordOp::RecordingStarted { call_id, .. }
            | RecordOp::RecordingDone { call_id, .. } => call_id,
            RecordOp::AgentState { .. } => "",
        }
    }
}
