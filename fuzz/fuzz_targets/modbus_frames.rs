//! Fuzz target `modbus_frames`: arbitrary bytes as a Modbus slave's answers to the Riden
//! and relay-board drivers, and as a master's requests to their emulators.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::modbus_frames`), which replays
//! the corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::modbus_frames(data));
