//! Fuzz target `answers_per_command`: one answer per command (`length, bytes...`) for the
//! instruments with fixed-width or binary replies: the I2CDriver with an INA219 behind
//! it, and the Korad KA3005P. An odd first byte puts a healthy identification first, so
//! the fuzzer reaches the replies past `open`.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::answers_per_command`), which
//! replays the corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::answers_per_command(data));
