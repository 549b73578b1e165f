//! Binds drivers to capabilities. A multi-channel instrument is shared between the
//! roles it serves through [`Channel`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use embedded_hal::i2c::I2c;

use super::{Console, Input, Meter, Resolution, Sequencer, StepTiming, Supply, Switch};
use crate::drivers::console::{Batch, LockConsole};
use crate::drivers::gpio_cdev::{Edges, Gpio};
use crate::drivers::ina219::Ina219;
use crate::drivers::keysight_daq970a::Daq970a;
use crate::drivers::korad_ka3005p::Ka3005p;
use crate::drivers::lcus::Lcus;
use crate::drivers::modbus_relay::ModbusRelay;
use crate::drivers::numato::NumatoGpio;
use crate::drivers::riden_rd60xx::Rd60xx;
use crate::drivers::scpi_supply::ScpiSupply;
use crate::drivers::{on_off, InstrumentError, Result};
use crate::units::{Amps, Volts};

/// One channel of a shared instrument.
pub struct Channel<T> {
    device: Arc<Mutex<T>>,
    channel: u8,
}

impl<T> Channel<T> {
    /// A channel of `device`.
    pub fn new(device: Arc<Mutex<T>>, channel: u8) -> Self {
        Self { device, channel }
    }

    fn device(&self) -> MutexGuard<'_, T> {
        // A poisoned lock means another role panicked mid-exchange; the instrument
        // state is still the instrument's, so carry on and let read-backs judge.
        self.device.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Supply for Channel<ScpiSupply> {
    fn set_voltage(&mut self, volts: Volts) -> Result<()> {
        let ch = self.channel;
        self.device().set_voltage(ch, volts.0)
    }

    fn set_current_limit(&mut self, amps: Amps) -> Result<()> {
        let ch = self.channel;
        self.device().set_current(ch, amps.0)
    }

    fn set_output(&mut self, on: bool) -> Result<()> {
        let ch = self.channel;
        let mut dev = self.device();
        // An output switched off (the safe state above all) leaves no timer armed to
        // step it again when it next comes on; but the output goes off even if the
        // instrument refuses to stop its timer, and that refusal is reported after.
        let timer = if on { Ok(()) } else { dev.run_steps(ch, false) };
        dev.set_output(ch, on)?;
        let actual = dev.output(ch)?;
        if actual != on {
            // An output that will not stay on has usually tripped its protection: say so.
            let why = match dev.tripped(ch) {
                Ok((true, _)) => " (OVP tripped)",
                Ok((_, true)) => " (OCP tripped)",
                _ => "",
            };
            return Err(InstrumentError::Readback {
                commanded: format!("output CH{ch} {}", on_off(on)),
                actual: format!("output CH{ch} {}{why}", on_off(actual)),
            });
        }
        timer
    }

    fn measure(&mut self) -> Result<(Volts, Amps)> {
        let ch = self.channel;
        let mut dev = self.device();
        Ok((
            Volts(dev.measure_voltage(ch)?),
            Amps(dev.measure_current(ch)?),
        ))
    }

    fn set_protection(&mut self, ovp: Volts, ocp: Amps) -> Result<bool> {
        let ch = self.channel;
        self.device().protect(ch, ovp.0, ocp.0)
    }

    fn protection_tripped(&mut self) -> Result<Option<&'static str>> {
        let ch = self.channel;
        Ok(match self.device().tripped(ch)? {
            (true, _) => Some("OVP"),
            (_, true) => Some("OCP"),
            _ => None,
        })
    }

    fn clear_protection(&mut self) -> Result<Option<&'static str>> {
        let ch = self.channel;
        let mut dev = self.device();
        let latched = match dev.tripped(ch)? {
            (true, true) => Some("OVP and OCP"),
            (true, false) => Some("OVP"),
            (false, true) => Some("OCP"),
            (false, false) => None,
        };
        if latched.is_some() {
            dev.clear_protection(ch)?;
            if dev.tripped(ch)? != (false, false) {
                return Err(InstrumentError::Readback {
                    commanded: format!("protection of CH{ch} cleared"),
                    actual: "still tripped".into(),
                });
            }
        }
        Ok(latched)
    }

    fn sequencer(&mut self) -> Option<&mut dyn Sequencer> {
        if self.device().sequencer().is_some() {
            Some(self)
        } else {
            None
        }
    }
}

impl Sequencer for Channel<ScpiSupply> {
    fn timing(&self) -> StepTiming {
        let seq = self
            .device()
            .sequencer()
            .expect("offered only by a supply with a sequencer");
        StepTiming {
            name: seq.name,
            step: seq.step,
            longest: seq.longest,
        }
    }

    fn program(&mut self, steps: &[(Volts, Duration)], limit: Amps) -> Result<()> {
        let ch = self.channel;
        let steps: Vec<_> = steps
            .iter()
            .map(|(v, d)| (v.0, limit.0, d.as_secs_f64()))
            .collect();
        self.device().program_steps(ch, &steps)
    }

    fn run(&mut self, on: bool) -> Result<()> {
        let ch = self.channel;
        self.device().run_steps(ch, on)
    }
}

/// A KA3005P has one channel (the rig file says so), and no protection that can be
/// armed at the envelope's limits: the defaults say so (see the driver's module doc).
impl Supply for Channel<Ka3005p> {
    fn set_voltage(&mut self, volts: Volts) -> Result<()> {
        self.device().set_voltage(volts.0)
    }

    fn set_current_limit(&mut self, amps: Amps) -> Result<()> {
        self.device().set_current(amps.0)
    }

    fn set_output(&mut self, on: bool) -> Result<()> {
        self.device().set_output(on)
    }

    fn measure(&mut self) -> Result<(Volts, Amps)> {
        let mut dev = self.device();
        Ok((Volts(dev.measure_voltage()?), Amps(dev.measure_current()?)))
    }
}

impl Supply for Channel<Rd60xx> {
    fn set_voltage(&mut self, volts: Volts) -> Result<()> {
        self.device().set_voltage(volts.0)
    }

    fn set_current_limit(&mut self, amps: Amps) -> Result<()> {
        self.device().set_current(amps.0)
    }

    fn set_output(&mut self, on: bool) -> Result<()> {
        self.device().set_output(on)
    }

    fn measure(&mut self) -> Result<(Volts, Amps)> {
        let (v, a) = self.device().measure()?;
        Ok((Volts(v), Amps(a)))
    }

    fn set_protection(&mut self, ovp: Volts, ocp: Amps) -> Result<bool> {
        self.device().protect(ovp.0, ocp.0)?;
        Ok(true)
    }

    fn protection_tripped(&mut self) -> Result<Option<&'static str>> {
        self.device().new_trip()
    }

    fn clear_protection(&mut self) -> Result<Option<&'static str>> {
        self.device().clear_protection()
    }
}

/// A relay instrument whose relays are numbered channels: `set(ch, on)` switches and
/// reads back; `$get(ch)` reads one.
macro_rules! relay_channels {
    ($($board:ty => $get:ident),+ $(,)?) => {$(
        impl Switch for Channel<$board> {
            fn set(&mut self, on: bool) -> Result<()> {
                let ch = self.channel;
                self.device().set(ch, on)
            }

            fn get(&mut self) -> Result<bool> {
                let ch = self.channel;
                self.device().$get(ch)
            }
        }
    )+};
}

relay_channels!(Lcus => state, ModbusRelay => state, Daq970a => closed);

impl Input for Channel<Gpio> {
    fn read(&mut self) -> Result<bool> {
        let ch = u32::from(self.channel);
        self.device().read(ch)
    }

    fn edges(&mut self) -> Result<Option<Edges>> {
        let ch = u32::from(self.channel);
        self.device().edges(ch).map(Some)
    }

    fn stamps_edges(&self) -> bool {
        true
    }
}

impl Switch for Channel<Gpio> {
    fn set(&mut self, on: bool) -> Result<()> {
        let ch = u32::from(self.channel);
        self.device().set(ch, on)
    }

    fn get(&mut self) -> Result<bool> {
        let ch = u32::from(self.channel);
        self.device().read(ch)
    }
}

impl Input for Channel<NumatoGpio> {
    fn read(&mut self) -> Result<bool> {
        let ch = self.channel;
        self.device().read(ch)
    }

    fn read_lines(&mut self) -> Result<Option<u32>> {
        self.device().read_all().map(Some)
    }
}

impl<I2C: I2c + Send> Meter for Ina219<I2C> {
    fn voltage(&mut self) -> Result<Volts> {
        self.bus_voltage().map(Volts)
    }

    fn current(&mut self) -> Result<Amps> {
        Ina219::current(self).map(Amps)
    }

    fn resolution(&self) -> Resolution {
        Resolution {
            volts: Volts(crate::drivers::ina219::BUS_LSB_V),
            amps: Amps(self.current_lsb()),
            every: self.update_period(),
        }
    }
}

/// A supply channel's own readback (`MEAS`) serving as the meter on its line, on a
/// bench without an INA219: as fine and as fresh as the rig file declares from the
/// supply's manual, and no finer.
pub struct SupplyReadback {
    supply: Box<dyn Supply>,
    resolution: Resolution,
    /// The current of the last `voltage()` reading: one `MEAS` gives both.
    amps: Option<Amps>,
}

impl SupplyReadback {
    /// The readback of `supply`, declared as fine as `resolution`.
    pub fn new(supply: Box<dyn Supply>, resolution: Resolution) -> Self {
        Self {
            supply,
            resolution,
            amps: None,
        }
    }
}

impl Meter for SupplyReadback {
    fn voltage(&mut self) -> Result<Volts> {
        let (v, a) = self.supply.measure()?;
        self.amps = Some(a);
        Ok(v)
    }

    fn current(&mut self) -> Result<Amps> {
        match self.amps.take() {
            Some(a) => Ok(a),
            None => self.supply.measure().map(|(_, a)| a),
        }
    }

    fn resolution(&self) -> Resolution {
        self.resolution
    }
}

impl Console for LockConsole {
    fn lock_state(&mut self) -> Result<String> {
        self.state()
    }

    fn uptime_ms(&mut self, timeout: Duration) -> Result<u64> {
        self.uptime(timeout)
    }

    fn command(&mut self, line: &str) -> Result<String> {
        LockConsole::command(self, line)
    }

    fn take_events(&mut self) -> Result<Batch> {
        self.poll()?;
        Ok(LockConsole::take_events(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::scpi_supply::rigol_dp800;
    use crate::transport::scripted::Scripted;
    use crate::transport::LineIo;

    /// A DP800 that refuses to stop its timer (-221), and what it was sent.
    fn stuck_timer(sent: Arc<Mutex<Vec<String>>>) -> Scripted {
        let (mut refused, mut output) = (false, true);
        Scripted::new(move |bytes| {
            let line = String::from_utf8_lossy(bytes).trim().to_string();
            sent.lock().unwrap().push(line.clone());
            let answer = match line.as_str() {
                "*IDN?" => "RIGOL TECHNOLOGIES,DP832,DP8T,00.01.16",
                ":SYST:ERR?" if std::mem::take(&mut refused) => "-221,\"Settings conflict\"",
                ":SYST:ERR?" => "0,\"No error\"",
                ":OUTP? CH1" => on_off(output),
                ":TIMEr OFF" => {
                    refused = true;
                    return Vec::new();
                }
                ":OUTP CH1,OFF" => {
                    output = false;
                    return Vec::new();
                }
                _ => return Vec::new(),
            };
            format!("{answer}\n").into_bytes()
        })
    }

    #[test]
    fn an_output_goes_off_even_when_its_timer_will_not_stop() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let io = LineIo::new(
            Box::new(stuck_timer(sent.clone())),
            Duration::from_millis(50),
        );
        let psu = ScpiSupply::open(io, &rigol_dp800::DIALECT).unwrap();
        let mut ch1 = Channel::new(Arc::new(Mutex::new(psu)), 1);
        match ch1.set_output(false) {
            Err(InstrumentError::Device {
                code: -221,
                command,
                ..
            }) => {
                assert_eq!(command, ":TIMEr OFF")
            }
            other => panic!("the refusal is reported, got {other:?}"),
        }
        let sent = sent.lock().unwrap();
        let off = sent.iter().position(|c| c == ":OUTP CH1,OFF");
        let timer = sent.iter().position(|c| c == ":TIMEr OFF");
        assert!(
            off.is_some() && timer < off,
            "timer stop tried, then the output off: {sent:?}"
        );
        assert!(
            sent.contains(&":OUTP? CH1".to_string()),
            "and read back: {sent:?}"
        );
    }
}
