//! Outbound calls: a campaign's attempt to reach a customer through the
//! carrier's trunk (we are the UAC). Once answered, the call is an ordinary
//! [`Call`] — media, IVR (the campaign's survey flow), recording, hang-up —
//! so only the dialling lives here.
//!
//! ```text
//! ExpectMedia -> Dialling -> Answered(Running) -> ExpectByeResult -> Over
//!                    \-> Dialling (one answer to a 401/407 challenge)
//!                    \-> Cancelling -> Over   (ring time out, hang-up, shutdown)
//!                    \-> Over                 (busy, declined, failed, no answer
//!                                              from the carrier at all)
//! ```
//!
//! Invariants: the runtime hears of the attempt exactly once, as
//! [`Output::Attempted`] when the call ends, with the outcome the campaign
//! retries by; a 2xx that crosses our CANCEL is ACKed and hung up at once
//! (the customer is never left talking to nobody); a CANCEL that gets no
//! final answer is given up after [`CANCEL_GRACE`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::Request;
use rsip::headers::UntypedHeader;
use tracing::{debug, info};

use super::call::{self, Call, Phase, RtpSeed, replace_body};
use super::{Engine, Output};
use crate::campaign::Outcome;
use crate::config::OutboundTrunk;
use crate::records::{HangupSide, RecordOp};
use crate::sip::dialog::{self, Dialog};
use crate::sip::message::{self, HeadersExt};
use crate::sip::sdp;
use crate::sip::{Peer, Transport};

/// How long a cancelled INVITE may wait for its final answer.
const CANCEL_GRACE: Duration = Duration::from_secs(32);

/// What the dialer asks the engine to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialOrder {
    pub campaign: String,
    pub contact: i64,
    /// 1 for the first attempt on the contact.
    pub attempt: u32,
    /// The customer's number, as the carrier dials it.
    pub number: String,
    /// The number presented to the customer.
    pub caller_id: String,
    pub then: AfterAnswer,
    /// Who holds the contact's lease (the dialer of an instance, or the
    /// agent who chose to dial it): the attempt is written under it.
    pub lease_owner: String,
}

/// What an answered outbound call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAnswer {
    /// Runs this flow (a survey); checked to exist.
    Flow(String),
    /// Waits, with music, for the first agent of this queue, ahead of every
    /// caller (the dialer dialled because one was ready) — or, a preview
    /// call, for the agent who chose to dial it; the agent gets the screen
    /// pop as for an inbound call.
    Agent {
        queue: String,
        agent: Option<crate::acd::AgentId>,
    },
}

/// Why a dial order was not placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    #[error("no outbound trunk is configured")]
    NoTrunk,
    #[error("the server is shutting down or overloaded")]
    NotNow,
    #[error("the number or the caller id is not a phone number")]
    BadNumber,
    #[error("the survey flow is not among the IVR flows")]
    NoFlow,
    #[error("the campaign's queue is not configured")]
    NoQueue,
    #[error("the agent is not signed in")]
    NoAgent,
}

/// One ended attempt, for the dialer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub campaign: String,
    pub contact: i64,
    pub attempt: u32,
    pub call_id: String,
    pub outcome: Outcome,
    /// The customer's answers to the survey, in the order given.
    pub answers: Vec<(String, String)>,
    /// When the call ended, wall ms.
    pub at: i64,
    /// The contact's lease holder, from the order.
    pub lease_owner: String,
}

/// The dialling side of an outbound call.
#[derive(Debug)]
pub(super) struct Outbound {
    order: DialOrder,
    trunk: Arc<OutboundTrunk>,
    /// Ringing until then (then CANCEL); in `Cancelling`, the give-up time.
    deadline: Option<Instant>,
    /// A provisional response came: the carrier is working on it.
    progress: bool,
    /// A challenge was answered already: a second one is a failure.
    authorised: bool,
    /// We cancelled (ring time, hang-up): how the attempt reads then.
    cancelled: bool,
    outcome: Option<Outcome>,
    answers: Vec<(String, String)>,
    reported: bool,
}

fn digits_only(n: &str) -> bool {
    let d = n.strip_prefix('+').unwrap_or(n);
    (3..=20).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
}

impl Engine {
    /// Places a campaign's call: the media socket first, then the INVITE
    /// to the carrier. Returns our call id.
    pub fn dial(&mut self, now: Instant, order: DialOrder) -> Result<String, DialError> {
        let trunk = self.cfg.outbound.clone().ok_or(DialError::NoTrunk)?;
        if self.draining || self.overloaded {
            return Err(DialError::NotNow);
        }
        if !digits_only(&order.number) || !digits_only(&order.caller_id) {
            return Err(DialError::BadNumber);
        }
        match &order.then {
            AfterAnswer::Flow(flow) if self.catalog.flows.flow(flow).is_none() => {
                return Err(DialError::NoFlow);
            }
            AfterAnswer::Agent { queue, .. }
                if !self.cfg.queues.iter().any(|q| &q.name == queue) =>
            {
                return Err(DialError::NoQueue);
            }
            AfterAnswer::Agent {
                agent: Some(agent), ..
            } if !self.desks.contains_key(agent) => return Err(DialError::NoAgent),
            _ => {}
        }
        let key = self.new_call_key();
        let wall = self.wall_ms(now);
        let id = call::new_call_id(wall, &mut self.rng);
        let local_tag = dialog::new_tag(&mut self.rng);
        let sip_call_id = format!("{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..));
        let branch = dialog::new_branch(&mut self.rng);
        let host = call::sip_host(self.cfg.advertised_ip, self.cfg.sip_port);
        let ids = InviteIds {
            host: &host,
            tag: &local_tag,
            call_id: &sip_call_id,
        };
        let invite =
            build_invite(&order, &trunk, &ids, &branch, 1, None).ok_or(DialError::BadNumber)?;
        info!(call = %id, campaign = %order.campaign, contact = order.contact, attempt = order.attempt, "dialling out");
        self.stats.calls_total += 1;
        self.stats.outbound_total += 1;
        let c = Call::dial(call::NewCall {
            key,
            id: id.clone(),
            tx_key: crate::sip::transaction::TxKey::for_request(&invite)
                .map_err(|_| DialError::BadNumber)?,
            source: Peer {
                addr: trunk.proxy,
                transport: Transport::Udp,
            },
            number: order.caller_id.clone(),
            dialled: order.number.clone(),
            local_tag,
            offer: None,
            now,
            wall_ms: wall,
            cfg: &self.cfg,
            catalog: self.catalog.clone(),
            rng: self.rng.fork(),
            invite,
            outbound: Some(Box::new(Outbound {
                order,
                trunk,
                deadline: None,
                progress: false,
                authorised: false,
                cancelled: false,
                outcome: None,
                answers: Vec::new(),
                reported: false,
            })),
        });
        self.active += 1;
        self.by_call_id.insert(sip_call_id, key);
        self.calls.insert(key, c);
        self.drive_call(now, key);
        Ok(id)
    }

    /// Hangs up an outbound call by our id (a campaign stopped): a ringing
    /// one is cancelled, an answered one gets BYE.
    pub fn hang_up_call(&mut self, now: Instant, call_id: &str) -> bool {
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.id == call_id)
            .map(|(k, _)| *k)
        else {
            return false;
        };
        if let Some(c) = self.calls.get_mut(&key) {
            c.hangup(now, "hung-up-by-hotline");
        }
        self.drive_call(now, key);
        true
    }
}

/// What stays the same in every INVITE of one call.
struct InviteIds<'a> {
    /// Our `ip:port`.
    host: &'a str,
    tag: &'a str,
    call_id: &'a str,
}

/// An INVITE to the carrier, without its SDP (added once the media socket
/// is bound): Request-URI and To are the customer at the carrier's domain,
/// From is the caller id we present. `auth`: the header answering a
/// challenge, as (name, value).
fn build_invite(
    order: &DialOrder,
    trunk: &OutboundTrunk,
    ids: &InviteIds<'_>,
    branch: &str,
    cseq: u32,
    auth: Option<(&str, &str)>,
) -> Option<Request> {
    let auth = auth
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "INVITE sip:{number}@{domain} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {host};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{caller}@{domain}>;tag={tag}\r\n\
         To: <sip:{number}@{domain}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: <sip:hotline@{host}>\r\n\
         Allow: {allow}\r\n\
         {auth}Content-Length: 0\r\n\r\n",
        number = order.number,
        caller = order.caller_id,
        domain = trunk.domain,
        host = ids.host,
        tag = ids.tag,
        call_id = ids.call_id,
        allow = super::ALLOW,
    );
    match message::parse(text.as_bytes()) {
        Ok(rsip::SipMessage::Request(r)) => Some(r),
        _ => None,
    }
}

impl Call {
    /// An outbound call (see the module doc), waiting for its media socket.
    pub(super) fn dial(n: call::NewCall<'_>) -> Call {
        let flow = n.outbound.as_ref().and_then(|o| match &o.order.then {
            AfterAnswer::Flow(flow) => Some(flow.clone()),
            AfterAnswer::Agent { .. } => None,
        });
        let mut c = Call::build(n, flow);
        let o = c.outbound.as_ref().map(|o| o.order.clone());
        if let Some(o) = o {
            let op = RecordOp::Dialled {
                call_id: c.id.clone(),
                sip_call_id: c.sip_call_id.clone(),
                number: o.number.clone(),
                caller_id: o.caller_id.clone(),
                campaign: o.campaign.clone(),
                contact: o.contact,
                attempt: i64::from(o.attempt),
                at: c.arrived_ms,
            };
            c.record(op);
            let detail = format!(
                "{} for campaign {} (attempt {})",
                o.number, o.campaign, o.attempt
            );
            c.event(c.epoch.0, "dialling", &detail);
        }
        c
    }

    pub(super) fn is_outbound(&self) -> bool {
        self.outbound.is_some()
    }

    /// The media socket is bound: the INVITE goes out with our offer.
    pub(super) fn send_invite(&mut self, now: Instant, local: SocketAddr, seed: RtpSeed) {
        self.local_rtp = Some(local);
        self.seed = Some(seed);
        self.contact = format!("<sip:hotline@{}>", self.settings.sip_host);
        let body = self.local_sdp(local);
        let invite = &mut self.invite;
        replace_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            body.into_bytes(),
        );
        self.pending
            .push(call::Action::Request(self.invite.clone(), self.source));
        self.phase = Phase::Dialling;
        if let Some(o) = self.outbound.as_mut() {
            o.deadline = Some(now + o.trunk.ring);
        }
    }

    /// A response to our INVITE; `None` when its transaction timed out.
    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        resp: Option<&rsip::Response>,
        code: u16,
    ) {
        let Some(o) = self.outbound.as_mut() else {
            return;
        };
        if code < 200 {
            if !o.progress {
                o.progress = true;
                let cancelled = o.cancelled;
                let what = if code == 100 { "trying" } else { "ringing" };
                self.event(now, what, &code.to_string());
                if cancelled && self.phase == Phase::Dialling {
                    // The ring time ran out before any provisional
                    // response: the CANCEL may go now (RFC 3261 §9.1).
                    self.cancel_dial(now);
                }
            }
            return;
        }
        if code >= 300 {
            self.on_dial_failed(now, resp, code);
            return;
        }
        let Some(resp) = resp else { return };
        if self.dialog.is_some() {
            // A retransmitted 2xx: our ACK was lost.
            self.ack_2xx();
            return;
        }
        self.dialog = Dialog::from_response_as_uac(&self.invite, resp).ok();
        self.ack_2xx();
        if self.phase != Phase::Dialling {
            // Answered as we cancelled (ring time, hang-up): hang up at
            // once; the attempt counts as not answered.
            self.acked = true;
            self.set_outcome(Outcome::NoAnswer);
            self.phase = Phase::Answered(call::Flow::Running);
            self.send_bye();
            self.finish(now, "no_answer-answered-after-cancel", HangupSide::Hotline);
            return;
        }
        let answer = std::str::from_utf8(resp.body())
            .ok()
            .and_then(|t| sdp::SessionDescription::parse(t).ok())
            .and_then(|s| sdp::audio_offer(&s).ok())
            .and_then(|mut offer| {
                let codecs = &self.settings.codecs;
                offer
                    .codecs
                    .retain(|(_, name, _)| codecs.iter().any(|c| c.eq_ignore_ascii_case(name)));
                sdp::negotiate(&offer).ok()
            });
        let (Some(neg), Some(_)) = (answer, self.dialog.as_ref()) else {
            debug!(call = %self.id, "the customer's answer has no usable SDP or dialog");
            self.set_outcome(Outcome::Failed);
            self.acked = true;
            self.phase = Phase::Answered(call::Flow::Running);
            self.hangup(now, "bad-answer");
            return;
        };
        self.set_outcome(Outcome::Answered);
        if let Some(o) = self.outbound.as_mut() {
            o.deadline = None;
        }
        self.acked = true;
        self.negotiated = Some(neg.clone());
        let at = self.wall(now);
        self.record(RecordOp::Answered {
            call_id: self.id.clone(),
            at,
        });
        let local = self.local_rtp.map(|l| l.to_string()).unwrap_or_default();
        self.event(now, "answered", &format!("rtp {local}"));
        self.start_media(now, &neg);
        self.phase = Phase::Answered(call::Flow::Running);
        match self.outbound.as_ref().map(|o| o.order.then.clone()) {
            Some(AfterAnswer::Agent { queue, agent }) => {
                self.pending
                    .push(call::Action::WaitForAgent { queue, agent });
            }
            _ => self.ivr_due = true,
        }
    }

    fn ack_2xx(&mut self) {
        let Some(d) = self.dialog.as_ref() else {
            return;
        };
        let cseq = self.invite.cseq().map(|(n, _)| n).unwrap_or(1);
        let branch = dialog::new_branch(&mut self.rng);
        let ack = d.ack(
            cseq,
            &self.settings.sip_host,
            self.source.transport,
            &branch,
        );
        self.pending.push(call::Action::Ack(ack, self.source));
    }

    /// A final failure (or our CANCEL's 487): answer a challenge once,
    /// otherwise the attempt is over with the outcome the code means.
    fn on_dial_failed(&mut self, now: Instant, resp: Option<&rsip::Response>, code: u16) {
        if !matches!(self.phase, Phase::Dialling | Phase::Cancelling) {
            return;
        }
        if matches!(code, 401 | 407)
            && self.phase == Phase::Dialling
            && let Some(resp) = resp
            && self.answer_challenge(now, resp, code)
        {
            return;
        }
        let Some(o) = self.outbound.as_ref() else {
            return;
        };
        let outcome = if resp.is_none() && !o.progress {
            // No response at all: the carrier is not answering.
            Outcome::NetworkError
        } else if o.cancelled {
            Outcome::NoAnswer
        } else {
            Outcome::of_sip(code)
        };
        let side = if o.cancelled {
            HangupSide::Hotline
        } else {
            HangupSide::Caller
        };
        self.set_outcome(outcome);
        self.phase = Phase::Over;
        let cause = if resp.is_none() {
            "no-response".to_owned()
        } else {
            format!("{}-{code}", outcome.as_str())
        };
        self.finish(now, &cause, side);
    }

    /// The same INVITE again with our credentials; false if we cannot (no
    /// account, a second challenge, a challenge we do not understand).
    fn answer_challenge(&mut self, now: Instant, resp: &rsip::Response, code: u16) -> bool {
        let Some(o) = self.outbound.as_mut() else {
            return false;
        };
        let Some((user, password)) = o.trunk.account.clone().filter(|_| !o.authorised) else {
            return false;
        };
        o.authorised = true;
        let answer = if code == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        // Whole header values (a challenge is a comma list itself); the
        // first Digest challenge we can answer is taken.
        let uri = self.invite.uri.to_string();
        let cnonce = format!("{:016x}", self.rng.u64(..));
        let value = resp
            .headers
            .iter()
            .filter_map(|h| match (h, code) {
                (rsip::Header::ProxyAuthenticate(h), 407) => Some(h.value().to_owned()),
                (rsip::Header::WwwAuthenticate(h), 401) => Some(h.value().to_owned()),
                _ => None,
            })
            .find_map(|challenge| {
                crate::sip::digest::authorize(
                    challenge.trim(),
                    "INVITE",
                    &uri,
                    &user,
                    &password,
                    &cnonce,
                )
                .ok()
            });
        let Some(value) = value else {
            info!(call = %self.id, code, "cannot answer the carrier's challenge");
            return false;
        };
        // A new transaction: the next CSeq and a new branch (RFC 3261
        // §22.2), everything else the same.
        let (cseq, _) = self.invite.cseq().unwrap_or((1, rsip::Method::Invite));
        let branch = dialog::new_branch(&mut self.rng);
        let ids = InviteIds {
            host: &self.settings.sip_host,
            tag: &self.local_tag,
            call_id: &self.sip_call_id,
        };
        let Some(o) = self.outbound.as_ref() else {
            return false;
        };
        let Some(mut invite) = build_invite(
            &o.order,
            &o.trunk,
            &ids,
            &branch,
            cseq + 1,
            Some((answer, &value)),
        ) else {
            return false;
        };
        let body = self.invite.body.clone();
        replace_body(
            &mut invite.headers,
            &mut invite.body,
            "application/sdp",
            body,
        );
        self.event(now, "authenticating", &code.to_string());
        self.invite = invite;
        self.pending
            .push(call::Action::Request(self.invite.clone(), self.source));
        true
    }

    /// Ring time out, or we hang up before the answer: CANCEL — once the
    /// carrier has answered provisionally; before that a CANCEL must not
    /// be sent (RFC 3261 §9.1), so it waits for one (or for the INVITE's
    /// timeout).
    pub(super) fn cancel_dial(&mut self, now: Instant) {
        if self.phase != Phase::Dialling {
            return;
        }
        if let Some(o) = self.outbound.as_mut()
            && !o.progress
        {
            o.cancelled = true;
            o.deadline = None;
            return;
        }
        if let Some(cancel) = super::agent_leg::cancel_for(&self.invite) {
            self.pending
                .push(call::Action::Request(cancel, self.source));
        }
        self.phase = Phase::Cancelling;
        if let Some(o) = self.outbound.as_mut() {
            o.cancelled = true;
            o.deadline = Some(now + CANCEL_GRACE);
        }
    }

    pub(super) fn dial_deadline(&self) -> Option<Instant> {
        self.outbound.as_ref().and_then(|o| o.deadline)
    }

    /// The ring time ran out (CANCEL), or a CANCEL went unanswered (the
    /// attempt is over anyway).
    pub(super) fn on_dial_timeout(&mut self, now: Instant) {
        let Some(o) = self.outbound.as_mut() else {
            return;
        };
        if o.deadline.is_none_or(|t| t > now) {
            return;
        }
        o.deadline = None;
        match self.phase {
            Phase::Dialling => {
                self.cancel_dial(now);
                self.event(now, "no-answer", "ring time over");
            }
            Phase::Cancelling => {
                self.set_outcome(Outcome::NoAnswer);
                self.phase = Phase::Over;
                self.finish(now, "no_answer-cancel-unanswered", HangupSide::Hotline);
            }
            _ => {}
        }
    }

    /// The customer answered a survey question.
    pub(super) fn on_survey_answer(&mut self, question: String, value: String) {
        if let Some(o) = self.outbound.as_mut()
            && o.answers.len() < 32
        {
            o.answers.push((question, value));
        }
    }

    fn set_outcome(&mut self, outcome: Outcome) {
        if let Some(o) = self.outbound.as_mut()
            && o.outcome.is_none()
        {
            o.outcome = Some(outcome);
        }
    }

    /// At the call's end (once): the attempt's record and report.
    pub(super) fn report_attempt(&mut self, now: Instant) {
        let at = self.wall(now);
        let Some(o) = self.outbound.as_mut().filter(|o| !o.reported) else {
            return;
        };
        o.reported = true;
        let outcome = match o.outcome {
            Some(outcome) => outcome,
            // Ended before any answer from the carrier (shutdown, no port).
            None if o.cancelled => Outcome::NoAnswer,
            None => Outcome::NetworkError,
        };
        let attempt = Attempt {
            campaign: o.order.campaign.clone(),
            contact: o.order.contact,
            attempt: o.order.attempt,
            call_id: self.id.clone(),
            outcome,
            answers: o.answers.clone(),
            at,
            lease_owner: o.order.lease_owner.clone(),
        };
        self.record(RecordOp::Outcome {
            call_id: self.id.clone(),
            outcome: outcome.as_str().into(),
        });
        self.pending
            .push(call::Action::Output(Output::Attempted(Box::new(attempt))));
    }

    /// The queue an outbound call waits for an agent of, until one has it:
    /// from the dial to the agent's answer (the dialer's count of promised
    /// agents).
    pub(super) fn wants_agent_of(&self) -> Option<&str> {
        let o = self.outbound.as_ref()?;
        let AfterAnswer::Agent {
            queue, agent: None, ..
        } = &o.order.then
        else {
            // A preview call is promised its own agent, not the queue's.
            return None;
        };
        let connected = self.acd.as_ref().is_some_and(|p| p.agent.is_some());
        (!self.is_over() && !connected).then_some(queue.as_str())
    }

    /// The campaign of an outbound call.
    pub(super) fn campaign(&self) -> Option<&str> {
        self.outbound.as_ref().map(|o| o.order.campaign.as_str())
    }
}
