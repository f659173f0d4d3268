//! Serialisation, and the few messages the transaction layer writes itself.
//!
//! Owns: encoding a request or response to bytes (rsip's `Display` for the
//! start line and each header, the body appended byte-exact), the
//! stateless responses the layer answers with on its own (100 Trying, the 487
//! to a CANCELled INVITE, the 200 or 481 to a CANCEL; RFC 3261 §8.2.6, §9.2),
//! and the ACK for a non-2xx final (§17.1.1.3).
//!
//! Invariant: every encoded message carries exactly one Content-Length, equal
//! to its body length: TCP framing depends on it (§18.3), so whatever the TU
//! put there is replaced.

use rsip::prelude::*;
use rsip::{Header, Headers};

/// Encodes a request; see the module invariant on Content-Length.
pub(crate) fn encode_request(request: &rsip::Request) -> Vec<u8> {
    crate::sip::message::serialize_request(request)
}

/// Encodes a response (with the RFC reason phrase); see the module
/// invariant on Content-Length.
pub(crate) fn encode_response(response: &rsip::Response) -> Vec<u8> {
    crate::sip::message::serialize_response(response)
}

/// A response the layer builds itself from the request it answers (RFC 3261
/// §8.2.6.2): every Via in order, From, To, Call-ID and CSeq copied; a To tag
/// added when the request had none and `to_tag` is given (never on 100, which
/// creates no dialog, §8.2.6.2); Timestamp copied into a 100 Trying
/// (§8.2.6.1); no body.
pub(crate) fn response_to(
    request: &rsip::Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> rsip::Response {
    let to_tag = if code == 100 { None } else { to_tag };
    let mut headers = Headers::default();
    for header in request.headers.iter() {
        match header {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(header.clone())
            }
            Header::Timestamp(_) if code == 100 => headers.push(header.clone()),
            Header::To(to) => headers.push(Header::To(with_tag(to, to_tag))),
            _ => {}
        }
    }
    rsip::Response {
        // `Other` keeps the proper reason phrase on the wire ("487 Request
        // Terminated"); a parser maps the code back to the named variant.
        status_code: rsip::StatusCode::Other(code, reason.to_string()),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// `to` with `tag` appended, unless it already carries one or there is none
/// to add. Appended as text so an unparsable To is still passed through.
fn with_tag(to: &rsip::headers::To, tag: Option<&str>) -> rsip::headers::To {
    match tag {
        Some(tag) if !matches!(to.tag(), Ok(Some(_))) => {
            rsip::headers::To::new(format!("{};tag={}", to.value().trim_end(), tag))
        }
        _ => to.clone(),
    }
}

/// The ACK for a non-2xx final response to our INVITE (RFC 3261 §17.1.1.3):
/// Request-URI, Call-ID, From and Route of the INVITE, a single Via equal to
/// its top Via (so the ACK reuses the transaction's branch), the To of the
/// response (it carries the tag), CSeq number of the INVITE with method ACK.
pub(crate) fn ack_for(
    invite: &rsip::Request,
    invite_cseq: u32,
    response: &rsip::Response,
) -> rsip::Request {
    let mut headers = Headers::default();
    if let Some(via) = invite.headers.iter().find_map(|h| match h {
        Header::Via(v) => Some(v),
        _ => None,
    }) {
        // Our own Via is a single value; cut defensively at a comma anyway.
        let first = via.value().split(',').next().unwrap_or_default().trim();
        headers.push(Header::Via(rsip::headers::Via::new(first)));
    }
    for header in invite.headers.iter() {
        if let Header::Route(_) = header {
            headers.push(header.clone());
        }
    }
    headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    for header in invite.headers.iter() {
        match header {
            Header::From(_) | Header::CallId(_) => headers.push(header.clone()),
            _ => {}
        }
    }
    let to = response
        .to_header()
        .or_else(|_| invite.to_header())
        .ok()
        .cloned();
    if let Some(to) = to {
        headers.push(Header::To(to));
    }
    headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
        "{invite_cseq} ACK"
    ))));
    rsip::Request {
        method: rsip::Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// A fresh To tag (RFC 3261 §19.3: at least 32 random bits; 12 alphanumerics
/// give about 71).
pub(crate) fn random_tag(rng: &mut fastrand::Rng) -> String {
    (0..12).map(|_| rng.alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bKxyz\r\n\
        Via: SIP/2.0/UDP p.example;branch=z9hG4bKp\r\n\
        Route: <sip:r1.example;lr>\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@a.example>;tag=ft\r\n\
        To: <sip:bob@b.example>\r\n\
        Call-ID: c1\r\n\
        CSeq: 7 INVITE\r\n\
        Timestamp: 54\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 999\r\n\r\n\
        v=0\r\n";

    fn invite() -> rsip::Request {
        rsip::Request::try_from(INVITE).unwrap()
    }

    #[test]
    fn content_length_is_rewritten() {
        let bytes = encode_request(&invite());
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.matches("Content-Length").count(), 1);
        assert!(text.contains("Content-Length: 5\r\n\r\nv=0\r\n"));
        let back = rsip::Request::try_from(text.as_str()).unwrap();
        assert_eq!(back.body, b"v=0\r\n");
    }

    #[test]
    fn trying_copies_headers_without_tag() {
        let r = response_to(&invite(), 100, "Trying", Some("nope"));
        let text = String::from_utf8(encode_response(&r)).unwrap();
        assert!(text.starts_with("SIP/2.0 100 Trying\r\n"));
        assert!(text.contains("Timestamp: 54"));
        let back = rsip::Response::try_from(text.as_str()).unwrap();
        assert_eq!(back.status_code, rsip::StatusCode::Trying);
        assert_eq!(back.to_header().unwrap().tag().unwrap(), None);
        assert_eq!(
            back.headers
                .iter()
                .filter(|h| matches!(h, Header::Via(_)))
                .count(),
            2
        );
    }

    #[test]
    fn final_gets_tag_and_no_timestamp() {
        let r = response_to(&invite(), 487, "Request Terminated", Some("tt"));
        let text = String::from_utf8(encode_response(&r)).unwrap();
        assert!(text.starts_with("SIP/2.0 487 Request Terminated\r\n"));
        assert!(!text.contains("Timestamp"));
        let back = rsip::Response::try_from(text.as_str()).unwrap();
        assert_eq!(
            back.to_header()
                .unwrap()
                .tag()
                .unwrap()
                .unwrap()
                .to_string(),
            "tt"
        );
    }

    #[test]
    fn ack_for_error_response() {
        let resp = rsip::Response::try_from(
            "SIP/2.0 486 Busy Here\r\n\
             Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bKxyz\r\n\
             From: <sip:alice@a.example>;tag=ft\r\n\
             To: <sip:bob@b.example>;tag=busy\r\n\
             Call-ID: c1\r\n\
             CSeq: 7 INVITE\r\n\
             Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        let ack = ack_for(&invite(), 7, &resp);
        let text = String::from_utf8(encode_request(&ack)).unwrap();
        let back = rsip::Request::try_from(text.as_str()).unwrap();
        assert_eq!(back.method, rsip::Method::Ack);
        assert_eq!(back.uri.to_string(), "sip:bob@b.example");
        assert_eq!(
            back.headers
                .iter()
                .filter(|h| matches!(h, Header::Via(_)))
                .count(),
            1
        );
        assert!(back.via_header().unwrap().value().contains("z9hG4bKxyz"));
        assert_eq!(back.cseq_header().unwrap().value(), "7 ACK");
        assert_eq!(
            back.to_header()
                .unwrap()
                .tag()
                .unwrap()
                .unwrap()
                .to_string(),
            "busy"
        );
        assert!(back.route_header().is_some());
        assert!(back.body.is_empty());
    }

    #[test]
    fn tags_are_alphanumeric() {
        let mut rng = fastrand::Rng::with_seed(1);
        let t = random_tag(&mut rng);
        assert_eq!(t.len(), 12);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
