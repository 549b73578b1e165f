//! Fuzz target `console_dialect`: arbitrary bytes as a console dialect file (patterns
//! from a rig) and as the lines a board prints, heard through every dialect.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::console_dialect`), which
//! replays the corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::console_dialect(data));
