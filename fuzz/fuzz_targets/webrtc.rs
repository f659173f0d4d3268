//! Fuzz target `webrtc`: see `harness::webrtc` for what it drives and checks.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::webrtc(data));
