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
/// The address of the simulated bench's second INA219, on the emergency port's line
/// (A0 tied to VS).
pub const PORT_ADDRESS: u8 = 0x41;

/// Conversion time of one ADC setting (the 4 bits of BADC or SADC), datasheet table 5.
pub fn conversion_time(adc: u16) -> std::time::Duration {
    let us = match adc & 0b1111 {
        0b0000 | 0b0100 => 84,
        0b0001 | 0b0101 => 148,
        0b0010 | 0b0110 => 276,
        0b0011 | 0b0111 | 0b1000 => 532,
        0b1001 => 1_060,
        0b1010 => 2_130,
        0b1011 => 4_260,
        0b1100 => 8_510,
        0b1101 => 17_020,
        0b1110 => 34_050,
        _ => 68_100,
    };
    std::time::Duration::from_micros(us)
}

/// An update period this short is modelled as instantaneous: the physics steps in 1 ms
/// and the reset configuration converts both channels in 1.064 ms.
const INSTANT: std::time::Duration = std::time::Duration::from_micros(1100);

/// INA219 register state.
#[derive(Debug, Clone)]
pub struct Ina219Chip {
    config: u16,
    calibration: u16,
    pointer: u8,
    /// The inputs now, and the results of the last conversion.
    live: (f64, f64),
    bus_v: f64,
    shunt_v: f64,
    conversion_ready: bool,
    /// Averaging under way: the inputs integrated over `window` (volt-seconds).
    sum: (f64, f64),
    window: std::time::Duration,
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
            live: (0.0, 0.0),
            bus_v: 0.0,
            shunt_v: 0.0,
            conversion_ready: false,
            sum: (0.0, 0.0),
            window: std::time::Duration::ZERO,
        }
    }

    /// How often the results update in continuous shunt-and-bus mode: one shunt
    /// conversion then one bus conversion, each at its configured resolution or
    /// averaging (BADC bits 10..7, SADC bits 6..3).
    pub fn update_period(&self) -> std::time::Duration {
        conversion_time(self.config >> 7) + conversion_time(self.config >> 3)
    }

    /// Presents the analog inputs: bus voltage and shunt voltage, in volts. With a
    /// short update period the results follow at once; with averaging they follow as
    /// time passes ([`Self::tick`]).
    pub fn set_inputs(&mut self, bus_v: f64, shunt_v: f64) {
        self.live = (bus_v, shunt_v);
        if self.update_period() <= INSTANT {
            // The values follow at once; CNVR still marks the chip's own conversions.
            self.bus_v = bus_v;
            self.shunt_v = shunt_v;
        }
    }

    /// Lets `dt` of conversion time pass: the inputs are averaged over each update
    /// period, and the results (and CNVR) change when it ends.
    pub fn tick(&mut self, dt: std::time::Duration) {
        let period = self.update_period();
        if period <= INSTANT {
            self.window += dt;
            if self.window >= period {
                self.window -= period;
                self.conversion_ready = true;
            }
            return;
        }
        let s = dt.as_secs_f64();
        self.sum.0 += self.live.0 * s;
        self.sum.1 += self.live.1 * s;
        self.window += dt;
        if self.window >= period {
            // The conversion ended inside this step: the rest of the step belongs to
            // the next one, so the chip keeps its own rate whatever the step (periods
            // are not whole milliseconds).
            let over = self.window - period;
            let o = over.as_secs_f64();
            let p = period.as_secs_f64();
            self.publish(
                (self.sum.0 - self.live.0 * o) / p,
                (self.sum.1 - self.live.1 * o) / p,
            );
            self.sum = (self.live.0 * o, self.live.1 * o);
            self.window = over;
        }
    }

    fn publish(&mut self, bus_v: f64, shunt_v: f64) {
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
                let (bus_v, shunt_v) = self.live;
                *self = Self::new();
                self.set_inputs(bus_v, shunt_v);
            }
            0x00 => {
                // A new configuration starts a new conversion.
                self.config = value;
                self.conversion_ready = false;
                self.sum = (0.0, 0.0);
                self.window = std::time::Duration::ZERO;
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

#[cfg(test)]
mod averaging {
    use super::*;
    use std::time::Duration;

    #[test]
    fn averaging_publishes_once_per_period_the_mean_of_the_inputs() {
        let mut chip = Ina219Chip::new();
        chip.set_inputs(12.0, 0.025);
        assert_eq!(chip.update_period(), Duration::from_micros(1064));
        // 128 samples on both ADCs: BADC = SADC = 1111.
        chip.write(0x00, CONFIG_RESET | (0b1111 << 7) | (0b1111 << 3));
        assert_eq!(chip.update_period(), Duration::from_micros(136_200));
        let bus = |c: &mut Ina219Chip| c.read(0x02).unwrap();
        assert_eq!(bus(&mut chip) & 0b10, 0, "no conversion yet");
        for _ in 0..68 {
            chip.tick(Duration::from_millis(1));
        }
        chip.set_inputs(6.0, 0.0125);
        for _ in 0..68 {
            chip.tick(Duration::from_millis(1));
        }
        assert_eq!(bus(&mut chip) & 0b10, 0, "136 ms: not yet");
        chip.tick(Duration::from_millis(1));
        let reg = bus(&mut chip);
        assert_eq!(reg & 0b10, 0b10, "CNVR");
        let volts = f64::from(reg >> 3) * 0.004;
        assert!((volts - 9.0).abs() < 0.05, "{volts}");
        chip.read(0x03);
        assert_eq!(bus(&mut chip) & 0b10, 0, "reading Power clears CNVR");
    }

    /// Conversions flagged by CNVR over one second of 1 ms physics steps, each taken
    /// once (reading Power clears the flag).
    fn conversions_in_a_second(chip: &mut Ina219Chip) -> u32 {
        let mut conversions = 0;
        for _ in 0..1000 {
            chip.tick(Duration::from_millis(1));
            if chip.read(0x02).unwrap() & 0b10 != 0 {
                conversions += 1;
                chip.read(0x03);
            }
        }
        conversions
    }

    #[test]
    fn averaging_keeps_the_chips_own_rate_across_1ms_steps() {
        let mut chip = Ina219Chip::new();
        chip.set_inputs(12.0, 0.025);
        // 2 samples on both ADCs: 2.12 ms a conversion, not a whole number of steps.
        chip.write(
            0x00,
            (CONFIG_RESET & !0x07F8) | (0b1001 << 7) | (0b1001 << 3),
        );
        let period = chip.update_period();
        assert_eq!(period, Duration::from_micros(2_120));
        let conversions = conversions_in_a_second(&mut chip);
        // One second: 471 conversions at the chip's rate (333 if each waited for a
        // whole third step).
        assert_eq!(conversions, 1_000_000 / 2_120, "{conversions}");
        let volts = f64::from(chip.read(0x02).unwrap() >> 3) * 0.004;
        assert!((volts - 12.0).abs() < 0.005, "{volts}");
        // At the reset setting the values follow the inputs at once, and CNVR still
        // flags the chip's own conversions: 939 a second, not one per step.
        let mut chip = Ina219Chip::new();
        chip.set_inputs(12.0, 0.025);
        let conversions = conversions_in_a_second(&mut chip);
        assert_eq!(conversions, 1_000_000 / 1_064, "{conversions}");
        chip.set_inputs(6.0, 0.0125);
        let volts = f64::from(chip.read(0x02).unwrap() >> 3) * 0.004;
        assert!((volts - 6.0).abs() < 0.005, "{volts}");
    }
}
