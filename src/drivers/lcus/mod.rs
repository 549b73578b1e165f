//! LCUS-type USB relay boards (CH340 bridge, VID:PID 1A86:7523), 1/2/4/8 channels,
//! 9600 8N1.
//!
//! Each command is a 4-byte frame `A0 <channel 01..08> <op> <checksum>` where op is
//! `00` (release) or `01` (energise) and checksum = `(A0 + channel + op) & FF`:
//! channel 1 on is `A0 01 01 A2`, off is `A0 01 00 A1`. The board does not answer a
//! frame. The 4- and 8-channel boards answer the single byte `FF` with their state,
//! one line per channel: `CH1:ON\r\n`, `CH2:OFF\r\n`, ... Every switch is read back
//! this way, which also confirms the frame was taken before the next step runs.

use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// The state query byte.
pub const QUERY: u8 = 0xFF;

/// The command frame that sets `channel` (1-based) on or off.
pub fn frame(channel: u8, on: bool) -> [u8; 4] {
    let op = u8::from(on);
    [
        0xA0,
        channel,
        op,
        0xA0u8.wrapping_add(channel).wrapping_add(op),
    ]
}

/// A connected LCUS relay board.
pub struct Lcus {
    io: LineIo,
    channels: u8,
}

impl Lcus {
    /// Opens the board and reads its state once to confirm it answers.
    pub fn open(io: LineIo, channels: u8) -> Result<Self> {
        let mut board = Self { io, channels };
        board.states()?;
        Ok(board)
    }

    /// Energises or releases one relay, then reads the board back to confirm it.
    pub fn set(&mut self, channel: u8, on: bool) -> Result<()> {
        let command = format!("relay {channel} {}", if on { "on" } else { "off" });
        self.io
            .send_bytes(&frame(channel, on))
            .map_err(|e| InstrumentError::io(&command, self.io.timeout(), e))?;
        let actual = self.state(channel)?;
        if actual != on {
            return Err(InstrumentError::Readback {
                commanded: command,
                actual: format!("relay {channel} {}", if actual { "on" } else { "off" }),
            });
        }
        Ok(())
    }

    /// The state of one relay.
    pub fn state(&mut self, channel: u8) -> Result<bool> {
        let states = self.states()?;
        Ok(states[usize::from(channel) - 1])
    }

    /// Queries every relay: `FF` -> one `CHn:ON|OFF` line per channel.
    pub fn states(&mut self) -> Result<Vec<bool>> {
        let command = "FF (state query)";
        let timeout = self.io.timeout();
        self.io
            .discard_input()
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        self.io
            .send_bytes(&[QUERY])
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        (1..=self.channels)
            .map(|ch| {
                let line = self
                    .io
                    .read_line(b'\n')
                    .map_err(|e| InstrumentError::io(command, timeout, e))?;
                parse_state_line(&line, ch).ok_or_else(|| {
                    InstrumentError::garbage(command, &line, "`CHn:ON` or `CHn:OFF`")
                })
            })
            .collect()
    }
}

/// Parses `CH<n>:ON` / `CH<n>:OFF` for the expected channel.
pub fn parse_state_line(line: &str, channel: u8) -> Option<bool> {
    let rest = line.trim().strip_prefix("CH")?;
    let (n, state) = rest.split_once(':')?;
    if n.trim().parse::<u8>().ok()? != channel {
        return None;
    }
    match state.trim() {
        "ON" => Some(true),
        "OFF" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_the_published_examples() {
        assert_eq!(frame(1, true), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(frame(1, false), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(frame(2, true), [0xA0, 0x02, 0x01, 0xA3]);
    }

    #[test]
    fn parses_state_lines() {
        assert_eq!(parse_state_line("CH1:ON", 1), Some(true));
        assert_eq!(parse_state_line("CH2:OFF\r", 2), Some(false));
        assert_eq!(parse_state_line("CH2:OFF", 3), None);
        assert_eq!(parse_state_line("garbage", 1), None);
    }
}
