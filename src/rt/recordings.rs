//! Call recordings on disk: the writer thread that turns the engine's
//! [`Chunk`]s into one stereo WAV per call (8 kHz, 16-bit; the caller on
//! the left, what the caller heard on the right), the repair of files a
//! crash cut off, and the retention that deletes old ones.
//!
//! Invariants:
//! - Audio goes to disk as the call goes (never the whole call in memory),
//!   and the WAV header is brought up to date every [`FLUSH_EVERY`], so a
//!   kill leaves a file holding all but the last moments, which
//!   [`repair_unfinished`] makes valid at the next start.
//! - A recording's `RecordingStarted` op is sent only once its file exists,
//!   and its `RecordingDone` only once the file is final (finalised, or
//!   deleted when not kept): the call record never names a file that is
//!   not there, nor a hash of a file still changing.
//! - A file that cannot be created or written (disk full, a folder not
//!   writable) is logged as an error and its record says failed; the call
//!   goes on, and so do the other calls' recordings.
//! - The retention marks a recording deleted before it deletes the file,
//!   on a condition that excludes legal holds: a hold that comes in between
//!   keeps its file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

use super::record_writer::RecordSink;
use crate::config::RecordingPolicy;
use crate::engine::CallKey;
use crate::media::recording::{Chunk, SAMPLE_RATE};
use crate::records::{RecordOp, RecordingState};
use crate::store::Store;

/// Sample pairs between header updates: half a second.
const FLUSH_EVERY: u64 = SAMPLE_RATE as u64 / 2;

/// The longest recording kept: 24 hours (a WAV file holds at most 4 GiB;
/// this is 2.6 GiB). What comes after is not written, and the record
/// says so.
const MAX_SAMPLES: u64 = 24 * 3600 * SAMPLE_RATE as u64;

/// How often the retention looks for recordings to delete, and how many
/// it deletes in one go.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
const RETENTION_BATCH: i64 = 500;

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 2,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

enum Command {
    Start {
        call: CallKey,
        call_id: String,
        file: String,
        started_at: i64,
    },
    Audio {
        call: CallKey,
        chunk: Chunk,
    },
    End {
        call: CallKey,
        keep: bool,
        agents: Vec<i64>,
    },
}

/// The driver's handle; dropping it finishes every open recording (as cut
/// off: their calls did not end) and joins the thread.
pub struct RecordingWriter {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingWriter {
    /// `failures` counts the recordings that could not be written, for
    /// `/api/health`.
    pub fn spawn(data_dir: PathBuf, sink: RecordSink, failures: Arc<AtomicU64>) -> RecordingWriter {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hotline-recordings".into())
            .spawn(move || run(&data_dir, &sink, &rx, &failures))
            .expect("spawning a thread");
        RecordingWriter {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn start(&self, call: CallKey, call_id: String, file: String, started_at: i64) {
        self.send(Command::Start {
            call,
            call_id,
            file,
            started_at,
        });
    }

    pub fn audio(&self, call: CallKey, chunk: Chunk) {
        self.send(Command::Audio { call, chunk });
    }

    pub fn end(&self, call: CallKey, keep: bool, agents: Vec<i64>) {
        self.send(Command::End { call, keep, agents });
    }

    fn send(&self, c: Command) {
        if let Some(tx) = &self.tx
            && tx.send(c).is_err()
        {
            error!("recording writer thread is gone; recording audio lost");
        }
    }
}

impl Drop for RecordingWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One recording being written.
struct Open {
    call_id: String,
    file: String,
    path: PathBuf,
    /// `None` once writing failed: the rest of the call is not written.
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    /// Sample pairs written.
    samples: u64,
    unflushed: u64,
    /// Why not all of the call is in the file.
    trouble: Option<String>,
}

impl Open {
    fn write(&mut self, chunk: &Chunk) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        let pairs = match chunk {
            Chunk::Audio(s) => s.len() as u64 / 2,
            Chunk::Silence(n) => *n,
        };
        if self.samples + pairs > MAX_SAMPLES {
            self.stop_writing("the call outlasted the longest recording (24 h)".into());
            return;
        }
        let written = match chunk {
            Chunk::Audio(s) => write_samples(writer, s.iter().copied(), s.len()),
            Chunk::Silence(n) => {
                let mut left = n * 2;
                let mut result = Ok(());
                while left > 0 && result.is_ok() {
                    let block = left.min(64 * 1024);
                    result = write_samples(
                        writer,
                        std::iter::repeat_n(0, block as usize),
                        block as usize,
                    );
                    left -= block;
                }
                result
            }
        };
        self.samples += pairs;
        self.unflushed += pairs;
        let flushed = match written {
            Ok(()) if self.unflushed >= FLUSH_EVERY => {
                self.unflushed = 0;
                writer.flush()
            }
            other => other,
        };
        if let Err(e) = flushed {
            error!(call_id = self.call_id, file = self.file, error = %e,
                "cannot write the call's recording (disk full? folder not writable?); the call goes on, the recording stops here");
            self.stop_writing(format!(
                "writing failed after {} s: {e}",
                self.samples / u64::from(SAMPLE_RATE)
            ));
        }
    }

    fn stop_writing(&mut self, why: String) {
        if let Some(w) = self.writer.take() {
            let _ = w.finalize();
        }
        self.trouble.get_or_insert(why);
    }

    /// Closes the file and says how the recording ended; returns that.
    fn finish(
        mut self,
        sink: &RecordSink,
        keep: bool,
        agents: &[i64],
        cut_off: Option<&str>,
    ) -> RecordingState {
        let agents = agents
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        if let Some(w) = self.writer.take()
            && let Err(e) = w.finalize()
        {
            self.trouble
                .get_or_insert(format!("cannot finish the file: {e}"));
        }
        if !keep {
            if let Err(e) = std::fs::remove_file(&self.path) {
                warn!(call_id = self.call_id, file = self.file, error = %e, "cannot delete a recording the policy does not keep");
            }
            sink.send(without_file(
                self.call_id,
                RecordingState::Discarded,
                "the call reached no recorded queue".into(),
            ));
            return RecordingState::Discarded;
        }
        let (state, note) = match (cut_off, self.trouble.take()) {
            (_, Some(trouble)) => (RecordingState::Failed, trouble),
            (Some(why), None) => (RecordingState::CutOff, why.to_owned()),
            (None, None) => (RecordingState::Complete, String::new()),
        };
        // A file whose last header update failed is made valid here.
        if state == RecordingState::Failed
            && let Err(e) = repair_wav(&self.path)
        {
            warn!(call_id = self.call_id, file = self.file, error = %e, "cannot repair a failed recording");
        }
        let (sha256, bytes) = match hash_file(&self.path) {
            Ok((h, b)) => (Some(h), b),
            Err(_) => (None, 0),
        };
        let duration_ms =
            i64::try_from(self.samples * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(i64::MAX);
        info!(
            call_id = self.call_id,
            file = self.file,
            duration_ms,
            state = state.as_str(),
            "recording saved"
        );
        sink.send(RecordOp::RecordingDone {
            call_id: self.call_id,
            state,
            duration_ms,
            bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            sha256,
            agents,
            note,
        });
        state
    }
}

/// The end of a recording that left no file to play.
fn without_file(call_id: String, state: RecordingState, note: String) -> RecordOp {
    RecordOp::RecordingDone {
        call_id,
        state,
        duration_ms: 0,
        bytes: 0,
        sha256: None,
        agents: String::new(),
        note,
    }
}

fn write_samples(
    writer: &mut hound::WavWriter<BufWriter<File>>,
    samples: impl Iterator<Item = i16>,
    n: usize,
) -> Result<(), hound::Error> {
    let mut w = writer.get_i16_writer(u32::try_from(n).unwrap_or(u32::MAX));
    for s in samples.take(n) {
        w.write_sample(s);
    }
    w.flush()
}

fn run(data_dir: &Path, sink: &RecordSink, rx: &mpsc::Receiver<Command>, failures: &AtomicU64) {
    let mut open: HashMap<CallKey, Open> = HashMap::new();
    for command in rx {
        match command {
            Command::Start {
                call,
                call_id,
                file,
                started_at,
            } => {
                let path = data_dir.join(&file);
                let created = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| File::create(&path))
                    .map_err(hound::Error::IoError)
                    .and_then(|f| hound::WavWriter::new(BufWriter::new(f), spec()));
                match created {
                    Ok(writer) => {
                        sink.send(RecordOp::RecordingStarted {
                            call_id: call_id.clone(),
                            file: file.clone(),
                            started_at,
                        });
                        open.insert(
                            call,
                            Open {
                                call_id,
                                file,
                                path,
                                writer: Some(writer),
                                samples: 0,
                                unflushed: 0,
                                trouble: None,
                            },
                        );
                    }
                    Err(e) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        error!(call_id, path = %path.display(), error = %e,
                            "cannot create the call's recording (disk full? folder not writable?); the call goes on unrecorded");
                        sink.send(without_file(
                            call_id,
                            RecordingState::Failed,
                            format!("cannot create the file: {e}"),
                        ));
                    }
                }
            }
            Command::Audio { call, chunk } => {
                if let Some(o) = open.get_mut(&call) {
                    o.write(&chunk);
                }
            }
            Command::End { call, keep, agents } => {
                if let Some(o) = open.remove(&call)
                    && o.finish(sink, keep, &agents, None) == RecordingState::Failed
                {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    for (_, o) in open.drain() {
        let cut_off = Some("the server stopped during the call");
        if o.finish(sink, true, &[], cut_off) == RecordingState::Failed {
            failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// SHA-256 (lowercase hex) and size of a file.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok((hex, bytes))
}

/// Makes a WAV file whose writer was killed valid again: the sizes in its
/// header are set to what the file holds (whole sample frames; a torn
/// last frame is cut). Returns the sample frames it holds.
pub fn repair_wav(path: &Path) -> std::io::Result<u64> {
    let bad = |why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a WAV file we wrote: {why}"),
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut head = vec![0u8; usize::try_from(len.min(4096)).unwrap_or(4096)];
    file.read_exact(&mut head)?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let mut at = 12usize;
    let mut block = None;
    let data_start = loop {
        if at + 8 > head.len() {
            return Err(bad("no data chunk"));
        }
        let size = u32_at(at + 4) as usize;
        match &head[at..at + 4] {
            b"fmt " if at + 8 + 14 <= head.len() => {
                block = Some(u16::from_le_bytes([head[at + 20], head[at + 21]]));
            }
            b"data" => break at + 8,
            _ => {}
        }
        at += 8 + size + (size & 1);
    };
    let block = u64::from(
        block
            .filter(|b| *b > 0)
            .ok_or_else(|| bad("no fmt chunk"))?,
    );
    let data = (len - data_start as u64) / block * block;
    let end = data_start as u64 + data;
    let riff = u32::try_from(end - 8).map_err(|_| bad("larger than 4 GiB"))?;
    let data32 = u32::try_from(data).map_err(|_| bad("larger than 4 GiB"))?;
    file.set_len(end)?;
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&riff.to_le_bytes())?;
    file.seek(SeekFrom::Start(data_start as u64 - 4))?;
    file.write_all(&data32.to_le_bytes())?;
    file.sync_all()?;
    Ok(data / block)
}

/// At start: every recording the last run was writing when it stopped
/// (a crash, a kill) is repaired and marked cut off. Run before any call
/// is taken. Returns how many were repaired.
pub async fn repair_unfinished(store: &Store, data_dir: &Path, sink: &RecordSink) -> usize {
    let unfinished = match store.unfinished_recordings().await {
        Ok(u) => u,
        Err(e) => {
            error!(error = %e, "cannot look for recordings cut off by the last stop");
            return 0;
        }
    };
    let mut repaired = 0;
    for (call_id, file) in unfinished {
        let path = data_dir.join(&file);
        let outcome = tokio::task::spawn_blocking(move || {
            let samples = repair_wav(&path)?;
            let (sha, bytes) = hash_file(&path)?;
            Ok::<_, std::io::Error>((samples, sha, bytes))
        })
        .await;
        let op = match outcome {
            Ok(Ok((samples, sha, bytes))) => {
                repaired += 1;
                warn!(
                    call_id,
                    file,
                    seconds = samples / u64::from(SAMPLE_RATE),
                    "recording cut off by the last stop: repaired, audio kept up to the stop"
                );
                RecordOp::RecordingDone {
                    call_id,
                    state: RecordingState::CutOff,
                    duration_ms: i64::try_from(samples * 1000 / u64::from(SAMPLE_RATE))
                        .unwrap_or(i64::MAX),
                    bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
                    sha256: Some(sha),
                    agents: String::new(),
                    note: "cut off: the server stopped during the call; repaired at the next start"
                        .into(),
                }
            }
            Ok(Err(e)) => {
                error!(call_id, file, error = %e, "a recording cut off by the last stop cannot be repaired");
                without_file(
                    call_id,
                    RecordingState::Failed,
                    format!("cut off by a stop, and cannot be repaired: {e}"),
                )
            }
            Err(e) => {
                error!(error = %e, "repairing a recording panicked");
                continue;
            }
        };
        sink.send(op);
    }
    repaired
}

/// Deletes recordings whose retention ran out, at start and then every
/// [`RETENTION_EVERY`], until `stop` says so. (The policy is the one the
/// server started with; a SIGHUP does not change it.)
pub async fn retention(
    store: Store,
    data_dir: PathBuf,
    policy: RecordingPolicy,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RETENTION_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        while delete_expired(&store, &data_dir, &policy).await >= RETENTION_BATCH as usize {}
    }
}

/// One round of the retention; how many recordings it deleted.
pub async fn delete_expired(store: &Store, data_dir: &Path, policy: &RecordingPolicy) -> usize {
    let now = super::wall_ms();
    let expired = match store.expired_recordings(policy, now, RETENTION_BATCH).await {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "retention: cannot list old recordings; trying again later");
            return 0;
        }
    };
    let mut deleted = 0;
    for (call_id, file) in expired {
        match store.mark_recording_deleted(&call_id, now).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warn!(call_id, error = %e, "retention: cannot mark a recording deleted; trying again later");
                break;
            }
        }
        match tokio::fs::remove_file(data_dir.join(&file)).await {
            Ok(()) => info!(call_id, file, "retention: recording deleted"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                info!(call_id, file, "retention: recording was already gone")
            }
            Err(e) => {
                error!(call_id, file, error = %e, "retention: cannot delete the recording file")
            }
        }
        deleted += 1;
    }
    deleted
}

#[cfg(test)]
mod tests;
