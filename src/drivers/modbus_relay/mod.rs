//! Modbus RTU relay boards: the 1/2/4/8/16/32-channel RS-485 (or USB) relay modules
//! sold by Waveshare, Eletechsup, KMTronic and many unbranded makers. Each relay is a
//! coil; the board is slave 1 at 9600 baud 8N1 out of the box on most of them.
//!
//! | what | request | response |
//! |---|---|---|
//! | relay N on | `05 Write Single Coil`, coil `first_coil + N - 1`, `FF00` | echo |
//! | relay N off | the same with `0000` | echo |
//! | read relays | `01 Read Coils` from `first_coil` | bit-packed states |
//!
//! `01 05 00 00 FF 00 8C 3A` switches the first relay on and `01 01 00 00 00 08 3D CC`
//! reads eight. Boards differ in their first coil (0 on most, 1 on some) and baud rate,
//! so both come from the rig file (`first_coil`, `baud`). Every switch is read back
//! with function 01: the echo of function 05 proves the frame arrived, not that the
//! relay moved.

use std::time::Duration;

use crate::drivers::modbus::ModbusRtu;
use crate::drivers::{on_off, InstrumentError, Result};
use crate::transport::Transport;

/// The usual line settings: 9600 baud (8N1).
pub const BAUD: u32 = 9600;

/// The most relays lockrig addresses on one board.
pub const MAX_CHANNELS: u8 = 32;

/// A connected Modbus relay board.
pub struct ModbusRelay {
    bus: ModbusRtu,
    first_coil: u16,
    channels: u8,
}

impl ModbusRelay {
    /// Opens a session with slave `slave` and proves it answers by reading its coils.
    pub fn open(
        transport: Box<dyn Transport>,
        slave: u8,
        first_coil: u16,
        channels: u8,
        timeout: Duration,
    ) -> Result<Self> {
        let mut board = Self {
            bus: ModbusRtu::new(transport, slave, timeout)?,
            first_coil,
            channels,
        };
        board.states()?;
        Ok(board)
    }

    /// What a rig's report calls it.
    pub fn identity(&self) -> String {
        format!(
            "Modbus relay board, {} relays at coils {}-{} (slave {})",
            self.channels,
            self.first_coil,
            self.first_coil + u16::from(self.channels) - 1,
            self.bus.slave()
        )
    }

    /// Every relay's state, relay 1 first.
    pub fn states(&mut self) -> Result<Vec<bool>> {
        self.bus
            .read_coils(self.first_coil, u16::from(self.channels))
    }

    /// Switches relay `ch` (1-based) and reads it back.
    pub fn set(&mut self, ch: u8, on: bool) -> Result<()> {
        let coil = self.coil(ch)?;
        self.bus.write_coil(coil, on)?;
        let actual = self.state(ch)?;
        if actual != on {
            return Err(InstrumentError::Readback {
                commanded: format!("relay {ch} (coil {coil}) {}", on_off(on)),
                actual: format!("relay {ch} {}", on_off(actual)),
            });
        }
        Ok(())
    }

    /// Relay `ch`'s state.
    pub fn state(&mut self, ch: u8) -> Result<bool> {
        let coil = self.coil(ch)?;
        Ok(self.bus.read_coils(coil, 1)?[0])
    }

    fn coil(&self, ch: u8) -> Result<u16> {
        if !(1..=self.channels).contains(&ch) {
            return Err(InstrumentError::Readback {
                commanded: format!("relay {ch}"),
                actual: format!("the board has relays 1-{}", self.channels),
            });
        }
        Ok(self.first_coil + u16::from(ch) - 1)
    }
}
