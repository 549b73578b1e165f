//! Riden RD6006 emulator: Modbus RTU slave 1 with the register map the community read
//! off the firmware (Baldanos/rd6006 `registers.md`, ShayBox/Riden), 115200 8N1 on a
//! real unit.
//!
//! | register | served as |
//! |---|---|
//! | 0 | model id 60062 (RD6006) |
//! | 1, 2 | serial number 00012345 |
//! | 3 | firmware 128 (1.28) |
//! | 4, 5 | internal temperature sign, °C |
//! | 8, 9 | voltage setting (10 mV), current limit (1 mA); 0-6000 and 0-6100, else exception 03 |
//! | 10, 11 | output voltage and current as measured |
//! | 13 | output power (10 mW) |
//! | 14 | input voltage (10 mV) |
//! | 16 | protection status: 1 OVP, 2 OCP, cleared when the output is switched on |
//! | 17 | 0 CV, 1 CC |
//! | 18 | output enable |
//! | 80-83 | working memory M0: V, I (the same as 8, 9), OVP (up to 62.00 V), OCP (up to 6.200 A) |
//! | 0-119 | the rest read 0; writes to measured values are exception 02 |
//!
//! Addresses from 120 are exception 02. OVP and OCP are always armed: OVP trips on the
//! output's actual voltage above register 82, OCP on the current delivered reaching
//! register 83; either switches the output off.
//!
//! Each request takes the instrument 100 ms of simulated time ([`LATENCY`]) before it
//! acts and answers: the stock firmware answers fewer than 10 queries a second
//! (measured by the riden-dongle project; its own firmware manages about 65).
//!
//! Wiring on the simulated bench: the output feeds the lock.

use super::modbus::{Device, RtuSlave, ILLEGAL_ADDRESS, ILLEGAL_VALUE};
use super::pty::Protocol;
use super::scpi::{load_outputs, store_outputs, UPDATE_RATE_UNKNOWN};
use super::world::{PsuChannel, World, MAIN};

/// The model id the emulator reports (an RD6006).
pub const MODEL_ID: u16 = 60062;
/// The serial number, as registers 1 and 2 carry it.
pub const SERIAL: u32 = 12_345;
/// Firmware 1.28.
pub const FIRMWARE: u16 = 128;
/// How long the stock firmware takes over a request (see the module doc).
pub const LATENCY: std::time::Duration = std::time::Duration::from_millis(100);
/// The slave address out of the box.
pub const SLAVE: u8 = 1;

/// Largest settings, in counts: 60.00 V, 6.100 A; OVP 62.00 V, OCP 6.200 A.
const MAX_V: u16 = 6000;
const MAX_I: u16 = 6100;
const MAX_OVP: u16 = 6200;
const MAX_OCP: u16 = 6200;
/// The highest register the firmware serves.
const LAST_REGISTER: u16 = 119;
/// The input the module runs from: 65 V, in 10 mV.
const V_IN: u16 = 6500;
const WIRING: [usize; 1] = [MAIN];

/// The RD6006 behind its Modbus framing.
pub struct Rd6006 {
    psu: [PsuChannel; 1],
    readings: [(f64, f64); 1],
    /// OVP and OCP levels, in counts.
    protection: (u16, u16),
}

impl Default for Rd6006 {
    fn default() -> Self {
        Self {
            psu: [PsuChannel::default()],
            readings: [(0.0, 0.0)],
            protection: (MAX_OVP, MAX_OCP),
        }
    }
}

fn volts(counts: u16) -> f64 {
    f64::from(counts) / 100.0
}

fn amps(counts: u16) -> f64 {
    f64::from(counts) / 1000.0
}

impl Rd6006 {
    fn register(&self, addr: u16) -> u16 {
        let c = self.psu[0];
        let (v, a) = self.readings[0];
        let v_counts = (v * 100.0).round() as u16;
        let a_counts = (a * 1000.0).round() as u16;
        match addr {
            0 => MODEL_ID,
            1 => (SERIAL >> 16) as u16,
            2 => SERIAL as u16,
            3 => FIRMWARE,
            5 => 31,
            8 | 80 => (c.set_v * 100.0).round() as u16,
            9 | 81 => (c.set_i * 1000.0).round() as u16,
            10 => v_counts,
            11 => a_counts,
            13 => (v * a * 100.0).round() as u16,
            14 => V_IN,
            16 => match c.tripped {
                (true, _) => 1,
                (_, true) => 2,
                _ => 0,
            },
            17 => u16::from(c.on && a >= c.set_i * 0.999),
            18 => u16::from(c.on),
            82 => self.protection.0,
            83 => self.protection.1,
            _ => 0,
        }
    }

    fn write(&mut self, addr: u16, value: u16) -> Result<(), u8> {
        let c = &mut self.psu[0];
        let within = |max: u16| {
            if value <= max {
                Ok(())
            } else {
                Err(ILLEGAL_VALUE)
            }
        };
        match addr {
            8 | 80 => within(MAX_V).map(|_| c.set_v = volts(value)),
            9 | 81 => within(MAX_I).map(|_| c.set_i = amps(value)),
            18 => match value {
                1 => {
                    // Switching on is what clears a trip, as on the front panel.
                    c.on = true;
                    c.tripped = (false, false);
                    Ok(())
                }
                0 => {
                    c.on = false;
                    Ok(())
                }
                _ => Err(ILLEGAL_VALUE),
            },
            82 => within(MAX_OVP).map(|_| self.protection.0 = value),
            83 => within(MAX_OCP).map(|_| self.protection.1 = value),
            _ => Err(ILLEGAL_ADDRESS),
        }
    }

    /// Runs `f` with the world's output loaded, then stores what changed.
    fn with_world<T>(&mut self, w: &mut World, f: impl FnOnce(&mut Self) -> T) -> T {
        load_outputs(
            w,
            &WIRING,
            &mut self.psu,
            &mut self.readings,
            UPDATE_RATE_UNKNOWN,
        );
        let out = f(self);
        let c = &mut self.psu[0];
        c.ovp = (volts(self.protection.0), true);
        c.ocp = (amps(self.protection.1), true);
        store_outputs(w, &WIRING, &self.psu);
        out
    }
}

impl Device for Rd6006 {
    fn latency(&self) -> std::time::Duration {
        LATENCY
    }

    fn read_registers(&mut self, addr: u16, count: u16, w: &mut World) -> Result<Vec<u16>, u8> {
        if u32::from(addr) + u32::from(count) > u32::from(LAST_REGISTER) + 1 {
            return Err(ILLEGAL_ADDRESS);
        }
        Ok(self.with_world(w, |d| (addr..addr + count).map(|a| d.register(a)).collect()))
    }

    fn write_register(&mut self, addr: u16, value: u16, w: &mut World) -> Result<(), u8> {
        self.with_world(w, |d| d.write(addr, value))
    }
}

/// The emulator as served.
pub struct Rd60xxSim(RtuSlave<Rd6006>);

impl Default for Rd60xxSim {
    fn default() -> Self {
        Self(RtuSlave::new(SLAVE, Rd6006::default()))
    }
}

impl Protocol for Rd60xxSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        self.0.input(bytes, world)
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        self.0.idle(world)
    }
}

#[cfg(test)]
mod tests {
    use super::super::modbus::{with_crc, ILLEGAL_ADDRESS};
    use super::*;
    use std::time::Duration;

    fn ask(sim: &mut Rd60xxSim, w: &mut World, request: &[u8]) -> Vec<u8> {
        sim.input(&with_crc(request.to_vec()), w)
    }

    #[test]
    fn sets_switches_and_measures_the_bench_output() {
        let (mut sim, mut w) = (Rd60xxSim::default(), World::unpowered("maglock_12v"));
        let id = ask(&mut sim, &mut w, &[1, 3, 0, 0, 0, 4]);
        assert_eq!(&id[3..5], &MODEL_ID.to_be_bytes());
        ask(&mut sim, &mut w, &[1, 6, 0, 8, 0x04, 0xB0]); // 12.00 V
        ask(&mut sim, &mut w, &[1, 6, 0, 9, 0x03, 0xE8]); // 1.000 A
        ask(&mut sim, &mut w, &[1, 6, 0, 18, 0, 1]);
        w.advance(Duration::from_millis(100));
        assert!(w.psu[MAIN].on);
        let out = ask(&mut sim, &mut w, &[1, 3, 0, 10, 0, 2]);
        let v = u16::from_be_bytes([out[3], out[4]]);
        assert!((1195..=1205).contains(&v), "{v}");
        assert_eq!(
            ask(&mut sim, &mut w, &[1, 6, 0, 8, 0x17, 0x71]),
            with_crc(vec![1, 0x86, ILLEGAL_VALUE]),
            "60.01 V is beyond the rating"
        );
        assert_eq!(
            ask(&mut sim, &mut w, &[1, 6, 0, 10, 0, 0]),
            with_crc(vec![1, 0x86, ILLEGAL_ADDRESS])
        );
        assert_eq!(
            ask(&mut sim, &mut w, &[1, 3, 0, 118, 0, 3]),
            with_crc(vec![1, 0x83, ILLEGAL_ADDRESS])
        );
        ask(&mut sim, &mut w, &[1, 6, 0, 18, 0, 0]);
        assert!(w.is_safe());
    }

    #[test]
    fn ocp_trips_on_the_delivered_current_and_latches_until_switched_on() {
        let (mut sim, mut w) = (Rd60xxSim::default(), World::unpowered("maglock_12v"));
        ask(&mut sim, &mut w, &[1, 6, 0, 8, 0x04, 0xB0]);
        ask(&mut sim, &mut w, &[1, 6, 0, 83, 0, 100]); // OCP 0.100 A
        ask(&mut sim, &mut w, &[1, 6, 0, 18, 0, 1]);
        w.advance(Duration::from_millis(200));
        let status = ask(&mut sim, &mut w, &[1, 3, 0, 16, 0, 3]);
        assert_eq!(&status[3..9], &[0, 2, 0, 0, 0, 0], "OCP, output off");
        ask(&mut sim, &mut w, &[1, 6, 0, 83, 0x18, 0x38]);
        ask(&mut sim, &mut w, &[1, 6, 0, 18, 0, 1]);
        w.advance(Duration::from_millis(100));
        let status = ask(&mut sim, &mut w, &[1, 3, 0, 16, 0, 3]);
        assert_eq!(
            &status[3..9],
            &[0, 0, 0, 0, 0, 1],
            "cleared by switching on"
        );
    }
}
