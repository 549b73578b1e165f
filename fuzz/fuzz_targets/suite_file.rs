//! Fuzz target `suite_file`: a suite (`Suite::from_source`) from arbitrary text, with
//! every check resolved against every built-in device profile.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::suite_file`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::suite_file(data));
