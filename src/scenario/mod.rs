//! Scenarios: suites of checks as data, their steps, and their execution against a
//! bench with measurements as evidence.

pub mod exec;
pub mod step;
pub mod suite;

pub use exec::{
    execute, Context, Dropped, Evidence, Measurement, Outcome, Person, Verdict, BOARD_TEXT,
};
