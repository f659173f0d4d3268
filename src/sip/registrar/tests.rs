//! The registrar driven as the engine will drive it, with REGISTERs
//! written as phones write them and run through `message::parse`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::sip::Transport;

const T0: i64 = 1_795_600_800_000;
const SECRET: [u8; 32] = [0x5a; 32];
const REALM: &str = "hotline";
const ZHOU: i64 = 41;
const LI: i64 = 42;
const DESK: &str = "sip:agent.zhou@192.168.1.20:5062;transport=udp";
const SOFT: &str = "sip:agent.zhou@192.168.1.31:5060";

fn registrar() -> Registrar {
    Registrar::new(RegistrarConfig::new(REALM, SECRET))
}

/// A NAT's public side: where the phone's packets come from.
fn peer(port: u16) -> Peer {
    Peer {
        addr: SocketAddr::from(([198, 51, 100, 20], port)),
        transport: Transport::Udp,
    }
}

/// What `Store::sip_credentials` would answer.
struct Store(HashMap<String, (i64, String)>);

impl Store {
    fn new() -> Store {
        let mut users = HashMap::new();
        for (name, id, password) in [
            ("agent.zhou", ZHOU, "phone-pass-1"),
            ("agent.li", LI, "li-pass"),
        ] {
            users.insert(name.to_owned(), (id, digest::ha1(name, REALM, password)));
        }
        Store(users)
    }

    fn lookup(&self, username: &str) -> Option<(i64, String)> {
        self.0.get(username).cloned()
    }
}

/// An agent's phone as linphone or baresip behaves: one Call-ID for all
/// its REGISTERs, CSeq counting up, and once challenged an Authorization
/// on every REGISTER with the nonce-count counting up.
struct Phone {
    user: String,
    password: String,
    to_user: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    nonce: Option<String>,
    nc: u32,
    cnonce: String,
    /// The text of the last REGISTER.
    last: String,
}

impl Phone {
    fn new(user: &str, password: &str, call_id: &str) -> Phone {
        Phone {
            user: user.into(),
            password: password.into(),
            to_user: user.into(),
            call_id: call_id.into(),
            from_tag: format!("ft-{call_id}"),
            cseq: 0,
            nonce: None,
            nc: 0,
            cnonce: format!("cn-{call_id}"),
            last: String::new(),
        }
    }

    fn zhou(call_id: &str) -> Phone {
        Phone::new("agent.zhou", "phone-pass-1", call_id)
    }

    /// The next REGISTER with these header lines (Contact, Expires ...).
    fn register(&mut self, lines: &[&str]) -> rsip::Request {
        self.cseq += 1;
        let authorization = self.nonce.clone().map(|nonce| {
            self.nc += 1;
            self.authorization(&nonce, self.nc)
        });
        let mut text = format!(
            "REGISTER sip:hotline.example SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-{}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{}@hotline.example>;tag={}\r\n\
             To: <sip:{}@hotline.example>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n",
            self.call_id,
            self.cseq,
            self.user,
            self.from_tag,
            self.to_user,
            self.call_id,
            self.cseq
        );
        for line in lines.iter().copied().chain(authorization.as_deref()) {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.last = text;
        request(&self.last)
    }

    /// The Authorization line answering `nonce` with count `nc`, computed
    /// as RFC 2617 has the client do it.
    fn authorization(&self, nonce: &str, nc: u32) -> String {
        let mut c = Credentials {
            username: self.user.clone(),
            realm: REALM.into(),
            nonce: nonce.into(),
            uri: "sip:hotline.example".into(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            cnonce: Some(self.cnonce.clone()),
            qop: Some("auth".into()),
            nc: Some(format!("{nc:08x}")),
        };
        c.response = digest::response(
            &digest::ha1(&self.user, REALM, &self.password),
            "REGISTER",
            &c,
        );
        format!(
            "Authorization: Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", \
             uri=\"{}\", response=\"{}\", algorithm=MD5, cnonce=\"{}\", qop=auth, nc={:08x}",
            c.username, c.realm, c.nonce, c.uri, c.response, self.cnonce, nc
        )
    }

    /// Takes the nonce of a 401.
    fn challenged(&mut self, response: &rsip::Response) {
        let challenge = www_authenticate(response).expect("a 401 carries a challenge");
        self.nonce = Some(nonce_of(&challenge));
        self.nc = 0;
    }
}

fn request(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()) {
        Ok(rsip::SipMessage::Request(r)) => r,
        other => panic!("not a request: {other:?}\n{text}"),
    }
}

fn nonce_of(challenge: &str) -> String {
    challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a nonce")
        .to_owned()
}

fn www_authenticate(response: &rsip::Response) -> Option<String> {
    response.headers.iter().find_map(|h| match h {
        rsip::Header::WwwAuthenticate(h) => Some(h.value().to_owned()),
        _ => None,
    })
}

fn code(response: &rsip::Response) -> u16 {
    response.status_code.code()
}

/// The Contacts of a 200: (URI, expires).
fn listed(response: &rsip::Response) -> Vec<(String, u32)> {
    response
        .header_values("Contact")
        .iter()
        .map(|v| {
            let (uri, params) = split_contact(v).expect("a readable Contact");
            let expires = param(&params, "expires")
                .flatten()
                .expect("an expires parameter")
                .parse()
                .expect("a number");
            (uri.to_owned(), expires)
        })
        .collect()
}

/// What a REGISTER came to.
struct Outcome {
    response: rsip::Response,
    changes: Vec<BindingChange>,
    /// The username the registrar asked the store about, if it did.
    asked: Option<String>,
}

/// Runs a REGISTER through both steps, the store answering in between.
fn submit(reg: &mut Registrar, now: i64, req: &rsip::Request, from: Peer) -> Outcome {
    match reg.on_register(now, req) {
        Step::Respond(response) => Outcome {
            response,
            changes: Vec::new(),
            asked: None,
        },
        Step::NeedCredentials { username } => {
            let (response, changes) =
                reg.on_credentials(now, req, from, Store::new().lookup(&username));
            Outcome {
                response,
                changes,
                asked: Some(username),
            }
        }
    }
}

/// A REGISTER as a phone sends it: when challenged (no nonce yet, or a
/// stale one) it answers the challenge once.
fn register(
    reg: &mut Registrar,
    phone: &mut Phone,
    now: i64,
    from: Peer,
    lines: &[&str],
) -> Outcome {
    let outcome = submit(reg, now, &phone.register(lines), from);
    if code(&outcome.response) == 401 {
        phone.challenged(&outcome.response);
        return submit(reg, now, &phone.register(lines), from);
    }
    outcome
}

fn contact(uri: &str) -> String {
    format!("Contact: <{uri}>")
}

fn ids(bindings: &[&Binding]) -> Vec<u64> {
    bindings.iter().map(|b| b.id).collect()
}

#[test]
fn a_phone_registers_through_the_digest_challenge() {
    let run = || {
        let mut reg = registrar();
        let mut phone = Phone::zhou("reg-zhou-1");
        let lines = [
            "Contact: \"Zhou\" <sip:agent.zhou@192.168.1.20:5062;transport=udp>",
            "Expires: 3600",
            "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)",
        ];

        // The first REGISTER has no credentials: 401, and nothing stored.
        let first = phone.register(&lines);
        let Step::Respond(challenge) = reg.on_register(T0, &first) else {
            panic!("no credentials, yet no challenge");
        };
        assert_eq!(code(&challenge), 401);
        let header = www_authenticate(&challenge).unwrap();
        assert!(
            header.starts_with("Digest realm=\"hotline\", nonce=\"")
                && header.contains("qop=\"auth\"")
                && !header.contains("stale"),
            "{header}"
        );
        assert!(challenge.to_tag().is_some(), "a To tag on every answer");
        assert_eq!(reg.bindings().count(), 0);

        // The answer to the challenge: the store is asked about the user.
        phone.challenged(&challenge);
        let second = phone.register(&lines);
        assert_eq!(
            reg.on_register(T0 + 200, &second),
            Step::NeedCredentials {
                username: "agent.zhou".into()
            }
        );
        let (ok, changes) = reg.on_credentials(
            T0 + 250,
            &second,
            peer(40_000),
            Store::new().lookup("agent.zhou"),
        );
        assert_eq!(code(&ok), 200);
        assert!(ok.to_tag().is_some());
        let expected = Binding {
            id: 1,
            agent_id: ZHOU,
            username: "agent.zhou".into(),
            contact: DESK.into(),
            peer: peer(40_000),
            // 3600 asked, the maximum granted.
            expires_at_ms: T0 + 250 + 600_000,
            registered_at_ms: T0 + 250,
            refreshed_at_ms: T0 + 250,
            call_id: "reg-zhou-1".into(),
            cseq: 2,
            instance: None,
            user_agent: Some("Linphone/5.2.0 (belle-sip/5.2.0)".into()),
        };
        assert_eq!(changes, vec![BindingChange::Added(expected.clone())]);
        assert_eq!(listed(&ok), vec![(DESK.to_owned(), 600)]);
        assert_eq!(reg.contacts(ZHOU, T0 + 1_000), vec![&expected]);
        assert_eq!(reg.next_expiry(), Some(expected.expires_at_ms));
        assert!(reg.contacts(LI, T0 + 1_000).is_empty());
        (
            message::serialize_response(&challenge),
            message::serialize_response(&ok),
        )
    };
    let (challenge, ok) = run();
    for wire in [&challenge, &ok] {
        let text = String::from_utf8_lossy(wire);
        assert!(!text.contains("\r\nDate:"), "{text}");
        assert!(
            matches!(message::parse(wire), Ok(rsip::SipMessage::Response(_))),
            "{text}"
        );
    }
    // Same inputs, same bytes: no clock, no randomness.
    assert_eq!(run(), (challenge, ok));
}

#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_403() {
    let mut reg = registrar();
    let mut wrong = Phone::new("agent.zhou", "guess", "reg-wrong");
    let outcome = register(&mut reg, &mut wrong, T0, peer(40_000), &[&contact(DESK)]);
    assert_eq!(outcome.asked.as_deref(), Some("agent.zhou"));
    assert_eq!(code(&outcome.response), 403);
    assert!(outcome.changes.is_empty());

    let mut stranger = Phone::new("agent.nobody", "whatever", "reg-nobody");
    let unknown = register(
        &mut reg,
        &mut stranger,
        T0,
        peer(40_001),
        &["Contact: <sip:agent.nobody@192.168.1.9>"],
    );
    assert_eq!(unknown.asked.as_deref(), Some("agent.nobody"));
    assert_eq!(unknown.response.status_code, outcome.response.status_code);
    assert!(unknown.changes.is_empty());
    assert_eq!(reg.bindings().count(), 0);
}

#[test]
fn a_stale_nonce_is_challenged_again_with_stale_true() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-stale");
    let at = T0 + 1_000;
    let ok = register(&mut reg, &mut phone, T0, peer(40_000), &[&contact(DESK)]);
    assert_eq!(code(&ok.response), 200);

    // Five minutes on, the refresh carries the old nonce: 401 stale=true
    // before any store lookup, and the phone retries on its own.
    let late = at + digest::NONCE_LIFETIME_MS;
    let refresh = submit(
        &mut reg,
        late,
        &phone.register(&[&contact(DESK)]),
        peer(40_000),
    );
    assert_eq!(code(&refresh.response), 401);
    assert_eq!(refresh.asked, None);
    assert!(
        www_authenticate(&refresh.response)
            .unwrap()
            .ends_with(", stale=true")
    );
    phone.challenged(&refresh.response);
    let retry = submit(
        &mut reg,
        late,
        &phone.register(&[&contact(DESK)]),
        peer(40_000),
    );
    assert_eq!(code(&retry.response), 200);
    assert!(matches!(
        retry.changes.as_slice(),
        [BindingChange::Refreshed(_)]
    ));

    // The nonce ages out between the two steps (a slow store).
    let mut li = Phone::new("agent.li", "li-pass", "reg-li");
    li.nonce = Some(digest::nonce(&SECRET, T0));
    let req = li.register(&["Contact: <sip:agent.li@192.168.1.40>"]);
    let edge = T0 + digest::NONCE_LIFETIME_MS;
    assert!(matches!(
        reg.on_register(edge, &req),
        Step::NeedCredentials { .. }
    ));
    let (response, changes) = reg.on_credentials(
        edge + 1,
        &req,
        peer(40_002),
        Store::new().lookup("agent.li"),
    );
    assert_eq!(code(&response), 401);
    assert!(
        www_authenticate(&response)
            .unwrap()
            .ends_with(", stale=true")
    );
    assert!(changes.is_empty());
    assert!(reg.contacts(LI, edge + 1).is_empty());
}

#[test]
fn a_nonce_we_did_not_issue_is_challenged_afresh() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-forged");
    phone.nonce = Some(digest::nonce(b"another server's secret", T0));
    let outcome = submit(
        &mut reg,
        T0,
        &phone.register(&[&contact(DESK)]),
        peer(40_000),
    );
    assert_eq!(code(&outcome.response), 401);
    assert_eq!(outcome.asked, None);
    assert!(
        !www_authenticate(&outcome.response)
            .unwrap()
            .contains("stale")
    );
}

#[test]
fn too_brief_an_interval_is_answered_423_with_min_expires() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-brief");
    for lines in [
        vec![contact(DESK), "Expires: 30".into()],
        vec![
            format!("Contact: <{DESK}>;expires=59"),
            "Expires: 600".into(),
        ],
        vec![contact(DESK), format!("Contact: <{SOFT}>;expires=1")],
    ] {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &lines);
        assert_eq!(code(&outcome.response), 423, "{lines:?}");
        assert_eq!(outcome.asked, None);
        assert_eq!(outcome.response.header_values("Min-Expires"), vec!["60"]);
        assert!(outcome.changes.is_empty());
    }
    assert_eq!(reg.bindings().count(), 0);

    let at_minimum = [format!("Contact: <{DESK}>;expires=60")];
    let lines: Vec<&str> = at_minimum.iter().map(String::as_str).collect();
    let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &lines);
    assert_eq!(listed(&outcome.response), vec![(DESK.to_owned(), 60)]);
    // Zero is no interval: removing a contact we do not have is a no-op.
    let zero = [format!("Contact: <{SOFT}>"), "Expires: 0".into()];
    let lines: Vec<&str> = zero.iter().map(String::as_str).collect();
    let outcome = register(&mut reg, &mut phone, T0 + 1, peer(40_000), &lines);
    assert_eq!(code(&outcome.response), 200);
    assert!(outcome.changes.is_empty());
}

#[test]
fn long_intervals_are_shortened_and_malformed_ones_count_as_an_hour() {
    let mut cfg = RegistrarConfig::new(REALM, SECRET);
    cfg.max_expires_s = 7200;
    cfg.default_expires_s = 900;
    let mut reg = Registrar::new(cfg);
    let mut phone = Phone::zhou("reg-long");
    let third = "sip:agent.zhou@192.168.1.32:5060";
    let lines = [
        format!("Contact: <{DESK}>;expires=99999999999999"),
        format!("Contact: <{SOFT}>;expires=soon"),
        format!("Contact: <{third}>"),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &lines);
    let mut granted = listed(&outcome.response);
    granted.sort();
    let mut expected = vec![
        (DESK.to_owned(), 7200),
        (SOFT.to_owned(), 3600),
        (third.to_owned(), 900),
    ];
    expected.sort();
    assert_eq!(granted, expected);

    // An Expires header applies to contacts without their own.
    let lines = [contact(DESK), "Expires: 120".into()];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let outcome = register(&mut reg, &mut phone, T0 + 1, peer(40_000), &lines);
    assert!(listed(&outcome.response).contains(&(DESK.to_owned(), 120)));
}

/// Two phones of one agent, both registered; returns their binding ids.
fn desk_and_softphone(reg: &mut Registrar) -> (Phone, Phone) {
    let mut desk = Phone::zhou("reg-desk");
    let mut soft = Phone::zhou("reg-soft");
    let a = register(reg, &mut desk, T0, peer(40_000), &[&contact(DESK)]);
    let b = register(reg, &mut soft, T0 + 1_000, peer(41_000), &[&contact(SOFT)]);
    assert_eq!(code(&a.response), 200);
    assert_eq!(code(&b.response), 200);
    (desk, soft)
}

#[test]
fn one_contact_unregisters_and_the_other_stays() {
    let mut reg = registrar();
    let (mut desk, _soft) = desk_and_softphone(&mut reg);
    let contacts: Vec<&str> = reg
        .contacts(ZHOU, T0 + 2_000)
        .iter()
        .map(|b| b.contact.as_str())
        .collect();
    assert_eq!(contacts, vec![SOFT, DESK], "freshest first");

    let line = format!("Contact: <{DESK}>;expires=0");
    let outcome = register(&mut reg, &mut desk, T0 + 5_000, peer(40_000), &[&line]);
    assert_eq!(code(&outcome.response), 200);
    let [BindingChange::Removed { binding, why }] = outcome.changes.as_slice() else {
        panic!("{:?}", outcome.changes);
    };
    assert_eq!(
        (binding.contact.as_str(), *why),
        (DESK, Removal::Unregistered)
    );
    assert_eq!(listed(&outcome.response), vec![(SOFT.to_owned(), 596)]);
    let left: Vec<&str> = reg
        .contacts(ZHOU, T0 + 5_000)
        .iter()
        .map(|b| b.contact.as_str())
        .collect();
    assert_eq!(left, vec![SOFT]);
}

#[test]
fn contact_star_with_expires_zero_removes_them_all() {
    let mut reg = registrar();
    let (mut desk, _soft) = desk_and_softphone(&mut reg);
    for bad in [
        vec!["Contact: *", "Expires: 60"],
        vec!["Contact: *"],
        vec![
            "Contact: *",
            "Contact: <sip:agent.zhou@192.168.1.20>",
            "Expires: 0",
        ],
    ] {
        let outcome = register(&mut reg, &mut desk, T0 + 2_000, peer(40_000), &bad);
        assert_eq!(code(&outcome.response), 400, "{bad:?}");
        assert!(outcome.changes.is_empty());
    }
    assert_eq!(reg.contacts(ZHOU, T0 + 2_000).len(), 2);

    let outcome = register(
        &mut reg,
        &mut desk,
        T0 + 3_000,
        peer(40_000),
        &["Contact: *", "Expires: 0"],
    );
    assert_eq!(code(&outcome.response), 200);
    assert!(outcome.response.header_values("Contact").is_empty());
    let mut gone: Vec<(&str, Removal)> = outcome
        .changes
        .iter()
        .map(|c| match c {
            BindingChange::Removed { binding, why } => (binding.contact.as_str(), *why),
            other => panic!("{other:?}"),
        })
        .collect();
    gone.sort_by_key(|(c, _)| *c);
    assert_eq!(
        gone,
        vec![(DESK, Removal::Unregistered), (SOFT, Removal::Unregistered)]
    );
    assert_eq!(reg.bindings().count(), 0);
    assert_eq!(reg.next_expiry(), None);
}

#[test]
fn bindings_expire_by_time() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-expiry");
    let outcome = register(
        &mut reg,
        &mut phone,
        T0,
        peer(40_000),
        &[&contact(DESK), "Expires: 60"],
    );
    assert_eq!(code(&outcome.response), 200);
    let end = T0 + 60_000;
    assert_eq!(reg.next_expiry(), Some(end));
    assert_eq!(reg.contacts(ZHOU, end - 1).len(), 1);
    assert!(
        reg.contacts(ZHOU, end).is_empty(),
        "not returned once due, swept or not"
    );
    assert!(reg.expire(end - 1).is_empty());
    let changes = reg.expire(end);
    assert!(
        matches!(changes.as_slice(), [BindingChange::Removed { binding, why: Removal::Expired }] if binding.contact == DESK),
        "{changes:?}"
    );
    assert_eq!(reg.next_expiry(), None);
    assert_eq!(reg.bindings().count(), 0);
    assert!(reg.expire(end + 1).is_empty());
}

#[test]
fn an_expired_binding_is_swept_by_its_agents_next_register() {
    let mut reg = registrar();
    let (mut desk, _soft) = desk_and_softphone(&mut reg);
    let refresh = register(
        &mut reg,
        &mut desk,
        T0 + 300_000,
        peer(40_000),
        &[&contact(DESK)],
    );
    assert_eq!(code(&refresh.response), 200);
    // The softphone's binding ran out; nobody called expire.
    let later = T0 + 1_000 + 600_000;
    let outcome = register(&mut reg, &mut desk, later, peer(40_000), &[&contact(DESK)]);
    assert_eq!(code(&outcome.response), 200);
    let kinds: Vec<String> = outcome
        .changes
        .iter()
        .map(|c| match c {
            BindingChange::Removed { binding, why } => format!("{why:?} {}", binding.contact),
            BindingChange::Refreshed(b) => format!("Refreshed {}", b.contact),
            BindingChange::Added(b) => format!("Added {}", b.contact),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![format!("Expired {SOFT}"), format!("Refreshed {DESK}")]
    );
    assert_eq!(listed(&outcome.response), vec![(DESK.to_owned(), 600)]);
}

#[test]
fn a_refresh_keeps_the_binding_and_moves_its_expiry() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-refresh");
    let added = register(&mut reg, &mut phone, T0, peer(40_000), &[&contact(DESK)]);
    let [BindingChange::Added(first)] = added.changes.as_slice() else {
        panic!("{:?}", added.changes);
    };
    // Five minutes on, the NAT has given the phone another port.
    let at = T0 + 300_000;
    let refreshed = register(&mut reg, &mut phone, at, peer(40_123), &[&contact(DESK)]);
    let [BindingChange::Refreshed(now)] = refreshed.changes.as_slice() else {
        panic!("{:?}", refreshed.changes);
    };
    assert_eq!(now.id, first.id);
    assert_eq!(now.registered_at_ms, T0);
    assert_eq!(now.refreshed_at_ms, at);
    assert_eq!(now.expires_at_ms, at + 600_000);
    assert_eq!(now.peer, peer(40_123), "INVITEs follow the new NAT mapping");
    assert!(now.cseq > first.cseq);
    assert_eq!(reg.contacts(ZHOU, at), vec![now]);
    assert_eq!(reg.next_expiry(), Some(at + 600_000));

    // Equivalent URIs (RFC 3261 §19.1.4) name the same binding.
    let shouted = "Contact: <sip:agent.zhou@192.168.1.20:5062;transport=UDP>";
    let again = register(&mut reg, &mut phone, at + 1, peer(40_123), &[shouted]);
    assert!(matches!(again.changes.as_slice(), [BindingChange::Refreshed(b)] if b.id == first.id));
    assert_eq!(reg.bindings().count(), 1);
}

#[test]
fn the_contact_cap_evicts_the_least_recently_refreshed() {
    let mut reg = registrar();
    let mut phones: Vec<(Phone, String)> = (0..6)
        .map(|i| {
            (
                Phone::zhou(&format!("reg-cap-{i}")),
                format!("sip:agent.zhou@192.168.1.{}:5060", 50 + i),
            )
        })
        .collect();
    let mut added = Vec::new();
    for (i, (phone, uri)) in phones.iter_mut().take(5).enumerate() {
        let at = T0 + 1_000 * i as i64;
        let outcome = register(
            &mut reg,
            phone,
            at,
            peer(40_000 + i as u16),
            &[&contact(uri)],
        );
        assert_eq!(code(&outcome.response), 200);
        added.push(outcome.changes[0].binding().id);
    }
    // Phone 0 refreshes, so phone 1 is now the least recently refreshed.
    let (phone, uri) = &mut phones[0];
    register(&mut reg, phone, T0 + 10_000, peer(40_000), &[&contact(uri)]);

    let (phone, uri) = &mut phones[5];
    let outcome = register(&mut reg, phone, T0 + 11_000, peer(40_005), &[&contact(uri)]);
    assert_eq!(code(&outcome.response), 200);
    let [
        BindingChange::Added(new),
        BindingChange::Removed {
            binding: evicted,
            why: Removal::Replaced,
        },
    ] = outcome.changes.as_slice()
    else {
        panic!("{:?}", outcome.changes);
    };
    assert_eq!(evicted.id, added[1]);
    let live = reg.contacts(ZHOU, T0 + 11_000);
    assert_eq!(
        ids(&live),
        vec![new.id, added[0], added[4], added[3], added[2]]
    );
    assert_eq!(listed(&outcome.response).len(), 5);

    // One REGISTER may not list more than the cap.
    let mut greedy = Phone::zhou("reg-greedy");
    let lines: Vec<String> = (0..6)
        .map(|i| contact(&format!("sip:agent.zhou@10.0.0.{i}")))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let outcome = register(&mut reg, &mut greedy, T0 + 12_000, peer(40_100), &lines);
    assert_eq!(code(&outcome.response), 403);
    assert_eq!(reg.contacts(ZHOU, T0 + 12_000).len(), 5);
}

#[test]
fn a_register_without_contact_fetches_the_bindings() {
    let mut reg = registrar();
    let (mut desk, _soft) = desk_and_softphone(&mut reg);
    let before: Vec<Binding> = reg.bindings().cloned().collect();
    let outcome = register(&mut reg, &mut desk, T0 + 100_000, peer(40_000), &[]);
    assert_eq!(code(&outcome.response), 200);
    assert!(outcome.changes.is_empty());
    assert_eq!(
        listed(&outcome.response),
        vec![(SOFT.to_owned(), 501), (DESK.to_owned(), 500)]
    );
    assert_eq!(reg.bindings().cloned().collect::<Vec<_>>(), before);

    // Fetching is for the authenticated too.
    let mut anonymous = Phone::zhou("reg-peek");
    let outcome = submit(&mut reg, T0, &anonymous.register(&[]), peer(40_200));
    assert_eq!(code(&outcome.response), 401);
}

#[test]
fn malformed_authorization_is_a_bad_request() {
    let reg = registrar();
    let nonce = digest::nonce(&SECRET, T0);
    let mut phone = Phone::zhou("reg-bad-auth");
    let good = phone.authorization(&nonce, 1);
    let auth_int = good.replace("qop=auth", "qop=auth-int");
    let bad_nc = good.replace("nc=00000001", "nc=1");
    for line in [
        "Authorization: Digest username=\"agent.zhou\", realm=\"hotline\"".to_owned(),
        "Authorization: Digest username=\"agent.zhou, realm=hotline".to_owned(),
        "Authorization: Digest realm=\"hotline\", nonce".to_owned(),
        auth_int,
        bad_nc,
    ] {
        let req = phone.register(&[&contact(DESK), &line]);
        let Step::Respond(response) = reg.on_register(T0, &req) else {
            panic!("{line}: accepted");
        };
        assert_eq!(code(&response), 400, "{line}");
    }
    // Another scheme or realm is no answer to our challenge: 401.
    for line in [
        "Authorization: Basic YWdlbnQuemhvdTpwdw==".to_owned(),
        good.replace("realm=\"hotline\"", "realm=\"elsewhere\""),
        good.replace("algorithm=MD5", "algorithm=SHA-256"),
    ] {
        let req = phone.register(&[&contact(DESK), &line]);
        let Step::Respond(response) = reg.on_register(T0, &req) else {
            panic!("{line}: accepted");
        };
        assert_eq!(code(&response), 401, "{line}");
    }
    // The scheme is case-insensitive.
    let req = phone.register(&[&contact(DESK), &good.replace("Digest", "digest")]);
    assert!(matches!(
        reg.on_register(T0, &req),
        Step::NeedCredentials { .. }
    ));
}

#[test]
fn a_to_user_other_than_the_digest_user_is_forbidden() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-other");
    phone.to_user = "agent.li".into();
    let outcome = register(
        &mut reg,
        &mut phone,
        T0,
        peer(40_000),
        &["Contact: <sip:agent.li@192.168.1.20>"],
    );
    assert_eq!(code(&outcome.response), 403);
    assert_eq!(outcome.asked, None, "refused before any store lookup");
    assert_eq!(reg.bindings().count(), 0);
}

#[test]
fn a_call_id_seen_before_needs_a_higher_cseq() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-order");
    phone.cseq = 4;
    let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &[&contact(DESK)]);
    assert_eq!(code(&outcome.response), 200);
    let stored: Vec<Binding> = reg.bindings().cloned().collect();
    assert_eq!(stored[0].cseq, 6);

    // The same CSeq again (a new transaction, not a retransmission), then
    // a lower one: both refused, nothing changed.
    for cseq in [5, 4] {
        phone.cseq = cseq;
        let outcome = register(
            &mut reg,
            &mut phone,
            T0 + 1_000,
            peer(40_000),
            &[&contact(DESK), "Expires: 0"],
        );
        assert_eq!(code(&outcome.response), 500, "CSeq {}", cseq + 1);
        assert!(outcome.changes.is_empty());
        assert_eq!(reg.bindings().cloned().collect::<Vec<_>>(), stored);
    }
    phone.cseq = 5;
    let star = register(
        &mut reg,
        &mut phone,
        T0 + 1_000,
        peer(40_000),
        &["Contact: *", "Expires: 0"],
    );
    assert_eq!(code(&star.response), 500);
    assert_eq!(reg.bindings().cloned().collect::<Vec<_>>(), stored);

    // Another Call-ID (the phone restarted) may update whatever its CSeq.
    let mut restarted = Phone::zhou("reg-order-2");
    let outcome = register(
        &mut reg,
        &mut restarted,
        T0 + 2_000,
        peer(40_001),
        &[&contact(DESK)],
    );
    assert_eq!(code(&outcome.response), 200);
    let [BindingChange::Refreshed(b)] = outcome.changes.as_slice() else {
        panic!("{:?}", outcome.changes);
    };
    assert_eq!(
        (b.id, b.call_id.as_str(), b.cseq),
        (stored[0].id, "reg-order-2", 2)
    );
}

#[test]
fn a_replayed_authorization_cannot_move_the_binding() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-replay");
    let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &[&contact(DESK)]);
    assert_eq!(code(&outcome.response), 200);

    // Someone on the path copies the REGISTER, Authorization and all, and
    // puts their own Contact in it: the digest does not cover the Contact,
    // the nonce-count gives it away.
    let forged = phone
        .last
        .replace("192.168.1.20:5062;transport=udp", "203.0.113.66:5060")
        .replace("CSeq: 2 ", "CSeq: 3 ");
    let outcome = submit(&mut reg, T0 + 5_000, &request(&forged), peer(5060));
    assert_eq!(code(&outcome.response), 401);
    assert!(
        www_authenticate(&outcome.response)
            .unwrap()
            .ends_with(", stale=true")
    );
    assert!(outcome.changes.is_empty());
    let contacts: Vec<&str> = reg
        .contacts(ZHOU, T0 + 5_000)
        .iter()
        .map(|b| b.contact.as_str())
        .collect();
    assert_eq!(contacts, vec![DESK]);

    // The phone itself counts on with the same nonce and is let in.
    let refresh = register(
        &mut reg,
        &mut phone,
        T0 + 6_000,
        peer(40_000),
        &[&contact(DESK)],
    );
    assert_eq!(code(&refresh.response), 200);
}

#[test]
fn a_new_contact_of_the_same_instance_replaces_the_old_one() {
    let mut reg = registrar();
    let instance = "\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\"";
    let mut phone = Phone::zhou("reg-inst-1");
    let line = format!("Contact: <{DESK}>;+sip.instance={instance}");
    let first = register(&mut reg, &mut phone, T0, peer(40_000), &[&line]);
    let old = first.changes[0].binding().clone();
    assert_eq!(old.instance.as_deref(), Some(instance));

    // The phone rebooted onto another port with a new Call-ID.
    let mut rebooted = Phone::zhou("reg-inst-2");
    let moved = "sip:agent.zhou@192.168.1.20:5070;transport=udp";
    let line = format!("Contact: <{moved}>;+sip.instance={instance}");
    let outcome = register(&mut reg, &mut rebooted, T0 + 60_000, peer(40_500), &[&line]);
    let [
        BindingChange::Removed {
            binding,
            why: Removal::Replaced,
        },
        BindingChange::Added(new),
    ] = outcome.changes.as_slice()
    else {
        panic!("{:?}", outcome.changes);
    };
    assert_eq!(binding.id, old.id);
    assert_eq!(new.contact, moved);
    let contacts = outcome.response.header_values("Contact");
    assert_eq!(
        contacts,
        vec![format!("<{moved}>;expires=600;+sip.instance={instance}")]
    );
}

#[test]
fn removing_an_agent_drops_every_binding() {
    let mut reg = registrar();
    desk_and_softphone(&mut reg);
    let mut li = Phone::new("agent.li", "li-pass", "reg-li");
    register(
        &mut reg,
        &mut li,
        T0,
        peer(42_000),
        &["Contact: <sip:agent.li@192.168.1.40>"],
    );
    let changes = reg.remove_agent(ZHOU);
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| matches!(c, BindingChange::Removed { why: Removal::AgentRemoved, binding } if binding.agent_id == ZHOU)));
    assert!(reg.contacts(ZHOU, T0 + 2_000).is_empty());
    assert_eq!(reg.contacts(LI, T0 + 2_000).len(), 1);
    assert_eq!(reg.next_expiry(), Some(T0 + 600_000));
    assert!(reg.remove_agent(ZHOU).is_empty());
}

#[test]
fn a_required_extension_is_answered_420() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-require");
    let outcome = register(
        &mut reg,
        &mut phone,
        T0,
        peer(40_000),
        &[&contact(DESK), "Require: outbound, path"],
    );
    assert_eq!(code(&outcome.response), 420);
    assert_eq!(
        outcome.response.header_values("Unsupported"),
        vec!["outbound", "path"]
    );
}

#[test]
fn malformed_contacts_are_a_bad_request() {
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-bad-contact");
    for line in [
        "Contact: <http://example.com/agent>",
        "Contact: <sip:>",
        "Contact: <sip:agent.zhou@192.168.1.20:99999>",
        "Contact: <sip:agent.zhou@192.168.1.20",
        "Contact: Zhou sip:agent.zhou@192.168.1.20",
        "Contact: <sip:agent.zhou@192.168.1.20>;=1",
        "Contact: <sip:agent.zhou@192.168.1.20> junk",
        "Contact: <sip:agent.zhou@[zz::1]>",
    ] {
        let outcome = register(&mut reg, &mut phone, T0, peer(40_000), &[line]);
        assert_eq!(code(&outcome.response), 400, "{line}");
    }
    assert_eq!(reg.bindings().count(), 0);
}

#[test]
fn contact_uris_compare_as_rfc_3261_says() {
    let same = |a: &str, b: &str| {
        let (a, b) = (SipUri::parse(a).unwrap(), SipUri::parse(b).unwrap());
        a.equivalent(&b) && b.equivalent(&a)
    };
    for (a, b) in [
        (
            "sip:agent@HOST.example:5062;transport=UDP",
            "sip:agent@host.example:5062;transport=udp",
        ),
        ("SIP:%61gent@host", "sip:agent@host"),
        ("sip:a@h;foo=1", "sip:a@h"),
        ("sip:a@h;lr;transport=tcp", "sip:a@h;transport=tcp;lr"),
        ("sip:a@[2001:DB8::1]:5060", "sip:a@[2001:db8::1]:5060"),
        (
            "sip:a@h?Subject=x&Priority=y",
            "sip:a@h?Priority=y&Subject=x",
        ),
    ] {
        assert!(same(a, b), "{a} = {b}");
    }
    for (a, b) in [
        ("sip:Agent@h", "sip:agent@h"),
        ("sip:a@h", "sip:a@h:5060"),
        ("sip:a@h;transport=tcp", "sip:a@h"),
        ("sip:a@h", "sips:a@h"),
        ("sip:a@h;foo=1", "sip:a@h;foo=2"),
        ("sip:a@h?x=1", "sip:a@h"),
        ("sip:a:pw@h", "sip:a@h"),
        ("sip:h", "sip:a@h"),
    ] {
        assert!(!same(a, b), "{a} != {b}");
    }
}

#[test]
fn a_registered_contact_is_a_usable_request_uri() {
    // The engine builds the INVITE's Request-URI from `Binding::contact`
    // with rsip; users with dots are what agents' logins look like.
    let mut reg = registrar();
    let mut phone = Phone::zhou("reg-uri");
    register(&mut reg, &mut phone, T0, peer(40_000), &[&contact(DESK)]);
    let binding = reg.contacts(ZHOU, T0)[0];
    let uri = rsip::Uri::try_from(binding.contact.as_str()).unwrap();
    let written = uri.to_string();
    assert_eq!(message::uri_user(&written).as_deref(), Some("agent.zhou"));
    // rsip spells `transport=UDP`; the URI is the same (§19.1.4).
    assert!(
        SipUri::parse(&written)
            .unwrap()
            .equivalent(&SipUri::parse(DESK).unwrap()),
        "{written}"
    );
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    /// A phone (re)registers its contact with this expiry.
    Register {
        agent: usize,
        phone: usize,
        expires: u32,
        new_call_id: bool,
    },
    /// A phone removes its contact (expires=0).
    Unregister {
        agent: usize,
        phone: usize,
    },
    /// `Contact: *` from one of the agent's phones.
    UnregisterAll {
        agent: usize,
        phone: usize,
    },
    /// A phone's REGISTER arrives late: its CSeq is not above the last.
    Late {
        agent: usize,
        phone: usize,
    },
    /// Time passes.
    Wait(i64),
    Expire,
    RemoveAgent(usize),
}

const AGENTS: usize = 3;
const PHONES: usize = 6;
const CAP: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    let who = (0..AGENTS, 0..PHONES);
    prop_oneof![
        5 => (who.clone(), prop::sample::select(vec![0u32, 30, 60, 61, 300, 600, 3600]), any::<bool>())
            .prop_map(|((agent, phone), expires, new)| Op::Register { agent, phone, expires, new_call_id: new }),
        2 => who.clone().prop_map(|(agent, phone)| Op::Unregister { agent, phone }),
        1 => who.clone().prop_map(|(agent, phone)| Op::UnregisterAll { agent, phone }),
        1 => who.prop_map(|(agent, phone)| Op::Late { agent, phone }),
        3 => (0i64..400_000).prop_map(Op::Wait),
        1 => Just(Op::Expire),
        1 => (0..AGENTS).prop_map(Op::RemoveAgent),
    ]
}

/// The workload's phones: Call-ID generation and CSeq per phone.
struct Fleet {
    call_ids: BTreeMap<(usize, usize), (u32, u32)>,
    cnonces: u64,
}

impl Fleet {
    fn agent_id(agent: usize) -> i64 {
        100 + agent as i64
    }

    /// A REGISTER from a phone, authenticated with a nonce issued `now`
    /// (what the 401 would have carried) and a fresh cnonce.
    fn request(
        &mut self,
        now: i64,
        agent: usize,
        phone: usize,
        cseq_step: i64,
        lines: &[String],
    ) -> rsip::Request {
        let (generation, cseq) = self.call_ids.entry((agent, phone)).or_insert((0, 10));
        *cseq = u32::try_from((i64::from(*cseq) + cseq_step).max(1)).unwrap_or(1);
        self.cnonces += 1;
        let mut p = Phone::new(
            &format!("a{agent}"),
            "pw",
            &format!("c{agent}-{phone}-{generation}"),
        );
        p.cseq = *cseq - 1;
        p.cnonce = format!("cn{}", self.cnonces);
        p.nonce = Some(digest::nonce(&SECRET, now));
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        p.register(&lines)
    }
}

fn uri_of(agent: usize, phone: usize) -> String {
    format!("sip:a{agent}@10.0.{agent}.{phone}:5060")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever phones do and however time passes: `contacts` returns
    /// only live bindings, never more than the cap; the changes mirror
    /// the stored bindings; `next_expiry` is the earliest expiry; and a
    /// REGISTER that is refused changes no binding.
    #[test]
    fn bindings_stay_live_capped_and_mirrored(ops in prop::collection::vec(op(), 1..40)) {
        let mut cfg = RegistrarConfig::new(REALM, SECRET);
        cfg.max_contacts = CAP;
        let mut reg = Registrar::new(cfg);
        let store: HashMap<String, (i64, String)> = (0..AGENTS)
            .map(|a| (format!("a{a}"), (Fleet::agent_id(a), digest::ha1(&format!("a{a}"), REALM, "pw"))))
            .collect();
        let mut fleet = Fleet { call_ids: BTreeMap::new(), cnonces: 0 };
        let mut mirror: BTreeMap<u64, Binding> = BTreeMap::new();
        let mut now = T0;
        for op in ops {
            let mut changes = Vec::new();
            let sent = match &op {
                Op::Register { agent, phone, expires, new_call_id } => {
                    if *new_call_id {
                        fleet.call_ids.entry((*agent, *phone)).or_insert((0, 10)).0 += 1;
                    }
                    Some((*agent, *phone, 1, vec![format!("Contact: <{}>;expires={expires}", uri_of(*agent, *phone))]))
                }
                Op::Unregister { agent, phone } => {
                    Some((*agent, *phone, 1, vec![format!("Contact: <{}>;expires=0", uri_of(*agent, *phone))]))
                }
                Op::UnregisterAll { agent, phone } => {
                    Some((*agent, *phone, 1, vec!["Contact: *".to_owned(), "Expires: 0".to_owned()]))
                }
                Op::Late { agent, phone } => {
                    Some((*agent, *phone, -1, vec![format!("Contact: <{}>", uri_of(*agent, *phone))]))
                }
                Op::Wait(ms) => {
                    now += ms;
                    None
                }
                Op::Expire => {
                    changes = reg.expire(now);
                    None
                }
                Op::RemoveAgent(agent) => {
                    changes = reg.remove_agent(Fleet::agent_id(*agent));
                    None
                }
            };
            if let Some((agent, phone, step, lines)) = sent {
                let req = fleet.request(now, agent, phone, step, &lines);
                let before: Vec<Binding> = reg.bindings().cloned().collect();
                let response = match reg.on_register(now, &req) {
                    Step::Respond(response) => response,
                    Step::NeedCredentials { username } => {
                        let (response, applied) =
                            reg.on_credentials(now, &req, peer(30_000 + phone as u16), store.get(&username).cloned());
                        changes = applied;
                        response
                    }
                };
                let status = code(&response);
                prop_assert!([200, 423, 500].contains(&status), "{op:?}: {status}");
                if status == 200 {
                    let listed = listed(&response);
                    let live = reg.contacts(Fleet::agent_id(agent), now);
                    prop_assert_eq!(listed.len(), live.len());
                    prop_assert!(listed.iter().all(|(_, s)| (1..=600).contains(s)));
                } else {
                    // Refused: at most expired bindings were swept.
                    let mut swept = Vec::new();
                    for change in &changes {
                        let BindingChange::Removed { binding, why: Removal::Expired } = change else {
                            return Err(TestCaseError::fail(format!("{op:?} refused, yet {change:?}")));
                        };
                        prop_assert!(!binding.is_live(now));
                        swept.push(binding.id);
                    }
                    let kept: Vec<Binding> =
                        before.into_iter().filter(|b| !swept.contains(&b.id)).collect();
                    prop_assert_eq!(reg.bindings().cloned().collect::<Vec<_>>(), kept);
                }
            }

            for change in changes {
                match change {
                    BindingChange::Added(b) => prop_assert!(mirror.insert(b.id, b).is_none()),
                    BindingChange::Refreshed(b) => prop_assert!(mirror.insert(b.id, b).is_some()),
                    BindingChange::Removed { binding, .. } => {
                        prop_assert_eq!(mirror.remove(&binding.id), Some(binding));
                    }
                }
            }
            let stored: BTreeMap<u64, Binding> = reg.bindings().map(|b| (b.id, b.clone())).collect();
            prop_assert_eq!(&mirror, &stored);
            prop_assert_eq!(reg.next_expiry(), reg.bindings().map(|b| b.expires_at_ms).min());
            for agent in 0..AGENTS {
                let id = Fleet::agent_id(agent);
                let live = reg.contacts(id, now);
                prop_assert!(live.len() <= CAP);
                prop_assert!(live.iter().all(|b| b.expires_at_ms > now && b.agent_id == id));
                prop_assert!(reg.bindings().filter(|b| b.agent_id == id).count() <= CAP);
                prop_assert!(live.windows(2).all(|w| w[0].refreshed_at_ms >= w[1].refreshed_at_ms));
            }
        }
    }
}
