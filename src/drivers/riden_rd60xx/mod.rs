//! Riden RD60xx bench supplies (RD6006, RD6006P, RD6012, RD6018): one 60 V channel,
//! remote-controlled over Modbus RTU on the USB port's CH340 (or the TTL header) at
//! 115200 baud 8N1, slave address 1 unless set on the front panel.
//!
//! Riden publishes no programming manual; the register map is the one the community
//! read off the firmware and every client library uses (Baldanos/rd6006, ShayBox/Riden,
//! sigrok's `rdtech-dps`). All values are holding registers, read with function 03 and
//! written one at a time with function 06.
//!
//! | register | meaning | scale |
//! |---|---|---|
//! | 0 | model id: 60060-60064 RD6006, 60065 RD6006P, 60120-60129 RD6012, 60180-60189 RD6018 | |
//! | 1, 2 | serial number, high and low word | |
//! | 3 | firmware version (`128` = 1.28) | |
//! | 8 | voltage setting | V x [`Model::volts_per_count`] |
//! | 9 | current limit | A x [`Model::amps_per_count`] |
//! | 10, 11 | output voltage, output current as measured | same |
//! | 16 | protection status: 0 none, 1 OVP, 2 OCP | |
//! | 17 | regulation: 0 CV, 1 CC | |
//! | 18 | output enable: 1 on, 0 off | |
//! | 82, 83 | OVP and OCP levels of the working memory (M0) | same as 8, 9 |
//!
//! **Confirmation.** Function 06 answers with an echo, which proves the frame arrived,
//! not that the firmware took the value (it clamps rather than refuses on some
//! versions): every setting is read back and a mismatch is an
//! [`InstrumentError::Readback`].
//!
//! **Protection.** OVP and OCP are always armed on this family, at registers 82 and 83.
//! A trip switches the output off and sets register 16; it stays set until the output
//! is switched on again, as on the front panel. So a status found at bring-up is
//! reported once and then ignored until the next switch-on clears it in the
//! instrument.
//!
//! **Pace.** The stock firmware answers fewer than ten requests a second; Modbus waits
//! for each answer before the next request, so no extra gap is needed, but a rig's
//! timeout must allow for it (the default 500 ms does).

use std::time::Duration;

use crate::drivers::modbus::ModbusRtu;
use crate::drivers::{on_off, InstrumentError, Result};
use crate::transport::Transport;

/// The serial line settings: 115200 baud (8N1).
pub const BAUD: u32 = 115_200;

/// The holding registers lockrig uses.
pub mod reg {
    /// Model id.
    pub const ID: u16 = 0;
    /// Firmware version.
    pub const FIRMWARE: u16 = 3;
    /// Voltage setting.
    pub const V_SET: u16 = 8;
    /// Current limit.
    pub const I_SET: u16 = 9;
    /// Output voltage, measured.
    pub const V_OUT: u16 = 10;
    /// Protection status: 0 none, 1 OVP, 2 OCP.
    pub const PROTECTION: u16 = 16;
    /// Output enable.
    pub const OUTPUT: u16 = 18;
    /// OVP level (working memory M0).
    pub const OVP: u16 = 82;
    /// OCP level (working memory M0).
    pub const OCP: u16 = 83;
}

/// A member of the family, as its model id (register 0) names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// The model's name.
    pub name: &'static str,
    /// Volts per count of the voltage registers.
    pub volts_per_count: f64,
    /// Amperes per count of the current registers.
    pub amps_per_count: f64,
    /// Rated output: volts, amperes.
    pub rating: (f64, f64),
}

/// The models by id range.
pub const MODELS: &[(std::ops::RangeInclusive<u16>, Model)] = &[
    (
        60060..=60064,
        Model {
            name: "RD6006",
            volts_per_count: 0.01,
            amps_per_count: 0.001,
            rating: (60.0, 6.0),
        },
    ),
    (
        60065..=60065,
        Model {
            name: "RD6006P",
            volts_per_count: 0.001,
            amps_per_count: 0.0001,
            rating: (60.0, 6.0),
        },
    ),
    (
        60120..=60129,
        Model {
            name: "RD6012",
            volts_per_count: 0.01,
            amps_per_count: 0.01,
            rating: (60.0, 12.0),
        },
    ),
    (
        60180..=60189,
        Model {
            name: "RD6018",
            volts_per_count: 0.01,
            amps_per_count: 0.01,
            rating: (60.0, 18.0),
        },
    ),
];

/// The model with id `id`, if lockrig knows its scaling.
pub fn model(id: u16) -> Option<Model> {
    MODELS
        .iter()
        .find(|(ids, _)| ids.contains(&id))
        .map(|(_, m)| *m)
}

impl Model {
    /// Counts for `volts`, or `None` outside the rating.
    fn volts_counts(&self, volts: f64) -> Option<u16> {
        counts(volts, self.volts_per_count, self.rating.0 * 1.05)
    }

    /// Counts for `amps`, or `None` outside the rating.
    fn amps_counts(&self, amps: f64) -> Option<u16> {
        counts(amps, self.amps_per_count, self.rating.1 * 1.05)
    }
}

fn counts(value: f64, per_count: f64, max: f64) -> Option<u16> {
    let n = (value / per_count).round();
    ((0.0..=max).contains(&value) && n <= f64::from(u16::MAX)).then_some(n as u16)
}

/// A connected RD60xx.
pub struct Rd60xx {
    bus: ModbusRtu,
    model: Model,
    identity: String,
    /// A protection status latched before lockrig took the supply: reported at
    /// bring-up, ignored until the next switch-on clears it in the instrument.
    stale_trip: bool,
}

impl Rd60xx {
    /// Opens a session with slave `slave` and identifies the model (registers 0-3).
    pub fn open(transport: Box<dyn Transport>, slave: u8, timeout: Duration) -> Result<Self> {
        let mut bus = ModbusRtu::new(transport, slave, timeout)?;
        let words = bus.read_registers(reg::ID, 4)?;
        let (id, serial, firmware) = (
            words[0],
            (u32::from(words[1]) << 16) | u32::from(words[2]),
            words[3],
        );
        let model = model(id).ok_or_else(|| {
            InstrumentError::garbage(
                "Modbus 03 @0 (model id)",
                &id.to_string(),
                "a Riden RD60xx model id (60060-60065 RD6006/P, 60120-60129 RD6012, 60180-60189 RD6018)",
            )
        })?;
        let identity = format!(
            "Riden {} SN:{serial:08} FW:{}.{:02} (Modbus slave {slave})",
            model.name,
            firmware / 100,
            firmware % 100
        );
        Ok(Self {
            bus,
            model,
            identity,
            stale_trip: false,
        })
    }

    /// Model, serial number and firmware.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The model, from its id.
    pub fn model(&self) -> Model {
        self.model
    }

    /// Programs the voltage (register 8) and reads it back.
    pub fn set_voltage(&mut self, volts: f64) -> Result<()> {
        let n = self
            .model
            .volts_counts(volts)
            .ok_or_else(|| out_of_rating(volts, "V", self.model))?;
        self.setting(reg::V_SET, n, self.model.volts_per_count, "V")
    }

    /// Programs the current limit (register 9) and reads it back.
    pub fn set_current(&mut self, amps: f64) -> Result<()> {
        let n = self
            .model
            .amps_counts(amps)
            .ok_or_else(|| out_of_rating(amps, "A", self.model))?;
        self.setting(reg::I_SET, n, self.model.amps_per_count, "A")
    }

    /// Switches the output (register 18) and reads it back; an output that will not
    /// stay on names the protection that tripped.
    pub fn set_output(&mut self, on: bool) -> Result<()> {
        self.bus.write_register(reg::OUTPUT, u16::from(on))?;
        let output = self.output()?;
        if output != on {
            let why = match self.tripped()? {
                Some(p) => format!(" ({p} tripped)"),
                None => String::new(),
            };
            return Err(InstrumentError::Readback {
                commanded: format!("output {}", on_off(on)),
                actual: format!("output {}{why}", on_off(output)),
            });
        }
        if on {
            // Switching on is what clears a latched status in the instrument.
            self.stale_trip = false;
        }
        Ok(())
    }

    /// Output voltage and current as measured (registers 10-11, one request).
    pub fn measure(&mut self) -> Result<(f64, f64)> {
        let w = self.bus.read_registers(reg::V_OUT, 2)?;
        Ok((
            f64::from(w[0]) * self.model.volts_per_count,
            f64::from(w[1]) * self.model.amps_per_count,
        ))
    }

    /// Sets the OVP and OCP levels (registers 82, 83) and reads them back.
    pub fn protect(&mut self, ovp: f64, ocp: f64) -> Result<()> {
        let v = self
            .model
            .volts_counts(ovp)
            .ok_or_else(|| out_of_rating(ovp, "V", self.model))?;
        let a = self
            .model
            .amps_counts(ocp)
            .ok_or_else(|| out_of_rating(ocp, "A", self.model))?;
        self.setting(reg::OVP, v, self.model.volts_per_count, "V")?;
        self.setting(reg::OCP, a, self.model.amps_per_count, "A")
    }

    /// The protection that has tripped since the output was last switched on.
    pub fn tripped(&mut self) -> Result<Option<&'static str>> {
        let status = self.bus.read_registers(reg::PROTECTION, 1)?[0];
        match status {
            0 => Ok(None),
            1 => Ok(Some("OVP")),
            2 => Ok(Some("OCP")),
            other => Err(InstrumentError::garbage(
                "Modbus 03 @16 (protection status)",
                &other.to_string(),
                "0 (none), 1 (OVP) or 2 (OCP)",
            )),
        }
    }

    /// A trip latched from before: reported once; the output is off while it lasts,
    /// and the next switch-on clears it.
    pub fn clear_protection(&mut self) -> Result<Option<&'static str>> {
        let latched = self.tripped()?;
        self.stale_trip = latched.is_some();
        Ok(latched)
    }

    /// A trip since lockrig armed the protection (a stale one does not count).
    pub fn new_trip(&mut self) -> Result<Option<&'static str>> {
        if self.stale_trip {
            return Ok(None);
        }
        self.tripped()
    }

    /// Output enable (register 18) as the instrument reports it.
    pub fn output(&mut self) -> Result<bool> {
        let w = self.bus.read_registers(reg::OUTPUT, 1)?;
        match w[0] {
            0 | 1 => Ok(w[0] == 1),
            other => Err(InstrumentError::garbage(
                "Modbus 03 @18 (output enable)",
                &other.to_string(),
                "0 or 1",
            )),
        }
    }

    /// Writes one register and reads it back.
    fn setting(&mut self, register: u16, value: u16, per_count: f64, unit: &str) -> Result<()> {
        self.bus.write_register(register, value)?;
        let actual = self.bus.read_registers(register, 1)?[0];
        if actual != value {
            return Err(InstrumentError::Readback {
                commanded: format!(
                    "{:.4}{unit} (register {register} = {value})",
                    f64::from(value) * per_count
                ),
                actual: format!("{:.4}{unit} ({actual})", f64::from(actual) * per_count),
            });
        }
        Ok(())
    }
}

fn out_of_rating(value: f64, unit: &str, model: Model) -> InstrumentError {
    let max = if unit == "V" {
        model.rating.0
    } else {
        model.rating.1
    };
    InstrumentError::Readback {
        commanded: format!("{value}{unit}"),
        actual: format!("not settable: the {} is rated 0-{max}{unit}", model.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_scale_their_registers_as_the_id_says() {
        let rd6006 = model(60062).unwrap();
        assert_eq!(rd6006.volts_counts(12.0), Some(1200));
        assert_eq!(rd6006.amps_counts(1.5), Some(1500));
        let p = model(60065).unwrap();
        assert_eq!(
            (p.name, p.volts_counts(12.0), p.amps_counts(1.5)),
            ("RD6006P", Some(12000), Some(15000))
        );
        assert_eq!(model(60181).unwrap().amps_counts(1.5), Some(150));
        assert_eq!(model(12345), None);
        assert_eq!(rd6006.volts_counts(-1.0), None);
        assert_eq!(rd6006.volts_counts(70.0), None);
    }
}
