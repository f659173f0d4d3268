//! Splitting a TCP byte stream into SIP messages (RFC 3261 §18.3).
//!
//! A stream has no datagram boundaries: a message ends after its head (up to
//! the first blank line) plus Content-Length body bytes, so Content-Length is
//! mandatory on a stream. Between messages a peer may send CRLFs: a double
//! CRLF is an RFC 5626 §3.5.1 keep-alive "ping", which the runtime answers
//! with a single CRLF "pong"; other stray line ends are skipped.
//!
//! What this module owns: [`StreamFramer`], a buffer fed with
//! [`StreamFramer::push`] and drained with [`StreamFramer::next`]. It does not
//! parse the message; it hands the exact bytes of each one to
//! [`crate::sip::message::parse`].
//!
//! Invariants: no frame is ever larger than `max_message` bytes; an error is
//! final (the stream can no longer be resynchronised, so the runtime closes
//! the connection) and every later `next` returns the same error; the work
//! per pushed byte is bounded (the header-end search resumes where it
//! stopped), so feeding one byte at a time is not quadratic.

use crate::sip::Error;

/// One unit read from a SIP stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one complete message: head, blank line and exactly
    /// Content-Length body bytes.
    Message(Vec<u8>),
    /// A bare CRLFCRLF ping (RFC 5626 §3.5.1); the runtime answers with CRLF.
    KeepAlive,
}

/// The keep-alive ping, and the prefix a waiting buffer may still grow into.
const PING: &[u8] = b"\r\n\r\n";

/// Reassembles SIP messages from stream chunks.
#[derive(Debug)]
pub struct StreamFramer {
    /// Received bytes; the unread part starts at `start`.
    buf: Vec<u8>,
    start: usize,
    /// How far (from `start`) the header-end search has already looked.
    scanned: usize,
    max_message: usize,
    /// Set by the first error, returned from then on.
    failed: Option<Error>,
}

impl StreamFramer {
    /// A framer refusing any message (head plus body) above `max_message`
    /// bytes.
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_message,
            failed: None,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        // Drop what was consumed once per push, so taking several messages
        // out of one push does not shift the buffer each time.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` while more bytes are needed.
    ///
    /// Errors (final): `TooLarge` when a head or a whole message exceeds
    /// `max_message`; `Malformed` when a head has no Content-Length;
    /// `BadHeader("Content-Length")` when it is unreadable or contradictory.
    // Not an Iterator: an error ends the stream and `Ok(None)` means "later",
    // not "finished", which `Iterator::next` cannot express.
    #[allow(clippy::should_implement_trait)]
    #[must_use = "frames must be handled, errors must close the connection"]
    pub fn next(&mut self) -> Result<Option<Frame>, Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.next_frame();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buf = Vec::new();
            self.start = 0;
        }
        result
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        self.scanned = 0;
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        // Line ends before a message: a full CRLFCRLF is a ping, anything
        // shorter that could still become one is kept until it is decided.
        loop {
            let unread = self.unread();
            if unread.starts_with(PING) {
                self.consume(PING.len());
                return Ok(Some(Frame::KeepAlive));
            }
            match unread.first() {
                None => return Ok(None),
                Some(b'\r' | b'\n') if PING.starts_with(unread) => return Ok(None),
                Some(b'\r' | b'\n') => self.consume(1),
                Some(_) => break,
            }
        }

        let Some(head_len) = self.find_head_end() else {
            let waiting = self.unread().len();
            if waiting > self.max_message {
                return Err(Error::TooLarge(waiting));
            }
            return Ok(None);
        };
        if head_len > self.max_message {
            return Err(Error::TooLarge(head_len));
        }
        let head = self.unread().get(..head_len).unwrap_or_default();
        let body_len = content_length(head)?;
        let total = head_len
            .checked_add(body_len)
            .ok_or(Error::TooLarge(usize::MAX))?;
        if total > self.max_message {
            return Err(Error::TooLarge(total));
        }
        let Some(message) = self.unread().get(..total) else {
            return Ok(None);
        };
        let message = message.to_vec();
        self.consume(total);
        Ok(Some(Frame::Message(message)))
    }

    /// The length of the head including its blank line (CRLFCRLF or LFLF,
    /// the first of either), resuming the search where the last one stopped.
    fn find_head_end(&mut self) -> Option<usize> {
        let unread = self.unread();
        // A terminator may straddle the old end: look back 3 bytes.
        let from = self.scanned.saturating_sub(3);
        let window = unread.get(from..).unwrap_or_default();
        let found = window.windows(2).enumerate().find_map(|(i, pair)| {
            if pair != b"\n\n" && pair != b"\n\r" {
                return None;
            }
            let at = from + i;
            // "\n\n" ends at at+2; "\n\r\n" ends at at+3.
            match (pair, unread.get(at + 2)) {
                (b"\n\n", _) => Some(at + 2),
                (_, Some(b'\n')) => Some(at + 3),
                _ => None,
            }
        });
        if found.is_none() {
            self.scanned = unread.len();
        }
        found
    }
}

/// The Content-Length of a head (`Content-Length` or compact `l`, any case,
/// whitespace around the colon allowed). Folded lines are irrelevant here:
/// a continuation line never starts with a header name.
fn content_length(head: &[u8]) -> Result<usize, Error> {
    let mut found: Option<usize> = None;
    // Skip the start line: a request-URI may contain anything.
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let name = name.trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(Error::BadHeader("Content-Length"));
        }
        let length = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or(Error::TooLarge(usize::MAX))?;
        if found.is_some_and(|seen| seen != length) {
            return Err(Error::BadHeader("Content-Length"));
        }
        found = Some(length);
    }
    found.ok_or_else(|| Error::Malformed("no Content-Length on a stream".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 64 * 1024;

    fn message(body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "INVITE sip:400@192.0.2.1 SIP/2.0\r\n\
             Via: SIP/2.0/TCP 192.0.2.9;branch=z9hG4bKx\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Pushes `chunks` one after another, draining after each push.
    fn run(framer: &mut StreamFramer, chunks: &[&[u8]]) -> Result<Vec<Frame>, Error> {
        let mut frames = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            while let Some(frame) = framer.next()? {
                frames.push(frame);
            }
        }
        Ok(frames)
    }

    #[test]
    fn one_byte_at_a_time() {
        let body = b"v=0\r\n\r\nbody with a blank line inside\r\n\r\n";
        let mut stream = b"\r\n".to_vec();
        stream.extend(message(body));
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend(message(b""));
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();
        let frames = run(&mut StreamFramer::new(MAX), &chunks).unwrap();
        assert_eq!(
            frames,
            [
                Frame::Message(message(body)),
                Frame::KeepAlive,
                Frame::Message(message(b"")),
            ]
        );
    }

    #[test]
    fn several_messages_in_one_push() {
        let mut stream = message(b"one");
        stream.extend(message(b"two"));
        stream.extend(message(b"three"));
        stream.extend_from_slice(&message(b"four")[..10]);
        let mut framer = StreamFramer::new(MAX);
        let frames = run(&mut framer, &[&stream]).unwrap();
        assert_eq!(
            frames,
            [
                Frame::Message(message(b"one")),
                Frame::Message(message(b"two")),
                Frame::Message(message(b"three")),
            ]
        );
        let rest = &message(b"four")[10..];
        assert_eq!(
            run(&mut framer, &[rest]).unwrap(),
            [Frame::Message(message(b"four"))]
        );
    }

    #[test]
    fn keepalives_and_stray_line_ends() {
        let mut framer = StreamFramer::new(MAX);
        // A lone CRLF (a pong) might still become a ping: wait.
        assert_eq!(run(&mut framer, &[b"\r\n"]).unwrap(), []);
        assert_eq!(run(&mut framer, &[b"\r\n"]).unwrap(), [Frame::KeepAlive]);
        assert_eq!(
            run(&mut framer, &[b"\r\n\r\n\r\n\r\n"]).unwrap(),
            [Frame::KeepAlive, Frame::KeepAlive]
        );
        // A CRLF followed by a message is skipped.
        let mut stream = b"\r\n".to_vec();
        stream.extend(message(b"x"));
        assert_eq!(
            run(&mut framer, &[&stream]).unwrap(),
            [Frame::Message(message(b"x"))]
        );
        let mut lf = b"\n".to_vec();
        lf.extend(message(b"y"));
        assert_eq!(
            run(&mut framer, &[&lf]).unwrap(),
            [Frame::Message(message(b"y"))]
        );
    }

    #[test]
    fn lf_only_heads_compact_and_spaced_content_length() {
        let texts: [&[u8]; 4] = [
            b"OPTIONS sip:a@b SIP/2.0\nVia: x\nl: 3\n\nabc",
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nCONTENT-LENGTH :   3  \r\n\r\nabc",
            b"OPTIONS sip:a@b SIP/2.0\r\nL:3\r\n\r\nabc",
            b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n folded\r\ncontent-length: 3\r\n\r\nabc",
        ];
        for text in texts {
            let mut framer = StreamFramer::new(MAX);
            let mut stream = text.to_vec();
            stream.extend_from_slice(b"NEXT");
            assert_eq!(
                run(&mut framer, &[&stream]).unwrap(),
                [Frame::Message(text.to_vec())],
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn missing_or_bad_content_length_is_an_error_and_stays_one() {
        let mut framer = StreamFramer::new(MAX);
        let result = run(&mut framer, &[b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"]);
        assert!(matches!(result, Err(Error::Malformed(_))));
        assert!(matches!(framer.next(), Err(Error::Malformed(_))));
        framer.push(&message(b""));
        assert!(framer.next().is_err(), "an error is final");

        for bad in ["abc", "-1", "", "1 2"] {
            let head = format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {bad}\r\n\r\n");
            let result = run(&mut StreamFramer::new(MAX), &[head.as_bytes()]);
            assert_eq!(result, Err(Error::BadHeader("Content-Length")), "{bad}");
        }
        let twice = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n";
        assert_eq!(
            run(&mut StreamFramer::new(MAX), &[twice]),
            Err(Error::BadHeader("Content-Length"))
        );
        // The request-URI is not mistaken for a header.
        let uri = b"OPTIONS sip:l:5@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            run(&mut StreamFramer::new(MAX), &[uri]).unwrap(),
            [Frame::Message(uri.to_vec())]
        );
    }

    #[test]
    fn too_large_heads_and_bodies() {
        let mut framer = StreamFramer::new(100);
        let result = run(&mut framer, &[&[b'A'; 101]]);
        assert_eq!(result, Err(Error::TooLarge(101)));

        let big_body = format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n", 100);
        let result = run(&mut StreamFramer::new(100), &[big_body.as_bytes()]);
        assert!(matches!(result, Err(Error::TooLarge(n)) if n > 100));

        let huge = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
        assert!(matches!(
            run(&mut StreamFramer::new(100), &[huge]),
            Err(Error::TooLarge(_))
        ));
        // Exactly at the limit is fine.
        let exact = message(b"");
        let result = run(&mut StreamFramer::new(exact.len()), &[&exact]).unwrap();
        assert_eq!(result, [Frame::Message(exact)]);
    }

    #[test]
    fn garbage_is_rejected() {
        let result = run(
            &mut StreamFramer::new(MAX),
            &[b"\x16\x03\x01 hello\r\n\r\n"],
        );
        assert!(matches!(result, Err(Error::Malformed(_))));
        let mut framer = StreamFramer::new(1000);
        let noise = vec![b'x'; 600];
        assert_eq!(run(&mut framer, &[&noise]).unwrap(), []);
        assert_eq!(run(&mut framer, &[&noise]), Err(Error::TooLarge(1200)));
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"a=sendrecv\r\n\r\n\n\nContent-Length: 5\r\n\r\n".to_vec()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn any_chunking_yields_the_messages(
            bodies in prop::collection::vec((body(), any::<bool>()), 1..6),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for (body, ping) in &bodies {
                if *ping {
                    stream.extend_from_slice(b"\r\n\r\n");
                    expected.push(Frame::KeepAlive);
                }
                stream.extend(message(body));
                expected.push(Frame::Message(message(body)));
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[last..cut]);
                last = cut;
            }
            let frames = run(&mut StreamFramer::new(MAX), &chunks).unwrap();
            prop_assert_eq!(frames, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..10),
        ) {
            let mut framer = StreamFramer::new(300);
            let mut total = 0;
            for chunk in &chunks {
                framer.push(chunk);
                loop {
                    match framer.next() {
                        Ok(Some(Frame::Message(m))) => {
                            prop_assert!(m.len() <= 300);
                            total += m.len();
                        }
                        Ok(Some(Frame::KeepAlive)) => total += 4,
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            prop_assert!(total <= chunks.iter().map(Vec::len).sum::<usize>());
        }
    }
}
