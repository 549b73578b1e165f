//! Fuzz target `trace_file`: a failed trial's trace as `lockrig report` plots it
//! (`report::html::render_page`) from arbitrary bytes: the page it makes carries no
//! markup of theirs.
//!
//! The calls are in `tests/fuzz_regression.rs` (`harness::trace_file`), which replays the
//! corpus under plain `cargo test`.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz_regression.rs"]
mod regression;

libfuzzer_sys::fuzz_target!(|data: &[u8]| regression::harness::trace_file(data));
