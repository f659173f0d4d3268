//! Replays the fuzz seeds (`fuzz/seeds/<target>/`) and every input a fuzzer
//! found (`tests/fuzz-regressions/<target>/`) through the same harness the
//! cargo-fuzz targets run (`fuzz/harness.rs`), on stable and without
//! libfuzzer: malformed SIP, SDP and RTP must never panic the server, and
//! the engine must not leak a call. See `fuzz/README.md`.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Files directly in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs every seed and regression input of `target` through `body`, and
/// fails naming each input that panicked.
fn replay(target: &str, body: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = inputs(&root.join("fuzz/seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds for fuzz target {target}");
    let found = inputs(&root.join("tests/fuzz-regressions").join(target));
    let mut failures = Vec::new();
    for path in seeds.iter().chain(&found) {
        let data = std::fs::read(path).expect("readable input");
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} input(s) panicked: {failures:#?}",
        failures.len()
    );
}

#[test]
fn sip_message() {
    replay("sip_message", harness::sip_message);
}

#[test]
fn sip_framing() {
    replay("sip_framing", harness::sip_framing);
}

#[test]
fn sdp() {
    replay("sdp", harness::sdp);
}

#[test]
fn webrtc() {
    replay("webrtc", harness::webrtc);
}

#[test]
fn rtp() {
    replay("rtp", harness::rtp);
}

#[test]
fn engine() {
    replay("engine", harness::engine);
}

/// The whole-call engine seed must reach the call flow (media opened,
/// DTMF collected), or the engine fuzzer starts from nowhere.
#[test]
fn engine_seed_reaches_the_call_flow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = std::fs::read(root.join("fuzz/seeds/engine/invite_dtmf_bye")).expect("engine seed");
    let run = harness::engine_run(&seed);
    assert_eq!(run.calls, 1, "{run:?}");
    assert!(run.digit_records > 0, "{run:?}");
}

#[test]
fn flow() {
    replay("flow", harness::flow);
    // The demo flow seed is accepted and walked, not refused at the door.
    assert!(harness::FLOWS_ACCEPTED.load(std::sync::atomic::Ordering::Relaxed) > 0);
}
