//! Fuzz target `rig_file`: a rig file (`Rig::from_source`) from arbitrary text.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::rig_file`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::rig_file(data));
