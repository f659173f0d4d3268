//! The per-call media state machine the call engine drives.
//!
//! Owns one call leg's RTP: the paced outgoing stream (prompts or silence),
//! and the incoming side's DTMF and inactivity detection. It follows the
//! sans-IO contract of the crate: `handle_*(now, ..)` and [`MediaSession::play`]
//! mutate, then the driver drains [`MediaSession::poll_output`] and sleeps
//! until [`MediaSession::poll_timeout`].
//!
//! Invariants:
//! - Packet slot `n` is due at exactly `start + n * 20 ms`, `start` being the
//!   creation instant: lateness of the driver never accumulates into drift.
//!   A driver up to [`MAX_CATCH_UP`] late gets every due packet in order; a
//!   driver later than that (or a resume from hold) skips to the newest due
//!   slot instead of bursting.
//! - While not held the stream never stops: each slot carries the next 160
//!   samples of the playing prompt, or the codec's silence, because carriers
//!   tear down calls whose RTP stops.
//! - The sequence number is +1 per packet sent; the timestamp is
//!   `first_timestamp + 160 * slot`, so it is +160 per packet and, across a
//!   skip or a hold, jumps by the time that passed (RFC 3550 §5.1: it tracks
//!   the sampling clock) while the sequence shows no loss. Both wrap.
//! - The marker bit is set on the first packet of each prompt and on the
//!   first packet after a gap in the stream (its start, a skip, a resume),
//!   each being the start of a talkspurt for the peer's jitter buffer.
//! - Every prompt yields exactly one `PromptFinished`.
//! - `Inactive` is emitted once per silence of the peer: again only after
//!   valid RTP (or a resume from hold) has re-armed it.
//!
//! Playback pauses while held (the caller hears the rest after resuming)
//! rather than running into the void. Received audio is only counted here,
//! and decoded for whoever asked ([`MediaSession::set_capture`]: a message
//! being left, the other leg of a bridge).
//!
//! Bridged ([`MediaSession::set_bridged`]), a slot carries the next 160
//! samples fed by [`MediaSession::push_audio`] instead of the prompts: the
//! other leg's audio leaves on this leg's own packet clock, so its pacing is
//! ours whatever the other side's jitter. Sending starts once the feed
//! holds [`BRIDGE_PLAYOUT`] (and again after the feed ran dry): the one
//! packet of slack absorbs the other side's jitter around our slot, where
//! a packet a moment late would otherwise leave a slot silent and the next
//! one doubled. The feed holds at most [`MAX_BRIDGE_BACKLOG`]; older
//! samples are dropped, so a faster sender cannot build up delay. Prompts
//! queued meanwhile wait (music on hold resumes where it stopped).
//!
//! A second feed, the side ([`MediaSession::set_side`],
//! [`MediaSession::push_side_audio`]), is mixed on top of whatever a slot
//! carries (the bridge or a prompt), with the same playout and bound: a
//! supervisor listening in hears the agent over the caller, an agent
//! hears a supervisor's whisper over the caller.
//!
//! Recorded ([`MediaSession::start_recording`]), every audio packet
//! received and every slot sent (silence for a key press or a slot with
//! nothing to play) also goes to a [`Recorder`], whose chunks come out as
//! [`MediaOutput::Recorded`]; its clock keeps running while held, so the
//! recording stays as long as the call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Error;
use super::dtmf::{DtmfDigit, DtmfReceiver};
use super::g711::{self, Law};
use super::player::{FRAME_DURATION, FrameInfo, Player, Prompt, PromptId, SAMPLES_PER_FRAME};
use super::recording::{Chunk, Recorder};
use super::rtp::{self, RtpHeader};

/// How late the driver may be before we skip ahead instead of catching up.
///
/// Up to this, the burst of catch-up packets fits in a typical receiver's
/// jitter buffer (60..200 ms) and no audio is lost. Beyond it the peer would
/// drop most of a burst as late anyway, and a burst would crowd the network
/// link of a busy server exactly when it is struggling; skipping keeps the
/// packets that follow on time.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(200);

/// An event timestamp no newer than the last press, arriving this long
/// after that press ended, starts a new press: the sender restarted its
/// timestamps. Retransmitted End packets arrive well within it.
pub const DTMF_RESTART: Duration = Duration::from_secs(1);

/// The most audio a bridge feed holds (four packets): beyond it the
/// oldest samples go, bounding the delay a bridge adds.
pub const MAX_BRIDGE_BACKLOG: usize = 4 * SAMPLES_PER_FRAME;
/// Audio a bridge feed gathers before it is sent (two packets): 20 ms of
/// delay bought against the other side's jitter.
pub const BRIDGE_PLAYOUT: usize = 2 * SAMPLES_PER_FRAME;

/// Packets of one key press sent (RFC 4733): 100 ms of tone, then the
/// End packet three times (it is the one that must not be lost), then
/// this many slots of audio before the next key.
const KEY_PACKETS: u32 = 5;
const KEY_END_PACKETS: u32 = 3;
const KEY_GAP: u32 = 3;
/// The volume of keys we send, −dBm0.
const KEY_VOLUME: u8 = 10;

/// Packetisation time in whole milliseconds, for slot arithmetic.
const FRAME_MS: u64 = FRAME_DURATION.as_millis() as u64;
/// Timestamp increment per packet: 160 samples of the 8 kHz clock.
const TIMESTAMP_STEP: u32 = SAMPLES_PER_FRAME as u32;

/// What was negotiated for this call leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Negotiated codec.
    pub law: Law,
    /// Negotiated payload type for audio (0 or 8 normally).
    pub payload_type: u8,
    /// Negotiated telephone-event payload type, e.g. 101.
    pub dtmf_payload_type: Option<u8>,
    /// No RTP received for this long => [`MediaOutput::Inactive`].
    pub inactivity_timeout: Duration,
}

/// Counters for call records and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Payload octets sent (headers excluded, as in RTCP sender reports).
    pub bytes_sent: u64,
    /// Valid RTP packets received.
    pub packets_received: u64,
    /// Payload octets received in valid RTP packets.
    pub bytes_received: u64,
    /// Datagrams rejected as malformed (RTCP not included).
    pub malformed: u64,
    /// RTCP packets received on the RTP port (rtcp-mux), not interpreted.
    pub rtcp_received: u64,
    /// DTMF key presses reported.
    pub dtmf_digits: u64,
}

/// What the session asks its driver to do or tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutput {
    /// One RTP packet to send to the peer.
    Transmit(Vec<u8>),
    /// The caller pressed a key.
    Dtmf(DtmfDigit),
    /// A prompt ended: played to the end (`completed`) or dropped by barge-in.
    PromptFinished {
        /// The id [`MediaSession::play`] returned.
        id: PromptId,
        /// Played to its end rather than stopped.
        completed: bool,
    },
    /// No RTP arrived for `inactivity_timeout`; emitted once per silence.
    Inactive,
    /// The caller's audio, decoded, while capture is on (a message being
    /// left): one packet's samples, in arrival order.
    Audio(Vec<i16>),
    /// The next piece of the call's recording, while recording.
    Recorded(Chunk),
}

/// One call leg's media state machine.
#[derive(Debug)]
pub struct MediaSession {
    config: MediaConfig,
    /// Anchor of the packet schedule.
    start: Instant,
    /// Slot of the next packet to send; due at `start + slot * 20 ms`.
    next_slot: u64,
    ssrc: u32,
    next_sequence: u16,
    first_timestamp: u32,
    /// The next packet follows a gap in the stream and carries the marker.
    discontinuity: bool,
    player: Player,
    dtmf: DtmfReceiver,
    outputs: VecDeque<MediaOutput>,
    held: bool,
    /// Start of the current inactivity measurement: last valid RTP, creation or resume.
    last_activity: Instant,
    inactive_reported: bool,
    /// Decode the caller's audio into [`MediaOutput::Audio`].
    capture: bool,
    /// Bridged: the other leg's audio, sent instead of the prompts, and
    /// whether it is flowing (it has gathered [`BRIDGE_PLAYOUT`] since it
    /// last ran dry).
    feed: Option<Feed>,
    /// Mixed on top of each slot's audio while on.
    side: Option<Feed>,
    /// Keys still to send, and the press being sent: (key, its start
    /// timestamp, packets of it sent so far, counting the gap after).
    keys_out: VecDeque<char>,
    key_sending: Option<(char, u32, u32)>,
    /// SSRC of the telephone-event stream and when its last press ended.
    dtmf_ssrc: Option<u32>,
    last_dtmf: Option<Instant>,
    recorder: Option<Recorder>,
    stats: MediaStats,
}

/// Audio another leg sends through this one, on this leg's packet clock.
#[derive(Debug, Default)]
struct Feed {
    samples: VecDeque<i16>,
    /// It has gathered [`BRIDGE_PLAYOUT`] since it last ran dry.
    flowing: bool,
}

impl Feed {
    fn push(&mut self, samples: &[i16]) {
        self.samples.extend(samples);
        let excess = self.samples.len().saturating_sub(MAX_BRIDGE_BACKLOG);
        self.samples.drain(..excess);
    }

    /// Adds the next frame's samples to `out` (saturating: two voices at
    /// full scale clip rather than wrap round).
    fn mix_into(&mut self, out: &mut [i16; SAMPLES_PER_FRAME]) {
        if self.samples.len() >= BRIDGE_PLAYOUT {
            self.flowing = true;
        }
        // Dry, or still gathering: nothing (what is there waits).
        let n = if self.flowing {
            self.samples.len().min(SAMPLES_PER_FRAME)
        } else {
            0
        };
        if n < SAMPLES_PER_FRAME {
            self.flowing = false;
        }
        for (slot, sample) in out.iter_mut().zip(self.samples.drain(..n)) {
            *slot = slot.saturating_add(sample);
        }
    }
}

impl MediaSession {
    /// A session whose first packet is due at `now`.
    ///
    /// `ssrc`, `first_sequence` and `first_timestamp` should be random
    /// (RFC 3550 §5.1); the caller supplies them to keep this core deterministic.
    #[must_use]
    pub fn new(
        now: Instant,
        config: MediaConfig,
        ssrc: u32,
        first_sequence: u16,
        first_timestamp: u32,
    ) -> Self {
        Self {
            config,
            start: now,
            next_slot: 0,
            ssrc,
            next_sequence: first_sequence,
            first_timestamp,
            discontinuity: true,
            player: Player::new(),
            dtmf: DtmfReceiver::new(),
            outputs: VecDeque::new(),
            held: false,
            last_activity: now,
            inactive_reported: false,
            capture: false,
            feed: None,
            side: None,
            keys_out: VecDeque::new(),
            key_sending: None,
            dtmf_ssrc: None,
            last_dtmf: None,
            recorder: None,
            stats: MediaStats::default(),
        }
    }

    /// Feeds a received UDP datagram.
    ///
    /// Refreshes the inactivity deadline for any valid RTP from the peer;
    /// telephone-event packets become [`MediaOutput::Dtmf`] outputs.
    ///
    /// # Errors
    /// Malformed datagrams and RTCP ([`Error::NotRtp`]) are counted and
    /// otherwise ignored; the error says why.
    pub fn handle_rtp(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Error> {
        let packet = match rtp::parse(datagram) {
            Ok(packet) => packet,
            Err(e) => {
                if matches!(e, Error::NotRtp(_)) {
                    self.stats.rtcp_received += 1;
                } else {
                    self.stats.malformed += 1;
                }
                return Err(e);
            }
        };
        if self.config.dtmf_payload_type == Some(packet.header.payload_type) {
            // A new SSRC, or an old timestamp long after the last press,
            // is a sender that restarted its event clock (a gateway after a
            // re-INVITE, a replayed capture): its presses are new, not
            // retransmissions. Retransmitted Ends follow within tens of ms.
            let restarted = self.dtmf_ssrc.is_some_and(|s| s != packet.header.ssrc)
                || (self.dtmf.is_stale(&packet.header)
                    && self
                        .last_dtmf
                        .is_some_and(|t| now.saturating_duration_since(t) > DTMF_RESTART));
            if restarted {
                self.dtmf = DtmfReceiver::new();
            }
            self.dtmf_ssrc = Some(packet.header.ssrc);
            match self.dtmf.handle(&packet.header, packet.payload) {
                Ok(Some(digit)) => {
                    self.last_dtmf = Some(now);
                    self.stats.dtmf_digits += 1;
                    self.outputs.push_back(MediaOutput::Dtmf(digit));
                }
                Ok(None) => {}
                Err(e) => {
                    self.stats.malformed += 1;
                    return Err(e);
                }
            }
        }
        if (self.capture || self.recorder.is_some())
            && packet.header.payload_type == self.config.payload_type
        {
            let mut samples = Vec::with_capacity(packet.payload.len());
            g711::decode_into(self.config.law, packet.payload, &mut samples);
            if let Some(r) = self.recorder.as_mut() {
                r.caller(&samples);
            }
            if self.capture {
                self.outputs.push_back(MediaOutput::Audio(samples));
            }
        }
        self.stats.packets_received += 1;
        self.stats.bytes_received += packet.payload.len() as u64;
        self.last_activity = self.last_activity.max(now);
        self.inactive_reported = false;
        Ok(())
    }

    /// Queues a prompt after whatever is playing.
    ///
    /// Packets due before `now` are produced first, with what was playing
    /// then; the prompt can start from the packet due at `now`. An empty
    /// prompt finishes (completed) as soon as it reaches the head of the queue.
    pub fn play(&mut self, now: Instant, prompt: Prompt) -> PromptId {
        self.send_due(now, false);
        let id = self.player.enqueue(prompt);
        self.drain_finished();
        id
    }

    /// Barge-in: drops the playing prompt and the queue; each dropped prompt
    /// yields `PromptFinished { completed: false }`, playing one first.
    ///
    /// Packets due before `now` are produced first, with the old prompt.
    pub fn stop_playback(&mut self, now: Instant) {
        self.send_due(now, false);
        for id in self.player.clear() {
            self.outputs.push_back(MediaOutput::PromptFinished {
                id,
                completed: false,
            });
        }
    }

    /// Starts or stops handing the caller's audio out as
    /// [`MediaOutput::Audio`]. Packets are decoded as they arrive (no
    /// jitter buffer: a message is kept as it was heard).
    pub fn set_capture(&mut self, on: bool) {
        self.capture = on;
    }

    /// Starts recording the call from `now`: both directions, on one clock.
    pub fn start_recording(&mut self, now: Instant) {
        self.recorder = Some(Recorder::new(now));
    }

    /// Pauses or resumes the recording; `false` when there is none.
    pub fn set_recording_paused(&mut self, now: Instant, paused: bool) -> bool {
        let Some(r) = self.recorder.as_mut() else {
            return false;
        };
        r.set_paused(now, paused);
        self.drain_recording();
        true
    }

    /// Whether the recording is paused; `None` when not recording.
    #[must_use]
    pub fn recording_paused(&self) -> Option<bool> {
        self.recorder.as_ref().map(Recorder::is_paused)
    }

    /// Ends the recording at `now`: its last chunks come out now, and
    /// nothing more after them.
    pub fn finish_recording(&mut self, now: Instant) {
        if let Some(r) = self.recorder.as_mut() {
            r.finish(now);
            self.drain_recording();
            self.recorder = None;
        }
    }

    fn drain_recording(&mut self) {
        if let Some(r) = self.recorder.as_mut() {
            while let Some(c) = r.poll_chunk() {
                self.outputs.push_back(MediaOutput::Recorded(c));
            }
        }
    }

    /// Queues key presses to send to the peer as RFC 4733 events, each in
    /// place of 160 ms of audio (100 ms of tone, three End packets), with
    /// 60 ms of audio between keys. `Err` with the first key that is not
    /// 0-9, *, #, A-D, or when the peer takes no telephone-event; nothing
    /// is queued then.
    pub fn send_keys(&mut self, keys: &str) -> Result<(), char> {
        if self.config.dtmf_payload_type.is_none() {
            return Err(keys.chars().next().unwrap_or(' '));
        }
        if let Some(bad) = keys
            .chars()
            .find(|k| super::dtmf::encode_event(*k, false, 0, 0).is_none())
        {
            return Err(bad);
        }
        self.keys_out.extend(keys.chars());
        Ok(())
    }

    /// The next slot's key-press packet payload and marker, if a press is
    /// being sent (or one is due).
    fn key_packet(&mut self) -> Option<(Vec<u8>, bool)> {
        let pt_ok = self.config.dtmf_payload_type.is_some();
        if self.key_sending.is_none() && pt_ok {
            let key = self.keys_out.pop_front()?;
            let timestamp = self
                .first_timestamp
                .wrapping_add((self.next_slot as u32).wrapping_mul(TIMESTAMP_STEP));
            self.key_sending = Some((key, timestamp, 0));
        }
        let (key, timestamp, n) = self.key_sending?;
        self.key_sending = Some((key, timestamp, n + 1));
        if n >= KEY_PACKETS + KEY_END_PACKETS {
            // The gap after the press: audio again.
            if n + 1 >= KEY_PACKETS + KEY_END_PACKETS + KEY_GAP {
                self.key_sending = None;
            }
            return None;
        }
        let end = n >= KEY_PACKETS;
        let duration = TIMESTAMP_STEP * (n + 1).min(KEY_PACKETS);
        let payload = super::dtmf::encode_event(key, end, KEY_VOLUME, duration as u16)?;
        Some((payload.to_vec(), n == 0))
    }

    /// The RTP timestamp of the press being sent (all its packets share it).
    fn key_timestamp(&self) -> Option<u32> {
        self.key_sending.map(|(_, ts, _)| ts)
    }

    /// Starts or stops sending the audio fed by [`MediaSession::push_audio`]
    /// instead of the prompts (a bridge to another leg). Either way the
    /// stream goes on without a gap; the feed starts empty.
    pub fn set_bridged(&mut self, on: bool) {
        self.feed = on.then(Feed::default);
    }

    /// The other leg's audio (decoded), to be sent in the next slots; ignored
    /// unless bridged.
    pub fn push_audio(&mut self, samples: &[i16]) {
        if let Some(feed) = self.feed.as_mut() {
            feed.push(samples);
        }
    }

    /// Starts or stops mixing the side feed into every slot sent; it
    /// starts empty.
    pub fn set_side(&mut self, on: bool) {
        self.side = on.then(Feed::default);
    }

    /// A third party's audio (decoded), mixed into the next slots; ignored
    /// unless the side is on.
    pub fn push_side_audio(&mut self, samples: &[i16]) {
        if let Some(side) = self.side.as_mut() {
            side.push(samples);
        }
    }

    /// The remote side put us on hold (sendonly/inactive) or resumed.
    ///
    /// While held we send nothing, playback pauses and the inactivity timer
    /// does not run. Resuming restarts the inactivity measurement at `now`
    /// and the stream at the newest due slot of the original schedule.
    pub fn set_held(&mut self, now: Instant, held: bool) {
        if held == self.held {
            return;
        }
        if held {
            self.send_due(now, false);
            self.held = true;
        } else {
            self.held = false;
            let slot = self.slot_at(now);
            if slot > self.next_slot {
                self.next_slot = slot;
            }
            self.discontinuity = true;
            self.last_activity = self.last_activity.max(now);
            self.inactive_reported = false;
        }
    }

    /// A re-INVITE renegotiated the codec. Later packets use `law` and
    /// `payload_type`, received events are read on `dtmf_payload_type`; the
    /// stream itself (SSRC, sequence, timestamps, the prompt playing) goes
    /// on, as RFC 3550 wants of one source.
    pub fn set_codec(&mut self, law: Law, payload_type: u8, dtmf_payload_type: Option<u8>) {
        self.config.law = law;
        self.config.payload_type = payload_type;
        self.config.dtmf_payload_type = dtmf_payload_type;
    }

    /// Sends every packet due at or before `now` and checks inactivity.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.send_due(now, true);
        if let Some(r) = self.recorder.as_mut() {
            r.advance(now);
            self.drain_recording();
        }
        if !self.inactive_reported && self.inactivity_deadline().is_some_and(|d| d <= now) {
            self.inactive_reported = true;
            self.outputs.push_back(MediaOutput::Inactive);
        }
    }

    /// The next thing the driver must carry out or report.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<MediaOutput> {
        self.outputs.pop_front()
    }

    /// When to call [`MediaSession::handle_timeout`] next: the earlier of the
    /// next packet and the inactivity deadline; while held only the
    /// recording's next frame, if recording.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let recording = self.recorder.as_ref().map(Recorder::next_due);
        if self.held {
            return recording;
        }
        let inactivity = self
            .inactivity_deadline()
            .filter(|_| !self.inactive_reported);
        [self.due(self.next_slot), inactivity, recording]
            .into_iter()
            .flatten()
            .min()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        self.stats
    }

    /// Sends the packets due before `now` (and at `now` if `inclusive`).
    fn send_due(&mut self, now: Instant, inclusive: bool) {
        if self.held {
            return;
        }
        let late = self
            .due(self.next_slot)
            .is_some_and(|due| now.saturating_duration_since(due) > MAX_CATCH_UP);
        if late {
            self.next_slot = self.slot_at(now);
            self.discontinuity = true;
        }
        while let Some(due) = self.due(self.next_slot) {
            if due > now || (due == now && !inclusive) {
                break;
            }
            self.send_packet();
            self.next_slot += 1;
        }
    }

    fn send_packet(&mut self) {
        let mut samples = [0i16; SAMPLES_PER_FRAME];
        let frame = match self.feed.as_mut() {
            Some(feed) => {
                feed.mix_into(&mut samples);
                FrameInfo {
                    prompt: None,
                    first: false,
                }
            }
            None => self.player.next_frame(&mut samples),
        };
        if let Some(side) = self.side.as_mut() {
            side.mix_into(&mut samples);
        }
        let audible = frame.prompt.is_some() || self.feed.is_some() || self.side.is_some();
        // A key press replaces the audio of its slots (RFC 4733 §2.5.1.2);
        // the prompt or the bridge moves on underneath, keeping time.
        if let Some((payload, first)) = self.key_packet() {
            let header = RtpHeader {
                marker: first,
                payload_type: self.config.dtmf_payload_type.unwrap_or(101),
                sequence: self.next_sequence,
                timestamp: self.key_timestamp().unwrap_or(0),
                ssrc: self.ssrc,
            };
            self.next_sequence = self.next_sequence.wrapping_add(1);
            let mut packet = Vec::with_capacity(rtp::HEADER_LEN + payload.len());
            rtp::write(&header, &payload, &mut packet);
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += payload.len() as u64;
            self.outputs.push_back(MediaOutput::Transmit(packet));
            if let Some(r) = self.recorder.as_mut() {
                r.heard(&[0; SAMPLES_PER_FRAME]);
            }
            self.drain_finished();
            return;
        }
        let header = RtpHeader {
            marker: frame.first || self.discontinuity,
            payload_type: self.config.payload_type,
            sequence: self.next_sequence,
            // Truncating the slot is the modulo-2^32 arithmetic RTP wants.
            timestamp: self
                .first_timestamp
                .wrapping_add((self.next_slot as u32).wrapping_mul(TIMESTAMP_STEP)),
            ssrc: self.ssrc,
        };
        self.discontinuity = false;
        self.next_sequence = self.next_sequence.wrapping_add(1);

        let mut packet = Vec::with_capacity(rtp::HEADER_LEN + SAMPLES_PER_FRAME);
        rtp::write_header(&header, &mut packet);
        if let Some(r) = self.recorder.as_mut() {
            r.heard(if audible {
                &samples
            } else {
                &[0; SAMPLES_PER_FRAME]
            });
        }
        if audible {
            g711::encode_into(self.config.law, &samples, &mut packet);
        } else {
            packet.resize(
                rtp::HEADER_LEN + SAMPLES_PER_FRAME,
                self.config.law.silence(),
            );
        }
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += SAMPLES_PER_FRAME as u64;
        self.outputs.push_back(MediaOutput::Transmit(packet));
        self.drain_finished();
    }

    fn drain_finished(&mut self) {
        while let Some(id) = self.player.poll_finished() {
            self.outputs.push_back(MediaOutput::PromptFinished {
                id,
                completed: true,
            });
        }
    }

    /// When slot `slot` is due; `None` only if that is beyond what `Instant` can hold.
    fn due(&self, slot: u64) -> Option<Instant> {
        let offset = Duration::from_millis(slot.checked_mul(FRAME_MS)?);
        self.start.checked_add(offset)
    }

    /// The newest slot due at or before `now`.
    fn slot_at(&self, now: Instant) -> u64 {
        let elapsed_ms = now.saturating_duration_since(self.start).as_millis();
        u64::try_from(elapsed_ms / u128::from(FRAME_MS)).unwrap_or(u64::MAX)
    }

    fn inactivity_deadline(&self) -> Option<Instant> {
        if self.held {
            return None;
        }
        self.last_activity
            .checked_add(self.config.inactivity_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::encode_event;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);
    const HOUR: Duration = Duration::from_secs(3600);

    fn config(law: Law, inactivity_timeout: Duration) -> MediaConfig {
        MediaConfig {
            law,
            payload_type: law.payload_type(),
            dtmf_payload_type: Some(101),
            inactivity_timeout,
        }
    }

    fn session(t0: Instant, seq: u16, ts: u32) -> MediaSession {
        MediaSession::new(t0, config(Law::Pcmu, HOUR), 0xCAFE, seq, ts)
    }

    fn drain(s: &mut MediaSession) -> Vec<MediaOutput> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    fn packets(outputs: &[MediaOutput]) -> Vec<(RtpHeader, Vec<u8>)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                MediaOutput::Transmit(bytes) => {
                    let p = rtp::parse(bytes).unwrap();
                    Some((p.header, p.payload.to_vec()))
                }
                _ => None,
            })
            .collect()
    }

    /// Runs the driver loop faithfully (sleep until poll_timeout) up to `until`.
    fn run_until(s: &mut MediaSession, until: Instant) -> Vec<(Instant, MediaOutput)> {
        let mut all = Vec::new();
        while let Some(t) = s.poll_timeout().filter(|&t| t <= until) {
            s.handle_timeout(t);
            all.extend(drain(s).into_iter().map(|o| (t, o)));
        }
        all
    }

    fn tone(len: usize) -> Prompt {
        let samples: Vec<i16> = (0..len)
            .map(|i| {
                let x = i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 8000.0;
                (x.sin() * 12_000.0) as i16
            })
            .collect();
        Prompt::new("tone", samples)
    }

    fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let header = RtpHeader {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: 0xBEEF,
        };
        rtp::write(&header, payload, &mut out);
        out
    }

    #[test]
    fn a_packet_every_20_ms_for_10_seconds() {
        let t0 = Instant::now();
        let mut s = session(t0, 1000, 50_000);
        let sent = run_until(&mut s, t0 + Duration::from_secs(10));
        assert_eq!(sent.len(), 501);
        for (n, (at, output)) in sent.iter().enumerate() {
            assert_eq!(*at - t0, FRAME_DURATION * u32::try_from(n).unwrap());
            let MediaOutput::Transmit(bytes) = output else {
                panic!("unexpected {output:?}");
            };
            let p = rtp::parse(bytes).unwrap();
            let n16 = u16::try_from(n).unwrap();
            assert_eq!(p.header.sequence, 1000 + n16);
            assert_eq!(p.header.timestamp, 50_000 + 160 * u32::from(n16));
            assert_eq!(p.header.ssrc, 0xCAFE);
            assert_eq!(p.header.payload_type, 0);
            assert_eq!(p.header.marker, n == 0, "only the stream start is marked");
            assert_eq!(p.payload, [0xFF; 160]);
        }
        assert_eq!(s.stats().packets_sent, 501);
        assert_eq!(s.stats().bytes_sent, 501 * 160);
    }

    #[test]
    fn the_side_feed_is_mixed_over_the_bridge_and_over_prompts() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        s.set_bridged(true);
        s.set_side(true);
        s.push_audio(&[1000; 2 * SAMPLES_PER_FRAME]);
        s.push_side_audio(&[-300; 2 * SAMPLES_PER_FRAME]);
        s.handle_timeout(t0);
        s.handle_timeout(t0 + 20 * MS);
        let sent = packets(&drain(&mut s));
        let mixed = Law::Pcmu.encode(700);
        assert!(sent.iter().all(|(_, p)| p.iter().all(|&b| b == mixed)));
        // Only the side left: it alone is heard.
        s.push_side_audio(&[2000; 2 * SAMPLES_PER_FRAME]);
        s.handle_timeout(t0 + 40 * MS);
        let sent = packets(&drain(&mut s));
        assert!(sent[0].1.iter().all(|&b| b == Law::Pcmu.encode(2000)));
        // Two voices at full scale clip, they do not wrap round.
        s.push_audio(&[30_000; 2 * SAMPLES_PER_FRAME]);
        s.push_side_audio(&[30_000; 2 * SAMPLES_PER_FRAME]);
        s.handle_timeout(t0 + 60 * MS);
        let sent = packets(&drain(&mut s));
        assert!(sent[0].1.iter().all(|&b| b == Law::Pcmu.encode(i16::MAX)));
        // Over a prompt (not bridged), and off again.
        let mut s = session(t0, 0, 0);
        let prompt = tone(320);
        s.play(t0, prompt.clone());
        s.set_side(true);
        s.push_side_audio(&[500; 2 * SAMPLES_PER_FRAME]);
        s.handle_timeout(t0);
        let sent = packets(&drain(&mut s));
        let want: Vec<u8> = prompt.samples[..160]
            .iter()
            .map(|&x| Law::Pcmu.encode(x.saturating_add(500)))
            .collect();
        assert_eq!(sent[0].1, want);
        s.set_side(false);
        s.push_side_audio(&[500; 2 * SAMPLES_PER_FRAME]);
        s.handle_timeout(t0 + 20 * MS);
        let sent = packets(&drain(&mut s));
        let want: Vec<u8> = prompt.samples[160..320]
            .iter()
            .map(|&x| Law::Pcmu.encode(x))
            .collect();
        assert_eq!(sent[0].1, want, "no side once it is off");
    }

    #[test]
    fn bridged_audio_leaves_on_our_clock_and_prompts_wait() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let prompt = tone(480);
        s.play(t0, prompt.clone());
        s.set_bridged(true);
        // The other leg's packets arrive early and late; ours stay on the grid.
        let talk = tone(800);
        s.push_audio(&talk.samples[..160]);
        s.handle_timeout(t0);
        s.push_audio(&talk.samples[160..480]);
        s.handle_timeout(t0 + 20 * MS);
        s.handle_timeout(t0 + 40 * MS);
        s.handle_timeout(t0 + 60 * MS);
        s.handle_timeout(t0 + 80 * MS);
        let sent = packets(&drain(&mut s));
        assert_eq!(sent.len(), 5);
        assert_eq!(sent[0].1, [0xFF; 160], "one packet gathered: not yet");
        let decoded: Vec<i16> = sent[1..4]
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&b| Law::Pcmu.decode(b)))
            .collect();
        let expected: Vec<i16> = talk.samples[..480]
            .iter()
            .map(|&x| Law::Pcmu.decode(Law::Pcmu.encode(x)))
            .collect();
        assert_eq!(decoded, expected, "the fed audio, in order");
        assert_eq!(sent[4].1, [0xFF; 160], "an empty feed sends silence");
        // A sender far ahead is cut to the newest MAX_BRIDGE_BACKLOG samples.
        s.push_audio(&vec![1000; 10 * SAMPLES_PER_FRAME]);
        s.push_audio(&talk.samples[..160]);
        let mut sent = Vec::new();
        for n in 5..10u32 {
            s.handle_timeout(t0 + 20 * MS * n);
            sent.extend(packets(&drain(&mut s)));
        }
        let loud = Law::Pcmu.encode(1000);
        let payloads: Vec<&[u8]> = sent.iter().map(|(_, p)| p.as_slice()).collect();
        assert_eq!(payloads.len(), 5);
        assert!(payloads[..3].iter().all(|p| p.iter().all(|&b| b == loud)));
        assert_eq!(
            payloads[3],
            &expected[..160]
                .iter()
                .map(|&x| Law::Pcmu.encode(x))
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(payloads[4], [0xFF; 160]);
        // Unbridged, the prompt queued before the bridge plays from its start.
        s.set_bridged(false);
        s.handle_timeout(t0 + 200 * MS);
        let sent = packets(&drain(&mut s));
        let first: Vec<i16> = sent[0].1.iter().map(|&b| Law::Pcmu.decode(b)).collect();
        let want: Vec<i16> = prompt.samples[..160]
            .iter()
            .map(|&x| Law::Pcmu.decode(Law::Pcmu.encode(x)))
            .collect();
        assert_eq!(first, want);
    }

    #[test]
    fn a_bridge_rides_out_the_other_sides_jitter_around_our_slot() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        s.set_bridged(true);
        let talk = tone(160 * 40);
        let mut sent = Vec::new();
        // The other side's packets come just after our slot, and every
        // eighth one a packet late (together with the next).
        for n in 0..40u32 {
            let late = if n % 8 == 5 { 21 } else { 1 };
            let arrival = t0 + 20 * MS * n + MS * late;
            sent.extend(run_until(&mut s, arrival));
            let i = n as usize * 160;
            s.push_audio(&talk.samples[i..i + 160]);
        }
        sent.extend(run_until(&mut s, t0 + 20 * MS * 40));
        let payloads: Vec<Vec<u8>> = sent
            .iter()
            .filter_map(|(_, o)| match o {
                MediaOutput::Transmit(b) => Some(rtp::parse(b).unwrap().payload.to_vec()),
                _ => None,
            })
            .collect();
        let first_sound = payloads
            .iter()
            .position(|p| p != &[0xFF; 160])
            .expect("audio flows");
        assert!(first_sound <= 3, "starts within the playout delay");
        let gaps = payloads[first_sound..]
            .iter()
            .filter(|p| *p == &[0xFF; 160])
            .count();
        assert_eq!(gaps, 0, "no silent slot once flowing");
    }

    #[test]
    fn keys_sent_are_rfc4733_events_a_receiver_reads_once_each() {
        let t0 = Instant::now();
        let mut s = session(t0, 100, 8000);
        assert_eq!(s.send_keys("1x"), Err('x'), "nothing queued for a bad key");
        s.send_keys("1#").unwrap();
        let sent = run_until(&mut s, t0 + 30 * FRAME_DURATION);
        let packets: Vec<(RtpHeader, Vec<u8>)> = sent
            .iter()
            .filter_map(|(_, o)| match o {
                MediaOutput::Transmit(b) => {
                    let p = rtp::parse(b).unwrap();
                    Some((p.header, p.payload.to_vec()))
                }
                _ => None,
            })
            .collect();
        let events: Vec<usize> = packets
            .iter()
            .enumerate()
            .filter(|(_, (h, _))| h.payload_type == 101)
            .map(|(i, _)| i)
            .collect();
        // 8 packets a key (5 + 3 End), 3 slots of audio between keys.
        assert_eq!(
            events,
            [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17, 18]
        );
        let first = &packets[0].0;
        assert!(first.marker);
        assert!(
            packets[..8]
                .iter()
                .all(|(h, _)| h.timestamp == first.timestamp)
        );
        let sequences: Vec<u16> = packets.iter().map(|(h, _)| h.sequence).collect();
        assert!(sequences.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        // A receiver hears each key once.
        let mut rx = MediaSession::new(t0, config(Law::Pcmu, HOUR), 9, 0, 0);
        for (i, (_, o)) in sent.iter().enumerate() {
            if let MediaOutput::Transmit(b) = o {
                rx.handle_rtp(t0 + FRAME_DURATION * u32::try_from(i).unwrap(), b)
                    .unwrap();
            }
        }
        let heard: Vec<char> = drain(&mut rx)
            .into_iter()
            .filter_map(|o| match o {
                MediaOutput::Dtmf(d) => Some(d.digit),
                _ => None,
            })
            .collect();
        assert_eq!(heard, ['1', '#']);
        // A peer that takes no telephone-event gets none.
        let mut plain = MediaSession::new(
            t0,
            MediaConfig {
                dtmf_payload_type: None,
                ..config(Law::Pcmu, HOUR)
            },
            1,
            0,
            0,
        );
        assert!(plain.send_keys("1").is_err());
    }

    #[test]
    fn pcma_silence_byte() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config(Law::Pcma, HOUR), 1, 0, 0);
        s.handle_timeout(t0);
        let sent = packets(&drain(&mut s));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.payload_type, 8);
        assert_eq!(sent[0].1, [0xD5; 160]);
    }

    #[test]
    fn late_driver_catches_up_without_drift() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        s.handle_timeout(t0 + 95 * MS);
        let sent = packets(&drain(&mut s));
        assert_eq!(sent.len(), 5, "slots 0, 20, 40, 60, 80 ms");
        assert_eq!(s.poll_timeout(), Some(t0 + 100 * MS));
        // Exactly MAX_CATCH_UP late: still a catch-up burst, in order.
        s.handle_timeout(t0 + 300 * MS);
        let sent = packets(&drain(&mut s));
        let timestamps: Vec<u32> = sent.iter().map(|(h, _)| h.timestamp).collect();
        assert_eq!(timestamps, (5..=15).map(|n| n * 160).collect::<Vec<_>>());
        assert!(sent.iter().all(|(h, _)| !h.marker));
        assert_eq!(s.poll_timeout(), Some(t0 + 320 * MS));
        // Back on schedule afterwards.
        let next = run_until(&mut s, t0 + 400 * MS);
        let at: Vec<Duration> = next.iter().map(|(t, _)| *t - t0).collect();
        assert_eq!(at, [320 * MS, 340 * MS, 360 * MS, 380 * MS, 400 * MS]);
    }

    #[test]
    fn very_late_driver_skips_ahead_on_the_same_grid() {
        let t0 = Instant::now();
        let mut s = session(t0, 10, 0);
        s.handle_timeout(t0);
        let _ = drain(&mut s);
        // 1010 ms: next due was 20 ms, lateness 990 ms > MAX_CATCH_UP.
        s.handle_timeout(t0 + 1010 * MS);
        let sent = packets(&drain(&mut s));
        assert_eq!(sent.len(), 1);
        let (h, _) = &sent[0];
        assert_eq!(h.sequence, 11, "no sequence gap: nothing was lost");
        assert_eq!(h.timestamp, 50 * 160, "timestamp follows the clock");
        assert!(h.marker, "a gap starts a talkspurt");
        assert_eq!(s.poll_timeout(), Some(t0 + 1020 * MS));
    }

    #[test]
    fn continuity_and_markers_across_two_prompts_with_wrap_around() {
        let t0 = Instant::now();
        let first_ts = u32::MAX - 500;
        let mut s = session(t0, u16::MAX - 2, first_ts);
        let a = s.play(t0, tone(400)); // 3 frames
        let b = s.play(t0, tone(320)); // 2 frames
        let outputs: Vec<MediaOutput> = run_until(&mut s, t0 + 140 * MS)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        let sent = packets(&outputs);
        assert_eq!(sent.len(), 8);
        for (n, (h, _)) in sent.iter().enumerate() {
            let n32 = u32::try_from(n).unwrap();
            assert_eq!(h.sequence, (u16::MAX - 2).wrapping_add(n as u16));
            assert_eq!(h.timestamp, first_ts.wrapping_add(160 * n32));
            assert_eq!(h.marker, n == 0 || n == 3, "packet {n}");
        }
        // Finished right after the Transmit of each prompt's last frame.
        let finished: Vec<usize> = outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, MediaOutput::PromptFinished { .. }))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(finished, [3, 6]);
        assert_eq!(
            outputs[3],
            MediaOutput::PromptFinished {
                id: a,
                completed: true
            }
        );
        assert_eq!(
            outputs[6],
            MediaOutput::PromptFinished {
                id: b,
                completed: true
            }
        );
    }

    #[test]
    fn transmitted_audio_decodes_to_the_prompt() {
        for law in [Law::Pcmu, Law::Pcma] {
            let t0 = Instant::now();
            let mut s = MediaSession::new(t0, config(law, HOUR), 9, 0, 0);
            let prompt = tone(1000); // 7 frames, 120 samples of padding
            let _ = s.play(t0, prompt.clone());
            let sent = packets(
                &run_until(&mut s, t0 + 180 * MS)
                    .into_iter()
                    .map(|(_, o)| o)
                    .collect::<Vec<_>>(),
            );
            let payload: Vec<u8> = sent.iter().flat_map(|(_, p)| p.clone()).collect();
            let mut decoded = Vec::new();
            g711::decode_into(law, &payload, &mut decoded);

            let mut expected_codes = Vec::new();
            g711::encode_into(law, &prompt.samples, &mut expected_codes);
            expected_codes.resize(7 * 160, law.encode(0));
            expected_codes.resize(10 * 160, law.silence());
            let mut expected = Vec::new();
            g711::decode_into(law, &expected_codes, &mut expected);
            assert_eq!(decoded, expected, "{law:?}");
        }
    }

    #[test]
    fn barge_in_drops_playing_and_queued() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let a = s.play(t0, tone(8000));
        let b = s.play(t0, tone(8000));
        let _ = run_until(&mut s, t0 + 100 * MS);
        s.stop_playback(t0 + 110 * MS);
        assert_eq!(
            drain(&mut s),
            [
                MediaOutput::PromptFinished {
                    id: a,
                    completed: false
                },
                MediaOutput::PromptFinished {
                    id: b,
                    completed: false
                },
            ]
        );
        let after = packets(
            &run_until(&mut s, t0 + 200 * MS)
                .into_iter()
                .map(|(_, o)| o)
                .collect::<Vec<_>>(),
        );
        assert_eq!(after.len(), 5);
        assert!(after.iter().all(|(h, p)| !h.marker && p == &[0xFF; 160]));
        // A new prompt after barge-in plays and is marked.
        let c = s.play(t0 + 210 * MS, tone(160));
        let out: Vec<MediaOutput> = run_until(&mut s, t0 + 220 * MS)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert!(packets(&out)[0].0.marker);
        assert_eq!(
            out[1],
            MediaOutput::PromptFinished {
                id: c,
                completed: true
            }
        );
    }

    #[test]
    fn play_and_stop_apply_from_the_packet_due_at_now() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        // Created and asked to play at the same instant: the first packet
        // already carries the prompt.
        let _ = s.play(t0, tone(1600));
        s.handle_timeout(t0);
        let first = packets(&drain(&mut s));
        assert_ne!(first[0].1, [0xFF; 160]);
        // Stopping 45 ms late still sends the two packets that were due.
        s.stop_playback(t0 + 45 * MS);
        let out = drain(&mut s);
        let sent = packets(&out);
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|(_, p)| p != &[0xFF; 160]));
        assert!(matches!(
            out.last(),
            Some(MediaOutput::PromptFinished {
                completed: false,
                ..
            })
        ));
    }

    #[test]
    fn empty_prompt_finishes_at_once() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let id = s.play(t0, Prompt::new("empty", Vec::new()));
        assert_eq!(
            drain(&mut s),
            [MediaOutput::PromptFinished {
                id,
                completed: true
            }]
        );
    }

    #[test]
    fn held_sends_nothing_and_stops_inactivity() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config(Law::Pcmu, Duration::from_secs(5)), 1, 100, 0);
        let prompt = s.play(t0, tone(480)); // 3 frames
        let _ = run_until(&mut s, t0 + 20 * MS); // 2 frames sent
        s.set_held(t0 + 30 * MS, true);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(drain(&mut s), []);
        assert_eq!(s.stats().packets_sent, 2);

        s.set_held(t0 + Duration::from_secs(60) + 5 * MS, false);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        let out: Vec<MediaOutput> = run_until(&mut s, t0 + Duration::from_secs(60) + 20 * MS)
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        let sent = packets(&out);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].0.sequence, 102, "sequence continues");
        assert_eq!(
            sent[0].0.timestamp,
            3000 * 160,
            "timestamp jumps over the hold"
        );
        assert!(sent[0].0.marker);
        assert_ne!(sent[0].1, [0xFF; 160], "the paused prompt resumes");
        assert_eq!(sent[1].1, [0xFF; 160]);
        assert!(out.contains(&MediaOutput::PromptFinished {
            id: prompt,
            completed: true
        }));
        // Inactivity restarts from the resume, not from creation.
        let rest = run_until(&mut s, t0 + Duration::from_secs(66));
        let inactive: Vec<Instant> = rest
            .iter()
            .filter(|(_, o)| *o == MediaOutput::Inactive)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(inactive, [t0 + Duration::from_secs(65) + 5 * MS]);
    }

    #[test]
    fn inactivity_fires_once_and_is_pushed_back_by_rtp() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config(Law::Pcmu, Duration::from_secs(5)), 1, 0, 0);
        let _ = run_until(&mut s, t0 + Duration::from_secs(3));
        s.handle_rtp(
            t0 + Duration::from_secs(3),
            &rtp_packet(0, false, 1, 160, &[0xFF; 160]),
        )
        .unwrap();
        let out = run_until(&mut s, t0 + Duration::from_secs(20));
        let inactive: Vec<Instant> = out
            .iter()
            .filter(|(_, o)| *o == MediaOutput::Inactive)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(inactive, [t0 + Duration::from_secs(8)]);
        // Media coming back re-arms it.
        s.handle_rtp(
            t0 + Duration::from_secs(20),
            &rtp_packet(0, false, 2, 320, &[0xFF; 160]),
        )
        .unwrap();
        let out = run_until(&mut s, t0 + Duration::from_secs(30));
        let count = out
            .iter()
            .filter(|(_, o)| *o == MediaOutput::Inactive)
            .count();
        assert_eq!(count, 1);
        assert_eq!(s.stats().packets_received, 2);
        assert_eq!(s.stats().bytes_received, 320);
    }

    #[test]
    fn invalid_rtp_does_not_push_inactivity_back() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(t0, config(Law::Pcmu, Duration::from_secs(5)), 1, 0, 0);
        let short_dtmf = rtp_packet(101, false, 1, 0, &[1, 2]);
        assert_eq!(
            s.handle_rtp(t0 + Duration::from_secs(4), &short_dtmf),
            Err(Error::DtmfTooShort(2))
        );
        assert!(
            s.handle_rtp(t0 + Duration::from_secs(4), b"garbage!")
                .is_err()
        );
        let out = run_until(&mut s, t0 + Duration::from_secs(6));
        assert!(out.contains(&(t0 + Duration::from_secs(5), MediaOutput::Inactive)));
        assert_eq!(s.stats().malformed, 2);
    }

    #[test]
    fn dtmf_from_a_realistic_rfc_4733_sequence() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let mut seq: u16 = 5000;
        let mut at = t0;
        let mut feed = |s: &mut MediaSession, pt: u8, marker: bool, ts: u32, payload: &[u8]| {
            s.handle_rtp(at, &rtp_packet(pt, marker, seq, ts, payload))
                .unwrap();
            seq += 1;
            at += 20 * MS;
        };
        // Audio, then the press of '4' at timestamp 16000, then audio again.
        feed(&mut s, 0, false, 15_840, &[0xFF; 160]);
        let event_ts = 16_000;
        feed(
            &mut s,
            101,
            true,
            event_ts,
            &encode_event('4', false, 10, 160).unwrap(),
        );
        for d in [320u16, 480, 640, 800] {
            feed(
                &mut s,
                101,
                false,
                event_ts,
                &encode_event('4', false, 10, d).unwrap(),
            );
        }
        for _ in 0..3 {
            feed(
                &mut s,
                101,
                false,
                event_ts,
                &encode_event('4', true, 10, 960).unwrap(),
            );
        }
        feed(&mut s, 0, false, 17_120, &[0xFF; 160]);
        let digits: Vec<MediaOutput> = drain(&mut s);
        assert_eq!(
            digits,
            [MediaOutput::Dtmf(DtmfDigit {
                digit: '4',
                duration: 960
            })]
        );
        assert_eq!(s.stats().dtmf_digits, 1);
        assert_eq!(s.stats().packets_received, 10);
    }

    #[test]
    fn a_sender_that_restarts_its_event_timestamps_is_heard_again() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let press = |s: &mut MediaSession, at: Instant, digit: char, ts: u32, ssrc_seq: u16| {
            for n in 0..3 {
                s.handle_rtp(
                    at + n * 20 * MS,
                    &rtp_packet(
                        101,
                        false,
                        ssrc_seq + n as u16,
                        ts,
                        &encode_event(digit, true, 10, 800).unwrap(),
                    ),
                )
                .unwrap();
            }
        };
        // '0' at ts 17632; its three Ends are one press.
        press(&mut s, t0, '0', 17_632, 100);
        // The same timestamp again 1.5 s later (a replayed capture, a
        // gateway that restarted): a new press of '0'.
        press(&mut s, t0 + 1500 * MS, '0', 17_632, 200);
        // An older timestamp at once after that: still a retransmission.
        press(&mut s, t0 + 1600 * MS, '2', 10_000, 300);
        let digits: Vec<char> = drain(&mut s)
            .into_iter()
            .filter_map(|o| match o {
                MediaOutput::Dtmf(d) => Some(d.digit),
                _ => None,
            })
            .collect();
        assert_eq!(digits, ['0', '0']);
    }

    #[test]
    fn telephone_events_need_the_negotiated_payload_type() {
        let t0 = Instant::now();
        let mut cfg = config(Law::Pcmu, HOUR);
        cfg.dtmf_payload_type = None;
        let mut s = MediaSession::new(t0, cfg, 1, 0, 0);
        let end = encode_event('1', true, 10, 800).unwrap();
        s.handle_rtp(t0, &rtp_packet(101, false, 1, 0, &end))
            .unwrap();
        assert_eq!(drain(&mut s), []);
    }

    #[test]
    fn rtcp_and_garbage_are_errors() {
        let t0 = Instant::now();
        let mut s = session(t0, 0, 0);
        let rr = [
            0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0,
        ];
        assert_eq!(s.handle_rtp(t0, &rr), Err(Error::NotRtp(201)));
        assert_eq!(s.handle_rtp(t0, &[]), Err(Error::TooShort { len: 0 }));
        assert_eq!(s.handle_rtp(t0, &[0xFF; 40]), Err(Error::BadVersion(3)));
        let stats = s.stats();
        assert_eq!(
            (stats.rtcp_received, stats.malformed, stats.packets_received),
            (1, 2, 0)
        );
        assert_eq!(drain(&mut s), []);
    }

    proptest! {
        #[test]
        fn random_datagrams_never_panic(
            datagrams in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..64), 0..40),
            gaps in proptest::collection::vec(0u64..500, 40),
        ) {
            let t0 = Instant::now();
            let mut s = session(t0, 0, 0);
            let mut now = t0;
            for (datagram, gap) in datagrams.iter().zip(gaps) {
                now += Duration::from_millis(gap);
                let mut bytes = datagram.clone();
                // Half the time make it look like RTP so the deeper paths run.
                if gap % 2 == 0 && let Some(b) = bytes.first_mut() {
                    *b = 0x80 | (*b & 0x3F);
                }
                if gap % 3 == 0 && let Some(b) = bytes.get_mut(1) {
                    *b = 101;
                }
                let _ = s.handle_rtp(now, &bytes);
                s.handle_timeout(now);
                let _ = drain(&mut s);
            }
        }
    }
}
