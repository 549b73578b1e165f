//! Fuzz target `step`: one suite step (`scenario::step::parse`) from arbitrary text; an
//! error's offset must fall on a character boundary within the text.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::step`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::step(data));
