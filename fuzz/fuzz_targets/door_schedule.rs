//! Fuzz target `door_schedule`: a door hardware schedule (`Schedule::from_source_with`,
//! profiles from the built-ins) from arbitrary text, planned against the default suite
//! and printed.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::door_schedule`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::door_schedule(data));
