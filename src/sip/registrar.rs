//! The SIP registrar (RFC 3261 §10) for agents' desk phones and
//! softphones: which agent can be reached at which contact, through which
//! transport address, until when.
//!
//! What this module owns:
//! - the bindings: per agent, up to [`RegistrarConfig::max_contacts`]
//!   contact URIs, each with the [`Peer`] its REGISTER came from and an
//!   expiry;
//! - the digest authentication of REGISTER (RFC 2617 MD5, `qop=auth`,
//!   through [`digest`]): the 401 challenge and the check of the answer;
//! - the nonce-counts seen per nonce, which stop a captured `Authorization`
//!   from being replayed (see *Replay* below);
//! - every answer to a REGISTER, built with [`message::response`].
//!
//! # Driving it
//! The HA1s live in the store, which a pure core cannot read, so a REGISTER
//! (handed over by the transaction layer) takes two steps:
//! 1. [`Registrar::on_register`] checks everything that needs no password
//!    and either answers at once ([`Step::Respond`]: 401 challenge, 400,
//!    403, 420, 423) or asks for the user's credentials
//!    ([`Step::NeedCredentials`]). It does not change any state.
//! 2. The runtime asks `Store::sip_credentials(username)` and gives the
//!    answer, with the same request, to [`Registrar::on_credentials`]: it
//!    checks the digest and, if the REGISTER is good, adds, refreshes or
//!    removes bindings; it returns the final response (200 listing the
//!    agent's contacts) and the [`BindingChange`]s.
//!
//! Then, as with every core: sleep until [`Registrar::next_expiry`] and call
//! [`Registrar::expire`]. [`Registrar::contacts`] says where to send an
//! INVITE for an agent.
//!
//! Times are wall-clock epoch milliseconds, given as arguments: the digest
//! nonces carry their issue time in that unit. Nothing here reads a clock,
//! draws a random number or does I/O, so the same inputs give the same
//! bytes (the To tag is a keyed hash of the request, and no `Date` header
//! is written).
//!
//! # Invariants
//! - [`Registrar::contacts`] never returns a binding at or past its
//!   `expires_at_ms`, even before [`Registrar::expire`] has swept it.
//! - An agent never holds more than `max_contacts` bindings: a new one
//!   evicts the least recently refreshed ([`Removal::Replaced`]). A single
//!   REGISTER listing more contacts than that is refused (403), so it can
//!   never evict what it adds itself.
//! - Per agent, no two bindings have equivalent contact URIs (RFC 3261
//!   §19.1.4).
//! - A REGISTER's binding updates are committed all or none (§10.3 step 7):
//!   one answered other than 200 changed no binding (expired bindings it
//!   swept on the way are reported as [`Removal::Expired`] all the same).
//! - Applying the [`BindingChange`]s, in order, to an empty map keyed by
//!   [`Binding::id`] gives exactly [`Registrar::bindings`]: the engine can
//!   keep a mirror (e.g. to tell the ACD which agents have a phone).
//! - [`Registrar::next_expiry`] is the earliest `expires_at_ms` of all
//!   stored bindings.
//!
//! # Security
//! - *Replay.* A digest response signs the method and the URI, not the
//!   Contact, so a captured `Authorization` could register any Contact for
//!   the nonce's lifetime ([`digest::NONCE_LIFETIME_MS`]) and divert an
//!   agent's calls. The nonce itself is stateless, but a registrar is not:
//!   for every successful authentication with `qop=auth` it keeps the
//!   highest `nc` per (username, nonce, cnonce) until the nonce can no
//!   longer be valid, and answers a count that does not grow with a
//!   `stale=true` challenge (the phone retries with a fresh nonce without
//!   asking its user, as Kamailio's nonce-count check does). A client that
//!   answers without `qop` sends no signed count: its replays within the
//!   nonce's lifetime are not detected. The memory is lost on restart;
//!   give the registrar a new random secret at each start and every old
//!   nonce dies with it.
//! - An unknown (or inactive, or password-less) user and a wrong password
//!   get the same 403, so the answers do not tell which usernames exist.
//! - The digest `uri` is not compared with the Request-URI: it is signed,
//!   and a proxy or NAT helper between phone and hotline may rewrite the
//!   Request-URI.
//!
//! # Not here
//! Path (RFC 3327), outbound flows and `reg-id` (RFC 5626), GRUU, `q`
//! values (contacts are ordered by freshness), SIPS, and persistence:
//! bindings live in memory, so after a restart a phone is unreachable
//! until its next refresh, at most `max_expires_s` later (hence the short
//! default). A `+sip.instance` is honoured the RFC 5627 way: registering
//! a contact with the instance ID of an existing binding of the same agent
//! replaces that binding, so a phone that comes back on a new address does
//! not leave its old one behind.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use blake2::Digest as _;
use rsip::headers::UntypedHeader;

use crate::sip::Peer;
use crate::sip::digest::{self, Credentials, DigestError};
use crate::sip::message::{self, HeadersExt};

/// Shortest registration accepted unless configured otherwise (seconds).
pub const DEFAULT_MIN_EXPIRES_S: u32 = 60;
/// Longest registration granted unless configured otherwise (seconds).
/// Short, because bindings do not survive a restart: a phone is back
/// within this time.
pub const DEFAULT_MAX_EXPIRES_S: u32 = 600;
/// What a REGISTER that names no expiry gets (seconds).
pub const DEFAULT_EXPIRES_S: u32 = 600;
/// Contacts per agent unless configured otherwise: a desk phone, a
/// softphone and a spare, with room for stale ones from NAT rebinding.
pub const DEFAULT_MAX_CONTACTS: usize = 5;

/// RFC 3261 §20.19 and §20.10: a malformed expiry counts as an hour.
const MALFORMED_EXPIRES_S: u32 = 3600;

/// `digest::verify` accepts nonces issued up to this far in the future
/// (clock skew between the steps); a nonce-count entry is kept for the
/// nonce lifetime plus this, after which the nonce is stale anyway.
const NONCE_FUTURE_SLACK_MS: i64 = 60_000;

/// The method every digest here is computed for.
const REGISTER: &str = "REGISTER";

/// How the registrar is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The digest realm (`agents.sip_realm`): the store's HA1s are for it.
    pub realm: String,
    /// Key of the stateless nonces and the To tags. Draw a new random one
    /// at each start (see the module docs on replay).
    pub secret: [u8; 32],
    /// A non-zero expiry below this is answered 423 with `Min-Expires`.
    pub min_expires_s: u32,
    /// Longer expiries are shortened to this (RFC 3261 §10.3 step 7 lets
    /// the registrar choose).
    pub max_expires_s: u32,
    /// The expiry of a contact when neither its `expires` parameter nor an
    /// `Expires` header names one.
    pub default_expires_s: u32,
    /// Most bindings an agent may hold at once.
    pub max_contacts: usize,
}

impl RegistrarConfig {
    /// The defaults (`DEFAULT_*`) for `realm`, keyed with `secret`.
    pub fn new(realm: impl Into<String>, secret: [u8; 32]) -> Self {
        RegistrarConfig {
            realm: realm.into(),
            secret,
            min_expires_s: DEFAULT_MIN_EXPIRES_S,
            max_expires_s: DEFAULT_MAX_EXPIRES_S,
            default_expires_s: DEFAULT_EXPIRES_S,
            max_contacts: DEFAULT_MAX_CONTACTS,
        }
    }
}

/// One registered contact of an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Stable across refreshes; never reused by this registrar. The key to
    /// mirror bindings from [`BindingChange`]s.
    pub id: u64,
    /// The agent (`users.id`).
    pub agent_id: i64,
    /// The login the phone authenticated as.
    pub username: String,
    /// The contact URI as the phone wrote it, without `<>` or header
    /// parameters: the Request-URI of an INVITE for this binding.
    pub contact: String,
    /// Where the REGISTER came from. Send requests for this binding here,
    /// not to the contact's host: behind NAT that is a private address,
    /// and over TCP the runtime maps the peer to the phone's connection.
    pub peer: Peer,
    /// The binding is gone at this time (epoch ms).
    pub expires_at_ms: i64,
    /// When the binding was first added.
    pub registered_at_ms: i64,
    /// When it was last added or refreshed.
    pub refreshed_at_ms: i64,
    /// Call-ID of the REGISTER that last added or refreshed it.
    pub call_id: String,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// The `+sip.instance` parameter as sent (quotes included), if any.
    pub instance: Option<String>,
    /// The `User-Agent` of that REGISTER, for the supervisor's eyes.
    pub user_agent: Option<String>,
}

impl Binding {
    /// Whole seconds left at `now_ms`, rounded up (0 once expired): the
    /// `expires` parameter of this contact in a 200.
    pub fn expires_in_s(&self, now_ms: i64) -> u32 {
        let left_ms = self.expires_at_ms.saturating_sub(now_ms).max(0);
        // Non-negative, so this is the ceiling (i64::div_ceil is unstable).
        u32::try_from(left_ms.saturating_add(999) / 1000).unwrap_or(u32::MAX)
    }

    /// Still registered at `now_ms`?
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Removal {
    /// Its time ran out without a refresh.
    Expired,
    /// The phone removed it (`expires=0`, or `Contact: *`).
    Unregistered,
    /// A newer binding took its place: the agent's contact cap was reached,
    /// or the same `+sip.instance` registered another contact.
    Replaced,
    /// [`Registrar::remove_agent`] (the user was deactivated or deleted).
    AgentRemoved,
}

/// What a call into the registrar changed, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// A new binding.
    Added(Binding),
    /// An existing binding (same [`Binding::id`]) was registered again;
    /// this is its new state (expiry, peer, Call-ID, CSeq may differ).
    Refreshed(Binding),
    /// A binding is gone; this is its last state.
    Removed { binding: Binding, why: Removal },
}

impl BindingChange {
    /// The binding the change is about.
    pub fn binding(&self) -> &Binding {
        match self {
            BindingChange::Added(b) | BindingChange::Refreshed(b) => b,
            BindingChange::Removed { binding, .. } => binding,
        }
    }
}

/// What to do with a REGISTER after [`Registrar::on_register`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this answer; the registrar is done with the request.
    Respond(rsip::Response),
    /// Look up `Store::sip_credentials(username)` and pass the result to
    /// [`Registrar::on_credentials`] with the same request.
    NeedCredentials {
        /// The digest username, which is also the agent's login.
        username: String,
    },
}

/// The REGISTER refused for CSeq order (§10.3 step 7).
struct OutOfOrder;

/// The highest nonce-count seen for one (username, nonce, cnonce).
#[derive(Debug, Clone, Copy)]
struct NonceUse {
    nc: u32,
    first_seen_ms: i64,
}

/// The registrar. See the module docs for how to drive it and what holds.
#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    /// Per agent, least recently refreshed first; never an empty list.
    /// A BTreeMap so `expire` reports in a stable order.
    bindings: BTreeMap<i64, Vec<Binding>>,
    nonce_counts: HashMap<(String, String, String), NonceUse>,
    next_expiry: Option<i64>,
    next_id: u64,
}

impl Registrar {
    /// A registrar with no bindings. An inconsistent configuration is made
    /// consistent rather than refused (config validation is the config
    /// module's job): `max_expires_s` is at least `min_expires_s` and 1,
    /// `default_expires_s` lies between them, and `max_contacts` is at
    /// least 1.
    pub fn new(mut cfg: RegistrarConfig) -> Self {
        cfg.max_expires_s = cfg.max_expires_s.max(cfg.min_expires_s).max(1);
        cfg.default_expires_s = cfg
            .default_expires_s
            .clamp(cfg.min_expires_s.max(1), cfg.max_expires_s);
        cfg.max_contacts = cfg.max_contacts.max(1);
        Registrar {
            cfg,
            bindings: BTreeMap::new(),
            nonce_counts: HashMap::new(),
            next_expiry: None,
            next_id: 1,
        }
    }

    /// The configuration in force (after [`Registrar::new`]'s fixes).
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// A REGISTER arrived (through the transaction layer). Checks, in
    /// RFC 3261 §10.3 order, all that needs no password: `Require` (420),
    /// an `Authorization` for our realm (none: 401; unreadable: 400; stale
    /// or not ours: 401, `stale=true` for an old nonce of ours), the To user
    /// against the digest username (403), the Contact headers (400; more
    /// than `max_contacts`: 403) and their expiries (423 with
    /// `Min-Expires`). Then asks for the user's credentials.
    pub fn on_register(&self, now_ms: i64, req: &rsip::Request) -> Step {
        match self.check(now_ms, req) {
            Ok(register) => Step::NeedCredentials {
                username: register.creds.username,
            },
            Err(response) => Step::Respond(response),
        }
    }

    /// The store's answer for the username [`Registrar::on_register`]
    /// asked about: `Some((user id, HA1))`, or `None` for an unknown,
    /// inactive or password-less user. Repeats the checks of
    /// `on_register` (time may have passed), verifies the digest (wrong
    /// or unknown: 403; stale or a replayed nonce-count: 401
    /// `stale=true`), then applies the contacts (§10.3 steps 6-7: a
    /// Call-ID seen before with a CSeq not above the binding's is refused
    /// 500 and changes nothing) and answers 200 with every live contact of
    /// the agent and its `expires` (step 8). A REGISTER without Contact
    /// only fetches them.
    #[must_use]
    pub fn on_credentials(
        &mut self,
        now_ms: i64,
        req: &rsip::Request,
        source: Peer,
        creds: Option<(i64, String)>,
    ) -> (rsip::Response, Vec<BindingChange>) {
        let register = match self.check(now_ms, req) {
            Ok(register) => register,
            Err(response) => return (response, Vec::new()),
        };
        // The same 403 for "no such user" and "wrong password".
        let Some((agent_id, ha1)) = creds else {
            return (self.reply(req, 403, None), Vec::new());
        };
        let verdict = digest::verify(
            &register.creds,
            REGISTER,
            &self.cfg.realm,
            &ha1.to_ascii_lowercase(),
            &self.cfg.secret,
            now_ms,
        );
        match verdict {
            Ok(()) => {}
            Err(DigestError::Mismatch) => return (self.reply(req, 403, None), Vec::new()),
            Err(error) => return (self.auth_failure(req, now_ms, &error), Vec::new()),
        }
        if !self.count_nonce(now_ms, &register) {
            return (self.challenge(req, now_ms, true), Vec::new());
        }

        let mut changes = self.sweep(now_ms, Some(agent_id));
        let outcome = self.apply(now_ms, agent_id, &register, source);
        self.refresh_next_expiry();
        match outcome {
            Ok(applied) => {
                changes.extend(applied);
                (self.ok(req, agent_id, now_ms), changes)
            }
            Err(OutOfOrder) => (self.reply(req, 500, Some("CSeq Out of Order")), changes),
        }
    }

    /// Where to send an INVITE for `agent_id` at `now_ms`: the agent's live
    /// bindings, most recently refreshed first. Send to each one's
    /// [`Binding::peer`] with [`Binding::contact`] as Request-URI.
    pub fn contacts(&self, agent_id: i64, now_ms: i64) -> Vec<&Binding> {
        self.bindings
            .get(&agent_id)
            .into_iter()
            .flat_map(|list| list.iter().rev())
            .filter(|b| b.is_live(now_ms))
            .collect()
    }

    /// Every stored binding, by agent, least recently refreshed first.
    /// Expired ones stay until [`Registrar::expire`] (or the agent's next
    /// REGISTER) sweeps them.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.values().flatten()
    }

    /// Removes every binding at or past its expiry at `now_ms`.
    #[must_use]
    pub fn expire(&mut self, now_ms: i64) -> Vec<BindingChange> {
        let changes = self.sweep(now_ms, None);
        self.forget_old_nonces(now_ms);
        self.refresh_next_expiry();
        changes
    }

    /// When the next binding expires: call [`Registrar::expire`] then.
    #[must_use]
    pub fn next_expiry(&self) -> Option<i64> {
        self.next_expiry
    }

    /// Removes all of an agent's bindings (the user was deactivated or
    /// deleted; their phone's next REGISTER will then fail with 403).
    #[must_use]
    pub fn remove_agent(&mut self, agent_id: i64) -> Vec<BindingChange> {
        let removed = self.bindings.remove(&agent_id).unwrap_or_default();
        self.refresh_next_expiry();
        removed
            .into_iter()
            .map(|binding| BindingChange::Removed {
                binding,
                why: Removal::AgentRemoved,
            })
            .collect()
    }

    /// Everything about a REGISTER that needs no password, or the answer
    /// that refuses it.
    fn check(&self, now_ms: i64, req: &rsip::Request) -> Result<Register, rsip::Response> {
        if req.method != rsip::Method::Register {
            // The engine hands over REGISTERs only; anything else is its bug.
            return Err(self.reply(req, 500, Some("Not a REGISTER")));
        }
        // §10.3 step 2: we support no extension a client could require.
        let required = req.header_values("Require");
        if !required.is_empty() {
            let mut response = self.reply(req, 420, None);
            response
                .headers
                .push(rsip::headers::Unsupported::new(required.join(", ")).into());
            return Err(response);
        }

        // Step 3: authentication, as far as it goes without the HA1.
        let creds = match self.authorization(req) {
            Ok(Some(creds)) => creds,
            Ok(None) => return Err(self.challenge(req, now_ms, false)),
            Err(BadAuthorization) => {
                return Err(self.reply(req, 400, Some("Bad Authorization")));
            }
        };
        // `verify` checks algorithm, realm, nonce, freshness and qop before
        // the response, so with an empty HA1 "mismatch" (or, by a fluke,
        // success) means all of those passed: a forged or stale nonce costs
        // no store lookup.
        match digest::verify(
            &creds,
            REGISTER,
            &self.cfg.realm,
            "",
            &self.cfg.secret,
            now_ms,
        ) {
            Ok(()) | Err(DigestError::Mismatch) => {}
            Err(error) => return Err(self.auth_failure(req, now_ms, &error)),
        }
        let nc = match (&creds.qop, &creds.nc, &creds.cnonce) {
            (Some(_), Some(nc), Some(_)) => match parse_nc(nc) {
                Some(nc) => Some(nc),
                None => return Err(self.reply(req, 400, Some("Bad Authorization (nc)"))),
            },
            _ => None,
        };

        // Step 4: one may register only oneself.
        if req.to_user().as_deref() != Some(creds.username.as_str()) {
            return Err(self.reply(
                req,
                403,
                Some("Forbidden (To is not the authenticated user)"),
            ));
        }

        let call_id = req
            .call_id()
            .map_err(|_| self.reply(req, 400, Some("Bad Call-ID")))?;
        let (cseq, _) = req
            .cseq()
            .map_err(|_| self.reply(req, 400, Some("Bad CSeq")))?;
        let contacts = self.requested_contacts(req)?;
        let user_agent = req.headers.iter().find_map(|h| match h {
            rsip::Header::UserAgent(ua) => Some(ua.value().trim().to_owned()),
            _ => None,
        });
        Ok(Register {
            creds,
            nc,
            call_id,
            cseq,
            contacts,
            user_agent,
        })
    }

    /// Our realm's digest credentials among the `Authorization` headers.
    /// Another scheme (Basic ...) or another realm is as good as none (the
    /// answer is a challenge); a Digest header we cannot read is a 400.
    fn authorization(&self, req: &rsip::Request) -> Result<Option<Credentials>, BadAuthorization> {
        let mut malformed = false;
        for header in req.headers.iter() {
            let rsip::Header::Authorization(header) = header else {
                continue;
            };
            let value = header.value().trim();
            // The scheme is case-insensitive (RFC 2617 §1.2); `parse` wants
            // it spelt "Digest".
            let (Some(scheme), Some(rest)) = (value.get(..6), value.get(6..)) else {
                continue;
            };
            if !scheme.eq_ignore_ascii_case("Digest") {
                continue;
            }
            match digest::parse(&format!("Digest{rest}")) {
                Ok(creds) if creds.realm == self.cfg.realm => return Ok(Some(creds)),
                Ok(_) => {}
                Err(_) => malformed = true,
            }
        }
        if malformed {
            Err(BadAuthorization)
        } else {
            Ok(None)
        }
    }

    /// The Contact headers of a REGISTER with their granted expiries
    /// (§10.3 step 6), or the 400/403/423 that refuses them.
    fn requested_contacts(&self, req: &rsip::Request) -> Result<Contacts, rsip::Response> {
        let values = req.header_values("Contact");
        let expires_header = req
            .header_values("Expires")
            .first()
            .map(|v| delta_seconds(v));
        if values.is_empty() {
            return Ok(Contacts::Fetch);
        }
        if values.iter().any(|v| v == "*") {
            // RFC 3261 §10.3 step 6: `*` only alone and with Expires: 0.
            if values.len() != 1 || expires_header != Some(0) {
                return Err(self.reply(
                    req,
                    400,
                    Some("Bad Contact (* needs Expires: 0 and no other Contact)"),
                ));
            }
            return Ok(Contacts::RemoveAll);
        }
        if values.len() > self.cfg.max_contacts {
            return Err(self.reply(req, 403, Some("Too Many Contacts")));
        }
        let mut requested = Vec::with_capacity(values.len());
        let mut too_brief = false;
        for value in &values {
            let parsed = split_contact(value)
                .and_then(|(text, params)| Some((text, SipUri::parse(text)?, params)));
            let Some((text, uri, params)) = parsed else {
                return Err(self.reply(req, 400, Some("Bad Contact")));
            };
            let asked = match param(&params, "expires") {
                Some(value) => value.map_or(MALFORMED_EXPIRES_S, delta_seconds),
                None => expires_header.unwrap_or(self.cfg.default_expires_s),
            };
            too_brief |= asked != 0 && asked < self.cfg.min_expires_s;
            requested.push(Requested {
                text: text.to_owned(),
                uri,
                expires_s: asked.min(self.cfg.max_expires_s),
                instance: param(&params, "+sip.instance").flatten().map(str::to_owned),
            });
        }
        if too_brief {
            let mut response = self.reply(req, 423, None);
            response
                .headers
                .push(rsip::headers::MinExpires::new(self.cfg.min_expires_s.to_string()).into());
            return Err(response);
        }
        Ok(Contacts::Update(requested))
    }

    /// Records the nonce-count of a verified REGISTER. False when it does
    /// not exceed the highest seen for its nonce: a replay.
    fn count_nonce(&mut self, now_ms: i64, register: &Register) -> bool {
        let (Some(nc), Some(cnonce)) = (register.nc, &register.creds.cnonce) else {
            // No signed count to check (see the module docs).
            return true;
        };
        self.forget_old_nonces(now_ms);
        let key = (
            register.creds.username.clone(),
            register.creds.nonce.clone(),
            cnonce.clone(),
        );
        match self.nonce_counts.get_mut(&key) {
            Some(seen) if nc <= seen.nc => false,
            Some(seen) => {
                seen.nc = nc;
                true
            }
            None => {
                self.nonce_counts.insert(
                    key,
                    NonceUse {
                        nc,
                        first_seen_ms: now_ms,
                    },
                );
                true
            }
        }
    }

    /// Drops nonce-counts of nonces that can no longer verify: a nonce
    /// first seen at `t` was issued no later than `t` + the slack, so it is
    /// stale after that plus its lifetime.
    fn forget_old_nonces(&mut self, now_ms: i64) {
        self.nonce_counts.retain(|_, seen| {
            now_ms.saturating_sub(seen.first_seen_ms)
                <= digest::NONCE_LIFETIME_MS + NONCE_FUTURE_SLACK_MS
        });
    }

    /// §10.3 steps 6-7 on a copy of the agent's bindings, committed only if
    /// every contact passes the Call-ID/CSeq check.
    fn apply(
        &mut self,
        now_ms: i64,
        agent_id: i64,
        register: &Register,
        source: Peer,
    ) -> Result<Vec<BindingChange>, OutOfOrder> {
        let current: &[Binding] = self.bindings.get(&agent_id).map_or(&[], Vec::as_slice);
        // Step 7: an existing binding touched by this request, last written
        // with the same Call-ID, must have a lower CSeq. Checked against the
        // bindings as they were, before anything is applied.
        let out_of_order = |b: &Binding| b.call_id == register.call_id && register.cseq <= b.cseq;
        let requested = match &register.contacts {
            Contacts::Fetch => return Ok(Vec::new()),
            Contacts::RemoveAll => {
                if current.iter().any(out_of_order) {
                    return Err(OutOfOrder);
                }
                let removed = self.bindings.remove(&agent_id).unwrap_or_default();
                return Ok(removed
                    .into_iter()
                    .map(|binding| BindingChange::Removed {
                        binding,
                        why: Removal::Unregistered,
                    })
                    .collect());
            }
            Contacts::Update(requested) => requested,
        };
        let touched = |b: &Binding| {
            requested.iter().any(|c| {
                same_contact(b, &c.uri)
                    || (c.expires_s > 0 && c.instance.is_some() && b.instance == c.instance)
            })
        };
        if current.iter().any(|b| touched(b) && out_of_order(b)) {
            return Err(OutOfOrder);
        }

        let mut working = current.to_vec();
        let mut changes = Vec::new();
        // Contacts apply in the order listed: a later one wins.
        for contact in requested {
            let old = working
                .iter()
                .position(|b| same_contact(b, &contact.uri))
                .map(|at| working.remove(at));
            if contact.expires_s == 0 {
                if let Some(binding) = old {
                    changes.push(BindingChange::Removed {
                        binding,
                        why: Removal::Unregistered,
                    });
                }
                continue;
            }
            if contact.instance.is_some() {
                let (replaced, kept): (Vec<Binding>, Vec<Binding>) = working
                    .into_iter()
                    .partition(|b| b.instance == contact.instance);
                working = kept;
                changes.extend(replaced.into_iter().map(|binding| BindingChange::Removed {
                    binding,
                    why: Removal::Replaced,
                }));
            }
            let id = match &old {
                Some(old) => old.id,
                None => {
                    self.next_id += 1;
                    self.next_id - 1
                }
            };
            let binding = Binding {
                id,
                agent_id,
                username: register.creds.username.clone(),
                contact: contact.text.clone(),
                peer: source,
                expires_at_ms: now_ms.saturating_add(i64::from(contact.expires_s) * 1000),
                registered_at_ms: old.as_ref().map_or(now_ms, |b| b.registered_at_ms),
                refreshed_at_ms: now_ms,
                call_id: register.call_id.clone(),
                cseq: register.cseq,
                instance: contact.instance.clone(),
                user_agent: register.user_agent.clone(),
            };
            changes.push(if old.is_some() {
                BindingChange::Refreshed(binding.clone())
            } else {
                BindingChange::Added(binding.clone())
            });
            // The end of the list is the most recently refreshed.
            working.push(binding);
        }
        // The cap: evict the least recently refreshed. A request lists at
        // most `max_contacts` contacts, so what it just wrote survives.
        let excess = working.len().saturating_sub(self.cfg.max_contacts);
        changes.extend(
            working
                .drain(..excess)
                .map(|binding| BindingChange::Removed {
                    binding,
                    why: Removal::Replaced,
                }),
        );
        if working.is_empty() {
            self.bindings.remove(&agent_id);
        } else {
            self.bindings.insert(agent_id, working);
        }
        Ok(changes)
    }

    /// Removes expired bindings, of one agent or of all.
    fn sweep(&mut self, now_ms: i64, agent: Option<i64>) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        for (agent_id, list) in self.bindings.iter_mut() {
            if agent.is_some_and(|a| a != *agent_id) {
                continue;
            }
            let (expired, live): (Vec<Binding>, Vec<Binding>) =
                list.drain(..).partition(|b| !b.is_live(now_ms));
            *list = live;
            changes.extend(expired.into_iter().map(|binding| BindingChange::Removed {
                binding,
                why: Removal::Expired,
            }));
        }
        self.bindings.retain(|_, list| !list.is_empty());
        changes
    }

    fn refresh_next_expiry(&mut self) {
        self.next_expiry = self.bindings().map(|b| b.expires_at_ms).min();
    }

    /// The 200 of §10.3 step 8: every live contact with its `expires`.
    fn ok(&self, req: &rsip::Request, agent_id: i64, now_ms: i64) -> rsip::Response {
        let mut response = self.reply(req, 200, None);
        for binding in self.contacts(agent_id, now_ms) {
            let mut value = format!(
                "<{}>;expires={}",
                binding.contact,
                binding.expires_in_s(now_ms)
            );
            // Echoed so a phone can find its own binding by instance too.
            if let Some(instance) = &binding.instance {
                let _ = write!(value, ";+sip.instance={instance}");
            }
            response
                .headers
                .push(rsip::headers::Contact::new(value).into());
        }
        response
    }

    /// The answer to credentials `digest::verify` refused for another
    /// reason than a wrong response.
    fn auth_failure(
        &self,
        req: &rsip::Request,
        now_ms: i64,
        error: &DigestError,
    ) -> rsip::Response {
        match error {
            DigestError::Stale => self.challenge(req, now_ms, true),
            DigestError::Malformed(_) => self.reply(req, 400, Some("Bad Authorization")),
            // Not our nonce, another realm or algorithm: a fresh challenge
            // (MD5, our realm) is the useful answer.
            DigestError::BadNonce
            | DigestError::Realm
            | DigestError::Algorithm(_)
            | DigestError::Mismatch => self.challenge(req, now_ms, false),
        }
    }

    /// 401 with a fresh nonce.
    fn challenge(&self, req: &rsip::Request, now_ms: i64, stale: bool) -> rsip::Response {
        let mut response = self.reply(req, 401, None);
        response.headers.push(
            rsip::headers::WwwAuthenticate::new(digest::challenge(
                &self.cfg.realm,
                &self.cfg.secret,
                now_ms,
                stale,
            ))
            .into(),
        );
        response
    }

    /// A response to `req` with a To tag derived from the request.
    fn reply(&self, req: &rsip::Request, code: u16, reason: Option<&str>) -> rsip::Response {
        message::response(req, code, reason, Some(&self.to_tag(req)))
    }

    /// A To tag that is a function of the request (Call-ID, From tag and
    /// CSeq) keyed with our secret: deterministic, yet unguessable and
    /// distinct per request, which is all a REGISTER's To tag needs (it
    /// makes no dialog).
    fn to_tag(&self, req: &rsip::Request) -> String {
        let mut hash = blake2::Blake2b512::new();
        hash.update(self.cfg.secret);
        for part in [
            req.call_id().unwrap_or_default(),
            req.from_tag().unwrap_or_default(),
            req.cseq().map(|(n, _)| n.to_string()).unwrap_or_default(),
        ] {
            hash.update(part.as_bytes());
            hash.update(b"\n");
        }
        hash.finalize()
            .iter()
            .take(6)
            .fold(String::with_capacity(12), |mut tag, b| {
                let _ = write!(tag, "{b:02x}");
                tag
            })
    }
}

/// A REGISTER that passed every check needing no password.
struct Register {
    creds: Credentials,
    /// The nonce-count, when signed (`qop=auth` with `nc` and `cnonce`).
    nc: Option<u32>,
    call_id: String,
    cseq: u32,
    contacts: Contacts,
    user_agent: Option<String>,
}

/// What a REGISTER asks for its bindings.
enum Contacts {
    /// No Contact: list the current bindings.
    Fetch,
    /// `Contact: *` with `Expires: 0`.
    RemoveAll,
    /// Add, refresh (expiry > 0) or remove (expiry 0) these.
    Update(Vec<Requested>),
}

/// One Contact of a REGISTER.
struct Requested {
    /// The URI as written.
    text: String,
    uri: SipUri,
    /// Granted: 0 (remove) or between the minimum and maximum.
    expires_s: u32,
    instance: Option<String>,
}

/// A Digest `Authorization` we cannot read.
struct BadAuthorization;

/// Header parameters: names lower-case, values as written.
type Params = Vec<(String, Option<String>)>;

/// `nc` is 8 hex digits (RFC 2617 §3.2.2).
fn parse_nc(nc: &str) -> Option<u32> {
    if nc.len() == 8 && nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(nc, 16).ok()
    } else {
        None
    }
}

/// A delta-seconds value (RFC 3261 §25.1): digits, saturating at
/// 2^32-1 (§20.19); anything else counts as an hour (§20.10, §20.19).
fn delta_seconds(value: &str) -> u32 {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return MALFORMED_EXPIRES_S;
    }
    value
        .bytes()
        .try_fold(0u32, |n, b| {
            n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        })
        .unwrap_or(u32::MAX)
}

/// Does the binding's contact equal `uri` by RFC 3261 §19.1.4?
fn same_contact(binding: &Binding, uri: &SipUri) -> bool {
    SipUri::parse(&binding.contact).is_some_and(|own| own.equivalent(uri))
}

/// The value of a header parameter: `None` if absent, `Some(None)` if it
/// has no value.
fn param<'p>(params: &'p [(String, Option<String>)], name: &str) -> Option<Option<&'p str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref())
}

/// Byte offsets of `sep` in `s` outside quoted strings.
fn unquoted_positions(s: &str, sep: u8) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == sep {
            found.push(i);
        }
    }
    found
}

/// A Contact value (one of a list) split into the URI text and its header
/// parameters (names lower-case, values as written). `None` when it is
/// not `name-addr` or `addr-spec` followed by `;params`.
fn split_contact(value: &str) -> Option<(&str, Params)> {
    let value = value.trim();
    let (uri, rest) = match unquoted_positions(value, b'<').first() {
        Some(&open) => {
            let inner = value.get(open + 1..)?;
            let close = inner.find('>')?;
            (inner.get(..close)?, inner.get(close + 1..)?)
        }
        // In an addr-spec, every ';' starts a header parameter (§20).
        None => match value.find(';') {
            Some(semi) => (value.get(..semi)?, value.get(semi..)?),
            None => (value, ""),
        },
    };
    let rest = rest.trim();
    let mut params = Vec::new();
    if !rest.is_empty() {
        let rest = rest.strip_prefix(';')?;
        let mut start = 0;
        let mut cuts = unquoted_positions(rest, b';');
        cuts.push(rest.len());
        for cut in cuts {
            let piece = rest.get(start..cut)?.trim();
            start = cut + 1;
            let (name, value) = match piece.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().to_owned())),
                None => (piece, None),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return None;
            }
            params.push((name.to_ascii_lowercase(), value));
        }
    }
    Some((uri.trim(), params))
}

/// Undoes `%XX` escapes; an invalid escape stays as written.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let decoded = bytes
            .get(i + 1..i + 3)
            .filter(|_| b == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(d) => {
                out.push(d);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `sip:`/`sips:` URI, read for the comparison of RFC 3261 §19.1.4.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SipUri {
    secure: bool,
    /// User and password, unescaped: compared case-sensitively.
    user: Option<String>,
    password: Option<String>,
    /// Lower-case (IPv6 references keep their brackets).
    host: String,
    /// As written: an absent port is not the same as 5060.
    port: Option<u16>,
    /// Names and values lower-case and unescaped.
    params: Vec<(String, Option<String>)>,
    /// `name=value` headers as written, sorted.
    headers: Vec<String>,
}

/// URI parameters that, present in one URI only, make two URIs differ.
const SIGNIFICANT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

impl SipUri {
    fn parse(text: &str) -> Option<SipUri> {
        if text.is_empty()
            || text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        {
            return None;
        }
        let (scheme, rest) = text.split_once(':')?;
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return None;
        };
        // '@' cannot appear unescaped in a user part, so the first one ends it.
        let (userinfo, rest) = match rest.split_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(unescape(password))),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return None;
                }
                (Some(unescape(user)), password)
            }
            None => (None, None),
        };
        let (rest, headers) = match rest.split_once('?') {
            Some((rest, headers)) => (rest, headers.split('&').map(str::to_owned).collect()),
            None => (rest, Vec::new()),
        };
        let mut headers: Vec<String> = headers;
        headers.sort();
        let mut pieces = rest.split(';');
        let (host, port) = split_hostport(pieces.next()?)?;
        let mut params = Vec::new();
        for piece in pieces {
            let (name, value) = match piece.split_once('=') {
                Some((name, value)) => (name, Some(unescape(value).to_ascii_lowercase())),
                None => (piece, None),
            };
            if name.is_empty() {
                return None;
            }
            params.push((unescape(name).to_ascii_lowercase(), value));
        }
        Some(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    fn param(&self, name: &str) -> Option<&Option<String>> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// RFC 3261 §19.1.4: scheme, user and password (case-sensitive), host
    /// (case-insensitive) and port must match; a parameter in both must
    /// match, and user/ttl/method/maddr/transport must be in both or
    /// neither; headers must all match.
    fn equivalent(&self, other: &SipUri) -> bool {
        let params_agree = self.params.iter().chain(&other.params).all(|(name, _)| {
            match (self.param(name), other.param(name)) {
                (Some(a), Some(b)) => a == b,
                _ => !SIGNIFICANT_PARAMS.contains(&name.as_str()),
            }
        });
        self.secure == other.secure
            && self.user == other.user
            && self.password == other.password
            && self.host == other.host
            && self.port == other.port
            && self.headers == other.headers
            && params_agree
    }
}

/// `host[:port]` with an IPv4 address, a host name or a bracketed IPv6
/// reference; the host lower-cased.
fn split_hostport(hostport: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let host = hostport.get(..=close)?;
        let inner = host.get(1..close)?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))
        {
            return None;
        }
        (host, hostport.get(close + 1..)?)
    } else {
        let end = hostport.find(':').unwrap_or(hostport.len());
        let host = hostport.get(..end)?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return None;
        }
        (host, hostport.get(end..)?)
    };
    let port = match port.strip_prefix(':') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
        None if port.is_empty() => None,
        None => return None,
    };
    Some((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests;
