//! Transaction identity: [`TxKey`] and the header reads that build it.
//!
//! Owns the matching rules of RFC 3261 §17.1.3 (a response matches a client
//! transaction by the branch of its top Via and its CSeq method) and §17.2.3
//! (a request matches a server transaction by branch, sent-by and method,
//! where ACK matches INVITE). A CANCEL has its own key (method CANCEL), and
//! [`TxKey::with_method`] finds the INVITE it cancels.
//!
//! Invariant: two messages of one transaction always produce equal keys;
//! keys of requests whose branch lacks the RFC 3261 magic cookie are built
//! from Call-ID, From tag and CSeq number instead (a reduced form of the RFC
//! 2543 rules of §17.2.3: enough to absorb retransmissions and to match ACK
//! and CANCEL; the Request-URI and To tag are not compared).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rsip::prelude::*;

use crate::sip::Error;

/// The RFC 3261 branch prefix (§8.1.1.7): a branch that starts with it is
/// globally unique and alone identifies the transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Identifies one transaction: branch + sent-by of the top Via + method.
///
/// For a server transaction the method is the request's (an ACK is looked
/// up under INVITE); for a client transaction it is the CSeq method.
///
/// Cheap to clone (shared strings): the layer's timer queue and every event
/// carry copies.
#[derive(Clone, Debug)]
pub struct TxKey {
    branch: Arc<str>,
    sent_by: Arc<str>,
    method: rsip::Method,
}

impl TxKey {
    /// The key of a request as seen by a server transaction (or of our own
    /// request, for a client transaction): top Via branch and sent-by, and
    /// the request method (ACK stays ACK; see [`TxKey::with_method`]).
    pub fn for_request(request: &rsip::Request) -> Result<TxKey, Error> {
        Self::build(request, request.method)
    }

    /// The key of the client transaction a response belongs to: top Via
    /// branch and sent-by, and the CSeq method (RFC 3261 §17.1.3).
    pub fn for_response(response: &rsip::Response) -> Result<TxKey, Error> {
        let method = cseq(response)?.method;
        Self::build(response, method)
    }

    fn build<M: HeadersExt>(message: &M, method: rsip::Method) -> Result<TxKey, Error> {
        let via = top_via(message)?;
        let sent_by = via.uri.host_with_port.to_string().to_ascii_lowercase();
        let branch = via.branch().map(|b| b.to_string()).unwrap_or_default();
        let branch = if branch.starts_with(MAGIC_COOKIE) {
            branch
        } else {
            // RFC 2543 peer: its branch (if any) need not be unique, so the
            // transaction is told apart by the dialog fields that ACK and
            // CANCEL copy from the INVITE (§17.2.3). ';' cannot occur in a
            // branch token, so these keys never collide with RFC 3261 ones.
            let from = from_tag(message)?.unwrap_or_default();
            format!(
                "rfc2543;{};{};{};{}",
                call_id(message)?,
                from,
                cseq(message)?.seq,
                branch
            )
        };
        Ok(TxKey {
            branch: branch.into(),
            sent_by: sent_by.into(),
            method,
        })
    }

    /// The same transaction identity under another method: the INVITE a
    /// CANCEL or an ACK refers to is `key.with_method(Method::Invite)`.
    pub fn with_method(&self, method: rsip::Method) -> TxKey {
        TxKey {
            method,
            ..self.clone()
        }
    }

    /// The Via branch (or the RFC 2543 substitute described in the module docs).
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The sent-by (`host[:port]`) of the top Via, lower-cased.
    pub fn sent_by(&self) -> &str {
        &self.sent_by
    }

    /// The transaction's method.
    pub fn method(&self) -> rsip::Method {
        self.method
    }
}

impl PartialEq for TxKey {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.branch == other.branch && self.sent_by == other.sent_by
    }
}

impl Eq for TxKey {}

impl Hash for TxKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.branch.hash(state);
        self.sent_by.hash(state);
        // rsip::Method does not implement Hash; its variant is its identity.
        std::mem::discriminant(&self.method).hash(state);
    }
}

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}@{}", self.method, self.branch, self.sent_by)
    }
}

/// The top Via, typed. A header line holding several comma-separated values
/// is cut at the first comma when rsip refuses the whole line.
pub(crate) fn top_via<M: HeadersExt>(message: &M) -> Result<rsip::typed::Via, Error> {
    let via = message.via_header().map_err(|_| Error::BadHeader("Via"))?;
    via.typed()
        .or_else(|_| {
            let first = via.value().split(',').next().unwrap_or_default();
            rsip::headers::Via::new(first.trim()).typed()
        })
        .map_err(|_| Error::BadHeader("Via"))
}

/// The Call-ID value.
pub(crate) fn call_id<M: HeadersExt>(message: &M) -> Result<String, Error> {
    message
        .call_id_header()
        .map(|h| h.value().trim().to_string())
        .map_err(|_| Error::BadHeader("Call-ID"))
}

/// The typed CSeq.
pub(crate) fn cseq<M: HeadersExt>(message: &M) -> Result<rsip::typed::CSeq, Error> {
    message
        .cseq_header()
        .and_then(|h| h.typed())
        .map_err(|_| Error::BadHeader("CSeq"))
}

/// The From tag, if the From header has one.
pub(crate) fn from_tag<M: HeadersExt>(message: &M) -> Result<Option<String>, Error> {
    message
        .from_header()
        .and_then(|h| h.tag())
        .map(|t| t.map(|t| t.to_string()))
        .map_err(|_| Error::BadHeader("From"))
}

/// The To tag, if the To header has one.
pub(crate) fn to_tag<M: HeadersExt>(message: &M) -> Result<Option<String>, Error> {
    message
        .to_header()
        .and_then(|h| h.tag())
        .map(|t| t.map(|t| t.to_string()))
        .map_err(|_| Error::BadHeader("To"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn req(text: &str) -> rsip::Request {
        rsip::Request::try_from(text).expect("test request parses")
    }

    const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP A.example:5060;branch=z9hG4bKxyz;rport, SIP/2.0/UDP p.example;branch=z9hG4bKp\r\n\
        From: <sip:alice@a.example>;tag=ft\r\n\
        To: <sip:bob@b.example>\r\n\
        Call-ID: c1\r\n\
        CSeq: 7 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn ack_and_cancel_find_their_invite() {
        let invite = TxKey::for_request(&req(INVITE)).unwrap();
        let ack = req(&INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("7 INVITE", "7 ACK"));
        let cancel = req(&INVITE
            .replace("INVITE sip", "CANCEL sip")
            .replace("7 INVITE", "7 CANCEL"));
        let ack = TxKey::for_request(&ack).unwrap();
        let cancel = TxKey::for_request(&cancel).unwrap();
        assert_ne!(ack, invite);
        assert_ne!(cancel, invite);
        assert_eq!(ack.with_method(rsip::Method::Invite), invite);
        assert_eq!(cancel.with_method(rsip::Method::Invite), invite);
        assert_eq!(invite.sent_by(), "a.example:5060");
        assert_eq!(invite.branch(), "z9hG4bKxyz");
        let set: HashSet<TxKey> = [invite.clone(), cancel, ack].into_iter().collect();
        assert_eq!(set.len(), 3);
        assert!(set.contains(&invite));
        assert_eq!(invite.to_string(), "INVITE z9hG4bKxyz@a.example:5060");
    }

    #[test]
    fn response_key_uses_cseq_method() {
        let resp = rsip::Response::try_from(
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bKxyz;received=1.2.3.4;rport=5\r\n\
             From: <sip:alice@a.example>;tag=ft\r\n\
             To: <sip:bob@b.example>;tag=tt\r\n\
             Call-ID: c1\r\n\
             CSeq: 7 INVITE\r\n\
             Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            TxKey::for_response(&resp).unwrap(),
            TxKey::for_request(&req(INVITE)).unwrap()
        );
    }

    #[test]
    fn rfc2543_branch_falls_back_to_dialog_fields() {
        let old = INVITE.replace("branch=z9hG4bKxyz", "branch=1");
        let key = TxKey::for_request(&req(&old)).unwrap();
        assert_eq!(key.branch(), "rfc2543;c1;ft;7;1");
        let ack = old
            .replace("INVITE sip", "ACK sip")
            .replace("7 INVITE", "7 ACK")
            .replace("<sip:bob@b.example>\r\n", "<sip:bob@b.example>;tag=x\r\n");
        let ack = TxKey::for_request(&req(&ack)).unwrap();
        assert_eq!(ack.with_method(rsip::Method::Invite), key);
    }

    #[test]
    fn missing_headers_are_errors() {
        let no_via = req("OPTIONS sip:b SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(TxKey::for_request(&no_via), Err(Error::BadHeader("Via")));
        let no_cseq = rsip::Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(TxKey::for_response(&no_cseq), Err(Error::BadHeader("CSeq")));
        let old = req("OPTIONS sip:b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nContent-Length: 0\r\n\r\n");
        assert!(TxKey::for_request(&old).is_err());
    }
}
