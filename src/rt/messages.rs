//! Writes the messages callers leave in the IVR to WAV files (8 kHz,
//! 16-bit, mono) under the data directory, on a thread of its own so file
//! I/O never delays the driver's 20 ms packet clock.
//!
//! Invariants: a message file is finalised exactly once (on its end, or
//! when the writer stops); the header is brought up to date every second
//! while recording ([`hound::WavWriter::flush`]), so a crash leaves a valid
//! file holding all but the last second; a message's record
//! ([`RecordOp::Message`]) is queued only after its file is complete. A
//! file that cannot be written (disk full, no permission) is logged and
//! the call goes on.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tracing::{error, info};

use super::record_writer::RecordSink;
use crate::engine::CallKey;
use crate::records::RecordOp;

/// Samples between header updates: one second.
const FLUSH_EVERY: u64 = 8000;

enum Command {
    Start {
        call: CallKey,
        call_id: String,
        file: String,
    },
    Audio {
        call: CallKey,
        samples: Vec<i16>,
    },
    End {
        call: CallKey,
    },
}

/// The driver's handle; dropping it finishes every open message and
/// joins the thread.
pub struct MessageWriter {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

struct Open {
    writer: hound::WavWriter<BufWriter<File>>,
    call_id: String,
    file: String,
    samples: u64,
    unflushed: u64,
}

impl MessageWriter {
    pub fn spawn(data_dir: PathBuf, sink: RecordSink) -> MessageWriter {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hotline-messages".into())
            .spawn(move || run(&data_dir, &sink, &rx))
            .expect("spawning a thread");
        MessageWriter {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn start(&self, call: CallKey, call_id: String, file: String) {
        self.send(Command::Start {
            call,
            call_id,
            file,
        });
    }

    pub fn audio(&self, call: CallKey, samples: Vec<i16>) {
        self.send(Command::Audio { call, samples });
    }

    pub fn end(&self, call: CallKey) {
        self.send(Command::End { call });
    }

    fn send(&self, c: Command) {
        if let Some(tx) = &self.tx
            && tx.send(c).is_err()
        {
            error!("message writer thread is gone; message audio lost");
        }
    }
}

impl Drop for MessageWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(data_dir: &std::path::Path, sink: &RecordSink, rx: &mpsc::Receiver<Command>) {
    let mut open: HashMap<CallKey, Open> = HashMap::new();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for command in rx {
        match command {
            Command::Start {
                call,
                call_id,
                file,
            } => {
                let path = data_dir.join(&file);
                let created = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| File::create(&path))
                    .map_err(hound::Error::IoError)
                    .and_then(|f| hound::WavWriter::new(BufWriter::new(f), spec));
                match created {
                    Ok(writer) => {
                        open.insert(
                            call,
                            Open {
                                writer,
                                call_id,
                                file,
                                samples: 0,
                                unflushed: 0,
                            },
                        );
                    }
                    Err(e) => {
                        error!(call_id, path = %path.display(), error = %e, "cannot record the caller's message")
                    }
                }
            }
            Command::Audio { call, samples } => {
                let Some(m) = open.get_mut(&call) else {
                    continue;
                };
                let mut failed = None;
                for s in &samples {
                    if let Err(e) = m.writer.write_sample(*s) {
                        failed = Some(e);
                        break;
                    }
                }
                m.samples += samples.len() as u64;
                m.unflushed += samples.len() as u64;
                if failed.is_none() && m.unflushed >= FLUSH_EVERY {
                    m.unflushed = 0;
                    failed = m.writer.flush().err();
                }
                if let Some(e) = failed {
                    error!(call_id = m.call_id, file = m.file, error = %e, "message recording failed; keeping what was written");
                    if let Some(m) = open.remove(&call) {
                        finish(m, sink);
                    }
                }
            }
            Command::End { call } => {
                if let Some(m) = open.remove(&call) {
                    finish(m, sink);
                }
            }
        }
    }
    for (_, m) in open.drain() {
        finish(m, sink);
    }
}

fn finish(m: Open, sink: &RecordSink) {
    let duration_ms = i64::try_from(m.samples / 8).unwrap_or(i64::MAX);
    match m.writer.finalize() {
        Ok(()) => {
            info!(
                call_id = m.call_id,
                file = m.file,
                duration_ms,
                "message saved"
            );
            sink.send(RecordOp::Message {
                call_id: m.call_id,
                file: m.file,
                duration_ms,
                at: super::wall_ms(),
            });
        }
        Err(e) => {
            error!(call_id = m.call_id, file = m.file, error = %e, "cannot finish the message file")
        }
    }
}
