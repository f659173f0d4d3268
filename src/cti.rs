//! The CTI protocol: the JSON messages of the agent's websocket
//! (`/api/agent/ws`), as plain data. docs/cti-protocol.md describes the
//! protocol for client authors and docs/cti-protocol.schema.json is its
//! JSON schema; a test checks every message here against that schema.
//!
//! Versioning: [`PROTOCOL`] is sent in the first message of every
//! connection ([`Event::Hello`]). Within a version the server may add
//! fields to events, new event types, new commands, new error codes and
//! new `why`/`cause` values; clients ignore what they do not know.
//! Removing or renaming anything, or changing a meaning, makes a new
//! version.
//!
//! Every command may carry an `id`; the server answers each command with
//! exactly one [`Event::Ok`] or [`Event::Error`] with that id, after the
//! events the command caused.

use serde::{Deserialize, Serialize};

/// The protocol version this server speaks.
pub const PROTOCOL: u32 = 1;

/// A command from the agent's page, with its correlation id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Request {
    /// Echoed in the answer; chosen by the client.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(flatten)]
    pub command: Command,
}

/// What an agent can ask for. `call` is hotline's call id, as the events
/// give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Take calls.
    Ready,
    /// Take no calls, for a reason code from the configuration
    /// (`agents.not_ready_reasons`).
    NotReady {
        reason: String,
    },
    /// Leave the queues (not possible with a call).
    Logout,
    /// Decline the call ringing now; it goes to the next agent.
    Reject {
        call: String,
    },
    /// End the call for both sides.
    HangUp {
        call: String,
    },
    /// The caller hears music on hold; the agent hears silence.
    Hold {
        call: String,
    },
    Resume {
        call: String,
    },
    /// Pause the call's recording (the caller reads out a card or ID
    /// number): silence in the file until `resume_recording`.
    PauseRecording {
        call: String,
    },
    ResumeRecording {
        call: String,
    },
    /// Blind transfer to a queue (the caller waits there, at the front),
    /// to one agent (the caller waits for them, under the call's queue's
    /// rules) or to an outside number the flows allow (`transfer_allow`;
    /// the carrier connects it, and if that fails the caller waits for an
    /// agent again); exactly one of `queue`, `agent` and `number`. The
    /// agent goes to wrap-up.
    Transfer {
        call: String,
        #[serde(default)]
        queue: Option<String>,
        #[serde(default)]
        agent: Option<i64>,
        #[serde(default)]
        number: Option<String>,
    },
    /// Key presses to the caller (RFC 4733), e.g. to answer a machine:
    /// up to 32 of 0-9, *, #, A-D.
    Dtmf {
        call: String,
        digits: String,
    },
    /// Attended transfer: the caller is put on hold and `agent` (ready,
    /// with a phone) is rung to talk it over first.
    Consult {
        call: String,
        agent: i64,
    },
    /// The consulted agent takes the caller; you go to wrap-up.
    CompleteTransfer {
        call: String,
    },
    /// The consultation ends without a transfer; the caller is back with
    /// you.
    CancelTransfer {
        call: String,
    },
    /// After-call work done: the call's disposition code and notes.
    EndWrapUp {
        disposition: String,
        #[serde(default)]
        notes: String,
    },
    /// More after-call work time.
    ExtendWrapUp {
        seconds: u32,
    },
    /// This connection's browser is the agent's phone (WebRTC audio) until
    /// the connection closes: calls ring the page, not a SIP phone.
    Softphone,
    /// Answer the call ringing at the page; `answered` follows once its
    /// audio is connected.
    Answer {
        call: String,
    },
    /// The page's WebRTC offer (SDP) for the call ringing at or connected
    /// to it; answered with `media_answer`. A new offer replaces the last
    /// (re-attaching the audio after a reload or a network drop).
    MediaOffer {
        call: String,
        sdp: String,
    },
    /// An ICE candidate of the page's current offer (`candidate:...`).
    IceCandidate {
        call: String,
        candidate: String,
    },
}

/// An agent's state as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateView {
    /// logged_out, ready, not_ready, ringing, on_call, on_hold, wrap_up.
    pub name: &'static str,
    /// The not-ready reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the agent entered this state (epoch ms).
    pub since_ms: i64,
    /// When wrap-up ends by itself, or the ring times out (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// The call ringing or connected, or the one being wrapped up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
}

/// A call as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    /// hotline's call id (the key of the call record).
    pub id: String,
    /// The caller's number as the carrier gave it.
    pub caller: String,
    /// The 400 number dialled.
    pub service_number: String,
    pub queue: String,
    /// When the call reached the 400 number and when it joined the queue
    /// (epoch ms).
    pub arrived_ms: i64,
    pub queued_ms: i64,
    /// Every key the caller pressed in the IVR, in order.
    pub digits: String,
    /// The menu choices the caller made: `"0 → agent"`, in order.
    pub ivr_path: Vec<String>,
    /// The language the caller chose in the IVR (`zh`, `en`).
    pub language: String,
    /// Set when we called the customer: the campaign (a callback they
    /// asked for, a progressive campaign). `caller` is then the number
    /// called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// What the server sends the agent's page.
// Events travel boxed (`Output::Cti`); `hello`, the big one, once a connection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First message of every connection: the agent's current state and
    /// call, so a reloaded page or a reconnect picks up where it was.
    Hello {
        protocol: u32,
        agent: AgentView,
        state: StateView,
        /// The call ringing or connected (`null`: none).
        call: Option<CallView>,
        /// The screen pop of that call (`null`: none, or not readable).
        pop: Option<serde_json::Value>,
        /// The not-ready reason codes the server accepts.
        not_ready_reasons: Vec<String>,
        /// Every configured queue (where calls may be transferred).
        queues: Vec<String>,
        /// How the page can be the agent's phone (`null`: this server
        /// has no browser audio).
        softphone: Option<SoftphoneView>,
    },
    /// The agent's state changed; `why` says what caused it.
    State {
        state: StateView,
        previous: &'static str,
        why: String,
    },
    /// A call rings at the agent, with the caller's history (`pop`:
    /// customer, products, recent calls, open tickets; `null` if the
    /// records could not be read in time).
    Offered {
        call: CallView,
        pop: Option<serde_json::Value>,
    },
    /// The ringing call is no longer offered; `why` as in the `state`
    /// event that follows (`rejected`, `ring timeout`, `caller left`,
    /// `answered elsewhere`, ...).
    OfferCancelled {
        call: String,
        why: String,
    },
    /// The agent's phone answered: talking.
    Answered {
        call: String,
    },
    Held {
        call: String,
    },
    Resumed {
        call: String,
    },
    /// The call's recording was paused or resumed (by you or by a
    /// supervisor: `by`).
    Recording {
        call: String,
        paused: bool,
        by: String,
    },
    /// The call is over for the agent.
    Ended {
        call: String,
        cause: String,
    },
    /// How the consultation (attended transfer) of your call goes:
    /// `ringing`, `talking` (you and `agent` hear each other; the caller
    /// hears music), `ended` (without a transfer; `why` says how).
    Consult {
        call: String,
        agent: i64,
        stage: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// Our answer to the page's `media_offer`.
    MediaAnswer {
        call: String,
        sdp: String,
    },
    /// How the page's audio for the call goes: `connected`, `lost` (talking,
    /// the server stopped hearing the page: the caller hears music until a
    /// new `media_offer` connects, for `reattach_secs` at most), `failed`
    /// (the offer did not connect, or its connection ended).
    Media {
        call: String,
        state: &'static str,
        why: String,
    },
    /// The command with this id was carried out.
    Ok {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The command with this id was refused; nothing changed.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Stable, for programs: bad_command, wrong_state, no_such_call,
        /// not_your_call, unknown_queue, unknown_agent, unknown_number,
        /// unknown_reason, no_phone, bad_media, no_softphone,
        /// not_recorded; and, without a command, replaced (another window
        /// took over) and session_ended (sign in again), each followed by
        /// the server closing the connection.
        code: &'static str,
        /// For people.
        message: String,
    },
}

/// What the page needs to be the agent's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoftphoneView {
    /// For the page's `RTCPeerConnection` (STUN and TURN for agents
    /// behind NAT); may be empty.
    pub ice_servers: Vec<IceServer>,
    /// How long a call whose page audio went away waits for it (s).
    pub reattach_secs: u64,
}

/// A STUN or TURN server, as `RTCIceServer` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}

/// Who is signed in on the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub queues: Vec<String>,
}

impl Event {
    /// An error answer to a command.
    pub fn error(id: Option<String>, code: &'static str, message: impl Into<String>) -> Event {
        Event::Error {
            id,
            code,
            message: message.into(),
        }
    }
}
