//! What the test browser's microphone and keypad send, in the units the
//! tests speak: a tone, a key press.

use std::time::Instant;

use super::test_browser::TestBrowser;
use crate::media::dtmf::encode_event;
use crate::media::g711::{self, Law};

/// 20 ms of a `freq` Hz tone, as PCMU.
pub fn send_tone(b: &mut TestBrowser, now: Instant, freq: f64) {
    let samples: Vec<i16> = (0..160u32)
        .map(|i| {
            let t = f64::from(b.timestamp.wrapping_add(i)) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    let mut payload = Vec::new();
    g711::encode_into(Law::Pcmu, &samples, &mut payload);
    b.send(now, 0, false, payload, 160);
}

/// One RFC 4733 press of `key` (payload type 126, as Chrome offers it): a
/// start, then three End packets, all at the press's timestamp.
pub fn send_key(b: &mut TestBrowser, now: Instant, key: char) {
    for (i, end) in [false, true, true, true].into_iter().enumerate() {
        let payload = encode_event(key, end, 10, 800).expect("a key");
        let advance = if i == 3 { 800 } else { 0 };
        b.send(now, 126, i == 0, payload.to_vec(), advance);
    }
}
