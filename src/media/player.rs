//! Prompts and the queue that cuts them into 20 ms frames.
//!
//! Owns the order in which queued prompts play and the framing: every frame
//! is [`SAMPLES_PER_FRAME`] samples (20 ms at 8 kHz); a prompt's last frame
//! is padded with silence (linear 0), so a prompt of `n` samples takes
//! `ceil(n / 160)` frames and the next prompt starts on a frame boundary.
//!
//! Invariant: the prompt being played always has samples left; a prompt is
//! finished (and its id queued for [`Player::poll_finished`]) the moment its
//! last frame is taken, and an empty prompt finishes as soon as it reaches
//! the head of the queue, without taking a frame. Pacing is not done here:
//! [`crate::media::session`] decides when a frame is due.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Sampling rate of prompts and of G.711.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz.
pub const SAMPLES_PER_FRAME: usize = 160;
/// Duration of one frame (and the packetisation time of the RTP stream).
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// An audio prompt: 8 kHz, 16-bit, mono samples, shared without copying
/// between all the calls that play it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Name for logs and events (usually the file stem).
    pub name: String,
    /// The samples.
    pub samples: Arc<[i16]>,
}

impl Prompt {
    /// A prompt from a name and samples.
    pub fn new(name: impl Into<String>, samples: impl Into<Arc<[i16]>>) -> Self {
        Self {
            name: name.into(),
            samples: samples.into(),
        }
    }

    /// Number of 20 ms frames the prompt takes, the last one padded.
    #[must_use]
    pub fn frame_count(&self) -> usize {
        self.samples.len().div_ceil(SAMPLES_PER_FRAME)
    }
}

/// Identifies one `play` request within a session, so the engine can tell
/// which prompt finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptId(u64);

/// What a frame taken from the player carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// The prompt the samples come from; `None` for silence.
    pub prompt: Option<PromptId>,
    /// This is the prompt's first frame.
    pub first: bool,
}

#[derive(Debug, Clone)]
struct Playing {
    id: PromptId,
    prompt: Prompt,
    /// Samples already taken.
    position: usize,
}

/// A queue of prompts played one after the other, frame by frame.
#[derive(Debug, Clone, Default)]
pub struct Player {
    next_id: u64,
    current: Option<Playing>,
    queue: VecDeque<(PromptId, Prompt)>,
    finished: VecDeque<PromptId>,
}

impl Player {
    /// An idle player.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `prompt` after everything already queued.
    pub fn enqueue(&mut self, prompt: Prompt) -> PromptId {
        let id = PromptId(self.next_id);
        self.next_id += 1;
        self.queue.push_back((id, prompt));
        self.settle();
        id
    }

    /// Nothing is playing or queued.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// Fills `out` with the next frame: prompt samples (padded with 0 at the
    /// end of a prompt), or silence when idle.
    pub fn next_frame(&mut self, out: &mut [i16; SAMPLES_PER_FRAME]) -> FrameInfo {
        let Some(playing) = self.current.as_mut() else {
            out.fill(0);
            return FrameInfo {
                prompt: None,
                first: false,
            };
        };
        let rest = playing
            .prompt
            .samples
            .get(playing.position..)
            .unwrap_or(&[]);
        let take = rest.len().min(SAMPLES_PER_FRAME);
        let (head, tail) = out.split_at_mut(take);
        head.copy_from_slice(rest.get(..take).unwrap_or(&[]));
        tail.fill(0);
        let info = FrameInfo {
            prompt: Some(playing.id),
            first: playing.position == 0,
        };
        playing.position += take;
        self.settle();
        info
    }

    /// The next prompt that played to its end, in the order they finished.
    #[must_use]
    pub fn poll_finished(&mut self) -> Option<PromptId> {
        self.finished.pop_front()
    }

    /// Drops the playing prompt and the queue; returns their ids, playing
    /// one first. Prompts already finished stay available to `poll_finished`.
    pub fn clear(&mut self) -> Vec<PromptId> {
        self.current
            .take()
            .map(|p| p.id)
            .into_iter()
            .chain(self.queue.drain(..).map(|(id, _)| id))
            .collect()
    }

    /// Restores the invariant: finish the current prompt if it has no
    /// samples left, and start the next one that has samples.
    fn settle(&mut self) {
        loop {
            match &self.current {
                Some(p) if p.position < p.prompt.samples.len() => return,
                Some(p) => {
                    self.finished.push_back(p.id);
                    self.current = None;
                }
                None => {
                    let Some((id, prompt)) = self.queue.pop_front() else {
                        return;
                    };
                    self.current = Some(Playing {
                        id,
                        prompt,
                        position: 0,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(len: usize) -> Prompt {
        let samples: Vec<i16> = (1..=len)
            .map(|i| i16::try_from(i % 30_000).unwrap())
            .collect();
        Prompt::new(format!("ramp{len}"), samples)
    }

    fn frames(player: &mut Player) -> Vec<(FrameInfo, [i16; SAMPLES_PER_FRAME])> {
        let mut all = Vec::new();
        while !player.is_idle() {
            let mut frame = [0; SAMPLES_PER_FRAME];
            let info = player.next_frame(&mut frame);
            all.push((info, frame));
        }
        all
    }

    #[test]
    fn frame_counts_and_padding() {
        for (len, count) in [(0, 0), (1, 1), (159, 1), (160, 1), (161, 2), (800, 5)] {
            assert_eq!(ramp(len).frame_count(), count);
            let mut player = Player::new();
            let id = player.enqueue(ramp(len));
            let taken = frames(&mut player);
            assert_eq!(taken.len(), count, "len {len}");
            assert_eq!(player.poll_finished(), Some(id));
            assert_eq!(player.poll_finished(), None);
            let samples: Vec<i16> = taken.iter().flat_map(|(_, f)| f.iter().copied()).collect();
            assert_eq!(samples.get(..len), Some(&ramp(len).samples[..]));
            assert!(samples.get(len..).unwrap().iter().all(|&s| s == 0));
            for (i, (info, _)) in taken.iter().enumerate() {
                assert_eq!(info.prompt, Some(id));
                assert_eq!(info.first, i == 0);
            }
        }
    }

    #[test]
    fn prompts_play_in_order_and_finish_on_their_last_frame() {
        let mut player = Player::new();
        let a = player.enqueue(ramp(200));
        let empty = player.enqueue(ramp(0));
        let b = player.enqueue(ramp(160));
        let mut frame = [0; SAMPLES_PER_FRAME];
        assert_eq!(player.next_frame(&mut frame).prompt, Some(a));
        assert_eq!(player.poll_finished(), None);
        assert_eq!(player.next_frame(&mut frame).prompt, Some(a));
        // The empty prompt finishes right after `a`, taking no frame.
        assert_eq!(player.poll_finished(), Some(a));
        assert_eq!(player.poll_finished(), Some(empty));
        let info = player.next_frame(&mut frame);
        assert_eq!((info.prompt, info.first), (Some(b), true));
        assert_eq!(player.poll_finished(), Some(b));
        let info = player.next_frame(&mut frame);
        assert_eq!(info.prompt, None);
        assert_eq!(frame, [0; SAMPLES_PER_FRAME]);
    }

    #[test]
    fn clear_returns_playing_then_queued() {
        let mut player = Player::new();
        let a = player.enqueue(ramp(500));
        let b = player.enqueue(ramp(500));
        let mut frame = [0; SAMPLES_PER_FRAME];
        let _ = player.next_frame(&mut frame);
        assert_eq!(player.clear(), [a, b]);
        assert!(player.is_idle());
        assert_eq!(player.poll_finished(), None);
        assert_eq!(player.clear(), []);
        let c = player.enqueue(ramp(10));
        assert!(c > b);
    }
}
