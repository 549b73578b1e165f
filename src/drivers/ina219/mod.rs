//! TI INA219 high-side current/power monitor (datasheet SBOS448), through the
//! `ina219` crate over any `embedded_hal::i2c::I2c` bus.
//!
//! The chip is reset, checked (the crate's `paranoid` feature: calibration, current
//! and power read zero after reset, bus and shunt in range) and calibrated with
//! `Cal = trunc(0.04096 / (Current_LSB x R_shunt))`, Current_LSB = max current / 2^15
//! rounded up to a whole microampere. It runs in its reset configuration (`399Fh`:
//! 32 V bus range, +/-320 mV shunt range, 12-bit, continuous shunt and bus), so a
//! conversion completes every 532 us + 532 us.
//!
//! The bus inputs take 0-26 V; the rig file refuses a meter on a line that may exceed it.

use embedded_hal::i2c::I2c;
use ina219::address::Address;
use ina219::calibration::{IntCalibration, MicroAmpere};
use ina219::configuration::{Configuration, Resolution};
use ina219::SyncIna219;

use crate::drivers::{InstrumentError, Result};

/// The shunt register's full scale at PGA /8 (+/-320 mV in 10 uV counts).
const SHUNT_FULL_SCALE: i32 = 32000;

/// The bus voltage register's LSB (datasheet 8.6.3.2), in volts.
pub const BUS_LSB_V: f64 = 0.004;

/// How often the reset configuration makes a new reading: a 12-bit shunt conversion
/// then a 12-bit bus conversion, 532 us each (datasheet table 5).
pub const CONVERSION_PERIOD: std::time::Duration = std::time::Duration::from_micros(1064);

/// The averaging modes of the ADCs (datasheet table 5): 1 to 128 12-bit samples per
/// result, each sample 532 us.
pub const AVERAGING: &[u8] = &[1, 2, 4, 8, 16, 32, 64, 128];

/// The ADC setting for `samples` averaged 12-bit samples, if it is one of [`AVERAGING`].
pub fn averaging(samples: u8) -> Option<Resolution> {
    Some(match samples {
        1 => Resolution::Res12Bit,
        2 => Resolution::Avg2,
        4 => Resolution::Avg4,
        8 => Resolution::Avg8,
        16 => Resolution::Avg16,
        32 => Resolution::Avg32,
        64 => Resolution::Avg64,
        128 => Resolution::Avg128,
        _ => return None,
    })
}

/// A calibrated INA219.
pub struct Ina219<I2C: I2c> {
    chip: SyncIna219<I2C, IntCalibration>,
    current_lsb_ua: i64,
    shunt_ohm: f64,
    period: std::time::Duration,
}

/// The calibration for a shunt and the largest current to be measured.
pub fn calibration(shunt_ohm: f64, max_current_a: f64) -> Option<IntCalibration> {
    let lsb_ua = (max_current_a * 1e6 / 32768.0).ceil().max(1.0) as i64;
    let shunt_uohm = (shunt_ohm * 1e6).round() as u32;
    IntCalibration::new(MicroAmpere(lsb_ua), shunt_uohm)
}

impl<I2C: I2c> Ina219<I2C> {
    /// Resets, checks and calibrates the chip at a 7-bit address (0x40-0x4F).
    pub fn open(i2c: I2C, address: u8, shunt_ohm: f64, max_current_a: f64) -> Result<Self> {
        let addr = Address::from_byte(address).map_err(|_| {
            InstrumentError::Bus(format!("address {address:#04x} is not 0x40..=0x4F"))
        })?;
        let calib = calibration(shunt_ohm, max_current_a).ok_or_else(|| {
            InstrumentError::Bus(format!(
                "no INA219 calibration fits a {shunt_ohm} ohm shunt at {max_current_a} A"
            ))
        })?;
        let current_lsb_ua = calib.current_lsb().0;
        let chip = SyncIna219::new_calibrated(i2c, addr, calib).map_err(|e| {
            InstrumentError::Bus(format!(
                "INA219 at {address:#04x} failed its reset check: {:?}",
                e.reason
            ))
        })?;
        Ok(Self {
            chip,
            current_lsb_ua,
            shunt_ohm,
            period: CONVERSION_PERIOD,
        })
    }

    /// Averages `samples` 12-bit conversions per result on both ADCs (bus and shunt),
    /// in continuous mode at the reset ranges: a result every `2 x samples x 532 us`
    /// (datasheet table 5), less noise, slower to follow.
    pub fn set_averaging(&mut self, samples: u8) -> Result<()> {
        let resolution = averaging(samples).ok_or_else(|| {
            InstrumentError::Bus(format!(
                "averaging {samples}: expected one of {AVERAGING:?} samples"
            ))
        })?;
        let conf = Configuration {
            bus_resolution: resolution,
            shunt_resolution: resolution,
            ..Configuration::default()
        };
        self.chip
            .set_configuration(conf)
            .map_err(|e| InstrumentError::Bus(format!("configuration: {e:?}")))?;
        self.period = conf.conversion_time().unwrap_or(CONVERSION_PERIOD);
        Ok(())
    }

    /// A reading the chip made since the last one taken (bus volts, amperes), or `None`
    /// when it has not finished a new conversion (CNVR clear): reading the power
    /// register clears CNVR, so each conversion is taken once.
    ///
    /// The bus register (which carries CNVR) is read alone, and Power only once CNVR is
    /// set. The crate's `next_measurement` reads Bus, Power, Shunt and Current in one
    /// transaction on every poll: a conversion that ends between its Bus and its Power
    /// read is cleared unseen, and polled back to back through an I2CDriver that lost a
    /// fifth to a third of them (`cargo bench --bench meter`: 70-83 % of the configured
    /// rate at every averaging setting). Here only a conversion that ends between
    /// reading a set CNVR and clearing it, one register read later, is lost.
    pub fn next_reading(&mut self) -> Result<Option<(f64, f64)>> {
        let bus = self
            .chip
            .bus_voltage()
            .map_err(|e| InstrumentError::Bus(format!("bus voltage: {e:?}")))?;
        if !bus.is_conversion_ready() {
            return Ok(None);
        }
        self.chip
            .power_raw()
            .map_err(|e| InstrumentError::Bus(format!("power: {e:?}")))?;
        if bus.has_math_overflowed() {
            return Err(InstrumentError::OverRange {
                what: "bus voltage register has OVF set".into(),
                above_a: self.current_lsb() * 32767.0,
            });
        }
        let amps = self.current()?;
        Ok(Some((f64::from(bus.voltage_mv()) / 1e3, amps)))
    }

    /// How often the chip makes a new reading, as configured.
    pub fn update_period(&self) -> std::time::Duration {
        self.period
    }

    /// The current register's LSB, in amperes (from the calibration).
    pub fn current_lsb(&self) -> f64 {
        self.current_lsb_ua as f64 / 1e6
    }

    /// Bus voltage in volts (LSB 4 mV).
    pub fn bus_voltage(&mut self) -> Result<f64> {
        let bus = self
            .chip
            .bus_voltage()
            .map_err(|e| InstrumentError::Bus(format!("bus voltage: {e:?}")))?;
        if bus.has_math_overflowed() {
            // OVF: the current or power register overflowed its calibrated range.
            return Err(InstrumentError::OverRange {
                what: "bus voltage register has OVF set".into(),
                above_a: self.current_lsb() * 32767.0,
            });
        }
        Ok(f64::from(bus.voltage_mv()) / 1e3)
    }

    /// Current in amperes from the chip's current register (signed, calibrated LSB).
    ///
    /// The shunt register is read first: at the PGA's full scale the ADC has clipped
    /// and the current register, computed from the clipped value, reads low without
    /// setting OVF. That is an error, not a reading.
    pub fn current(&mut self) -> Result<f64> {
        let shunt = self
            .chip
            .shunt_voltage()
            .map_err(|e| InstrumentError::Bus(format!("shunt voltage: {e:?}")))?;
        if i32::from(shunt.shunt_voltage_10uv()) <= -SHUNT_FULL_SCALE {
            return Err(InstrumentError::Bus(format!(
                "shunt voltage {} mV is at the INA219's -320 mV full scale: a current beyond what this shunt measures, flowing backwards",
                shunt.shunt_voltage_mv()
            )));
        }
        if i32::from(shunt.shunt_voltage_10uv()) >= SHUNT_FULL_SCALE {
            return Err(InstrumentError::OverRange {
                what: format!(
                    "shunt voltage {} mV is at the INA219's +/-320 mV full scale",
                    shunt.shunt_voltage_mv()
                ),
                above_a: f64::from(SHUNT_FULL_SCALE) * 1e-5 / self.shunt_ohm,
            });
        }
        let raw = self
            .chip
            .current_raw()
            .map_err(|e| InstrumentError::Bus(format!("current: {e:?}")))?;
        Ok((raw.0 as i16) as f64 * self.current_lsb_ua as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    use super::*;

    const A: u8 = 0x40;

    /// The exchange `open` makes: reset, read back the reset configuration, the
    /// paranoid zero checks, then the calibration for 0.1 ohm / 2 A.
    pub(super) fn open_script_pub() -> Vec<T> {
        open_script()
    }

    fn open_script() -> Vec<T> {
        vec![
            T::write(A, vec![0x00, 0xB9, 0x9F]),
            T::write_read(A, vec![0x00], vec![0x39, 0x9F]),
            T::write_read(A, vec![0x05], vec![0x00, 0x00]),
            T::write_read(A, vec![0x04], vec![0x00, 0x00]),
            T::write_read(A, vec![0x03], vec![0x00, 0x00]),
            T::write_read(A, vec![0x01], vec![0x00, 0x00]),
            T::write_read(A, vec![0x02], vec![0x00, 0x00]),
            // Current_LSB = ceil(2 A / 2^15) = 62 uA; Cal = 0.04096 / (62e-6 x 0.1) = 6606.
            T::write(A, vec![0x05, 0x19, 0xCE]),
        ]
    }

    #[test]
    fn calibration_follows_the_datasheet_formula() {
        let c = calibration(0.1, 2.0).unwrap();
        assert_eq!(c.current_lsb().0, 62);
        assert_eq!(c.as_bits(), 6606);
        // Adafruit's default: 0.1 ohm, 100 uA LSB -> Cal 4096.
        assert_eq!(calibration(0.1, 3.2768).unwrap().as_bits(), 4096);
    }

    #[test]
    fn opens_with_the_exact_transactions_and_reads_in_units() {
        let mut script = open_script();
        // 12.000 V = 3000 x 4 mV in bits 15..3, CNVR set; current 4032 x 62 uA = 0.25 A.
        script.push(T::write_read(
            A,
            vec![0x02],
            ((3000u16 << 3) | 0b10).to_be_bytes().to_vec(),
        ));
        let reg = |r: u8, v: u16| T::write_read(A, vec![r], v.to_be_bytes().to_vec());
        script.push(reg(0x01, 2500));
        script.push(reg(0x04, 4032));
        // A negative current (reverse flow) is signed.
        script.push(reg(0x01, -62i16 as u16));
        script.push(reg(0x04, -100i16 as u16));
        // A clipped shunt reading (at full scale) is an error, whatever the current says.
        script.push(reg(0x01, 32000));
        let mut bus = Mock::new(&script);
        let mut meter = Ina219::open(bus.clone(), A, 0.1, 2.0).unwrap();
        assert_eq!(meter.bus_voltage().unwrap(), 12.0);
        assert!((meter.current().unwrap() - 0.249_984).abs() < 1e-9);
        assert!((meter.current().unwrap() + 0.0062).abs() < 1e-9);
        let err = meter.current().unwrap_err();
        assert!(err.to_string().contains("full scale"), "{err}");
        bus.done();
    }

    #[test]
    fn a_new_reading_is_polled_on_cnvr_alone_and_taken_once() {
        let mut script = open_script();
        let reg = |r: u8, v: u16| T::write_read(A, vec![r], v.to_be_bytes().to_vec());
        // No conversion yet: the bus register alone, nothing else read (Power would
        // clear a CNVR that sets in between).
        script.push(reg(0x02, 3000 << 3));
        // CNVR set: Power clears it, then the shunt (clipping check) and the current.
        script.push(reg(0x02, (3000 << 3) | 0b10));
        script.push(reg(0x03, 0));
        script.push(reg(0x01, 2500));
        script.push(reg(0x04, 4032));
        let mut bus = Mock::new(&script);
        let mut meter = Ina219::open(bus.clone(), A, 0.1, 2.0).unwrap();
        assert_eq!(meter.next_reading().unwrap(), None);
        let (v, a) = meter.next_reading().unwrap().unwrap();
        assert_eq!(v, 12.0);
        assert!((a - 0.249_984).abs() < 1e-9);
        bus.done();
    }

    #[test]
    fn a_chip_that_does_not_reset_is_refused() {
        let script = vec![
            T::write(A, vec![0x00, 0xB9, 0x9F]),
            // Something at 0x40 that is not an INA219 (or a stuck one): never 399Fh.
            T::write_read(A, vec![0x00], vec![0x12, 0x34]),
        ];
        let mut expectations = script;
        for _ in 0..11 {
            expectations.push(T::write_read(A, vec![0x00], vec![0x12, 0x34]));
        }
        let mut bus = Mock::new(&expectations);
        let err = Ina219::open(bus.clone(), A, 0.1, 2.0).err().unwrap();
        assert!(err.to_string().contains("failed its reset check"), "{err}");
        bus.done();
    }
}

#[cfg(test)]
mod averaging_tests {
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    use super::*;

    #[test]
    fn averaging_writes_both_adcs_and_sets_the_period() {
        let mut script = tests::open_script_pub();
        // BADC = SADC = 1111 (128 samples), otherwise the reset configuration.
        script.push(T::write(0x40, vec![0x00, 0x3F, 0xFF]));
        let mut bus = Mock::new(&script);
        let mut meter = Ina219::open(bus.clone(), 0x40, 0.1, 2.0).unwrap();
        meter.set_averaging(128).unwrap();
        assert_eq!(
            meter.update_period(),
            std::time::Duration::from_micros(136_200)
        );
        bus.done();
    }
}
