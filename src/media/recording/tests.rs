use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

const FRAME: usize = SAMPLES_PER_FRAME;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Everything handed out so far, as (left, right) pairs.
fn drain(r: &mut Recorder) -> Vec<(i16, i16)> {
    let mut out = Vec::new();
    while let Some(c) = r.poll_chunk() {
        match c {
            Chunk::Audio(s) => out.extend(s.chunks(2).map(|p| (p[0], p[1]))),
            Chunk::Silence(n) => out.extend((0..n).map(|_| (0, 0))),
        }
    }
    out
}

#[test]
fn each_side_lands_on_its_channel_in_time() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    let mut all = Vec::new();
    for k in 0..50u64 {
        // Slot k goes out at its start; the caller's packet for it
        // arrives some time within it.
        r.heard(&[1000; FRAME]);
        if k >= 10 {
            r.caller(&[-500; FRAME]);
        }
        r.advance(t0 + ms(20 * (k + 1)));
        all.extend(drain(&mut r));
    }
    assert_eq!(
        all.len(),
        50 * FRAME,
        "one second of call, one second of file"
    );
    assert!(all[..10 * FRAME].iter().all(|&(l, r)| l == 0 && r == 1000));
    assert!(
        all[10 * FRAME..]
            .iter()
            .all(|&(l, r)| l == -500 && r == 1000)
    );
}

#[test]
fn a_silent_stretch_is_kept_as_silence_not_squeezed_out() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    r.caller(&[7; FRAME]);
    r.advance(t0 + ms(20));
    // Ten minutes on hold: nothing on either side.
    r.advance(t0 + ms(20 + 600_000));
    r.caller(&[9; FRAME]);
    r.finish(t0 + ms(40 + 600_000));
    let mut chunks = Vec::new();
    while let Some(c) = r.poll_chunk() {
        chunks.push(c);
    }
    assert_eq!(
        chunks,
        vec![
            Chunk::Audio([7, 0].repeat(FRAME)),
            Chunk::Silence(600 * 8000),
            Chunk::Audio([9, 0].repeat(FRAME)),
        ],
        "the hold is one silence chunk, not ten minutes of buffers"
    );
    assert_eq!(r.samples(), 8000 * 600 + 2 * FRAME as u64);
}

#[test]
fn finish_adds_the_last_partial_frame() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    r.advance(t0 + ms(1005));
    assert_eq!(
        r.samples(),
        50 * FRAME as u64,
        "only whole frames while running"
    );
    r.finish(t0 + ms(1005));
    assert_eq!(r.samples(), 8040, "1.005 s to the sample");
    assert_eq!(drain(&mut r).len(), 8040);
}

#[test]
fn a_pause_is_silence_and_drops_what_was_said_during_it() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    let mut all = Vec::new();
    for k in 0..30u64 {
        let now = t0 + ms(20 * k);
        if k == 10 {
            r.set_paused(now, true);
            assert!(r.is_paused());
        }
        if k == 20 {
            r.set_paused(now, false);
        }
        r.heard(&[300; FRAME]);
        r.caller(&[-300; FRAME]);
        r.advance(now + ms(20));
        all.extend(drain(&mut r));
    }
    assert_eq!(all.len(), 30 * FRAME);
    assert!(all[..10 * FRAME].iter().all(|&p| p == (-300, 300)));
    assert!(
        all[10 * FRAME..20 * FRAME].iter().all(|&p| p == (0, 0)),
        "the card number read out during the pause is not in the file"
    );
    assert!(all[20 * FRAME..].iter().all(|&p| p == (-300, 300)));
}

#[test]
fn a_flooding_side_cannot_push_the_channels_apart() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    // A burst of a second's audio at once (a jitter buffer releasing).
    r.caller(&vec![5; 8000]);
    r.advance(t0 + ms(20));
    r.finish(t0 + ms(200));
    let all = drain(&mut r);
    let kept = all.iter().filter(|&&(l, _)| l == 5).count();
    assert_eq!(kept, MAX_BACKLOG, "only the newest backlog is kept");
    assert_eq!(all.len(), 1600);
}

#[test]
fn next_due_is_the_end_of_the_frame_being_filled() {
    let t0 = Instant::now();
    let mut r = Recorder::new(t0);
    assert_eq!(r.next_due(), t0 + ms(20));
    r.advance(t0 + ms(47));
    assert_eq!(r.next_due(), t0 + ms(60));
    assert_eq!(r.offset(t0 + ms(47)), ms(47));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives when, and however the driver is late: the file is
    /// exactly as long as the time that passed, each side's audio is on
    /// its own channel, and no sample arrives in a paused span.
    #[test]
    fn length_is_time_and_channels_never_mix(
        steps in proptest::collection::vec(
            (0u64..120, 0usize..3 * FRAME, 0usize..3 * FRAME, any::<bool>()), 1..200),
        tail in 0u64..40,
    ) {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0);
        let mut now = t0;
        let mut all = Vec::new();
        // Paused spans in sample pairs: [from, to).
        let mut paused: Vec<(u64, u64)> = Vec::new();
        for (gap, left, right, pause) in steps {
            now += ms(gap);
            if pause != r.is_paused() && gap % 7 == 0 {
                r.set_paused(now, pause);
                if pause {
                    paused.push((r.samples(), u64::MAX));
                } else if let Some(span) = paused.last_mut() {
                    span.1 = r.samples();
                }
            }
            r.caller(&vec![1; left]);
            r.heard(&vec![2; right]);
            r.advance(now);
            all.extend(drain(&mut r));
            let due = now.duration_since(t0).as_micros() as u64 * 8 / 1000;
            // Whole frames, or to the sample where a pause began or ended.
            prop_assert!(r.samples() >= due - due % FRAME as u64 && r.samples() <= due);
            prop_assert_eq!(all.len() as u64, r.samples());
        }
        now += ms(tail);
        r.finish(now);
        all.extend(drain(&mut r));
        let due = now.duration_since(t0).as_micros() as u64 * 8 / 1000;
        prop_assert_eq!(all.len() as u64, due);
        prop_assert!(all.iter().all(|&(l, r)| (l == 0 || l == 1) && (r == 0 || r == 2)));
        for (from, to) in paused {
            let to = to.min(all.len() as u64);
            prop_assert!(all[from as usize..to as usize].iter().all(|&p| p == (0, 0)));
        }
    }
}
