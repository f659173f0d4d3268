//! SIP dialogs (RFC 3261 §12): the state two user agents share after an
//! INVITE is answered 2xx, and the in-dialog requests built from it.
//!
//! Owns: the dialog id (Call-ID, local and remote tag), both URIs, the remote
//! target (the peer's Contact), the route set (from Record-Route), both CSeq
//! counters, and our own Contact. Also the random branch and tag makers.
//!
//! Invariants:
//! - the route set is in the order requests must traverse it: as received
//!   for the UAS, reversed for the UAC (§12.1.1, §12.1.2);
//! - `local_cseq` only grows (each [`Dialog::request`] takes the next one);
//!   `remote_cseq` only grows ([`Dialog::accept_remote_cseq`] refuses a lower
//!   one, §12.2.2);
//! - `secure` is always false: we speak neither SIPS nor TLS.
//!
//! Routing: loose routing (RFC 3261 §16.12) is the normal case; a strict
//! router as first route (no `lr`) is honoured the RFC 2543 way of §12.2.1.1
//! (Request-URI = that route, remote target appended as the last Route).
//! Target refresh (a re-INVITE's new Contact) is [`Dialog::set_remote_target`].

use rsip::prelude::*;
use rsip::{Header, Headers, Param, Uri, UriWithParams};

use crate::sip::{Error, Transport};

/// What identifies a dialog at this end (RFC 3261 §12): Call-ID, our tag and
/// the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag (From of our requests, To of theirs).
    pub local_tag: String,
    /// The peer's tag (empty for an RFC 2543 peer that sent none).
    pub remote_tag: String,
}

impl DialogId {
    /// The id of the dialog an incoming in-dialog request names: our tag is
    /// its To tag, the peer's its From tag (§12.2.2). Errors if Call-ID,
    /// From or To cannot be read; a missing tag reads as empty.
    pub fn for_incoming(request: &rsip::Request) -> Result<DialogId, Error> {
        Ok(DialogId {
            call_id: call_id(request)?,
            local_tag: to_tag(request)?.unwrap_or_default(),
            remote_tag: from_tag(request)?.unwrap_or_default(),
        })
    }
}

/// One dialog, as UAS or UAC. See the module docs for its invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    call_id: String,
    local_tag: String,
    remote_tag: String,
    local_uri: Uri,
    remote_uri: Uri,
    remote_target: Uri,
    route_set: Vec<UriWithParams>,
    local_contact: Uri,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    secure: bool,
}

impl Dialog {
    /// UAS side, from the INVITE we answer with 2xx (RFC 3261 §12.1.1):
    /// route set from Record-Route in order, remote target from Contact
    /// (`Error::BadHeader("Contact")` if missing), remote CSeq from the
    /// INVITE, local CSeq empty (our first request gets 1). The 2xx must
    /// carry `local_tag` in its To and `local_contact` in its Contact.
    pub fn from_invite_as_uas(
        invite: &rsip::Request,
        local_tag: &str,
        local_contact: Uri,
    ) -> Result<Dialog, Error> {
        Ok(Dialog {
            call_id: call_id(invite)?,
            local_tag: local_tag.to_string(),
            // §12.1.1: an RFC 2543 From without tag gives an empty remote tag.
            remote_tag: from_tag(invite)?.unwrap_or_default(),
            local_uri: to_uri(invite)?,
            remote_uri: from_uri(invite)?,
            remote_target: contact_uri(invite)?,
            route_set: record_route(invite)?,
            local_contact,
            local_cseq: 0,
            remote_cseq: Some(cseq(invite)?.seq),
            secure: false,
        })
    }

    /// UAC side, from our INVITE and a 2xx to it (RFC 3261 §12.1.2): route
    /// set from the response's Record-Route reversed, remote target from its
    /// Contact, local CSeq from the INVITE, remote CSeq empty, our Contact
    /// from the INVITE. `BadHeader("From")` if our INVITE has no From tag;
    /// `BadHeader("Contact")` if either Contact is missing.
    pub fn from_response_as_uac(
        invite: &rsip::Request,
        response: &rsip::Response,
    ) -> Result<Dialog, Error> {
        let local_tag = from_tag(invite)?.ok_or(Error::BadHeader("From"))?;
        let mut route_set = record_route(response)?;
        route_set.reverse();
        Ok(Dialog {
            call_id: call_id(invite)?,
            local_tag,
            remote_tag: to_tag(response)?.unwrap_or_default(),
            local_uri: from_uri(invite)?,
            remote_uri: to_uri(invite)?,
            remote_target: contact_uri(response)?,
            route_set,
            local_contact: contact_uri(invite)?,
            local_cseq: cseq(invite)?.seq,
            remote_cseq: None,
            secure: false,
        })
    }

    /// Call-ID + local tag + remote tag.
    pub fn id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
        }
    }

    /// Does this incoming in-dialog request belong here (Call-ID, To tag =
    /// our tag, From tag = the peer's)? Unreadable headers mean no.
    pub fn matches(&self, request: &rsip::Request) -> bool {
        DialogId::for_incoming(request).is_ok_and(|id| id == self.id())
    }

    /// RFC 3261 §12.2.2: a CSeq lower than the last one from the peer is out
    /// of order: `Err(CSeqOutOfOrder)`, the TU answers 500. An equal one
    /// (the ACK of a re-INVITE) is fine.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> Result<(), Error> {
        match self.remote_cseq {
            Some(last) if cseq < last => Err(Error::CSeqOutOfOrder),
            _ => {
                self.remote_cseq = Some(cseq);
                Ok(())
            }
        }
    }

    /// Builds an in-dialog request (BYE, re-INVITE, INFO, UPDATE …; not ACK,
    /// see [`Dialog::ack`], nor CANCEL, which copies the request it cancels):
    /// Request-URI and Route set per the module docs, From/To with tags,
    /// Call-ID, CSeq = the next local number, Max-Forwards 70, one Via
    /// `SIP/2.0/{transport} {via_host};branch={branch};rport`, Contact = our
    /// contact, no body (add one with its Content-Type; the transaction layer
    /// writes Content-Length).
    pub fn request(
        &mut self,
        method: rsip::Method,
        via_host: &str,
        transport: Transport,
        branch: &str,
    ) -> rsip::Request {
        self.local_cseq = self.local_cseq.wrapping_add(1);
        let mut request = self.build(method, self.local_cseq, via_host, transport, branch);
        request
            .headers
            .push(Header::Contact(rsip::headers::Contact::new(format!(
                "<{}>",
                self.local_contact
            ))));
        request
    }

    /// The ACK for a 2xx to our INVITE (UAC, RFC 3261 §13.2.2.4): CSeq
    /// number of that INVITE with method ACK, a new branch, the dialog's
    /// Request-URI and routes.
    pub fn ack(
        &self,
        invite_cseq: u32,
        via_host: &str,
        transport: Transport,
        branch: &str,
    ) -> rsip::Request {
        self.build(rsip::Method::Ack, invite_cseq, via_host, transport, branch)
    }

    fn build(
        &self,
        method: rsip::Method,
        seq: u32,
        via_host: &str,
        transport: Transport,
        branch: &str,
    ) -> rsip::Request {
        let (uri, routes) = self.routing();
        let mut headers = Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{transport} {via_host};branch={branch};rport"
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        for route in routes {
            headers.push(Header::Route(rsip::headers::Route::new(route.to_string())));
        }
        headers.push(Header::From(rsip::headers::From::new(name_addr(
            &self.local_uri,
            &self.local_tag,
        ))));
        headers.push(Header::To(rsip::headers::To::new(name_addr(
            &self.remote_uri,
            &self.remote_tag,
        ))));
        headers.push(Header::CallId(rsip::headers::CallId::new(
            self.call_id.clone(),
        )));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{seq} {method}"
        ))));
        headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
            "0",
        )));
        rsip::Request {
            method,
            uri,
            version: rsip::Version::V2,
            headers,
            body: Vec::new(),
        }
    }

    /// Request-URI and Route headers for the next request (§12.2.1.1).
    fn routing(&self) -> (Uri, Vec<UriWithParams>) {
        match self.route_set.split_first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some((first, _)) if is_loose(first) => {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some((first, rest)) => {
                // Strict router: it wants to be the Request-URI, and the
                // remote target travels as the last Route.
                let mut routes = rest.to_vec();
                routes.push(UriWithParams {
                    uri: self.remote_target.clone(),
                    params: Vec::new(),
                });
                (first.uri.clone(), routes)
            }
        }
    }

    /// Where the next request goes first: the first route, else the remote
    /// target (the runtime resolves it to a [`crate::sip::Peer`]).
    pub fn next_hop(&self) -> &Uri {
        self.route_set
            .first()
            .map(|r| &r.uri)
            .unwrap_or(&self.remote_target)
    }

    /// Target refresh (§12.2: a re-INVITE or UPDATE, or its 2xx, carried a
    /// new Contact).
    pub fn set_remote_target(&mut self, target: Uri) {
        self.remote_target = target;
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The peer's tag (empty for an RFC 2543 peer that sent none).
    pub fn remote_tag(&self) -> &str {
        &self.remote_tag
    }

    /// Our URI (From of our requests).
    pub fn local_uri(&self) -> &Uri {
        &self.local_uri
    }

    /// The peer's URI (To of our requests).
    pub fn remote_uri(&self) -> &Uri {
        &self.remote_uri
    }

    /// The peer's Contact.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in traversal order.
    pub fn route_set(&self) -> &[UriWithParams] {
        &self.route_set
    }

    /// Our Contact.
    pub fn local_contact(&self) -> &Uri {
        &self.local_contact
    }

    /// The CSeq number of our last request (0 before the first, UAS side).
    pub fn local_cseq(&self) -> u32 {
        self.local_cseq
    }

    /// The CSeq number of the peer's last request, if any yet.
    pub fn remote_cseq(&self) -> Option<u32> {
        self.remote_cseq
    }

    /// Always false (no SIPS).
    pub fn secure(&self) -> bool {
        self.secure
    }
}

/// A fresh RFC 3261 branch: the magic cookie and 16 random alphanumerics
/// (§8.1.1.7: unique over space and time).
pub fn new_branch(rng: &mut fastrand::Rng) -> String {
    let mut branch = String::from("z9hG4bK");
    branch.extend((0..16).map(|_| rng.alphanumeric()));
    branch
}

/// A fresh From/To tag: 12 random alphanumerics (§19.3 asks for at least 32
/// random bits; this is about 71).
pub fn new_tag(rng: &mut fastrand::Rng) -> String {
    (0..12).map(|_| rng.alphanumeric()).collect()
}

fn is_loose(route: &UriWithParams) -> bool {
    route
        .uri
        .params
        .iter()
        .chain(route.params.iter())
        .any(|p| matches!(p, Param::Lr))
}

fn name_addr(uri: &Uri, tag: &str) -> String {
    if tag.is_empty() {
        format!("<{uri}>")
    } else {
        format!("<{uri}>;tag={tag}")
    }
}

fn call_id<M: HeadersExt>(message: &M) -> Result<String, Error> {
    message
        .call_id_header()
        .map(|h| h.value().trim().to_string())
        .map_err(|_| Error::BadHeader("Call-ID"))
}

fn cseq<M: HeadersExt>(message: &M) -> Result<rsip::typed::CSeq, Error> {
    message
        .cseq_header()
        .and_then(|h| h.typed())
        .map_err(|_| Error::BadHeader("CSeq"))
}

fn from_header<M: HeadersExt>(message: &M) -> Result<rsip::typed::From, Error> {
    message
        .from_header()
        .and_then(|h| h.typed())
        .map_err(|_| Error::BadHeader("From"))
}

fn to_header<M: HeadersExt>(message: &M) -> Result<rsip::typed::To, Error> {
    message
        .to_header()
        .and_then(|h| h.typed())
        .map_err(|_| Error::BadHeader("To"))
}

fn from_tag<M: HeadersExt>(message: &M) -> Result<Option<String>, Error> {
    Ok(from_header(message)?.tag().map(|t| t.to_string()))
}

fn to_tag<M: HeadersExt>(message: &M) -> Result<Option<String>, Error> {
    Ok(to_header(message)?.tag().map(|t| t.to_string()))
}

fn from_uri<M: HeadersExt>(message: &M) -> Result<Uri, Error> {
    Ok(from_header(message)?.uri)
}

fn to_uri<M: HeadersExt>(message: &M) -> Result<Uri, Error> {
    Ok(to_header(message)?.uri)
}

/// The URI of the first Contact (`BadHeader("Contact")` if none or `*`).
fn contact_uri<M: HeadersExt>(message: &M) -> Result<Uri, Error> {
    message
        .contact_header()
        .and_then(|h| {
            h.typed().or_else(|_| {
                // Several contacts in one line: the first one is the target.
                let first = h.value().split(',').next().unwrap_or_default().trim();
                rsip::headers::Contact::new(first).typed()
            })
        })
        .map(|c| c.uri)
        .map_err(|_| Error::BadHeader("Contact"))
}

/// Every Record-Route entry, header by header, entry by entry, as received.
fn record_route<M: HeadersExt>(message: &M) -> Result<Vec<UriWithParams>, Error> {
    let mut routes = Vec::new();
    for header in message.headers().iter() {
        if let Header::RecordRoute(rr) = header {
            let typed = rr.typed().map_err(|_| Error::BadHeader("Record-Route"))?;
            routes.extend(typed.uris().iter().cloned());
        }
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:agent@hotline.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP proxy2.example:5060;branch=z9hG4bKp2\r\n\
        Via: SIP/2.0/UDP caller.example:5060;branch=z9hG4bKc1\r\n\
        Record-Route: <sip:proxy2.example;lr>, <sip:proxy1.example;lr>\r\n\
        Record-Route: <sip:edge.example;lr>\r\n\
        Max-Forwards: 68\r\n\
        From: \"Caller\" <sip:caller@caller.example>;tag=caller-tag\r\n\
        To: <sip:4001234567@hotline.example>\r\n\
        Call-ID: call-1@caller.example\r\n\
        CSeq: 10 INVITE\r\n\
        Contact: <sip:caller@192.0.2.10:5062>\r\n\
        Content-Length: 0\r\n\r\n";

    const OK: &str = "SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP hotline.example:5060;branch=z9hG4bKout\r\n\
        Record-Route: <sip:proxyB.example;lr>, <sip:proxyA.example;lr>\r\n\
        From: <sip:hotline@hotline.example>;tag=our-tag\r\n\
        To: <sip:agent@agents.example>;tag=agent-tag\r\n\
        Call-ID: out-1@hotline.example\r\n\
        CSeq: 42 INVITE\r\n\
        Contact: <sip:agent@198.51.100.7:5070;transport=tcp>\r\n\
        Content-Length: 0\r\n\r\n";

    const OUR_INVITE: &str = "INVITE sip:agent@agents.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP hotline.example:5060;branch=z9hG4bKout\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:hotline@hotline.example>;tag=our-tag\r\n\
        To: <sip:agent@agents.example>\r\n\
        Call-ID: out-1@hotline.example\r\n\
        CSeq: 42 INVITE\r\n\
        Contact: <sip:hotline@203.0.113.1:5060>\r\n\
        Content-Length: 0\r\n\r\n";

    fn req(text: &str) -> rsip::Request {
        rsip::Request::try_from(text).expect("test request parses")
    }

    fn resp(text: &str) -> rsip::Response {
        rsip::Response::try_from(text).expect("test response parses")
    }

    fn contact() -> Uri {
        Uri::try_from("sip:hotline@203.0.113.1:5060").unwrap()
    }

    fn uas() -> Dialog {
        Dialog::from_invite_as_uas(&req(INVITE), "our-tag", contact()).unwrap()
    }

    fn uac() -> Dialog {
        Dialog::from_response_as_uac(&req(OUR_INVITE), &resp(OK)).unwrap()
    }

    fn hosts(routes: &[UriWithParams]) -> Vec<String> {
        routes.iter().map(|r| r.uri.host().to_string()).collect()
    }

    #[test]
    fn uas_construction() {
        let d = uas();
        assert_eq!(
            d.id(),
            DialogId {
                call_id: "call-1@caller.example".into(),
                local_tag: "our-tag".into(),
                remote_tag: "caller-tag".into(),
            }
        );
        assert_eq!(d.remote_target().to_string(), "sip:caller@192.0.2.10:5062");
        assert_eq!(d.local_uri().to_string(), "sip:4001234567@hotline.example");
        assert_eq!(d.remote_uri().to_string(), "sip:caller@caller.example");
        // §12.1.1: in the order received, across and within headers.
        assert_eq!(
            hosts(d.route_set()),
            ["proxy2.example", "proxy1.example", "edge.example"]
        );
        assert_eq!(d.remote_cseq(), Some(10));
        assert_eq!(d.local_cseq(), 0);
        assert!(!d.secure());
        assert_eq!(d.next_hop().host().to_string(), "proxy2.example");
    }

    #[test]
    fn uas_without_contact_is_an_error() {
        let no_contact = INVITE.replace("Contact: <sip:caller@192.0.2.10:5062>\r\n", "");
        assert_eq!(
            Dialog::from_invite_as_uas(&req(&no_contact), "t", contact()),
            Err(Error::BadHeader("Contact"))
        );
        let no_call_id = INVITE.replace("Call-ID: call-1@caller.example\r\n", "");
        assert_eq!(
            Dialog::from_invite_as_uas(&req(&no_call_id), "t", contact()),
            Err(Error::BadHeader("Call-ID"))
        );
    }

    #[test]
    fn uac_construction_reverses_route_set() {
        let d = uac();
        assert_eq!(d.local_tag(), "our-tag");
        assert_eq!(d.remote_tag(), "agent-tag");
        assert_eq!(d.call_id(), "out-1@hotline.example");
        assert_eq!(hosts(d.route_set()), ["proxyA.example", "proxyB.example"]);
        assert_eq!(
            d.remote_target().to_string(),
            "sip:agent@198.51.100.7:5070;transport=TCP"
        );
        assert_eq!(d.local_cseq(), 42);
        assert_eq!(d.remote_cseq(), None);
        assert_eq!(d.local_contact(), &contact());
        assert_eq!(d.remote_uri().to_string(), "sip:agent@agents.example");
    }

    #[test]
    fn uac_errors() {
        let no_contact = OK.replace(
            "Contact: <sip:agent@198.51.100.7:5070;transport=tcp>\r\n",
            "",
        );
        assert_eq!(
            Dialog::from_response_as_uac(&req(OUR_INVITE), &resp(&no_contact)),
            Err(Error::BadHeader("Contact"))
        );
        let no_tag = OUR_INVITE.replace(";tag=our-tag", "");
        assert_eq!(
            Dialog::from_response_as_uac(&req(&no_tag), &resp(OK)),
            Err(Error::BadHeader("From"))
        );
    }

    #[test]
    fn matches_in_dialog_requests() {
        let d = uas();
        let bye = "BYE sip:hotline@203.0.113.1:5060 SIP/2.0\r\n\
            Via: SIP/2.0/UDP caller.example:5060;branch=z9hG4bKbye\r\n\
            From: <sip:caller@caller.example>;tag=caller-tag\r\n\
            To: <sip:4001234567@hotline.example>;tag=our-tag\r\n\
            Call-ID: call-1@caller.example\r\n\
            CSeq: 11 BYE\r\n\
            Content-Length: 0\r\n\r\n";
        assert!(d.matches(&req(bye)));
        assert!(!d.matches(&req(&bye.replace("tag=our-tag", "tag=other"))));
        assert!(!d.matches(&req(&bye.replace("tag=caller-tag", "tag=x"))));
        assert!(!d.matches(&req(&bye.replace("call-1@", "call-2@"))));
        assert!(!d.matches(&req(&bye.replace(";tag=our-tag", ""))));
        assert_eq!(DialogId::for_incoming(&req(bye)).unwrap(), d.id());
    }

    #[test]
    fn remote_cseq_ordering() {
        let mut d = uas();
        assert_eq!(d.accept_remote_cseq(11), Ok(()));
        assert_eq!(d.accept_remote_cseq(11), Ok(()));
        assert_eq!(d.accept_remote_cseq(9), Err(Error::CSeqOutOfOrder));
        assert_eq!(d.remote_cseq(), Some(11));
        let mut c = uac();
        // Remote CSeq empty on the UAC side: anything goes first.
        assert_eq!(c.accept_remote_cseq(1), Ok(()));
        assert_eq!(c.accept_remote_cseq(0), Err(Error::CSeqOutOfOrder));
    }

    #[test]
    fn bye_parses_back() {
        let mut d = uas();
        let bye = d.request(
            rsip::Method::Bye,
            "203.0.113.1:5060",
            Transport::Udp,
            "z9hG4bKbye1",
        );
        let text = bye.to_string();
        let back = rsip::Request::try_from(text.as_str()).expect("BYE parses");
        assert_eq!(back.method, rsip::Method::Bye);
        assert_eq!(back.uri.to_string(), "sip:caller@192.0.2.10:5062");
        let routes: Vec<String> = back
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Route(r) => Some(r.value().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            routes,
            [
                "<sip:proxy2.example;lr>",
                "<sip:proxy1.example;lr>",
                "<sip:edge.example;lr>"
            ]
        );
        let via = back.via_header().unwrap().typed().unwrap();
        assert_eq!(via.branch().unwrap().to_string(), "z9hG4bKbye1");
        assert_eq!(via.transport, rsip::Transport::Udp);
        assert!(back.via_header().unwrap().value().ends_with(";rport"));
        assert_eq!(
            back.from_header()
                .unwrap()
                .tag()
                .unwrap()
                .unwrap()
                .to_string(),
            "our-tag"
        );
        assert_eq!(
            back.to_header()
                .unwrap()
                .tag()
                .unwrap()
                .unwrap()
                .to_string(),
            "caller-tag"
        );
        assert_eq!(back.from_header().unwrap().uri().unwrap(), *d.local_uri());
        assert_eq!(
            back.call_id_header().unwrap().value(),
            "call-1@caller.example"
        );
        assert_eq!(
            back.cseq_header().unwrap().typed().unwrap(),
            (1, rsip::Method::Bye).into()
        );
        assert_eq!(back.max_forwards_header().unwrap().value(), "70");
        assert_eq!(back.contact_header().unwrap().uri().unwrap(), contact());
        // The peer sees it as belonging to its side of the dialog.
        assert_eq!(
            DialogId::for_incoming(&back).unwrap().local_tag,
            "caller-tag"
        );
        // The next request takes the next CSeq.
        let info = d.request(rsip::Method::Info, "h", Transport::Tcp, "z9hG4bKinfo");
        assert_eq!(info.cseq_header().unwrap().seq().unwrap(), 2);
        assert!(
            info.via_header()
                .unwrap()
                .value()
                .starts_with("SIP/2.0/TCP h;")
        );
        assert_eq!(d.local_cseq(), 2);
    }

    #[test]
    fn uac_requests_and_ack() {
        let mut d = uac();
        let ack = d.ack(42, "hotline.example:5060", Transport::Udp, "z9hG4bKack");
        let back = rsip::Request::try_from(ack.to_string().as_str()).unwrap();
        assert_eq!(back.method, rsip::Method::Ack);
        assert_eq!(back.cseq_header().unwrap().value(), "42 ACK");
        assert_eq!(
            back.uri.to_string(),
            "sip:agent@198.51.100.7:5070;transport=TCP"
        );
        assert!(
            back.via_header()
                .unwrap()
                .value()
                .contains("branch=z9hG4bKack")
        );
        assert_eq!(d.local_cseq(), 42, "ACK takes no CSeq number");
        let bye = d.request(
            rsip::Method::Bye,
            "hotline.example",
            Transport::Udp,
            "z9hG4bKb",
        );
        assert_eq!(bye.cseq_header().unwrap().seq().unwrap(), 43);
        let first_route = bye.route_header().unwrap().value().to_string();
        assert_eq!(first_route, "<sip:proxyA.example;lr>");
        assert_eq!(
            bye.to_header().unwrap().tag().unwrap().unwrap().to_string(),
            "agent-tag"
        );
    }

    #[test]
    fn strict_router_takes_the_request_uri() {
        let strict = INVITE.replace(
            "Record-Route: <sip:proxy2.example;lr>, <sip:proxy1.example;lr>\r\n",
            "Record-Route: <sip:strict.example>, <sip:proxy1.example;lr>\r\n",
        );
        let mut d = Dialog::from_invite_as_uas(&req(&strict), "t", contact()).unwrap();
        let bye = d.request(rsip::Method::Bye, "h", Transport::Udp, "z9hG4bKs");
        assert_eq!(bye.uri.to_string(), "sip:strict.example");
        let routes: Vec<String> = bye
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Route(r) => Some(r.value().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            routes,
            [
                "<sip:proxy1.example;lr>",
                "<sip:edge.example;lr>",
                "<sip:caller@192.0.2.10:5062>"
            ]
        );
    }

    #[test]
    fn no_route_set_goes_to_target() {
        let direct = INVITE
            .replace(
                "Record-Route: <sip:proxy2.example;lr>, <sip:proxy1.example;lr>\r\n",
                "",
            )
            .replace("Record-Route: <sip:edge.example;lr>\r\n", "");
        let mut d = Dialog::from_invite_as_uas(&req(&direct), "t", contact()).unwrap();
        assert!(d.route_set().is_empty());
        assert_eq!(d.next_hop(), d.remote_target());
        let bye = d.request(rsip::Method::Bye, "h", Transport::Udp, "z9hG4bKd");
        assert!(bye.route_header().is_none());
        d.set_remote_target(Uri::try_from("sip:moved@192.0.2.99").unwrap());
        let bye = d.request(rsip::Method::Bye, "h", Transport::Udp, "z9hG4bKe");
        assert_eq!(bye.uri.to_string(), "sip:moved@192.0.2.99");
    }

    #[test]
    fn branches_and_tags() {
        let mut rng = fastrand::Rng::with_seed(7);
        let a = new_branch(&mut rng);
        let b = new_branch(&mut rng);
        assert!(a.starts_with("z9hG4bK"));
        assert_eq!(a.len(), 7 + 16);
        assert_ne!(a, b);
        assert!(a[7..].chars().all(|c| c.is_ascii_alphanumeric()));
        let t = new_tag(&mut rng);
        assert_eq!(t.len(), 12);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
