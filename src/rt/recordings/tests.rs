use std::f64::consts::TAU;
use std::io::Write;

use tokio::sync::mpsc::UnboundedReceiver;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hotline-rec-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `n` sample pairs: 440 Hz on the left, 1 kHz on the right.
fn tones(from: usize, n: usize) -> Vec<i16> {
    (from..from + n)
        .flat_map(|i| {
            let t = i as f64 / 8000.0;
            [
                (8000.0 * (TAU * 440.0 * t).sin()) as i16,
                (8000.0 * (TAU * 1000.0 * t).sin()) as i16,
            ]
        })
        .collect()
}

fn ops(rx: &mut UnboundedReceiver<RecordOp>) -> Vec<RecordOp> {
    let mut out = Vec::new();
    while let Ok(op) = rx.try_recv() {
        out.push(op);
    }
    out
}

fn done(ops: &[RecordOp]) -> (RecordingState, i64, i64, Option<String>, String, String) {
    ops.iter()
        .find_map(|op| match op {
            RecordOp::RecordingDone {
                state,
                duration_ms,
                bytes,
                sha256,
                agents,
                note,
                ..
            } => Some((
                *state,
                *duration_ms,
                *bytes,
                sha256.clone(),
                agents.clone(),
                note.clone(),
            )),
            _ => None,
        })
        .expect("a RecordingDone")
}

#[test]
fn a_call_is_written_as_it_goes_into_one_stereo_wav_with_its_hash() {
    let dir = temp_dir("ok");
    let (sink, mut rx) = RecordSink::for_test();
    let writer = RecordingWriter::spawn(dir.clone(), sink, Arc::default());
    let file = "recordings/2026/12/06/c1.wav";
    writer.start(1, "c1".into(), file.into(), 1_000);
    for k in 0..50 {
        writer.audio(1, Chunk::Audio(tones(k * 160, 160)));
    }
    writer.audio(1, Chunk::Silence(4000));
    writer.end(1, true, vec![3, 5]);
    drop(writer);

    let ops = ops(&mut rx);
    assert_eq!(
        ops[0],
        RecordOp::RecordingStarted {
            call_id: "c1".into(),
            file: file.into(),
            started_at: 1_000
        }
    );
    let (state, duration_ms, bytes, sha, agents, note) = done(&ops);
    assert_eq!(
        (state, duration_ms, agents.as_str(), note.as_str()),
        (RecordingState::Complete, 1500, "3,5", "")
    );
    let path = dir.join(file);
    let (real_sha, real_bytes) = hash_file(&path).unwrap();
    assert_eq!(sha, Some(real_sha));
    assert_eq!(bytes as u64, real_bytes);
    assert_eq!(real_bytes, 44 + 12_000 * 4, "a plain 44-byte header");

    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!(wav.spec(), spec());
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 24_000);
    assert_eq!(&samples[..16_000], &tones(0, 8000)[..]);
    assert!(samples[16_000..].iter().all(|s| *s == 0));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_call_the_policy_does_not_keep_leaves_no_file() {
    let dir = temp_dir("discard");
    let (sink, mut rx) = RecordSink::for_test();
    let writer = RecordingWriter::spawn(dir.clone(), sink, Arc::default());
    writer.start(1, "c2".into(), "recordings/c2.wav".into(), 0);
    writer.audio(1, Chunk::Audio(tones(0, 800)));
    writer.end(1, false, vec![]);
    drop(writer);
    assert_eq!(done(&ops(&mut rx)).0, RecordingState::Discarded);
    assert!(!dir.join("recordings/c2.wav").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unwritable_folder_or_a_full_disk_fails_that_recording_and_no_other() {
    let dir = temp_dir("fail");
    // `recordings` is a file: nothing can be created under it.
    std::fs::write(dir.join("recordings"), b"in the way").unwrap();
    // And "full" is a disk that is full.
    std::fs::create_dir_all(dir.join("full")).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.join("full/c4.wav")).unwrap();
    let (sink, mut rx) = RecordSink::for_test();
    let failures = Arc::new(AtomicU64::new(0));
    let writer = RecordingWriter::spawn(dir.clone(), sink, failures.clone());
    writer.start(1, "c3".into(), "recordings/c3.wav".into(), 0);
    writer.start(2, "c4".into(), "full/c4.wav".into(), 0);
    writer.start(3, "c5".into(), "ok/c5.wav".into(), 0);
    for k in 0..25 {
        for call in 1..=3 {
            writer.audio(call, Chunk::Audio(tones(k * 160, 160)));
        }
    }
    for call in 1..=3 {
        writer.end(call, true, vec![]);
    }
    drop(writer);
    let ops = ops(&mut rx);
    let of = |id: &str| {
        done(
            &ops.iter()
                .filter(|op| op.call_id() == id)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    let (state, .., note) = of("c3");
    assert_eq!(state, RecordingState::Failed);
    assert!(note.starts_with("cannot create the file"), "{note}");
    let (state, .., note) = of("c4");
    assert_eq!(state, RecordingState::Failed);
    assert!(note.contains("writing failed"), "{note}");
    let (state, duration, ..) = of("c5");
    assert_eq!(
        (state, duration),
        (RecordingState::Complete, 500),
        "the others go on"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        2,
        "counted for /api/health"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_writer_stopped_mid_call_marks_its_recordings_cut_off() {
    let dir = temp_dir("stop");
    let (sink, mut rx) = RecordSink::for_test();
    let writer = RecordingWriter::spawn(dir.clone(), sink, Arc::default());
    writer.start(1, "c6".into(), "c6.wav".into(), 0);
    writer.audio(1, Chunk::Audio(tones(0, 1600)));
    drop(writer);
    let (state, duration, ..) = done(&ops(&mut rx));
    assert_eq!((state, duration), (RecordingState::CutOff, 200));
    assert_eq!(
        hound::WavReader::open(dir.join("c6.wav"))
            .unwrap()
            .duration(),
        1600
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_file_whose_writer_was_killed_is_repaired_up_to_the_kill() {
    let dir = temp_dir("repair");
    let path = dir.join("killed.wav");
    let mut w = hound::WavWriter::create(&path, spec()).unwrap();
    for s in tones(0, 4000) {
        w.write_sample(s).unwrap();
    }
    w.flush().unwrap(); // the header says 4000 pairs
    for s in tones(4000, 4000) {
        w.write_sample(s).unwrap();
    }
    // Killed: the header is never updated again, what was written stays,
    // and the last write was torn in the middle of a sample pair.
    w.flush().ok();
    std::mem::forget(w);
    let mut tail = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    tail.write_all(&[1, 2, 3]).unwrap();
    drop(tail);
    // (The forgotten writer's buffer was flushed above: 8000 pairs + 3 bytes.)
    assert!(hound::WavReader::open(&path).unwrap().duration() <= 8000);

    assert_eq!(repair_wav(&path).unwrap(), 8000);
    let mut wav = hound::WavReader::open(&path).unwrap();
    assert_eq!(wav.duration(), 8000);
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples, tones(0, 8000), "all the audio up to the kill");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 32_000);

    // Killed before the first header update: sizes 0 in the header.
    let early = dir.join("early.wav");
    let mut w = hound::WavWriter::create(&early, spec()).unwrap();
    for s in tones(0, 800) {
        w.write_sample(s).unwrap();
    }
    w.flush().unwrap();
    std::mem::forget(w);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&early)
        .unwrap();
    f.seek(SeekFrom::Start(40)).unwrap();
    f.write_all(&0u32.to_le_bytes()).unwrap();
    drop(f);
    assert_eq!(repair_wav(&early).unwrap(), 800);

    // Not a WAV file: refused, left alone.
    let junk = dir.join("junk.wav");
    std::fs::write(&junk, b"not audio at all").unwrap();
    assert!(repair_wav(&junk).is_err());
    assert_eq!(std::fs::read(&junk).unwrap(), b"not audio at all");
    std::fs::remove_dir_all(dir).ok();
}
