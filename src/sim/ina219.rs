//! The INA219 as the I2C bus sees it (datasheet SBOS448, register map and LSBs), and
//! an `embedded_hal::i2c::I2c` bus that carries the driver's transactions to it.
//!
//! | reg | name | model |
//! |---|---|---|
//! | 00h | Configuration | R/W, reset 399Fh; writing bit 15 resets every register |
//! | 01h | Shunt voltage | signed, 10 uV LSB, clipped to the PGA range |
//! | 02h | Bus voltage | bits 15..3 = volts / 4 mV, bit 1 CNVR, bit 0 OVF |
//! | 03h | Power | Current x Bus / 5000 |
//! | 04h | Current | Shunt x Calibration / 4096 |
//! | 05h | Calibration | R/W, bit 0 reads 0 |
//!
//! The host reaches it through the simulated I2CDriver adapter ([`super::i2cdriver`]).

/// The configuration register's reset value.
pub const CONFIG_RESET: u16 = 0x399F;
/// The simulated chip's address (A0 = A1 = GND).
pub const ADDRESS: u8 = 0x40;

/// INA219 register state.
#[derive(Debug, Clone)]
pub struct Ina219Chip {
    config: u16,
    calibration: u16,
    pointer: u8,
    bus_v: f64,
    shunt_v: f64,
    conversion_ready: bool,
}

impl Default for Ina219Chip {
    fn default() -> Self {
        Self::new()
    }
}

impl Ina219Chip {
    /// A chip just after power-on.
    pub fn new() -> Self {
        Self {
            config: CONFIG_RESET,
            calibration: 0,
            pointer: 0,
            bus_v: 0.0,
            shunt_v: 0.0,
            conversion_ready: false,
        }
    }

    /// Presents the analog inputs: bus voltage and shunt voltage, in volts.
    pub fn set_inputs(&mut self, bus_v: f64, shunt_v: f64) {
        self.bus_v = bus_v;
        self.shunt_v = shunt_v;
        self.conversion_ready = true;
    }

    fn shunt_register(&self) -> i16 {
        // PG bits 12..11 select +/-40, 80, 160, 320 mV.
        let pga = (self.config >> 11) & 0b11;
        let limit = 4000i32 << pga; // in 10 uV counts
        let counts = (self.shunt_v / 10e-6).round() as i32;
        counts.clamp(-limit, limit) as i16
    }

    fn bus_counts(&self) -> u16 {
        let full_scale = if self.config & (1 << 13) != 0 {
            32.0
        } else {
            16.0
        };
        let v = self.bus_v.clamp(0.0, full_scale);
        ((v / 4e-3).round() as u16).min(0x1FFF)
    }

    fn current_register(&self) -> (i16, bool) {
        let product = i64::from(self.shunt_register()) * i64::from(self.calibration) / 4096;
        let overflow = product > i64::from(i16::MAX) || product < i64::from(i16::MIN);
        (
            product.clamp(i16::MIN.into(), i16::MAX.into()) as i16,
            overflow,
        )
    }

    /// Reads a register, with the chip's side effects (reading Power clears CNVR).
    pub fn read(&mut self, reg: u8) -> Option<u16> {
        Some(match reg {
            0x00 => self.config,
            0x01 => self.shunt_register() as u16,
            0x02 => {
                let (_, ovf) = self.current_register();
                (self.bus_counts() << 3) | (u16::from(self.conversion_ready) << 1) | u16::from(ovf)
            }
            0x03 => {
                self.conversion_ready = false;
                let (current, _) = self.current_register();
                let power = i64::from(current).abs() * i64::from(self.bus_counts()) / 5000;
                power.min(i64::from(u16::MAX)) as u16
            }
            0x04 => self.current_register().0 as u16,
            0x05 => self.calibration,
            _ => return None,
        })
    }

    /// Writes a register. Returns false for read-only or unknown registers.
    pub fn write(&mut self, reg: u8, value: u16) -> bool {
        match reg {
            0x00 if value & 0x8000 != 0 => {
                let (bus_v, shunt_v) = (self.bus_v, self.shunt_v);
                *self = Self::new();
                self.set_inputs(bus_v, shunt_v);
            }
            0x00 => {
                self.config = value;
                self.conversion_ready = false;
            }
            0x05 => self.calibration = value & !1,
            _ => return false,
        }
        true
    }
}

impl Ina219Chip {
    /// The bytes of a write transaction, as the chip takes them: the first sets the
    /// register pointer, the next two (MSB first) are written to that register. A write
    /// to a read-only register is ignored, as the chip does.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if let Some((reg, value)) = bytes.split_first() {
            self.pointer = *reg;
            if let [hi, lo, ..] = value {
                self.write(*reg, u16::from_be_bytes([*hi, *lo]));
            }
        }
    }

    /// A read transaction: the register at the pointer, MSB first; the bus reads high
    /// (0xFF) past the register's two bytes or from a register the chip does not have.
    pub fn read_bytes(&mut self, buf: &mut [u8]) {
        let value = self.read(self.pointer).map(u16::to_be_bytes);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = value.and_then(|v| v.get(i).copied()).unwrap_or(0xFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasheet_worked_example() {
        // SBOS448 section 8.5.1: 10 A through 2 mOhm (20 mV), bus 11.98 V,
        // calibration 20480: current register 10000, power register 5990.
        let mut chip = Ina219Chip::new();
        chip.write(0x00, 0x019F);
        chip.write(0x05, 20480);
        chip.set_inputs(11.98, 0.020);
        assert_eq!(chip.read(0x01), Some(2000));
        assert_eq!(chip.read(0x02).map(|b| b >> 3), Some(2995));
        assert_eq!(chip.read(0x04), Some(10000));
        assert_eq!(chip.read(0x03), Some(5990));
        assert_eq!(
            chip.read(0x02).map(|b| b & 0b10),
            Some(0),
            "reading Power clears CNVR"
        );
    }

    #[test]
    fn reset_restores_defaults() {
        let mut chip = Ina219Chip::new();
        assert_eq!(chip.read(0x00), Some(CONFIG_RESET));
        chip.write(0x05, 4096);
        chip.write(0x00, 0xB99F);
        assert_eq!(chip.read(0x00), Some(CONFIG_RESET));
        assert_eq!(chip.read(0x05), Some(0));
        assert_eq!(chip.read(0x04), Some(0));
        assert!(!chip.write(0x04, 1), "current is read-only");
    }

    #[test]
    fn transactions_set_the_pointer_then_read_msb_first() {
        let mut chip = Ina219Chip::new();
        chip.write_bytes(&[0x05, 0x10, 0x00]);
        chip.write_bytes(&[0x05]);
        let mut buf = [0u8; 3];
        chip.read_bytes(&mut buf);
        assert_eq!(
            buf,
            [0x10, 0x00, 0xFF],
            "calibration 4096, then the bus reads high"
        );
        chip.write_bytes(&[0x04, 0x12, 0x34]);
        chip.read_bytes(&mut buf[..2]);
        assert_eq!(buf[..2], [0, 0], "the current register is read-only");
    }
}
