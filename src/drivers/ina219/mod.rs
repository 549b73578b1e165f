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
use ina219::SyncIna219;

use crate::drivers::{InstrumentError, Result};

/// A calibrated INA219.
pub struct Ina219<I2C: I2c> {
    chip: SyncIna219<I2C, IntCalibration>,
    current_lsb_ua: i64,
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
        })
    }

    /// Bus voltage in volts (LSB 4 mV).
    pub fn bus_voltage(&mut self) -> Result<f64> {
        let bus = self
            .chip
            .bus_voltage()
            .map_err(|e| InstrumentError::Bus(format!("bus voltage: {e:?}")))?;
        if bus.has_math_overflowed() {
            return Err(InstrumentError::Bus(
                "bus voltage register has OVF set".into(),
            ));
        }
        Ok(f64::from(bus.voltage_mv()) / 1e3)
    }

    /// Current in amperes from the chip's current register (signed, calibrated LSB).
    pub fn current(&mut self) -> Result<f64> {
        let raw = self
            .chip
            .current_raw()
            .map_err(|e| InstrumentError::Bus(format!("current: {e:?}")))?;
        Ok((raw.0 as i16) as f64 * self.current_lsb_ua as f64 / 1e6)
    }
}
