//! The Excamera I2CDriver as its USB serial port presents it (I2CDriver User Guide,
//! section 7.4 "Raw protocol"), with the simulated INA219 on its bus at 0x40.
//!
//! Commands are single bytes, some followed by arguments; a command split across
//! reads is completed by the next one, as the firmware reads its UART byte by byte:
//!
//! | command | arguments | answer |
//! |---|---|---|
//! | `?` | | status line, 80 characters, space padded |
//! | `e` | byte | the byte |
//! | `1` / `4` | | none: bus speed 100 / 400 kHz |
//! | `s` | address byte (addr << 1 \| r/w) | status byte: bit 0 ACK, bit 1 timeout, bit 2 arbitration lost |
//! | `0xC0`-`0xFF` | 1-64 bytes | status byte |
//! | `0x80`-`0xBF` | | 1-64 bytes read, the last NACKed |
//! | `a` | N | N bytes read, each ACKed |
//! | `p` | | none: STOP |
//! | `x` | | one byte: SDA (bit 0) and SCL (bit 1) after the reset |
//! | `r` | device, register, N | N bytes: a register read (write the register, read N) |
//! | `d` | | 112 bytes, `1` where a device at 0x08-0x77 ACKs its address |
//! | `u` | byte | none: pull-up control |
//! | `i` | | none: I2C mode |
//!
//! Monitor, capture and bitbang modes (`m`, `c`, `b`) and the analog input (`v`, `w`)
//! are not emulated: lockrig does not use them, and their bytes are ignored.
//!
//! The status line's CRC field is the CRC-16-CCITT of every byte in and out, as the
//! manual describes.

use super::pty::Protocol;
use super::world::World;

/// The INA219s' addresses on the simulated bus: the lock's line (A0 = A1 = GND) and
/// the emergency port's (A0 = VS).
pub use super::ina219::{ADDRESS, PORT_ADDRESS};

/// The simulated adapter's serial code.
const SERIAL: &str = "SIM00001";

/// A transaction the host has started, with the chip it addressed.
#[derive(Debug, Clone, PartialEq)]
enum Txn {
    /// Addressed for writing; the bytes written so far.
    Write(u8, Vec<u8>),
    /// Addressed for reading.
    Read(u8),
}

/// The I2CDriver emulator.
#[derive(Debug)]
pub struct I2cDriverSim {
    pending: Vec<u8>,
    txn: Option<Txn>,
    speed_khz: u16,
    pullups: u8,
    crc: u16,
    /// Address phases left before the INA219 stops acknowledging (an injected fault).
    nack_after: Option<u32>,
}

impl Default for I2cDriverSim {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            txn: None,
            speed_khz: 100,
            pullups: 0x24,
            crc: 0xFFFF,
            nack_after: None,
        }
    }
}

/// CRC-16-CCITT (polynomial 0x1021), one byte at a time.
fn crc16(mut crc: u16, byte: u8) -> u16 {
    crc ^= u16::from(byte) << 8;
    for _ in 0..8 {
        crc = if crc & 0x8000 != 0 {
            (crc << 1) ^ 0x1021
        } else {
            crc << 1
        };
    }
    crc
}

/// Whether a chip sits at `addr7` on the simulated bus.
fn world_has(addr7: u8) -> bool {
    addr7 == ADDRESS || addr7 == PORT_ADDRESS
}

impl I2cDriverSim {
    /// An adapter whose INA219 stops acknowledging after `after` address phases.
    pub fn nacking_after(after: u32) -> Self {
        Self {
            nack_after: Some(after),
            ..Self::default()
        }
    }

    /// True when a device answers at `addr7`, counting down an injected fault.
    fn acks(&mut self, addr7: u8) -> bool {
        let faulted = match &mut self.nack_after {
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        };
        world_has(addr7) && !faulted
    }

    /// STOP or repeated START: a write transaction is delivered to the chip.
    fn end_transaction(&mut self, world: &mut World) {
        if let Some(Txn::Write(addr7, bytes)) = self.txn.take() {
            if let Some(chip) = world.ina219_at(addr7) {
                chip.write_bytes(&bytes);
            }
        }
    }

    /// N bytes from the addressed chip, or the bus's idle high level.
    fn read(&mut self, n: usize, world: &mut World, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + n, 0xFF);
        if let Some(Txn::Read(addr7)) = self.txn {
            if let Some(chip) = world.ina219_at(addr7) {
                chip.read_bytes(&mut out[start..]);
            }
        }
    }

    fn status_line(&self, world: &World) -> Vec<u8> {
        let mut line = format!(
            "[i2cdriver1 {SERIAL} {:09} 5.000 001 25.0 I 1 1 {} {:02x} {:04x}",
            world.now().as_secs(),
            self.speed_khz,
            self.pullups,
            self.crc
        );
        while line.len() < 79 {
            line.push(' ');
        }
        line.push(']');
        line.into_bytes()
    }

    /// Executes the command at the head of `pending`, if it is complete: appends its
    /// answer to `out` and returns how many bytes it took.
    fn step(&mut self, world: &mut World, out: &mut Vec<u8>) -> Option<usize> {
        let p = &self.pending;
        let cmd = *p.first()?;
        let arg = |i: usize| p.get(i).copied();
        Some(match cmd {
            b'?' => {
                out.extend(self.status_line(world));
                1
            }
            b'e' => {
                out.push(arg(1)?);
                2
            }
            b'1' => {
                self.speed_khz = 100;
                1
            }
            b'4' => {
                self.speed_khz = 400;
                1
            }
            b'u' => {
                self.pullups = arg(1)?;
                2
            }
            b's' => {
                let byte = arg(1)?;
                self.end_transaction(world);
                let addr7 = byte >> 1;
                let ack = self.acks(addr7);
                if ack {
                    self.txn = Some(if byte & 1 == 1 {
                        Txn::Read(addr7)
                    } else {
                        Txn::Write(addr7, Vec::new())
                    });
                }
                out.push(u8::from(ack));
                2
            }
            0xC0..=0xFF => {
                let n = usize::from(cmd & 0x3F) + 1;
                let data = p.get(1..1 + n)?;
                let ack = match &mut self.txn {
                    Some(Txn::Write(_, bytes)) => {
                        bytes.extend_from_slice(data);
                        true
                    }
                    _ => false,
                };
                out.push(u8::from(ack));
                1 + n
            }
            0x80..=0xBF => {
                self.read(usize::from(cmd & 0x3F) + 1, world, out);
                1
            }
            b'a' => {
                let n = usize::from(arg(1)?);
                self.read(n, world, out);
                2
            }
            b'p' => {
                self.end_transaction(world);
                1
            }
            b'x' => {
                self.txn = None;
                out.push(0b11);
                1
            }
            b'r' => {
                let (dev, reg, n) = (arg(1)?, arg(2)?, usize::from(arg(3)?));
                self.end_transaction(world);
                let start = out.len();
                out.resize(start + n, 0xFF);
                if self.acks(dev) {
                    if let Some(chip) = world.ina219_at(dev) {
                        chip.write_bytes(&[reg]);
                        chip.read_bytes(&mut out[start..]);
                    }
                }
                4
            }
            b'd' => {
                out.extend((0x08..0x78u8).map(|a| if world_has(a) { b'1' } else { b'0' }));
                1
            }
            // `i` (I2C mode), the modes lockrig does not use, and unknown bytes.
            _ => 1,
        })
    }
}

impl Protocol for I2cDriverSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        self.crc = bytes.iter().fold(self.crc, |c, b| crc16(c, *b));
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(used) = self.step(world, &mut out) {
            self.pending.drain(..used);
        }
        self.crc = out.iter().fold(self.crc, |c, b| crc16(c, *b));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut world = World::unpowered("maglock_12v");
        world.psu[0].set_v = 12.0;
        world.set_output(1, true);
        world.advance(std::time::Duration::from_millis(100));
        world.sync();
        world
    }

    #[test]
    fn the_manual_s_example_register_read_byte_by_byte() {
        // User Guide 7.4: `s 0x90`, `0xc0 0x7a`, `s 0x91`, `0x80`, `p` reads one byte
        // of register 0x7a from device 0x48; here device 0x40, register 0x00 (config).
        let mut w = world();
        let mut sim = I2cDriverSim::default();
        let mut out = Vec::new();
        for b in [b's', 0x80, 0xC0, 0x00, b's', 0x81, 0x81, b'p'] {
            out.extend(sim.input(&[b], &mut w));
        }
        assert_eq!(out, vec![1, 1, 1, 0x39, 0x9F]);
    }

    #[test]
    fn status_echo_scan_and_register_read() {
        let mut w = world();
        let mut sim = I2cDriverSim::default();
        let status = sim.input(b"4?", &mut w);
        assert_eq!(status.len(), 80);
        let line = String::from_utf8(status).unwrap();
        assert!(line.starts_with("[i2cdriver1 SIM00001 "), "{line}");
        assert!(line.contains(" I 1 1 400 "), "{line}");
        assert!(line.ends_with(']'));
        assert_eq!(sim.input(b"e\xA5", &mut w), vec![0xA5]);
        let scan = sim.input(b"d", &mut w);
        assert_eq!(scan.len(), 112);
        assert_eq!(scan.iter().filter(|b| **b == b'1').count(), 2);
        assert_eq!(scan[usize::from(ADDRESS) - 8], b'1');
        assert_eq!(scan[usize::from(PORT_ADDRESS) - 8], b'1');
        assert_eq!(
            sim.input(&[b'r', ADDRESS, 0x00, 2], &mut w),
            vec![0x39, 0x9F]
        );
        assert_eq!(sim.input(b"x", &mut w), vec![0b11]);
    }

    #[test]
    fn nobody_answers_at_another_address_and_a_fault_nacks_the_chip() {
        let mut w = world();
        let mut sim = I2cDriverSim::default();
        assert_eq!(sim.input(&[b's', 0x42 << 1], &mut w), vec![0]);
        assert_eq!(sim.input(&[0xC0, 0x00], &mut w), vec![0], "no transaction");
        assert_eq!(
            sim.input(&[0x81], &mut w),
            vec![0xFF, 0xFF],
            "the bus reads high"
        );
        let mut sim = I2cDriverSim::nacking_after(1);
        assert_eq!(sim.input(&[b's', ADDRESS << 1, b'p'], &mut w), vec![1]);
        assert_eq!(sim.input(&[b's', ADDRESS << 1, b'p'], &mut w), vec![0]);
    }

    #[test]
    fn the_ina219_driver_measures_the_lock_through_the_real_adapter_driver() {
        use crate::drivers::i2cdriver::{I2cDriver, Speed};
        use crate::drivers::ina219::Ina219;
        use std::sync::{Arc, Mutex};
        let world = Arc::new(Mutex::new(world()));
        let link = crate::sim::loopback::Loopback::new(world, Box::<I2cDriverSim>::default());
        let bus = I2cDriver::open(
            Box::new(link),
            std::time::Duration::from_millis(100),
            Speed::Fast,
        )
        .unwrap();
        assert_eq!(bus.status().serial, SERIAL);
        let mut meter = Ina219::open(bus, ADDRESS, 0.1, 2.0).unwrap();
        assert!((meter.bus_voltage().unwrap() - 12.0).abs() < 0.005);
        let amps = meter.current().unwrap();
        assert!(
            (0.24..0.265).contains(&amps),
            "12 V over a 46-50 ohm coil: {amps}"
        );
    }
}
