//! Fuzz target `sip_framing`: see `harness::sip_framing` for what it drives and checks.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sip_framing(data));
