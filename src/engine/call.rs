//! One inbound call: its dialog, its media session and its IVR. The call
//! carries out what the IVR interpreter asks (play prompts, look something
//! up, record a message, transfer by REFER, hang up) and feeds it what the
//! caller does (keys by RFC 4733 or SIP INFO, prompts ending, hanging up).
//!
//! Invariants: `Ended` is recorded exactly once (guarded by `ended`); the
//! media socket is closed exactly once (guarded by `media_open`); a message
//! being recorded is closed exactly once, also when the caller hangs up in
//! the middle of it (guarded by `leaving_message`); once a call is `Phase::Over`
//! it produces nothing but the answer to a late in-dialog request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Method, Request, Response};
use tracing::{debug, info};

use super::{ALLOW, CallKey, EngineConfig, IvrCatalog, Output};
use crate::config::RecordCalls;
use crate::ivr::{Clock, Effect, Ivr, LookupAnswer, Start};
use crate::media::g711::Law;
use crate::media::session::{MediaConfig, MediaOutput, MediaSession};
use crate::media::{Error as MediaError, PromptId};
use crate::records::{HangupSide, RecordOp};
use crate::sip::dialog::{self, Dialog};
use crate::sip::message::{self, HeadersExt};
use crate::sip::sdp::{self, Direction, Negotiated, SessionDescription};
use crate::sip::transaction::TxKey;
use crate::sip::{Error as SipError, Peer};

/// What a call asks the engine to do.
pub(super) enum Action {
    /// Final or provisional answer on the call's INVITE transaction.
    Respond(Response),
    /// A new client transaction (our BYE or REFER) towards the peer.
    Request(Request, Peer),
    /// Passed through to the runtime.
    Output(Output),
    /// An ACK for a 2xx to our INVITE (outside any transaction).
    Ack(Request, Peer),
    /// The IVR put the caller in an ACD queue.
    Enqueue {
        queue: String,
        priority: u8,
        skills: Vec<String>,
    },
    /// The caller's voice, decoded, for the agent's leg.
    Audio(Vec<i16>),
    /// A transfer an agent asked for to an outside number failed: the
    /// caller waits for an agent again.
    TransferFailed(String),
    /// An answered outbound call waits for an agent of this queue (or for
    /// this agent alone: a preview call).
    WaitForAgent {
        queue: String,
        agent: Option<crate::acd::AgentId>,
    },
}

/// The call's part in the ACD: queue, agent and the times reports need.
#[derive(Debug, Clone)]
pub(super) struct AcdPart {
    pub queue: String,
    /// When the call (last) joined the queue, wall ms.
    pub queued_ms: i64,
    /// The agent leg ringing or connected.
    pub leg: Option<CallKey>,
    pub agent: Option<crate::acd::AgentId>,
    /// Talking since (wall ms), not counting hold.
    pub talk_since: Option<i64>,
    pub hold_since: Option<i64>,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub transfers: i64,
    /// The ACD is done with the call (answered, or it left the queue).
    pub released: bool,
    /// Waiting outside the IVR's queue node (put back by a transfer or a
    /// vanished agent), with music on hold.
    pub parked: bool,
    /// An attended transfer being prepared: the consulted agent, the leg
    /// to their phone, and whether it answered.
    pub consult: Option<(crate::acd::AgentId, CallKey, bool)>,
    /// A supervisor listening in, whispering or barging.
    pub monitor: Option<super::monitor::Monitor>,
}

/// Where the call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// OpenMedia asked; the 200 OK (or, outbound, the INVITE) waits for a
    /// local RTP port.
    ExpectMedia,
    /// Outbound: our INVITE is out, no final answer yet.
    Dialling,
    /// Outbound: we sent CANCEL; a 2xx may still cross it.
    Cancelling,
    /// 200 OK sent; the flow runs.
    Answered(Flow),
    /// The flow ended before the caller's ACK arrived; the BYE waits for it
    /// (RFC 3261 §15: no BYE before the ACK or the transaction's end).
    ExpectAckThenBye,
    /// We sent BYE and wait for its transaction to end.
    ExpectByeResult,
    /// Nothing more to do.
    Over,
}

/// An answered call's media readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Before the ACK of a late-offer call brings the SDP answer.
    ExpectSdpAnswer,
    /// Media runs and the IVR walks its flow.
    Running,
}

/// A transfer by REFER (RFC 3515) in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    None,
    /// REFER sent, no final answer yet.
    Referring,
    /// 202 Accepted: the carrier is placing the call; its NOTIFYs say how
    /// it goes.
    Accepted,
}

/// The per-call copy of the settings the call needs.
#[derive(Debug, Clone)]
pub(super) struct CallSettings {
    /// `ip:port` we put in Via and Contact.
    pub sip_host: String,
    rtp_timeout: Duration,
    telephone_event_pt: u8,
    pub codecs: Vec<String>,
    record: Arc<RecordCalls>,
}

/// The call's recording, from the answer to the hang-up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recording {
    /// Agents heard on the right channel, in the order they answered.
    agents: Vec<crate::acd::AgentId>,
}

/// Why a recording could not be paused or resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingError {
    /// The call is not being recorded (policy, or not answered yet).
    NotRecorded,
}

/// Everything needed to start a call.
pub(super) struct NewCall<'a> {
    pub key: CallKey,
    pub id: String,
    pub tx_key: TxKey,
    pub invite: Request,
    pub source: Peer,
    pub number: String,
    pub dialled: String,
    pub local_tag: String,
    /// None for a late-offer INVITE (no SDP): we offer in the 200 OK.
    pub offer: Option<Offer>,
    pub now: Instant,
    pub wall_ms: i64,
    pub cfg: &'a EngineConfig,
    /// The IVR version this call runs on, to its end.
    pub catalog: Arc<IvrCatalog>,
    pub rng: fastrand::Rng,
    /// An outbound call's dialling side (then `invite` is ours).
    pub outbound: Option<Box<super::dial::Outbound>>,
}

/// RTP stream parameters drawn by the engine when the socket opened.
#[derive(Debug, Clone, Copy)]
pub(super) struct RtpSeed {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub sdp_session: u64,
}

pub(super) struct Call {
    pub key: CallKey,
    /// Our call id, the key of the call record.
    pub id: String,
    pub sip_call_id: String,
    pub tx_key: TxKey,
    /// The deadline registered with the engine's timer heap.
    pub scheduled: Option<Instant>,
    /// Client transactions of ours (BYE, REFER) the engine maps to this call.
    pub requests: Vec<TxKey>,
    /// Still counted among the engine's active calls.
    pub counted: bool,
    pub(super) settings: CallSettings,
    pub(super) invite: Request,
    pub(super) source: Peer,
    pub(super) local_tag: String,
    /// Our Contact header value, the same in every 2xx of the dialog.
    pub(super) contact: String,
    pub(super) negotiated: Option<Negotiated>,
    /// The caller's last SDP offer: the answer mirrors its media sections.
    offer_sdp: Option<SessionDescription>,
    pub(super) dialog: Option<Dialog>,
    media: Option<MediaSession>,
    /// The socket is open (OpenMedia asked, CloseMedia not yet).
    media_open: bool,
    rtp_dest: Option<SocketAddr>,
    rtp_latched: bool,
    /// The caller ACKed our 2xx (or its transaction gave up waiting).
    pub(super) acked: bool,
    pub(super) local_rtp: Option<SocketAddr>,
    pub(super) seed: Option<RtpSeed>,
    sdp_version: u64,
    pub(super) phase: Phase,
    catalog: Arc<IvrCatalog>,
    ivr: Ivr,
    /// The IVR is due to start (media just began).
    pub(super) ivr_due: bool,
    /// Digits from SIP INFO, fed to the IVR in `poll_actions`.
    queued_digits: Vec<(char, &'static str)>,
    /// The IVR's current prompt list: its token and the last prompt's id.
    playing: Option<(u32, PromptId)>,
    /// A prompt list that had nothing to play; reported done in
    /// `poll_actions`.
    played_nothing: Option<u32>,
    /// The call is being recorded (from its answer).
    recording: Option<Recording>,
    /// A message is being recorded.
    leaving_message: bool,
    /// The message was stopped; audio sent before the stop may still be on
    /// its way (key presses overtake audio in the runtime), so capture
    /// goes on until then.
    message_tail: Option<Instant>,
    /// While the caller holds us (re-INVITE), playback and the RTP timer
    /// pause; the call is ended if the hold lasts this long.
    held_until: Option<Instant>,
    /// Key presses on the timeline; a caller mashing keys is not allowed
    /// to grow it without end.
    dtmf_events: usize,
    messages: u32,
    transfer: Transfer,
    /// A transfer asked for before the caller's ACK: sent on the ACK.
    deferred_refer: Option<String>,
    /// Every key the caller pressed, for the call record (bounded).
    digits: String,
    event_seq: i64,
    ended: bool,
    pub(super) epoch: (Instant, i64),
    pub(super) rng: fastrand::Rng,
    pub(super) pending: Vec<Action>,
    /// In the ACD (queued, ringing an agent, or talking to one).
    pub acd: Option<AcdPart>,
    /// Talking to an agent: the caller's audio goes to the agent's leg and
    /// the agent's comes back instead of prompts.
    bridged: bool,
    /// Music on hold playing (its last prompt's id): replayed when it ends.
    music: Option<PromptId>,
    /// A waiting caller's place in line, said before the music comes round.
    announcement: Vec<String>,
    /// The goodbye of a queue that hangs up on overflow: the call ends
    /// when it has played.
    farewell: Option<PromptId>,
    /// An agent sent the caller to an outside number: its outcome is
    /// awaited until then (the flow's transfer timeout does not apply).
    agent_transfer_until: Option<Instant>,
    /// The caller's choices in menus, for the agent's screen.
    pub ivr_path: Vec<String>,
    from_number: String,
    service_number: String,
    pub(super) arrived_ms: i64,
    /// The queue priority the caller's standing gives (VIP, open
    /// complaint), once the store has said.
    pub standing: Option<u8>,
    /// An outbound call's dialling side.
    pub(super) outbound: Option<Box<super::dial::Outbound>>,
}

impl Call {
    /// An inbound call, waiting for its media socket.
    pub fn new(n: NewCall<'_>) -> Call {
        let dialled = n.dialled.clone();
        let number = n.number.clone();
        let source = n.source;
        let mut call = Call::build(n, None);
        call.record(RecordOp::Arrived {
            call_id: call.id.clone(),
            sip_call_id: call.sip_call_id.clone(),
            from_number: call.from_number.clone(),
            to_number: dialled,
            service_number: number,
            arrived_at: call.arrived_ms,
        });
        let detail = format!(
            "from {} via {source}, ivr version {}",
            call.from_number, call.catalog.version
        );
        call.event(call.epoch.0, "arrived", &detail);
        call.pending.push(Action::Output(Output::Standing {
            call: call.key,
            caller: call.from_number.clone(),
        }));
        call
    }

    /// The call's state, before any record: its IVR starts in `flow` (the
    /// main flow if `None`).
    pub(super) fn build(n: NewCall<'_>, flow: Option<String>) -> Call {
        let sip_call_id = n.invite.call_id().unwrap_or_default();
        // The customer: who called us, or whom we call.
        let from_number = if n.outbound.is_some() {
            n.dialled.clone()
        } else {
            n.invite.from_user().unwrap_or_default()
        };
        let settings = CallSettings {
            sip_host: sip_host(n.cfg.advertised_ip, n.cfg.sip_port),
            rtp_timeout: n.cfg.rtp_timeout,
            telephone_event_pt: n.cfg.telephone_event_pt,
            codecs: n.cfg.codecs.clone(),
            record: n.cfg.record.clone(),
        };
        let ivr = Ivr::new(Start {
            flows: n.catalog.flows.clone(),
            language: n.catalog.language.clone(),
            transfer_allow: n.catalog.transfer_allow.clone(),
            caller: from_number.clone(),
            dialled: n.dialled.clone(),
            call_id: n.id.clone(),
            flow,
        });
        let mut call = Call {
            key: n.key,
            id: n.id,
            sip_call_id: sip_call_id.clone(),
            tx_key: n.tx_key,
            scheduled: None,
            requests: Vec::new(),
            counted: true,
            settings,
            invite: n.invite,
            source: n.source,
            local_tag: n.local_tag,
            contact: String::new(),
            negotiated: n.offer.as_ref().map(|o| o.negotiated.clone()),
            offer_sdp: n.offer.map(|o| o.sdp),
            dialog: None,
            media: None,
            media_open: false,
            rtp_dest: None,
            rtp_latched: false,
            acked: false,
            local_rtp: None,
            seed: None,
            sdp_version: 1,
            phase: Phase::ExpectMedia,
            catalog: n.catalog,
            ivr,
            ivr_due: false,
            queued_digits: Vec::new(),
            playing: None,
            played_nothing: None,
            recording: None,
            leaving_message: false,
            message_tail: None,
            held_until: None,
            dtmf_events: 0,
            messages: 0,
            transfer: Transfer::None,
            deferred_refer: None,
            digits: String::new(),
            event_seq: 0,
            ended: false,
            epoch: (n.now, n.wall_ms),
            rng: n.rng,
            pending: Vec::new(),
            acd: None,
            bridged: false,
            music: None,
            announcement: Vec::new(),
            farewell: None,
            agent_transfer_until: None,
            ivr_path: Vec::new(),
            from_number: from_number.clone(),
            service_number: n.number.clone(),
            arrived_ms: n.wall_ms,
            standing: None,
            outbound: n.outbound,
        };
        call.pending
            .push(Action::Output(Output::OpenMedia { call: n.key }));
        call
    }

    /// The call has ended for the caller (a BYE may still be in flight).
    pub fn is_over(&self) -> bool {
        matches!(
            self.phase,
            Phase::Over | Phase::ExpectByeResult | Phase::ExpectAckThenBye | Phase::Cancelling
        )
    }

    /// Nothing left to do: the engine may forget the call.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Over && self.pending.is_empty()
    }

    pub fn matches(&self, req: &Request) -> bool {
        match &self.dialog {
            Some(d) => d.matches(req),
            None => false,
        }
    }

    pub(super) fn wall(&self, now: Instant) -> i64 {
        let since = now.saturating_duration_since(self.epoch.0).as_millis();
        self.epoch.1 + i64::try_from(since).unwrap_or(0)
    }

    pub(super) fn record(&mut self, op: RecordOp) {
        // Whoever answers for us is heard on the recording's right channel.
        if let (RecordOp::AgentAnswered { agent_id, .. }, Some(r)) = (&op, self.recording.as_mut())
            && !r.agents.contains(agent_id)
        {
            r.agents.push(*agent_id);
        }
        self.pending.push(Action::Output(Output::Record(op)));
    }

    pub(super) fn event(&mut self, now: Instant, kind: &str, detail: &str) {
        self.event_seq += 1;
        let op = RecordOp::Event {
            call_id: self.id.clone(),
            seq: self.event_seq,
            at: self.wall(now),
            kind: kind.into(),
            detail: detail.into(),
        };
        self.record(op);
    }

    fn close_media(&mut self) {
        self.media = None;
        if self.media_open {
            self.media_open = false;
            self.pending
                .push(Action::Output(Output::CloseMedia { call: self.key }));
        }
    }

    /// Ends the call's recording at `now`: its last audio, then its end.
    fn finish_recording(&mut self, now: Instant) {
        let Some(recording) = self.recording.take() else {
            return;
        };
        if let Some(m) = self.media.as_mut() {
            m.finish_recording(now);
            // The call is ending: of the media's last outputs only the
            // recording's matter.
            while let Some(o) = m.poll_output() {
                if let MediaOutput::Recorded(chunk) = o {
                    self.pending.push(Action::Output(Output::RecordingAudio {
                        call: self.key,
                        chunk,
                    }));
                }
            }
        }
        let keep = match &*self.settings.record {
            RecordCalls::Queues(queues) => {
                self.acd.as_ref().is_some_and(|a| queues.contains(&a.queue))
            }
            RecordCalls::All | RecordCalls::None => true,
        };
        self.pending.push(Action::Output(Output::RecordingEnd {
            call: self.key,
            keep,
            agents: recording.agents,
        }));
    }

    /// Pauses or resumes the call's recording (a card number being read
    /// out): silence in the file meanwhile, and an event saying who.
    /// Asking for the state it is already in changes nothing.
    pub fn pause_recording(
        &mut self,
        now: Instant,
        paused: bool,
        by: &str,
    ) -> Result<(), RecordingError> {
        let Some(media) = self.media.as_mut().filter(|_| self.recording.is_some()) else {
            return Err(RecordingError::NotRecorded);
        };
        if media.recording_paused() == Some(paused) {
            return Ok(());
        }
        media.set_recording_paused(now, paused);
        let kind = if paused {
            "recording-paused"
        } else {
            "recording-resumed"
        };
        self.event(now, kind, by);
        Ok(())
    }

    /// Records the end of the call (once) and releases its media.
    pub(super) fn finish(&mut self, now: Instant, cause: &str, side: HangupSide) {
        self.finish_recording(now);
        if let Some(m) = &self.media {
            let st = m.stats();
            let codec = self.negotiated.as_ref().map_or("-", |n| n.law_name);
            let detail = format!(
                "{codec} sent {} received {} malformed {} dtmf {}",
                st.packets_sent, st.packets_received, st.malformed, st.dtmf_digits
            );
            self.event(now, "media", &detail);
        }
        if std::mem::take(&mut self.leaving_message) {
            self.message_tail = None;
            self.pending
                .push(Action::Output(Output::MessageEnd { call: self.key }));
            let why = match side {
                HangupSide::Caller => "caller hung up".to_owned(),
                HangupSide::Hotline => format!("call ended ({cause})"),
            };
            self.event(now, "message-end", &why);
        }
        self.held_until = None;
        self.close_media();
        self.ivr_due = false;
        if !self.ended {
            self.ended = true;
            info!(call = %self.id, cause, side = side.as_str(), "call ended");
            self.event(now, "hangup", &format!("{cause} ({})", side.as_str()));
            let op = RecordOp::Ended {
                call_id: self.id.clone(),
                at: self.wall(now),
                cause: cause.into(),
                side,
            };
            self.record(op);
            self.report_attempt(now);
        }
    }

    /// We end the call: BYE once answered, 503 before that.
    pub fn hangup(&mut self, now: Instant, cause: &str) {
        match self.phase {
            Phase::ExpectMedia if self.is_outbound() => self.phase = Phase::Over,
            Phase::Dialling => self.cancel_dial(now),
            Phase::Cancelling => return,
            Phase::ExpectMedia => {
                let resp = message::response(&self.invite, 503, None, Some(&self.local_tag));
                self.pending.push(Action::Respond(resp));
                self.phase = Phase::Over;
            }
            Phase::Answered(_) if !self.acked => self.phase = Phase::ExpectAckThenBye,
            Phase::Answered(_) => self.send_bye(),
            Phase::ExpectAckThenBye | Phase::ExpectByeResult | Phase::Over => return,
        }
        self.finish(now, cause, HangupSide::Hotline);
    }

    pub(super) fn send_bye(&mut self) {
        let branch = dialog::new_branch(&mut self.rng);
        match self.dialog.as_mut() {
            Some(d) => {
                let bye = d.request(
                    Method::Bye,
                    &self.settings.sip_host,
                    self.source.transport,
                    &branch,
                );
                self.pending.push(Action::Request(bye, self.source));
                self.phase = Phase::ExpectByeResult;
            }
            None => self.phase = Phase::Over,
        }
    }

    /// Our 2xx was never ACKed and its transaction gave up (64*T1): the BYE
    /// may go now.
    pub fn on_ack_timeout(&mut self, now: Instant) {
        self.acked = true;
        match self.phase {
            Phase::ExpectAckThenBye => self.send_bye(),
            Phase::Answered(_) => self.hangup(now, "ack-timeout"),
            _ => {}
        }
    }

    pub fn media_opened(&mut self, now: Instant, local: SocketAddr, seed: RtpSeed) {
        self.media_open = true;
        if self.phase != Phase::ExpectMedia {
            // The call ended while the socket was being bound.
            self.close_media();
            return;
        }
        if self.is_outbound() {
            self.send_invite(now, local, seed);
            return;
        }
        self.local_rtp = Some(local);
        self.seed = Some(seed);
        self.answer(now);
    }

    pub fn media_failed(&mut self, now: Instant) {
        if self.phase != Phase::ExpectMedia {
            return;
        }
        if self.is_outbound() {
            self.phase = Phase::Over;
            self.finish(now, "no-rtp-port", HangupSide::Hotline);
            return;
        }
        let resp = message::response(&self.invite, 503, None, Some(&self.local_tag));
        self.pending.push(Action::Respond(resp));
        self.phase = Phase::Over;
        self.finish(now, "no-rtp-port", HangupSide::Hotline);
    }

    /// Sends the 200 OK and starts the flow.
    fn answer(&mut self, now: Instant) {
        let Some(local) = self.local_rtp else { return };
        let user = self.invite.to_user().unwrap_or_default();
        let transport = if self.source.transport.is_reliable() {
            ";transport=tcp"
        } else {
            ""
        };
        let contact = format!("sip:{user}@{}{transport}", self.settings.sip_host);
        self.contact = format!("<{contact}>");
        self.dialog = rsip::Uri::try_from(contact.as_str())
            .ok()
            .and_then(|uri| Dialog::from_invite_as_uas(&self.invite, &self.local_tag, uri).ok());
        if self.dialog.is_none() {
            // Without a usable Contact we could never send the caller a BYE:
            // refuse rather than hold a call we cannot end.
            let resp = message::response(
                &self.invite,
                400,
                Some("Missing or Bad Contact"),
                Some(&self.local_tag),
            );
            self.pending.push(Action::Respond(resp));
            self.phase = Phase::Over;
            self.finish(now, "bad-contact", HangupSide::Hotline);
            return;
        }
        let body = self.local_sdp(local);
        let mut resp = message::response(&self.invite, 200, None, Some(&self.local_tag));
        resp.headers
            .push(rsip::headers::Contact::new(self.contact.clone()).into());
        resp.headers.push(rsip::headers::Allow::new(ALLOW).into());
        set_body(&mut resp, "application/sdp", body.into_bytes());
        self.pending.push(Action::Respond(resp));
        let at = self.wall(now);
        self.record(RecordOp::Answered {
            call_id: self.id.clone(),
            at,
        });
        self.event(now, "answered", &format!("rtp {local}"));
        match self.negotiated.clone() {
            Some(neg) => {
                self.start_media(now, &neg);
                self.phase = Phase::Answered(Flow::Running);
                self.ivr_due = true;
            }
            None => self.phase = Phase::Answered(Flow::ExpectSdpAnswer),
        }
    }

    /// Our SDP: the answer to the caller's offer, or our offer when the
    /// INVITE had none.
    pub(super) fn local_sdp(&self, local: SocketAddr) -> String {
        let session = self.seed.map(|s| s.sdp_session).unwrap_or(1);
        match (&self.negotiated, &self.offer_sdp) {
            (Some(neg), Some(offer)) => sdp::answer_to(
                offer,
                neg,
                local.ip(),
                local.port(),
                session,
                self.sdp_version,
            ),
            (Some(neg), None) => {
                sdp::answer(neg, local.ip(), local.port(), session, self.sdp_version)
            }
            (None, _) => {
                let laws: Vec<(u8, &str)> = self
                    .settings
                    .codecs
                    .iter()
                    .map(|c| {
                        if c == "PCMA" {
                            (8, "PCMA")
                        } else {
                            (0, "PCMU")
                        }
                    })
                    .collect();
                sdp::offer(
                    &laws,
                    Some(self.settings.telephone_event_pt),
                    local.ip(),
                    local.port(),
                    session,
                    self.sdp_version,
                )
            }
        }
    }

    pub(super) fn start_media(&mut self, now: Instant, neg: &Negotiated) {
        let Some(seed) = self.seed else { return };
        let cfg = MediaConfig {
            law: law_of(neg),
            payload_type: neg.law_pt,
            dtmf_payload_type: neg.telephone_event,
            inactivity_timeout: self.settings.rtp_timeout,
        };
        let mut media = MediaSession::new(now, cfg, seed.ssrc, seed.sequence, seed.timestamp);
        let held = !matches!(
            neg.remote_direction,
            Direction::SendRecv | Direction::SendOnly
        ) || neg.remote.ip().is_unspecified();
        // The caller's sendonly means they put us on hold: they still send
        // (music) but want nothing back, so we stop sending too.
        let held = held || neg.remote_direction == Direction::SendOnly;
        if held {
            media.set_held(now, true);
            self.held_until = Some(now + MAX_HOLD);
        }
        if *self.settings.record != RecordCalls::None {
            media.start_recording(now);
            let started_at = self.wall(now);
            self.recording = Some(Recording { agents: Vec::new() });
            self.pending.push(Action::Output(Output::RecordingStart {
                call: self.key,
                call_id: self.id.clone(),
                file: format!("recordings/{}/{}.wav", date_path(started_at), self.id),
                started_at,
            }));
        }
        self.rtp_dest = Some(neg.remote);
        self.media = Some(media);
    }

    pub fn on_ack(&mut self, now: Instant, ack: &Request) {
        self.acked = true;
        if self.phase == Phase::ExpectAckThenBye {
            self.send_bye();
            return;
        }
        if let Some(number) = self.deferred_refer.take() {
            self.refer(now, &number);
        }
        if self.phase != Phase::Answered(Flow::ExpectSdpAnswer) {
            return;
        }
        // Late offer: the ACK carries the caller's answer to our offer.
        match read_offer(ack, &self.settings.codecs, None) {
            Ok(Some(Offer {
                negotiated: neg, ..
            })) => {
                self.negotiated = Some(neg.clone());
                self.start_media(now, &neg);
                self.phase = Phase::Answered(Flow::Running);
                self.ivr_due = true;
            }
            Ok(None) | Err(_) => {
                debug!(call = %self.id, "ACK brought no usable SDP answer");
                self.hangup(now, "no-sdp-answer");
            }
        }
    }

    /// The caller cancelled before we answered (the layer sent 487).
    pub fn on_cancel(&mut self, now: Instant) {
        if self.is_over() {
            return;
        }
        self.phase = Phase::Over;
        self.finish(now, "cancelled", HangupSide::Caller);
    }

    /// A response to our INVITE, BYE or REFER (`None`, 408: it timed out).
    pub fn on_response(
        &mut self,
        now: Instant,
        method: &Method,
        resp: Option<&Response>,
        code: u16,
    ) {
        if *method == Method::Invite {
            self.on_invite_response(now, resp, code);
            return;
        }
        if *method == Method::Refer {
            self.on_refer_result(now, code);
            return;
        }
        if self.phase == Phase::ExpectByeResult && code >= 200 {
            if code >= 300 {
                debug!(call = %self.id, code, "BYE was not accepted; the call is over for us anyway");
            }
            self.phase = Phase::Over;
        }
    }

    /// A request inside the call's dialog; returns the response to send.
    pub fn on_in_dialog_request(&mut self, now: Instant, req: &Request) -> Vec<Response> {
        let local_tag = self.local_tag.clone();
        let tag = Some(local_tag.as_str());
        let (cseq, _) = req.cseq().unwrap_or((0, Method::Ack));
        if let Some(d) = self.dialog.as_mut()
            && d.accept_remote_cseq(cseq).is_err()
        {
            return vec![message::response(req, 500, Some("CSeq Out of Order"), tag)];
        }
        match req.method() {
            Method::Bye => {
                let resp = message::response(req, 200, None, tag);
                if !matches!(self.phase, Phase::Over) {
                    self.phase = Phase::Over;
                    self.finish(now, "caller-bye", HangupSide::Caller);
                }
                vec![resp]
            }
            Method::Invite => vec![self.on_reinvite(now, req)],
            Method::Info => {
                if let Some(digit) = dtmf_relay_digit(req) {
                    self.queued_digits.push((digit, "sip-info"));
                }
                vec![message::response(req, 200, None, tag)]
            }
            Method::Notify => {
                if self.transfer == Transfer::None {
                    return vec![message::response(req, 481, Some("No Subscription"), tag)];
                }
                self.on_refer_notify(now, req);
                vec![message::response(req, 200, None, tag)]
            }
            Method::Options => vec![message::response(req, 200, None, tag)],
            _ => vec![message::response(req, 501, None, tag)],
        }
    }

    /// A re-INVITE: hold, resume, or a new media address.
    fn on_reinvite(&mut self, now: Instant, req: &Request) -> Response {
        let local_tag = self.local_tag.clone();
        let tag = Some(local_tag.as_str());
        let Some(local) = self.local_rtp else {
            return message::response(req, 491, None, tag);
        };
        if !matches!(self.phase, Phase::Answered(_)) {
            return message::response(req, 481, None, tag);
        }
        // Keep the codec in use when the new offer still has it (RFC 3264
        // §6.1): a session refresh listing codecs in another order must not
        // switch.
        let current = self.negotiated.as_ref().map(|n| n.law_name);
        match read_offer(req, &self.settings.codecs, current) {
            Ok(Some(Offer {
                negotiated: neg,
                sdp,
            })) => {
                self.offer_sdp = Some(sdp);
                let held = matches!(
                    neg.remote_direction,
                    Direction::SendOnly | Direction::Inactive
                ) || neg.remote.ip().is_unspecified();
                if let Some(m) = self.media.as_mut() {
                    // One RTP source for the whole call: a new codec changes
                    // the payload, never the stream or the prompt playing.
                    m.set_codec(law_of(&neg), neg.law_pt, neg.telephone_event);
                    if !neg.remote.ip().is_unspecified() && Some(neg.remote) != self.rtp_dest {
                        self.rtp_dest = Some(neg.remote);
                        // Learn the caller's real source again (NAT).
                        self.rtp_latched = false;
                    }
                    self.negotiated = Some(neg);
                } else {
                    self.negotiated = Some(neg.clone());
                    self.start_media(now, &neg);
                }
                if let Some(m) = self.media.as_mut() {
                    m.set_held(now, held);
                }
                self.held_until = held.then(|| self.held_until.unwrap_or(now + MAX_HOLD));
                self.event(now, if held { "hold" } else { "resume" }, "re-INVITE");
            }
            // A re-INVITE without SDP asks for our offer; we repeat our
            // current session (RFC 3264 §8).
            Ok(None) => {}
            Err(SipError::NoCommonCodec) => {
                return message::response(req, 488, None, tag);
            }
            Err(_) => return message::response(req, 400, Some("Bad SDP"), tag),
        }
        self.sdp_version += 1;
        let mut resp = message::response(req, 200, None, tag);
        resp.headers
            .push(rsip::headers::Contact::new(self.contact.clone()).into());
        set_body(
            &mut resp,
            "application/sdp",
            self.local_sdp(local).into_bytes(),
        );
        resp
    }

    // ----- media and the flow ----------------------------------------------

    /// Feeds an RTP datagram to the media session; Err for a malformed one.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), MediaError> {
        let Some(media) = self.media.as_mut() else {
            return Ok(());
        };
        media.handle_rtp(now, bytes)?;
        // Symmetric RTP: a caller behind NAT sends from another address than
        // its SDP says; send to where the packets really come from.
        if !self.rtp_latched {
            self.rtp_latched = true;
            if self.rtp_dest != Some(source) {
                debug!(call = %self.id, ?self.rtp_dest, %source, "latching RTP to its source address");
                self.rtp_dest = Some(source);
            }
        }
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(m) = self.media.as_mut()
            && m.poll_timeout().is_some_and(|t| t <= now)
        {
            m.handle_timeout(now);
        }
        if self.phase == Phase::Answered(Flow::Running)
            && self.ivr.poll_timeout().is_some_and(|t| t <= now)
        {
            let clock = self.clock(now);
            self.ivr.handle_timeout(clock);
        }
        if self.message_tail.is_some_and(|t| t <= now) {
            self.end_message();
        }
        if self.held_until.is_some_and(|t| t <= now) {
            self.held_until = None;
            self.hangup(now, "held-too-long");
        }
        self.on_dial_timeout(now);
        if self.agent_transfer_until.is_some_and(|t| t <= now) {
            self.transfer = Transfer::None;
            let waited = format!("no outcome in {} s", AGENT_TRANSFER_TIMEOUT.as_secs());
            self.transfer_failed(now, &waited);
        }
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        let ivr = if self.phase == Phase::Answered(Flow::Running) {
            self.ivr.poll_timeout()
        } else {
            None
        };
        [
            media,
            ivr,
            self.message_tail,
            self.held_until,
            self.agent_transfer_until,
            self.dial_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn clock(&self, now: Instant) -> Clock {
        Clock {
            now,
            wall_ms: self.wall(now),
        }
    }

    /// The store answered a lookup the IVR asked for.
    pub fn on_lookup(&mut self, now: Instant, token: u32, answer: LookupAnswer) {
        if self.phase == Phase::Answered(Flow::Running) {
            let clock = self.clock(now);
            self.ivr.on_lookup(clock, token, answer);
        }
    }

    /// Runs the IVR and the media on what happened since the last call,
    /// then hands every pending action to the engine.
    pub fn poll_actions(&mut self, now: Instant, out: &mut Vec<Action>) {
        let clock = self.clock(now);
        if std::mem::take(&mut self.ivr_due) {
            self.ivr.start(clock);
        }
        for (digit, how) in std::mem::take(&mut self.queued_digits) {
            self.on_digit(now, digit, how);
        }
        // Effects may start prompts, whose media output may end the IVR's
        // wait and bring new effects: run both until neither has more.
        loop {
            let mut busy = false;
            while let Some(effect) = self.ivr.poll_effect() {
                busy = true;
                self.apply(now, effect);
            }
            if let Some(token) = self.played_nothing.take() {
                busy = true;
                self.ivr.on_playback_done(clock, token);
            }
            while let Some(o) = self.media.as_mut().and_then(MediaSession::poll_output) {
                busy = true;
                self.on_media_output(now, o);
            }
            if !busy {
                break;
            }
        }
        out.append(&mut self.pending);
    }

    fn on_media_output(&mut self, now: Instant, o: MediaOutput) {
        match o {
            MediaOutput::Transmit(bytes) => {
                if let Some(dest) = self.rtp_dest {
                    self.pending.push(Action::Output(Output::Rtp {
                        call: self.key,
                        dest,
                        bytes,
                    }));
                }
            }
            MediaOutput::Dtmf(d) => self.on_digit(now, d.digit, "rfc4733"),
            MediaOutput::PromptFinished { id, .. } if self.farewell == Some(id) => {
                self.farewell = None;
                self.hangup(now, "queue-overflow");
            }
            // Music that ran to its end loops; music stopped (the flow
            // moved on) does not.
            MediaOutput::PromptFinished { id, completed } if self.music == Some(id) => {
                self.music = None;
                if completed {
                    self.play_music(now);
                }
            }
            MediaOutput::PromptFinished { id, .. } => {
                if let Some((token, last)) = self.playing
                    && last == id
                {
                    self.playing = None;
                    let clock = self.clock(now);
                    self.ivr.on_playback_done(clock, token);
                }
            }
            MediaOutput::Audio(samples) if self.bridged => {
                self.pending.push(Action::Audio(samples));
            }
            MediaOutput::Audio(samples) => {
                if self.leaving_message {
                    self.pending.push(Action::Output(Output::MessageAudio {
                        call: self.key,
                        samples,
                    }));
                }
            }
            MediaOutput::Recorded(chunk) => {
                self.pending.push(Action::Output(Output::RecordingAudio {
                    call: self.key,
                    chunk,
                }));
            }
            MediaOutput::Inactive => self.hangup(now, "rtp-timeout"),
        }
    }

    /// Carries out one thing the IVR asked for.
    fn apply(&mut self, now: Instant, effect: Effect) {
        match effect {
            Effect::Play {
                token,
                language,
                prompts,
            } => self.play(now, token, &language, &prompts),
            Effect::StopPlayback => {
                self.playing = None;
                if let Some(m) = self.media.as_mut() {
                    m.stop_playback(now);
                }
            }
            Effect::Lookup { token, what, key } => {
                self.pending.push(Action::Output(Output::Lookup {
                    call: self.key,
                    token,
                    what,
                    key,
                }));
            }
            Effect::StartRecording => {
                self.messages += 1;
                let date = date_path(self.wall(now));
                let file = format!("messages/{date}/{}-{}.wav", self.id, self.messages);
                if let Some(media) = self.media.as_mut() {
                    media.set_capture(true);
                }
                self.leaving_message = true;
                self.pending.push(Action::Output(Output::MessageStart {
                    call: self.key,
                    call_id: self.id.clone(),
                    file,
                }));
            }
            Effect::StopRecording => {
                if self.leaving_message && self.message_tail.is_none() {
                    self.message_tail = Some(now + MESSAGE_TAIL);
                }
            }
            // The ACD takes the caller; the IVR plays the queue's hold
            // prompts until an agent answers or the wait is over.
            Effect::Queue {
                queue,
                priority,
                skills,
            } => self.pending.push(Action::Enqueue {
                queue,
                priority,
                skills,
            }),
            // No request in the dialog before the caller confirmed it.
            Effect::Transfer { number } if !self.acked => self.deferred_refer = Some(number),
            Effect::Transfer { number } => self.refer(now, &number),
            Effect::Event { kind, detail } => {
                if kind == "menu" && self.ivr_path.len() < MAX_RECORDED_DIGITS {
                    self.ivr_path.push(detail.clone());
                }
                self.event(now, kind, &detail);
            }
            Effect::Callback { campaign } => {
                self.event(now, "callback-requested", &campaign);
                self.pending.push(Action::Output(Output::CallbackRequest {
                    call_id: self.id.clone(),
                    number: self.from_number.clone(),
                    campaign,
                    since_at: self.arrived_ms,
                }));
            }
            Effect::Answer { question, value } => {
                self.event(now, "survey-answer", &format!("{question}={value}"));
                self.on_survey_answer(question, value);
            }
            Effect::Hangup { cause } => self.hangup(now, cause),
        }
    }

    /// Queues the prompts of one list; the IVR hears when the last ends.
    fn play(&mut self, now: Instant, token: u32, language: &str, names: &[String]) {
        let catalog = self.catalog.clone();
        let set = catalog.prompts_for(language);
        let mut last = None;
        let mut missing = Vec::new();
        for name in names {
            match set.and_then(|s| s.get(name)) {
                Some(p) => last = self.media.as_mut().map(|m| m.play(now, p.clone())).or(last),
                // A prompt named by a variable (`stage-${ticket.stage}`)
                // may not exist; the rest of the list still plays.
                None => missing.push(name.as_str()),
            }
        }
        self.event(now, "prompt", &format!("{language}: {}", names.join(" ")));
        if !missing.is_empty() {
            self.event(now, "prompt-missing", &missing.join(" "));
        }
        match last {
            Some(id) => self.playing = Some((token, id)),
            None => self.played_nothing = Some(token),
        }
    }

    /// Closes the message being recorded (after its tail).
    fn end_message(&mut self) {
        self.message_tail = None;
        if std::mem::take(&mut self.leaving_message) {
            if let Some(media) = self.media.as_mut() {
                media.set_capture(false);
            }
            self.pending
                .push(Action::Output(Output::MessageEnd { call: self.key }));
        }
    }

    fn on_digit(&mut self, now: Instant, digit: char, how: &str) {
        if self.phase != Phase::Answered(Flow::Running) {
            return;
        }
        self.dtmf_events += 1;
        if self.dtmf_events <= MAX_RECORDED_DIGITS {
            self.event(now, "dtmf", &format!("{digit} ({how})"));
        } else if self.dtmf_events == MAX_RECORDED_DIGITS + 1 {
            self.event(now, "dtmf", "more keys: not on the timeline");
        }
        if self.digits.len() < MAX_RECORDED_DIGITS {
            self.digits.push(digit);
            self.record(RecordOp::Digits {
                call_id: self.id.clone(),
                digits: self.digits.clone(),
            });
        }
        let clock = self.clock(now);
        self.ivr.on_digit(clock, digit);
    }

    // ----- the ACD --------------------------------------------------------------

    /// Waiting in an IVR queue node.
    pub fn is_queued(&self) -> bool {
        self.ivr.is_queued()
    }

    /// The customer's number (the wallboard's caller).
    pub(super) fn caller(&self) -> &str {
        &self.from_number
    }

    /// The call as the agent's screen shows it.
    pub fn view(&self) -> crate::cti::CallView {
        crate::cti::CallView {
            id: self.id.clone(),
            caller: self.from_number.clone(),
            service_number: self.service_number.clone(),
            queue: self
                .acd
                .as_ref()
                .map(|a| a.queue.clone())
                .unwrap_or_default(),
            arrived_ms: self.arrived_ms,
            queued_ms: self.acd.as_ref().map_or(self.arrived_ms, |a| a.queued_ms),
            digits: self.digits.clone(),
            ivr_path: self.ivr_path.clone(),
            language: self.ivr.language().to_owned(),
            campaign: self.campaign().map(str::to_owned),
        }
    }

    /// An agent answered: the hold prompts stop and the two voices cross.
    pub fn connect_agent(&mut self, now: Instant) {
        self.ivr.to_agent();
        self.music = None;
        self.announcement.clear();
        self.bridged = true;
        if let Some(m) = self.media.as_mut() {
            m.stop_playback(now);
            m.set_capture(true);
            m.set_bridged(true);
        }
    }

    /// Music on hold instead of the agent (hold, or waiting again after a
    /// transfer or a vanished agent), or back to the agent.
    pub fn set_music(&mut self, now: Instant, on: bool) {
        self.bridged = !on;
        if let Some(m) = self.media.as_mut() {
            m.set_bridged(!on);
            m.set_capture(!on);
            if !on {
                m.stop_playback(now);
            }
        }
        self.music = None;
        if on {
            self.play_music(now);
        } else {
            self.announcement.clear();
        }
    }

    /// The queue's hold music, from the caller's language; looped by
    /// `on_media_output` when it ends.
    fn play_music(&mut self, now: Instant) {
        let catalog = self.catalog.clone();
        let Some(set) = catalog.prompts_for(self.ivr.language()) else {
            return;
        };
        let Some(m) = self.media.as_mut() else {
            return;
        };
        for name in std::mem::take(&mut self.announcement) {
            if let Some(p) = set.get(&name) {
                m.play(now, p.clone());
            }
        }
        if let Some(p) = set.get(HOLD_MUSIC) {
            self.music = Some(m.play(now, p.clone()));
        }
    }

    /// A queue whose overflow is `hangup`: the caller hears goodbye, then
    /// the call ends (whatever the flow would do next).
    pub fn farewell(&mut self, now: Instant) {
        self.ivr.park("queue-overflow");
        self.playing = None;
        self.music = None;
        self.bridged = false;
        if let Some(m) = self.media.as_mut() {
            m.set_bridged(false);
            m.set_capture(false);
            m.stop_playback(now);
        }
        let catalog = self.catalog.clone();
        let goodbye = catalog
            .prompts_for(self.ivr.language())
            .and_then(|set| set.get(GOODBYE));
        match (goodbye, self.media.as_mut()) {
            (Some(p), Some(m)) => self.farewell = Some(m.play(now, p.clone())),
            _ => self.hangup(now, "queue-overflow"),
        }
    }

    /// The agent transfers the caller to an outside number the flows
    /// allow (`transfer_allow`): the carrier is asked to connect them (a
    /// REFER); `Err` if the number is not allowed. The caller hears music
    /// until the outcome; a failure comes back as
    /// [`Action::TransferFailed`].
    pub fn transfer_out(&mut self, now: Instant, number: &str) -> Result<(), ()> {
        if !self.may_transfer_to(number) {
            return Err(());
        }
        self.set_music(now, true);
        self.event(now, "transfer", &format!("{number} (by the agent)"));
        self.agent_transfer_until = Some(now + AGENT_TRANSFER_TIMEOUT);
        self.refer(now, number);
        Ok(())
    }

    /// The flows' allow-list of outside numbers has this one.
    pub fn may_transfer_to(&self, number: &str) -> bool {
        self.catalog
            .transfer_allow
            .iter()
            .any(|p| p.matches(number))
    }

    /// Key presses for the caller, from the agent; `Err` with a key that
    /// cannot be sent (or the first when the caller takes no key events).
    pub fn send_keys(&mut self, now: Instant, keys: &str) -> Result<(), char> {
        let media = self.media.as_mut().ok_or(' ')?;
        media.send_keys(keys)?;
        self.event(now, "agent-dtmf", keys);
        Ok(())
    }

    /// The agent's voice for the caller.
    pub fn push_audio(&mut self, samples: &[i16]) {
        if self.bridged
            && let Some(m) = self.media.as_mut()
        {
            m.push_audio(samples);
        }
    }

    /// Mixes a supervisor's voice (barge) over what the caller hears, or
    /// stops.
    pub fn set_side(&mut self, on: bool) {
        if let Some(m) = self.media.as_mut() {
            m.set_side(on);
        }
    }

    /// The barging supervisor's voice for the caller.
    pub fn push_side_audio(&mut self, samples: &[i16]) {
        if let Some(m) = self.media.as_mut() {
            m.push_side_audio(samples);
        }
    }

    /// The caller's place and expected wait: said by their queue node, or,
    /// waiting outside it (after a transfer), before the music comes
    /// round again.
    pub fn announce(&mut self, now: Instant, position: usize, wait_ms: i64) {
        if self.ivr.is_queued() {
            self.ivr.announce(position, wait_ms);
        } else if self.music.is_some()
            && let Some((names, minutes)) =
                crate::ivr::announcement(self.ivr.language(), position, wait_ms)
        {
            self.event(
                now,
                "announce",
                &format!("position {position}, about {minutes} min"),
            );
            self.announcement = names;
        }
    }

    /// The ACD gave up on the queued call: the flow goes on (its queue
    /// node's way out) or ends.
    pub fn leave_queue(&mut self, now: Instant, why: &str) {
        let clock = self.clock(now);
        self.ivr.leave_queue(clock, why);
    }

    // ----- transfer (RFC 3515 REFER, RFC 3420 sipfrag NOTIFY) ---------------

    /// Asks the carrier to connect the caller to `number` (already checked
    /// against the allow-list by the IVR).
    fn refer(&mut self, now: Instant, number: &str) {
        let branch = dialog::new_branch(&mut self.rng);
        let trunk = self.source.addr;
        let Some(d) = self.dialog.as_mut() else {
            let clock = self.clock(now);
            self.ivr.on_transfer_failed(clock, "no dialog");
            return;
        };
        let mut refer = d.request(
            Method::Refer,
            &self.settings.sip_host,
            self.source.transport,
            &branch,
        );
        refer.headers.push(rsip::Header::Other(
            "Refer-To".into(),
            format!("<sip:{number}@{trunk}>"),
        ));
        refer.headers.push(rsip::Header::Other(
            "Referred-By".into(),
            format!("<sip:hotline@{}>", self.settings.sip_host),
        ));
        self.transfer = Transfer::Referring;
        self.pending.push(Action::Request(refer, self.source));
    }

    fn on_refer_result(&mut self, now: Instant, code: u16) {
        if self.transfer != Transfer::Referring || code < 200 {
            return;
        }
        if code < 300 {
            self.transfer = Transfer::Accepted;
            self.event(now, "transfer", &format!("REFER accepted ({code})"));
        } else {
            self.transfer = Transfer::None;
            self.transfer_failed(now, &format!("REFER answered {code}"));
        }
    }

    /// The flow's transfer, or the agent's, did not happen.
    fn transfer_failed(&mut self, now: Instant, why: &str) {
        if self.agent_transfer_until.take().is_some() {
            self.event(now, "transfer-failed", why);
            self.pending.push(Action::TransferFailed(why.to_owned()));
        } else {
            let clock = self.clock(now);
            self.ivr.on_transfer_failed(clock, why);
        }
    }

    /// A NOTIFY about our REFER: its sipfrag body is the status of the call
    /// the carrier placed.
    fn on_refer_notify(&mut self, now: Instant, req: &Request) {
        let Some(code) = std::str::from_utf8(req.body())
            .ok()
            .and_then(|b| b.split_whitespace().nth(1))
            .and_then(|c| c.parse::<u16>().ok())
        else {
            return;
        };
        if code < 200 {
            return;
        }
        self.transfer = Transfer::None;
        if !self.ivr.is_transferring() && self.agent_transfer_until.is_none() {
            // The flow stopped waiting (its transfer timeout) and moved on.
            self.event(now, "transfer", &format!("late outcome {code} ignored"));
            return;
        }
        if code < 300 {
            self.agent_transfer_until = None;
            self.event(now, "transfer", &format!("connected ({code})"));
            self.hangup(now, "transferred");
        } else {
            self.transfer_failed(now, &format!("the carrier's call failed ({code})"));
        }
    }
}

/// Keys kept on the call record and on its timeline; a caller mashing keys
/// is not a reason to grow either without end (the media statistics at the
/// end count every key).
const MAX_RECORDED_DIGITS: usize = 64;

/// How long an agent's transfer to an outside number may take to connect.
const AGENT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(45);

/// The prompt played to a caller on hold or waiting outside the IVR.
const HOLD_MUSIC: &str = "hold-music";
/// The prompt before a queue hangs up on its overflow.
const GOODBYE: &str = "goodbye";

/// How long a message goes on being captured after it was stopped: audio
/// the caller sent before the stopping key may arrive after it.
const MESSAGE_TAIL: Duration = Duration::from_millis(200);

/// The longest a caller may keep the call on hold in the IVR (playback
/// and the RTP inactivity timer pause while held, so nothing else would
/// end such a call).
const MAX_HOLD: Duration = Duration::from_secs(600);

/// `YYYY/MM/DD` of a wall time, in UTC: the folders messages and
/// recordings are kept in.
fn date_path(wall_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(wall_ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
        .replace('-', "/")
}

pub(super) fn law_of(neg: &Negotiated) -> Law {
    if neg.law_name == "PCMA" {
        Law::Pcma
    } else {
        Law::Pcmu
    }
}

/// `ip:port`, with brackets for IPv6.
pub(super) fn sip_host(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// Replaces a response's body and its Content-Type and Content-Length.
pub(super) fn set_body(resp: &mut Response, content_type: &str, body: Vec<u8>) {
    replace_body(&mut resp.headers, &mut resp.body, content_type, body);
}

/// Replaces a message's body (given as its parts: requests and responses
/// are different types) and its Content-Type and Content-Length.
pub(super) fn replace_body(
    headers: &mut rsip::Headers,
    old: &mut Vec<u8>,
    content_type: &str,
    body: Vec<u8>,
) {
    headers.retain(|h| {
        !matches!(
            h,
            rsip::Header::ContentLength(_) | rsip::Header::ContentType(_)
        )
    });
    headers.push(rsip::headers::ContentType::new(content_type).into());
    headers.push(rsip::headers::ContentLength::new(body.len().to_string()).into());
    *old = body;
}

/// A caller's SDP and what we negotiated from it.
pub(super) struct Offer {
    pub sdp: SessionDescription,
    pub negotiated: Negotiated,
}

/// The SDP in a request (INVITE offer, or the answer in an ACK), reduced to
/// what we negotiate: the offerer's first codec among `codecs`, except that
/// `keep` (the codec in use) wins when offered. `Ok(None)` when there is no
/// body.
pub(super) fn read_offer(
    req: &Request,
    codecs: &[String],
    keep: Option<&str>,
) -> Result<Option<Offer>, SipError> {
    if req.body().is_empty() {
        return Ok(None);
    }
    let ctype = req.header_values("Content-Type");
    if let Some(t) = ctype.first()
        && !t.trim().to_ascii_lowercase().starts_with("application/sdp")
    {
        return Err(SipError::Sdp(format!("body is {t}, not application/sdp")));
    }
    let text =
        std::str::from_utf8(req.body()).map_err(|_| SipError::Sdp("body is not UTF-8".into()))?;
    let parsed = sdp::SessionDescription::parse(text)?;
    let mut offer = sdp::audio_offer(&parsed)?;
    offer
        .codecs
        .retain(|(_, name, _)| codecs.iter().any(|c| c.eq_ignore_ascii_case(name)));
    if let Some(keep) = keep {
        // Stable sort: the kept codec first, the rest in the offerer's order.
        offer
            .codecs
            .sort_by_key(|(_, name, _)| !name.eq_ignore_ascii_case(keep));
    }
    let negotiated = sdp::negotiate(&offer)?;
    Ok(Some(Offer {
        sdp: parsed,
        negotiated,
    }))
}

/// A digit from a SIP INFO with `application/dtmf-relay` (`Signal=5`), the
/// way some carriers send DTMF out of band.
fn dtmf_relay_digit(req: &Request) -> Option<char> {
    let ctype = req.header_values("Content-Type");
    if !ctype
        .first()
        .is_some_and(|t| t.to_ascii_lowercase().contains("dtmf-relay"))
    {
        return None;
    }
    let body = std::str::from_utf8(req.body()).ok()?;
    body.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let c = v.trim().chars().next()?;
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
    })
}

/// Our call id: sortable by time, unique through its random part.
pub(super) fn new_call_id(wall_ms: i64, rng: &mut fastrand::Rng) -> String {
    format!("{wall_ms:012x}{:08x}", rng.u32(..))
}
