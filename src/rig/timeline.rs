//! A trial's timeline: every command the bench sends, every reading it takes and every
//! line the board prints, on the rig's clock, as it happens. The bench hands each row
//! to a [`Recorder`] (the run writes one CSV file per trial); nothing is kept here, so
//! a long trial costs no memory.
//!
//! Each row says how its time is known ([`Timing`]): an instrument exchange is stamped
//! when it began and carries how long the instrument took to answer, which bounds when
//! the reading was taken; a board line is placed by the board's own uptime stamp, or,
//! when it cannot be, by when lockrig heard it (on a bench in real time, a listener reads
//! the console as lines arrive: a few milliseconds later) or read it (up to one console
//! poll later).

use std::time::Duration;

/// Where a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A suite step began (its text).
    Step,
    /// A supply command or reading.
    Supply,
    /// A relay or other output.
    Switch,
    /// A door or latch sensor reading.
    Input,
    /// A meter reading.
    Meter,
    /// A console command and the board's reply.
    Console,
    /// A line the board printed on its own (an event or its text).
    Board,
}

impl Source {
    /// The name in the timeline file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Supply => "supply",
            Self::Switch => "switch",
            Self::Input => "input",
            Self::Meter => "meter",
            Self::Console => "console",
            Self::Board => "board",
        }
    }
}

/// How a row's time is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// An exchange with an instrument: began at the row's time, answered this much later.
    Exchange(Duration),
    /// Placed by the board's own uptime stamp.
    Uptime,
    /// Stamped by the input instrument when the line changed (a GPIO chip's kernel
    /// edge timestamp).
    Edge,
    /// Heard by the console's background listener as it arrived: printed at most this
    /// long earlier.
    Heard(Duration),
    /// Stamped when lockrig read it: it happened at most one console poll earlier.
    Read,
    /// A point on the rig's clock (a step beginning).
    Exact,
}

/// One row: when, from where, which role, what.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// On the rig's clock.
    pub at: Duration,
    /// How `at` is known.
    pub timing: Timing,
    /// Where it comes from.
    pub source: Source,
    /// The role (or, for a step, its number).
    pub role: &'a str,
    /// What was commanded, read or printed. Board text is untrusted: a recorder that
    /// writes it escapes it.
    pub value: &'a str,
}

/// Takes a trial's rows as they happen.
pub trait Recorder: Send {
    /// One row.
    fn record(&mut self, row: Row<'_>);
    /// The trial is over: keep its record (`keep`) or drop it. Returns whether it was
    /// kept; an error if what was recorded could not all be written.
    fn finish(&mut self, keep: bool) -> std::io::Result<bool>;
}
