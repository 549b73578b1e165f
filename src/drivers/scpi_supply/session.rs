//! A small host-side SCPI client: LF-terminated commands and queries over any
//! [`Transport`](crate::transport::Transport), paced for firmware that drops commands
//! sent back to back, with the error queue read on request.
//!
//! No maintained host-side SCPI crate exists (`scpi` is device-side, `visa-rs` links
//! NI-VISA), so this is the right amount of hand-written code: `write`, `query`, and
//! `SYST:ERR?` polling. A query after a command also serialises the two, so a setting
//! has been applied when [`Scpi::set`] returns.

use std::time::Duration;

use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// An SCPI session with one instrument.
pub struct Scpi {
    io: LineIo,
    gap: Duration,
    last: Option<Duration>,
}

impl Scpi {
    /// Starts a session on a line transport.
    pub fn new(io: LineIo) -> Self {
        Self::paced(io, Duration::ZERO)
    }

    /// Starts a session that leaves at least `gap` between the starts of two commands,
    /// on the instrument's time (simulated time on an in-process simulator, whose
    /// instrument needs the gap as much as a real one).
    pub fn paced(io: LineIo, gap: Duration) -> Self {
        Self {
            io,
            gap,
            last: None,
        }
    }

    /// Sends a command that returns nothing.
    pub fn write(&mut self, command: &str) -> Result<()> {
        self.io.pace(self.last, self.gap);
        self.last = Some(self.io.now());
        self.io
            .send(command, b"\n")
            .map_err(|e| InstrumentError::io(command, self.io.timeout(), e))
    }

    /// Sends a query and returns its reply line.
    pub fn query(&mut self, command: &str) -> Result<String> {
        self.write(command)?;
        self.io
            .read_line(b'\n')
            .map_err(|e| InstrumentError::io(command, self.io.timeout(), e))
    }

    /// Sends a query whose reply is one number.
    pub fn query_f64(&mut self, command: &str) -> Result<f64> {
        let reply = self.query(command)?;
        reply
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| InstrumentError::garbage(command, &reply, "a number"))
    }

    /// Sends a setting, then reads the error queue: returns once the instrument has
    /// processed the command, or the first error it queued.
    pub fn set(&mut self, command: &str) -> Result<()> {
        self.write(command)?;
        self.check_errors(command)
    }

    /// Reads `:SYST:ERR?` until it reports no error; the first error is returned.
    pub fn check_errors(&mut self, after: &str) -> Result<()> {
        let mut first = None;
        // The queue is finite (DP800: 20 entries); bound the loop anyway.
        for _ in 0..32 {
            let reply = self.query(":SYST:ERR?")?;
            let (code, message) = parse_error(&reply).ok_or_else(|| {
                InstrumentError::garbage(":SYST:ERR?", &reply, "`<code>,\"<message>\"`")
            })?;
            if code == 0 {
                return first.map_or(Ok(()), Err);
            }
            first.get_or_insert(InstrumentError::Device {
                command: after.to_string(),
                code,
                message,
            });
        }
        Err(first.unwrap_or_else(|| InstrumentError::garbage(":SYST:ERR?", "", "an empty queue")))
    }
}

/// Parses an error-queue entry: `-113,"Undefined header"`.
pub fn parse_error(reply: &str) -> Option<(i32, String)> {
    let (code, msg) = reply.trim().split_once(',')?;
    let code = code.trim().parse().ok()?;
    Some((code, msg.trim().trim_matches('"').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_error_queue_entries() {
        assert_eq!(parse_error("0,\"No error\""), Some((0, "No error".into())));
        assert_eq!(
            parse_error("-113,\"Undefined header\""),
            Some((-113, "Undefined header".into()))
        );
        assert_eq!(parse_error("garbage"), None);
        assert_eq!(parse_error("x,\"y\""), None);
    }
}
