//! lockrig: a hardware-in-the-loop controller for electronic door-lock test rigs.
//!
//! Layers, each depending only on those below it:
//!
//! ```text
//! cli -> run / report -> scenario -> rig (capabilities) -> drivers -> transport
//!                                                                      |
//!                                       real bench  <------------------+----> sim
//! ```
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod drivers;
pub mod files;
pub mod report;
pub mod rig;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod signals;
pub mod sim;
pub mod transport;
pub mod units;
