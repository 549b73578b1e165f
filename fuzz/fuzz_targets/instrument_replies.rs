//! Fuzz target `instrument_replies`: arbitrary bytes as the instrument's side of the
//! conversation, fed to the DP800, LCUS, Numato and lock-console drivers through an
//! in-memory transport, and to the SCPI error-queue and LCUS state-line parsers.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::instrument_replies`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::instrument_replies(data));
