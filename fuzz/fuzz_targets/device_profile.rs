//! Fuzz target `device_profile`: a device profile (`DeviceProfile::from_source`) from
//! arbitrary text.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::device_profile`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::device_profile(data));
