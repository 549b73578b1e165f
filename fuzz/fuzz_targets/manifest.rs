//! Fuzz target `manifest`: a run directory's `MANIFEST.sha256`
//! (`report::manifest::parse`) from arbitrary bytes; every path it accepts must stay
//! inside the directory.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::manifest`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::manifest(data));
