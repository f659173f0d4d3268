//! SIP digest authentication (RFC 3261 §22.4 with RFC 2617's `qop=auth`):
//! the challenge hotline sends an agent's phone (401 with
//! `WWW-Authenticate`), the check of the `Authorization` it answers with,
//! and our own answer when the carrier challenges an outbound INVITE
//! ([`authorize`]). Pure: the time and the server's secret come in as arguments.
//!
//! Only MD5, the algorithm every SIP phone speaks. The server keeps `HA1`
//! (MD5 of `username:realm:password`) per agent, never the password, so a
//! stolen HA1 lets someone register as that agent in this realm but opens
//! nothing else.
//!
//! Nonces are stateless: the issue time and a keyed BLAKE2b tag of it, so
//! any nonce we did not make is refused, and an old one is answered with a
//! fresh challenge marked `stale=true` (the phone retries without asking
//! the user). Replay within a nonce's lifetime is not tracked here: the
//! registrar keeps the highest `nc` seen per nonce.

use std::fmt::Write as _;

use blake2::digest::Mac;
use md5::{Digest, Md5};

/// How long a nonce is accepted.
pub const NONCE_LIFETIME_MS: i64 = 5 * 60_000;

/// A parsed `Authorization` (or `Proxy-Authorization`) digest header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest authorization: {0}")]
    Malformed(&'static str),
    #[error("algorithm {0} is not supported (MD5 only)")]
    Algorithm(String),
    #[error("the realm is not ours")]
    Realm,
    #[error("the nonce was not issued by us")]
    BadNonce,
    /// Ours but expired: challenge again with `stale=true`.
    #[error("the nonce has expired")]
    Stale,
    #[error("the response does not match")]
    Mismatch,
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

/// `HA1` for a user: what the server stores instead of the SIP password.
pub fn ha1(username: &str, realm: &str, password: &str) -> String {
    md5_hex(&format!("{username}:{realm}:{password}"))
}

/// The `response` a client computes (RFC 2617 §3.2.2.1), from `HA1`.
pub fn response(ha1: &str, method: &str, c: &Credentials) -> String {
    let ha2 = md5_hex(&format!("{method}:{}", c.uri));
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce))
        }
        _ => md5_hex(&format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

/// A nonce issued at `now_ms`, tagged with `secret`.
pub fn nonce(secret: &[u8], now_ms: i64) -> String {
    format!("{now_ms:x}.{}", tag(secret, now_ms))
}

fn tag(secret: &[u8], at_ms: i64) -> String {
    let mut mac = blake2::Blake2bMac512::new_from_slice(&secret[..secret.len().min(64)])
        .expect("a key of at most 64 bytes");
    mac.update(&at_ms.to_be_bytes());
    hex(&mac.finalize().into_bytes()[..16])
}

/// The `WWW-Authenticate` value challenging a client in `realm`.
pub fn challenge(realm: &str, secret: &[u8], now_ms: i64, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!(
        "Digest realm=\"{realm}\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"{stale}",
        nonce(secret, now_ms)
    )
}

/// The `name=value` pairs of a `Digest ...` header value, names in lower
/// case, values unquoted; comma-separated, values quoted or not.
fn params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let rest = value
        .trim()
        .strip_prefix("Digest")
        .filter(|r| r.starts_with(char::is_whitespace))
        .ok_or(DigestError::Malformed("it does not start with Digest"))?;
    let mut out = Vec::new();
    let mut chars = rest.trim_start().chars().peekable();
    loop {
        while chars
            .next_if(|ch| ch.is_whitespace() || *ch == ',')
            .is_some()
        {}
        if chars.peek().is_none() {
            break;
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|ch| *ch != '=')).collect();
        if chars.next() != Some('=') {
            return Err(DigestError::Malformed("a parameter has no value"));
        }
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut v = String::new();
            loop {
                match chars.next() {
                    Some('\\') => v.extend(chars.next()),
                    Some('"') => break,
                    Some(ch) => v.push(ch),
                    None => return Err(DigestError::Malformed("a quoted value is not closed")),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|ch| *ch != ',' && !ch.is_whitespace())).collect()
        };
        out.push((name.trim().to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// Parses a `Digest ...` header value: comma-separated `name=value`
/// pairs, values quoted or not; unknown parameters are ignored.
pub fn parse(value: &str) -> Result<Credentials, DigestError> {
    let mut c = Credentials::default();
    for (name, value) in params(value)? {
        match name.as_str() {
            "username" => c.username = value,
            "realm" => c.realm = value,
            "nonce" => c.nonce = value,
            "uri" => c.uri = value,
            "response" => c.response = value.to_ascii_lowercase(),
            "algorithm" => c.algorithm = Some(value),
            "cnonce" => c.cnonce = Some(value),
            "qop" => c.qop = Some(value),
            "nc" => c.nc = Some(value),
            _ => {}
        }
    }
    if c.username.is_empty() || c.nonce.is_empty() || c.uri.is_empty() || c.response.is_empty() {
        return Err(DigestError::Malformed(
            "username, nonce, uri and response are required",
        ));
    }
    Ok(c)
}

/// Our answer to a server's challenge (a carrier's `WWW-Authenticate` or
/// `Proxy-Authenticate` value) for `method` on `uri`: the value of the
/// matching `Authorization` / `Proxy-Authorization` header. `cnonce` is
/// the client's random; `qop=auth` is used when the server offers it (the
/// first request on a nonce, so `nc` is 1). Refuses algorithms other than
/// MD5 and challenges that offer only `auth-int`.
pub fn authorize(
    challenge: &str,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
) -> Result<String, DigestError> {
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut qops = None;
    let mut algorithm = None;
    for (name, value) in params(challenge)? {
        match name.as_str() {
            "realm" => realm = Some(value),
            "nonce" => nonce = Some(value),
            "opaque" => opaque = Some(value),
            "qop" => qops = Some(value),
            "algorithm" => algorithm = Some(value),
            _ => {}
        }
    }
    let (Some(realm), Some(nonce)) = (realm, nonce) else {
        return Err(DigestError::Malformed("a challenge needs realm and nonce"));
    };
    if let Some(alg) = algorithm
        .as_deref()
        .filter(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return Err(DigestError::Algorithm(alg.to_owned()));
    }
    let qop = match qops.as_deref() {
        None => None,
        Some(list) if list.split(',').any(|q| q.trim() == "auth") => Some("auth".to_owned()),
        Some(_) => return Err(DigestError::Malformed("only qop=auth is supported")),
    };
    let mut c = Credentials {
        username: username.to_owned(),
        realm,
        nonce,
        uri: uri.to_owned(),
        response: String::new(),
        algorithm: Some("MD5".into()),
        cnonce: qop.as_ref().map(|_| cnonce.to_owned()),
        nc: qop.as_ref().map(|_| "00000001".to_owned()),
        qop,
    };
    c.response = response(&ha1(username, &c.realm, password), method, &c);
    let quote = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    let mut header = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm=MD5",
        quote(&c.username),
        quote(&c.realm),
        quote(&c.nonce),
        quote(&c.uri),
        c.response
    );
    if let (Some(qop), Some(nc), Some(cnonce)) = (&c.qop, &c.nc, &c.cnonce) {
        let _ = write!(header, ", qop={qop}, nc={nc}, cnonce=\"{}\"", quote(cnonce));
    }
    if let Some(opaque) = opaque {
        let _ = write!(header, ", opaque=\"{}\"", quote(&opaque));
    }
    Ok(header)
}

/// Checks credentials for `method` against the user's `HA1`: ours, fresh,
/// and the right response. The caller looks `HA1` up by `c.username`.
pub fn verify(
    c: &Credentials,
    method: &str,
    realm: &str,
    ha1: &str,
    secret: &[u8],
    now_ms: i64,
) -> Result<(), DigestError> {
    if let Some(alg) = c
        .algorithm
        .as_deref()
        .filter(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return Err(DigestError::Algorithm(alg.to_owned()));
    }
    if c.realm != realm {
        return Err(DigestError::Realm);
    }
    let issued = c
        .nonce
        .split_once('.')
        .and_then(|(at, t)| Some((i64::from_str_radix(at, 16).ok()?, t)))
        .filter(|(at, t)| tag(secret, *at) == *t)
        .map(|(at, _)| at)
        .ok_or(DigestError::BadNonce)?;
    if now_ms - issued > NONCE_LIFETIME_MS || issued > now_ms + 60_000 {
        return Err(DigestError::Stale);
    }
    if c.qop.as_deref().is_some_and(|q| q != "auth") {
        return Err(DigestError::Malformed("only qop=auth is supported"));
    }
    if response(ha1, method, c) == c.response {
        Ok(())
    } else {
        Err(DigestError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"registrar secret for tests";
    const T0: i64 = 1_795_600_800_000;

    /// RFC 2617 §3.5's worked example.
    #[test]
    fn the_rfc_2617_example() {
        let c = parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(
            response(&ha1, "GET", &c),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    /// A phone answering our challenge, as linphone or sipp would.
    fn answer(challenge: &str, password: &str, nc: &str) -> Credentials {
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        let mut c = Credentials {
            username: "agent7".into(),
            realm: "hotline".into(),
            nonce,
            uri: "sip:hotline.example".into(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            cnonce: Some("f00dcafe".into()),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
        };
        c.response = response(&ha1("agent7", "hotline", password), "REGISTER", &c);
        c
    }

    /// What we send a carrier that challenges our INVITE is what a
    /// server checks: with qop (the RFC 2617 example's numbers) and
    /// without, opaque echoed; other algorithms and auth-int refused.
    #[test]
    fn our_answer_to_a_carrier_challenge_verifies() {
        let h = authorize(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
        )
        .unwrap();
        assert!(
            h.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{h}"
        );
        assert!(
            h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{h}"
        );
        let c = parse(&h).unwrap();
        assert_eq!(
            (c.qop.as_deref(), c.nc.as_deref()),
            (Some("auth"), Some("00000001"))
        );

        let ch = challenge("carrier", SECRET, T0, false).replace(", qop=\"auth\"", "");
        let h = authorize(&ch, "INVITE", "sip:13800138000@carrier", "acct", "pw", "x").unwrap();
        let c = parse(&h).unwrap();
        assert_eq!(c.qop, None);
        let ha1 = ha1("acct", "carrier", "pw");
        assert_eq!(verify(&c, "INVITE", "carrier", &ha1, SECRET, T0), Ok(()));
        assert_eq!(
            verify(&c, "BYE", "carrier", &ha1, SECRET, T0),
            Err(DigestError::Mismatch)
        );

        assert_eq!(
            authorize(
                "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256",
                "INVITE",
                "u",
                "a",
                "p",
                "c"
            ),
            Err(DigestError::Algorithm("SHA-256".into()))
        );
        assert!(
            authorize(
                "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
                "INVITE",
                "u",
                "a",
                "p",
                "c"
            )
            .is_err()
        );
        assert!(authorize("Digest realm=\"r\"", "INVITE", "u", "a", "p", "c").is_err());
        assert!(authorize("Basic realm=\"r\"", "INVITE", "u", "a", "p", "c").is_err());
    }

    #[test]
    fn our_challenge_answered_right_passes_and_wrong_fails() {
        let ha1 = ha1("agent7", "hotline", "s3cret-phone");
        let ch = challenge("hotline", SECRET, T0, false);
        assert!(ch.starts_with("Digest realm=\"hotline\", nonce=\""), "{ch}");
        let good = answer(&ch, "s3cret-phone", "00000001");
        assert_eq!(
            verify(&good, "REGISTER", "hotline", &ha1, SECRET, T0 + 1_000),
            Ok(())
        );
        // The header as it goes on the wire parses back to the same.
        let wire = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", \
             algorithm=MD5, cnonce=\"{}\", qop=auth, nc={}",
            good.username,
            good.realm,
            good.nonce,
            good.uri,
            good.response,
            good.cnonce.as_deref().unwrap(),
            good.nc.as_deref().unwrap()
        );
        assert_eq!(parse(&wire).unwrap(), good);

        let wrong = answer(&ch, "guess", "00000001");
        assert_eq!(
            verify(&wrong, "REGISTER", "hotline", &ha1, SECRET, T0 + 1_000),
            Err(DigestError::Mismatch)
        );
        // Another method than the one signed.
        assert_eq!(
            verify(&good, "INVITE", "hotline", &ha1, SECRET, T0 + 1_000),
            Err(DigestError::Mismatch)
        );
    }

    #[test]
    fn forged_and_old_nonces_are_told_apart() {
        let ha1 = ha1("agent7", "hotline", "pw");
        let ch = challenge("hotline", SECRET, T0, false);
        let mut c = answer(&ch, "pw", "00000001");
        assert_eq!(
            verify(
                &c,
                "REGISTER",
                "hotline",
                &ha1,
                SECRET,
                T0 + NONCE_LIFETIME_MS + 1
            ),
            Err(DigestError::Stale)
        );
        assert_eq!(
            verify(&c, "REGISTER", "hotline", &ha1, b"another server", T0),
            Err(DigestError::BadNonce)
        );
        c.nonce = format!("{:x}.{}", T0 + 1, c.nonce.split_once('.').unwrap().1);
        assert_eq!(
            verify(&c, "REGISTER", "hotline", &ha1, SECRET, T0),
            Err(DigestError::BadNonce),
            "a tag does not carry over to another time"
        );
        let mut other_realm = answer(&ch, "pw", "00000001");
        other_realm.realm = "elsewhere".into();
        assert_eq!(
            verify(&other_realm, "REGISTER", "hotline", &ha1, SECRET, T0),
            Err(DigestError::Realm)
        );
        assert!(challenge("hotline", SECRET, T0, true).ends_with(", stale=true"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "Basic dXNlcjpwdw==",
            "Digest",
            "Digestusername=\"a\"",
            "Digest username=\"a\", nonce=\"n\", uri=\"u\"",
            "Digest username=\"a, nonce=n, uri=u, response=r",
            "Digest username",
        ] {
            assert!(
                matches!(parse(bad), Err(DigestError::Malformed(_))),
                "{bad}"
            );
        }
        let c = parse("Digest username=a,nonce=n,uri=u,response=r,algorithm=SHA-256").unwrap();
        assert_eq!(
            verify(&c, "REGISTER", "", "", SECRET, T0),
            Err(DigestError::Algorithm("SHA-256".into()))
        );
    }
}
