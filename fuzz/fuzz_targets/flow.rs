//! Fuzz target `flow`: see `harness::flow` for what it drives and checks.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::flow(data));
