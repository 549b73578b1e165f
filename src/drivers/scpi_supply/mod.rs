//! SCPI programmable DC supplies: one driver, and a [`Dialect`] per instrument family.
//!
//! The supplies do the same things (identify, program voltage and current limit, switch
//! and read back the output, measure, arm and clear OVP/OCP) and differ in spelling and
//! in how they say a command failed. Each family's spelling is one file here whose
//! module doc is its manual's command table:
//!
//! | dialect (`driver = ...`) | instruments | a setting is confirmed by | OVP/OCP |
//! |---|---|---|---|
//! | [`rigol-dp800`](rigol_dp800) | Rigol DP821A, DP831A, DP832(A) | the error queue (`:SYST:ERR?`) | set, read, cleared |
//! | [`siglent-spd3303x`](siglent_spd3303x) | Siglent SPD3303X, SPD3303X-E | reading it back (no error queue) | none |
//! | [`siglent-spd1000x`](siglent_spd1000x) | Siglent SPD1168X, SPD1305X | reading it back (no error queue) | none |
//! | [`keysight-e36300`](keysight_e36300) | Keysight E36311A, E36312A, E36313A | the error queue (`:SYST:ERR?`) | set, read, cleared |
//! | [`keysight-e3631a`](keysight_e3631a) | Keysight (Agilent, HP) E3631A | the error queue (`SYST:ERR?`) | none |
//!
//! Where a family has its own step sequencer (the DP800's timer), the dialect says how
//! to program it, and a sag whose hold it can time is programmed into it.
//!
//! A new SCPI supply is one more dialect file and one line in [`DIALECTS`]; the rig
//! file's `driver = "..."` finds it there.
//!
//! Never silent: a setting the instrument refused (an error-queue entry, or a read-back
//! that disagrees) is an [`InstrumentError`], as is a reply that does not parse.

pub mod keysight_e36300;
pub mod keysight_e3631a;
pub mod rigol_dp800;
pub mod session;
pub mod siglent_spd1000x;
pub mod siglent_spd3303x;

use std::time::Duration;

pub use crate::drivers::on_off;
use crate::drivers::{InstrumentError, Result};
use crate::transport::{Framing, LineIo};
use session::Scpi;

/// Every SCPI supply dialect, by the name a rig file's `driver = "..."` uses.
pub static DIALECTS: &[&Dialect] = &[
    &rigol_dp800::DIALECT,
    &siglent_spd3303x::DIALECT,
    &siglent_spd1000x::DIALECT,
    &keysight_e36300::DIALECT,
    &keysight_e3631a::DIALECT,
];

/// The dialect a rig file names, if there is one.
pub fn dialect(key: &str) -> Option<&'static Dialect> {
    DIALECTS.iter().copied().find(|d| d.key == key)
}

/// One family's spelling of the supply commands. Channel numbers are 1-based.
#[derive(Debug)]
pub struct Dialect {
    /// The name a rig file's `driver = "..."` uses.
    pub key: &'static str,
    /// `*IDN?` replies of this family start with one of these.
    pub identities: &'static [&'static str],
    /// What a valid identity looks like, for the error when it is not one.
    pub expected_identity: &'static str,
    /// Programmable channels: `1..=channels`.
    pub channels: u8,
    /// Settings sent once identified (`*CLS`), confirmed like any setting.
    pub open: &'static [&'static str],
    /// Least time between the starts of two commands.
    pub gap: Duration,
    /// Program the voltage.
    pub set_voltage: fn(u8, f64) -> String,
    /// Program the current limit.
    pub set_current: fn(u8, f64) -> String,
    /// Switch the output.
    pub set_output: fn(u8, bool) -> String,
    /// Read the output state.
    pub output: OutputQuery,
    /// Measure the output voltage.
    pub measure_voltage: fn(u8) -> String,
    /// Measure the output current.
    pub measure_current: fn(u8) -> String,
    /// How a setting is known to have been accepted.
    pub confirm: Confirm,
    /// The instrument's own over-voltage and over-current protection, if it has one.
    pub protection: Option<Protection>,
    /// One output switch for every channel (`OUTP ON` acts on all): a rig may give
    /// such an instrument one supply role only.
    pub outputs_together: bool,
    /// Its serial framing and handshake.
    pub framing: Framing,
    /// Its own step sequencer (timer or list mode), if it has one.
    pub sequencer: Option<Sequencer>,
}

/// One step of a sequencer: volts, amperes, seconds.
pub type Step = (f64, f64, f64);

/// The commands of a supply's own step sequencer.
#[derive(Debug)]
pub struct Sequencer {
    /// What the manual calls it (`timer`).
    pub name: &'static str,
    /// The shortest step, and the resolution of every step.
    pub step: Duration,
    /// The longest step.
    pub longest: Duration,
    /// Settings that program channel `n`'s steps (volts, amperes, seconds) to run once
    /// and then hold the last step.
    pub program: fn(u8, &[Step]) -> Vec<String>,
    /// Settings that start (`true`) or stop channel `n`'s steps.
    pub run: fn(u8, bool) -> Vec<String>,
}

/// How the output state is read.
#[derive(Debug)]
pub enum OutputQuery {
    /// A query answering `ON`/`OFF` or `1`/`0`.
    State(fn(u8) -> String),
    /// A query answering a hexadecimal status word (`0x0224`) in which channel `n`'s
    /// output is bit `first_bit + n - 1`.
    StatusWord {
        /// The query.
        query: &'static str,
        /// Channel 1's bit.
        first_bit: u8,
    },
}

/// How a setting is known to have been accepted.
#[derive(Debug)]
pub enum Confirm {
    /// The SCPI-99 error queue, read after every setting until it is empty.
    ErrorQueue,
    /// No usable error queue: each setting is read back and must agree within
    /// `resolution` (the output by its state query).
    ReadBack {
        /// The programmed-voltage query.
        voltage: fn(u8) -> String,
        /// The programmed-current-limit query.
        current: fn(u8) -> String,
        /// The coarsest programming step of the family, in volts or amperes.
        resolution: f64,
    },
}

/// The commands of an instrument's own OVP/OCP.
#[derive(Debug)]
pub struct Protection {
    /// Settings that arm OVP at a voltage and OCP at a current.
    pub arm: fn(u8, f64, f64) -> Vec<String>,
    /// Has OVP tripped (`YES`/`NO`, `1`/`0`)?
    pub ovp_tripped: fn(u8) -> String,
    /// Has OCP tripped?
    pub ocp_tripped: fn(u8) -> String,
    /// Settings that clear latched trips, after which the output may go on again.
    pub clear: fn(u8) -> Vec<String>,
}

/// A connected SCPI supply.
pub struct ScpiSupply {
    scpi: Scpi,
    dialect: &'static Dialect,
    identity: String,
}

impl ScpiSupply {
    /// Opens a session: identifies the instrument as one of `dialect`'s family and
    /// sends its opening settings.
    pub fn open(io: LineIo, dialect: &'static Dialect) -> Result<Self> {
        let mut scpi = Scpi::paced(io, dialect.gap);
        let identity = scpi.query("*IDN?")?;
        if !dialect.identities.iter().any(|p| identity.starts_with(p)) {
            return Err(InstrumentError::garbage(
                "*IDN?",
                &identity,
                dialect.expected_identity,
            ));
        }
        let mut supply = Self {
            scpi,
            dialect,
            identity,
        };
        for command in dialect.open {
            supply.setting(command)?;
        }
        Ok(supply)
    }

    /// The `*IDN?` reply.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Sends a setting and, with an error queue, reads it.
    fn setting(&mut self, command: &str) -> Result<()> {
        match self.dialect.confirm {
            Confirm::ErrorQueue => self.scpi.set(command),
            Confirm::ReadBack { .. } => self.scpi.write(command),
        }
    }

    /// Without an error queue, reads a setpoint back and compares.
    fn read_back(&mut self, query: Option<String>, commanded: f64, unit: &str) -> Result<()> {
        let (Some(query), Confirm::ReadBack { resolution, .. }) = (query, &self.dialect.confirm)
        else {
            return Ok(());
        };
        let resolution = *resolution;
        let actual = self.scpi.query_f64(&query)?;
        if (actual - commanded).abs() > resolution * 0.5 + 1e-9 {
            return Err(InstrumentError::Readback {
                commanded: format!("{commanded:.3}{unit} (`{query}`)"),
                actual: format!("{actual:.3}{unit}"),
            });
        }
        Ok(())
    }

    fn setpoint_query(&self, volts: bool, channel: u8) -> Option<String> {
        match self.dialect.confirm {
            Confirm::ReadBack {
                voltage, current, ..
            } => Some(if volts { voltage } else { current }(channel)),
            Confirm::ErrorQueue => None,
        }
    }

    /// Programs the output voltage (e.g. `:SOUR<n>:VOLT <V>`).
    pub fn set_voltage(&mut self, channel: u8, volts: f64) -> Result<()> {
        self.setting(&(self.dialect.set_voltage)(channel, volts))?;
        let query = self.setpoint_query(true, channel);
        self.read_back(query, volts, "V")
    }

    /// Programs the current limit (e.g. `:SOUR<n>:CURR <A>`).
    pub fn set_current(&mut self, channel: u8, amps: f64) -> Result<()> {
        self.setting(&(self.dialect.set_current)(channel, amps))?;
        let query = self.setpoint_query(false, channel);
        self.read_back(query, amps, "A")
    }

    /// Switches the output (e.g. `:OUTP CH<n>,ON|OFF`). Without an error queue the
    /// state is read back; the caller reads it back anyway to name a protection trip.
    pub fn set_output(&mut self, channel: u8, on: bool) -> Result<()> {
        self.setting(&(self.dialect.set_output)(channel, on))?;
        if matches!(self.dialect.confirm, Confirm::ReadBack { .. }) {
            let actual = self.output(channel)?;
            if actual != on {
                return Err(InstrumentError::Readback {
                    commanded: format!("output CH{channel} {}", on_off(on)),
                    actual: format!("output CH{channel} {}", on_off(actual)),
                });
            }
        }
        Ok(())
    }

    /// Reads the output state (e.g. `:OUTP? CH<n>`).
    pub fn output(&mut self, channel: u8) -> Result<bool> {
        match self.dialect.output {
            OutputQuery::State(query) => self.query_bool(&query(channel)),
            OutputQuery::StatusWord { query, first_bit } => {
                let reply = self.scpi.query(query)?;
                let word = reply.trim();
                let hex = word
                    .strip_prefix("0x")
                    .or_else(|| word.strip_prefix("0X"))
                    .unwrap_or(word);
                let bits = u32::from_str_radix(hex, 16).map_err(|_| {
                    InstrumentError::garbage(query, &reply, "a hexadecimal status word")
                })?;
                Ok(bits >> (u32::from(first_bit) + u32::from(channel) - 1) & 1 == 1)
            }
        }
    }

    fn query_bool(&mut self, command: &str) -> Result<bool> {
        let reply = self.scpi.query(command)?;
        match reply.trim() {
            "ON" | "YES" | "1" => Ok(true),
            "OFF" | "NO" | "0" => Ok(false),
            _ => Err(InstrumentError::garbage(
                command,
                &reply,
                "`ON`/`OFF`, `YES`/`NO` or `1`/`0`",
            )),
        }
    }

    /// True when the instrument has its own OVP/OCP.
    pub fn has_protection(&self) -> bool {
        self.dialect.protection.is_some()
    }

    /// Arms over-voltage and over-current protection at `volts` / `amps`; false (and
    /// nothing sent) when the instrument has none.
    pub fn protect(&mut self, channel: u8, volts: f64, amps: f64) -> Result<bool> {
        let Some(p) = &self.dialect.protection else {
            return Ok(false);
        };
        for command in (p.arm)(channel, volts, amps) {
            self.setting(&command)?;
        }
        Ok(true)
    }

    /// Which protection has tripped: (OVP, OCP); never either without protection.
    pub fn tripped(&mut self, channel: u8) -> Result<(bool, bool)> {
        let Some(p) = &self.dialect.protection else {
            return Ok((false, false));
        };
        let (ovp, ocp) = ((p.ovp_tripped)(channel), (p.ocp_tripped)(channel));
        Ok((self.query_bool(&ovp)?, self.query_bool(&ocp)?))
    }

    /// Clears latched trips, after which the output may be switched on again.
    pub fn clear_protection(&mut self, channel: u8) -> Result<()> {
        let Some(p) = &self.dialect.protection else {
            return Ok(());
        };
        for command in (p.clear)(channel) {
            self.setting(&command)?;
        }
        Ok(())
    }

    /// The instrument's step sequencer, if it has one.
    pub fn sequencer(&self) -> Option<&'static Sequencer> {
        self.dialect.sequencer.as_ref()
    }

    /// Programs channel `channel`'s sequencer with `steps` (volts, amperes, seconds),
    /// each setting confirmed like any other.
    pub fn program_steps(&mut self, channel: u8, steps: &[Step]) -> Result<()> {
        let Some(seq) = &self.dialect.sequencer else {
            return Ok(());
        };
        for command in (seq.program)(channel, steps) {
            self.setting(&command)?;
        }
        Ok(())
    }

    /// Starts or stops channel `channel`'s programmed steps; nothing is sent to an
    /// instrument without a sequencer.
    pub fn run_steps(&mut self, channel: u8, on: bool) -> Result<()> {
        let Some(seq) = &self.dialect.sequencer else {
            return Ok(());
        };
        for command in (seq.run)(channel, on) {
            self.setting(&command)?;
        }
        Ok(())
    }

    /// Measures the output voltage (e.g. `:MEAS:VOLT? CH<n>`).
    pub fn measure_voltage(&mut self, channel: u8) -> Result<f64> {
        self.scpi
            .query_f64(&(self.dialect.measure_voltage)(channel))
    }

    /// Measures the output current (e.g. `:MEAS:CURR? CH<n>`).
    pub fn measure_current(&mut self, channel: u8) -> Result<f64> {
        self.scpi
            .query_f64(&(self.dialect.measure_current)(channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_is_found_by_its_key_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for d in DIALECTS {
            assert!(std::ptr::eq(dialect(d.key).unwrap(), *d), "{}", d.key);
            assert!(keys.insert(d.key), "{} twice", d.key);
        }
        assert!(dialect("rigol-dp900").is_none());
    }
}
