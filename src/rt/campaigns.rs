//! The runtime side of outbound campaigns.
//!
//! Enrolment: survey campaigns that follow up completed tickets get every
//! completed ticket enrolled, at start and then every minute. Enrolment is
//! idempotent in the store (one contact per ticket completion), so a crash
//! or a second instance never enrols a ticket twice, and a ticket completed
//! while the server was down is enrolled at the next start.
//!
//! The dialer ([`Dialer`]): every second, and at once when an agent
//! becomes ready, for each running campaign inside its window (survey
//! campaigns; progressive and callbacks campaigns only while their queue
//! has a ready agent not yet promised a call), it reads the due contacts, the do-not-call list and the
//! day's attempts per number, lets [`crate::campaign::pick`] choose, claims
//! the chosen under a lease (so another instance cannot take them), and
//! asks the engine to dial each. When the engine reports an attempt over,
//! it writes what follows ([`Rules::after`]) and, for a survey that got a
//! score, follows the ticket up: followed up with the score, and reopened
//! as a complaint with an agent's call back when the customer is not
//! satisfied.
//!
//! Invariants: a contact is dialled only while this instance holds its
//! lease, renewed while the call is up; an attempt the engine refused
//! (shutting down, overloaded) is released without counting; the dialer
//! ends only when the driver has gone, so every ended attempt is written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use super::wall_ms;
use crate::api::Live;
use crate::api::engine::EngineRequest;
use crate::campaign::{self, Held, Mode, Outcome, Rules, RunState, Situation};
use crate::engine::{AfterAnswer, Attempt, DialOrder};
use crate::store::campaigns::{Contact, NewContact};
use crate::store::{Store, StoreError};
use crate::ticket::{Actor, SlaPolicy, Ticket, TicketStage, Transition};

const EVERY: Duration = Duration::from_secs(60);

/// Enrols completed tickets in each campaign that follows them up, until
/// `stop` says so.
pub(super) async fn enroll_completed(
    store: Store,
    campaigns: Vec<Rules>,
    mut stop: watch::Receiver<bool>,
) {
    let follow_ups: Vec<(String, i64)> = campaigns
        .iter()
        .filter_map(|c| {
            let after = c.enroll_completed_after?;
            Some((
                c.name.clone(),
                i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            ))
        })
        .collect();
    if follow_ups.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for (campaign, delay_ms) in &follow_ups {
            match store
                .enroll_completed_tickets(campaign, *delay_ms, wall_ms())
                .await
            {
                Ok(0) => {}
                Ok(n) => info!(
                    campaign,
                    enrolled = n,
                    "completed tickets enrolled for follow-up"
                ),
                Err(e) => {
                    warn!(campaign, error = %e, "cannot enrol completed tickets; trying again in a minute")
                }
            }
        }
    }
}

/// Enrols a caller who asked the IVR to be called back (retried briefly:
/// the caller was told they will be called).
pub(super) async fn enroll_callback(
    store: Store,
    call_id: String,
    number: String,
    campaign: String,
    since_at: i64,
) {
    let Some(number) = crate::phone::normalise(&number) else {
        warn!(call = %call_id, number, "a callback was asked for from a number we cannot dial");
        return;
    };
    for wait in [0, 500, 2_000, 10_000] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        match store
            .enroll_callback(&campaign, &number, &call_id, since_at, wall_ms())
            .await
        {
            Ok(true) => {
                info!(call = %call_id, campaign, "callback requested");
                return;
            }
            Ok(false) => {
                info!(call = %call_id, campaign, "callback requested again: the earlier request keeps its place");
                return;
            }
            Err(e) => warn!(call = %call_id, error = %e, "cannot enrol the callback; retrying"),
        }
    }
    tracing::error!(call = %call_id, campaign, number, "callback request lost: the database did not take it");
}

/// How often the dialer looks for contacts to call.
const DIAL_EVERY: Duration = Duration::from_secs(1);
/// A claim's lease; renewed every round while the call is up, so only a
/// dead instance's contacts run out.
const LEASE_MS: i64 = 60_000;

/// A name for this server instance in contact leases: host and process.
pub(super) fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}

/// A contact being called by this instance.
pub(super) struct Flight {
    contact: Contact,
    /// The number of this attempt (1 for the first).
    attempt: u32,
}

/// Dials the campaigns' contacts (see the module doc).
pub(super) struct Dialer {
    pub store: Store,
    pub campaigns: Vec<Rules>,
    /// The trunk's outbound lines, all campaigns together.
    pub lines: u32,
    pub daily_cap: u32,
    /// When a follow-up score is satisfied.
    pub sla: SlaPolicy,
    /// This instance, as leases name it.
    pub owner: String,
    pub engine: mpsc::Sender<EngineRequest>,
    /// Set while the server drains: nothing new is dialled.
    pub live: Arc<Live>,
    /// Contact id → the call in progress.
    pub in_flight: HashMap<i64, Flight>,
    /// Rung when an agent becomes ready: a round at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Dialer {
    /// Runs until the engine's driver is gone (`attempts` closed).
    pub(super) async fn run(mut self, mut attempts: mpsc::UnboundedReceiver<Attempt>) {
        if self
            .campaigns
            .iter()
            .all(|c| matches!(c.mode, Mode::Preview { .. }))
        {
            // Nothing to dial by ourselves; still drain the channel.
            while let Some(a) = attempts.recv().await {
                self.finished(a).await;
            }
            return;
        }
        let mut tick = tokio::time::interval(DIAL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = async {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = self.wake.notified() => {}
                    }
                } => {
                    // Calls that ended meanwhile free their room first:
                    // a round counting them would dial too few.
                    while let Ok(a) = attempts.try_recv() {
                        self.finished(a).await;
                    }
                    // Draining: the calls up keep their leases (so no
                    // other instance dials them again), nothing new is
                    // dialled.
                    let draining = self.live.draining.load(std::sync::atomic::Ordering::Relaxed);
                    if let Err(e) = self.round(!draining).await {
                        warn!(error = %e, "dialer: cannot read the campaigns; trying again");
                    }
                }
                a = attempts.recv() => match a {
                    Some(a) => {
                        // An agent campaign's room freed: look again now,
                        // not at the next tick.
                        let agents = self.campaigns.iter().any(|c| {
                            c.name == a.campaign
                                && matches!(c.mode, Mode::Progressive { .. } | Mode::Callbacks { .. })
                        });
                        self.finished(a).await;
                        if agents {
                            self.wake.notify_one();
                        }
                    }
                    None => return,
                },
            }
        }
    }

    /// One look at every campaign: renew our leases, dial who is due
    /// (unless `dial` is false).
    async fn round(&mut self, dial: bool) -> Result<(), StoreError> {
        let now = wall_ms();
        let ids: Vec<i64> = self.in_flight.keys().copied().collect();
        self.store
            .renew_leases(&ids, &self.owner, now + LEASE_MS)
            .await?;
        if !dial {
            return Ok(());
        }
        let states = self.store.run_states().await?;
        for rules in self.campaigns.clone() {
            let state = states
                .get(&rules.name)
                .copied()
                .unwrap_or(RunState::Running);
            if state != RunState::Running || !rules.window_open(now) {
                continue;
            }
            let (then, ready_agents) = match &rules.mode {
                Mode::Survey { flow } => (AfterAnswer::Flow(flow.clone()), 0),
                Mode::Progressive { queue } | Mode::Callbacks { queue } => {
                    let room = self.agent_room(queue).await;
                    if room == 0 {
                        continue;
                    }
                    (
                        AfterAnswer::Agent {
                            queue: queue.clone(),
                            agent: None,
                        },
                        room,
                    )
                }
                // An agent dials a preview contact from their page.
                Mode::Preview { .. } => continue,
            };
            if !self.dial_campaign(&rules, then, ready_agents, now).await? {
                // The engine takes no calls now (overloaded, shutting
                // down): asking again this round would only add to it.
                break;
            }
        }
        Ok(())
    }

    /// How many more calls the agents of `queue` could take (0 if the
    /// engine cannot say).
    async fn agent_room(&self, queue: &str) -> u32 {
        let (reply, answer) = oneshot::channel();
        let request = EngineRequest::AgentRoom {
            queue: queue.to_owned(),
            reply,
        };
        if self.engine.send(request).await.is_err() {
            return 0;
        }
        answer.await.unwrap_or(0)
    }

    /// Dials what `rules` allow now; `false` when the engine refused a
    /// call (the rest of the claim is given back at once).
    async fn dial_campaign(
        &mut self,
        rules: &Rules,
        then: AfterAnswer,
        ready_agents: u32,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mine = self
            .in_flight
            .values()
            .filter(|f| f.contact.campaign == rules.name)
            .count();
        let in_flight = u32::try_from(mine).unwrap_or(u32::MAX);
        let trunk_free = self
            .lines
            .saturating_sub(u32::try_from(self.in_flight.len()).unwrap_or(u32::MAX));
        let room = rules.concurrency.saturating_sub(in_flight).min(trunk_free);
        if room == 0 {
            return Ok(true);
        }
        let due = self
            .store
            .due_contacts(&rules.name, now, i64::from(room) * 4 + 16)
            .await?;
        if due.is_empty() {
            return Ok(true);
        }
        let numbers: Vec<String> = due
            .iter()
            .map(|c| c.number.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let blocked: HashSet<String> = self
            .store
            .do_not_call_among(&numbers)
            .await?
            .into_iter()
            .collect();
        let dialled_today = self
            .store
            .dialled_since(&numbers, rules.day_start(now))
            .await?;
        // The situation borrows a closure that is not Send: picked in a
        // block of its own, before the next await.
        let picked = {
            let do_not_call = |n: &str| blocked.contains(n);
            let situation = Situation {
                now_ms: now,
                state: RunState::Running,
                in_flight,
                trunk_free,
                ready_agents,
                do_not_call: &do_not_call,
                dialled_today: &dialled_today,
                daily_cap: self.daily_cap,
            };
            let waiting: Vec<_> = due.iter().map(Contact::waiting).collect();
            campaign::pick(rules, &situation, &waiting)
        };
        for (id, held) in picked.held {
            match held {
                Held::DoNotCall => self.store.close_contact(id, "do_not_call", now).await?,
                Held::NotAllowed => self.store.close_contact(id, "not_allowed", now).await?,
                Held::DailyCap => {
                    let tomorrow = rules.day_start(now) + 86_400_000 + 3_600_000;
                    let due = rules
                        .next_open(rules.day_start(tomorrow))
                        .unwrap_or(tomorrow);
                    self.store.postpone_contact(id, due, now).await?;
                }
            }
        }
        let claimed = self
            .store
            .claim_contacts(&rules.name, &picked.dial, &self.owner, now, LEASE_MS)
            .await?;
        for (i, &id) in claimed.iter().enumerate() {
            let Some(contact) = due.iter().find(|c| c.id == id).cloned() else {
                continue;
            };
            let attempt = u32::try_from(contact.attempts + 1).unwrap_or(u32::MAX);
            let order = DialOrder {
                campaign: rules.name.clone(),
                contact: id,
                attempt,
                number: contact.number.clone(),
                caller_id: rules.caller_id.clone(),
                then: then.clone(),
                lease_owner: self.owner.clone(),
            };
            let (reply, answer) = oneshot::channel();
            let placed = match self.engine.send(EngineRequest::Dial { order, reply }).await {
                Ok(()) => answer.await.ok(),
                Err(_) => None,
            };
            match placed {
                Some(Ok(call_id)) => {
                    info!(campaign = %rules.name, contact = id, attempt, call = %call_id, "dialled");
                    self.in_flight.insert(id, Flight { contact, attempt });
                }
                refused => {
                    if let Some(Err(e)) = refused {
                        info!(campaign = %rules.name, contacts = claimed.len() - i, error = %e, "not dialled now");
                    }
                    self.store
                        .release_contacts(&claimed[i..], &self.owner, now)
                        .await?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// An attempt is over: what follows, and a survey's follow-up.
    async fn finished(&mut self, a: Attempt) {
        let flight = match self.in_flight.remove(&a.contact) {
            Some(flight) => flight,
            // An agent's preview call: the contact as it was dialled.
            None => match self.store.contact(a.contact).await {
                Ok(Some(contact)) => Flight {
                    contact,
                    attempt: a.attempt,
                },
                Ok(None) => return,
                Err(e) => {
                    warn!(contact = a.contact, error = %e, "cannot read the contact of an ended attempt; its lease runs out");
                    return;
                }
            },
        };
        let Some(rules) = self
            .campaigns
            .iter()
            .find(|c| c.name == a.campaign)
            .cloned()
        else {
            return;
        };
        let mut outcome = a.outcome;
        let mut score = None;
        if matches!(rules.mode, Mode::Survey { .. }) && outcome == Outcome::Answered {
            score = campaign::survey_score(&a.answers);
            if score.is_none() {
                // Answered, but no valid score after the flow's tries: the
                // survey was not answered; try again later.
                outcome = Outcome::NoAnswer;
            }
        }
        let next = rules.after(a.at, outcome, flight.attempt);
        for wait in [0, 200, 1_000, 5_000] {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            match self
                .store
                .finish_attempt(a.contact, &a.lease_owner, outcome, next, a.at)
                .await
            {
                Ok(true) => break,
                Ok(false) => {
                    warn!(
                        contact = a.contact,
                        "our lease on the contact was taken over; its attempt is not written"
                    );
                    return;
                }
                Err(e) => {
                    warn!(contact = a.contact, error = %e, "cannot write the attempt; retrying")
                }
            }
        }
        info!(campaign = %a.campaign, contact = a.contact, call = %a.call_id, outcome = outcome.as_str(), ?next, "attempt over");
        if let (Some(score), Some(ticket)) = (score, flight.contact.ticket.as_deref())
            && let Err(e) = self
                .follow_up(&rules, &flight.contact, ticket, score, &a)
                .await
        {
            warn!(ticket, error = %e, "cannot write the survey's follow-up on the ticket");
        }
    }

    /// Writes a survey score on its ticket: followed up; reopened as a
    /// complaint, with a call back by an agent, when not satisfied.
    async fn follow_up(
        &self,
        rules: &Rules,
        contact: &Contact,
        number: &str,
        score: u8,
        a: &Attempt,
    ) -> Result<(), StoreError> {
        let Some(detail) = self.store.ticket_detail(number).await? else {
            warn!(ticket = number, "the surveyed ticket is gone");
            return Ok(());
        };
        if detail.ticket.stage != TicketStage::Completed {
            info!(ticket = number, stage = %detail.ticket.stage, score, "the ticket moved on before the survey's answer; the score stays on the call");
            return Ok(());
        }
        let Ok(mut ticket) =
            Ticket::restore(detail.ticket.accepted_kind, detail.core_stamps(), &self.sla)
        else {
            warn!(
                ticket = number,
                "stored stamps do not replay; no follow-up written"
            );
            return Ok(());
        };
        let at = a.at.max(ticket.stamps().last().map_or(0, |s| s.at_ms));
        let mut moves = vec![(
            TicketStage::FollowedUp,
            Some(score),
            format!("satisfaction survey, call {}", a.call_id),
        )];
        let dissatisfied = score < self.sla.satisfied_from;
        if dissatisfied {
            moves.push((
                TicketStage::Reopened,
                None,
                format!("the customer is not satisfied (score {score}) in the survey"),
            ));
        }
        for (version, (to, score, reason)) in (detail.ticket.version..).zip(moves) {
            let mut step = Transition::to(to, ticket.version(), at, Actor::System);
            step.score = score;
            step.reason = Some(reason);
            if let Err(e) = ticket.transition(step, &self.sla) {
                warn!(ticket = number, error = %e, "the follow-up move was refused");
                return Ok(());
            }
            self.store
                .save_transition(detail.ticket.id, version, &ticket)
                .await?;
        }
        info!(
            ticket = number,
            score,
            reopened = dissatisfied,
            "ticket followed up by survey"
        );
        if let (true, Some(callbacks)) = (dissatisfied, rules.complaint_callbacks.as_deref()) {
            let enrolled = self
                .store
                .enroll(
                    &NewContact {
                        campaign: callbacks,
                        number: &contact.number,
                        customer_id: contact.customer_id,
                        ticket: Some(number),
                        since_at: at,
                        due_at: at,
                    },
                    at,
                )
                .await?;
            info!(
                ticket = number,
                campaign = callbacks,
                enrolled,
                "complaint put in for an agent's call back"
            );
        }
        Ok(())
    }
}
