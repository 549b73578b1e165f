//! Modbus RTU relay board emulator: an eight-relay module at slave 1 whose relays are
//! coils 0-7 (`01 05 00 00 FF 00 8C 3A` closes relay 1; function 01 reads them).
//! Functions other than 01 and 05 are exception 01, coils from 8 exception 02, as the
//! Modbus application protocol has a slave answer them.
//!
//! Wiring on the simulated bench: relay N is the bench's relay N.

use super::modbus::{Device, RtuSlave, ILLEGAL_ADDRESS};
use super::pty::Protocol;
use super::world::{World, RELAYS};

/// The slave address out of the box.
pub const SLAVE: u8 = 1;

/// The board's relays as coils.
#[derive(Default)]
pub struct Coils;

fn in_range(addr: u16, count: u16) -> Result<(), u8> {
    let end = u32::from(addr) + u32::from(count);
    if end > RELAYS as u32 {
        return Err(ILLEGAL_ADDRESS);
    }
    Ok(())
}

impl Device for Coils {
    fn read_coils(&mut self, addr: u16, count: u16, w: &mut World) -> Result<Vec<bool>, u8> {
        in_range(addr, count)?;
        let a = usize::from(addr);
        Ok(w.relays[a..a + usize::from(count)].to_vec())
    }

    fn write_coil(&mut self, addr: u16, on: bool, w: &mut World) -> Result<(), u8> {
        in_range(addr, 1)?;
        w.set_relay(usize::from(addr) + 1, on);
        Ok(())
    }
}

/// The emulator as served.
pub struct ModbusRelaySim(RtuSlave<Coils>);

impl Default for ModbusRelaySim {
    fn default() -> Self {
        Self(RtuSlave::new(SLAVE, Coils))
    }
}

impl Protocol for ModbusRelaySim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        self.0.input(bytes, world)
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        self.0.idle(world)
    }
}
