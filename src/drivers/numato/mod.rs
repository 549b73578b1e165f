//! Numato Lab USB GPIO modules (USB CDC, VID 2A19), used here to read contact
//! sensors such as the door-position switch.
//!
//! ASCII commands terminated by CR; the baud rate is ignored. The module echoes the
//! command, then prints the reply and a `>` prompt:
//!
//! ```text
//! gpio read 0\r      ->  gpio read 0\n\r1\n\r>
//! gpio readall\r     ->  gpio readall\n\r03\n\r>      (hex, bit N = GPIO N)
//! ver\r              ->  ver\n\r00000008\n\r>
//! ```
//!
//! GPIO numbers 0-9 are written as digits, 10-31 as letters `A`-`V`.

use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// A connected Numato GPIO module.
pub struct NumatoGpio {
    io: LineIo,
    version: String,
}

/// The index as the module spells it: `0`-`9`, then `A`-`V`.
pub fn index(gpio: u8) -> Option<char> {
    match gpio {
        0..=9 => Some(char::from(b'0' + gpio)),
        10..=31 => Some(char::from(b'A' + gpio - 10)),
        _ => None,
    }
}

impl NumatoGpio {
    /// Opens the module and reads its firmware version.
    pub fn open(io: LineIo) -> Result<Self> {
        let mut m = Self {
            io,
            version: String::new(),
        };
        m.version = m.command("ver")?;
        Ok(m)
    }

    /// The `ver` reply.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `gpio read N`: true when the input reads high.
    pub fn read(&mut self, gpio: u8) -> Result<bool> {
        let command = format!("gpio read {}", index(gpio).unwrap_or('?'));
        let reply = self.command(&command)?;
        match reply.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(InstrumentError::garbage(&command, other, "`0` or `1`")),
        }
    }

    /// `gpio readall`: every GPIO at once, bit N = GPIO N.
    pub fn read_all(&mut self) -> Result<u32> {
        let command = "gpio readall";
        let reply = self.command(command)?;
        if reply.is_empty() || reply.len() > 8 {
            return Err(InstrumentError::garbage(
                command,
                &reply,
                "1 to 8 hex digits",
            ));
        }
        u32::from_str_radix(&reply, 16)
            .map_err(|_| InstrumentError::garbage(command, &reply, "1 to 8 hex digits"))
    }

    /// Sends a command and returns the reply text between the echo and the prompt.
    fn command(&mut self, command: &str) -> Result<String> {
        let timeout = self.io.timeout();
        self.io
            .send(command, b"\r")
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        let raw = self
            .io
            .read_until(|buf| buf.iter().position(|b| *b == b'>').map(|i| (i, i + 1)))
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        let mut lines = raw
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty());
        let echo = lines.next().unwrap_or_default();
        if echo != command {
            return Err(InstrumentError::garbage(
                command,
                &raw,
                "the command echoed back",
            ));
        }
        Ok(lines.collect::<Vec<_>>().join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::index;

    #[test]
    fn gpio_numbers_above_nine_are_letters() {
        assert_eq!(index(0), Some('0'));
        assert_eq!(index(9), Some('9'));
        assert_eq!(index(10), Some('A'));
        assert_eq!(index(31), Some('V'));
        assert_eq!(index(32), None);
    }
}
