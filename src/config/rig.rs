//! Rig files (`rigs/*.toml`): which instruments a bench has, how to reach them, which
//! role each channel plays, the safety envelope and the safe state.
//!
//! A rig file is plain data: loading it opens nothing. It is validated here, so that a
//! wrong channel, a role without a safe state or a meter on a line it cannot survive is
//! refused before any instrument is touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};
use crate::drivers::scpi_supply::{self, Dialect};
use crate::units::{self, Amps, Ohms, Volts};

/// The built-in simulated bench (`rigs/sim.toml`), embedded so `lockrig run` works anywhere.
pub const SIM_RIG: &str = include_str!("../../rigs/sim.toml");

/// The INA219's bus inputs take 0-26 V (datasheet SBOS448, absolute maximum).
pub const INA219_MAX_BUS: Volts = Volts(26.0);

/// The INA219's widest shunt-voltage range (PGA /8).
pub const INA219_MAX_SHUNT: Volts = Volts(0.32);

/// A rig file as loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    /// Name and general settings.
    pub rig: RigInfo,
    /// Instruments by name.
    pub instruments: BTreeMap<String, Spanned<InstrumentSpec>>,
    /// Roles by name.
    pub roles: BTreeMap<Spanned<String>, Spanned<RoleSpec>>,
    /// Safety envelope per supply role.
    #[serde(default)]
    pub envelope: BTreeMap<Spanned<String>, EnvelopeSpec>,
    /// Safe state per supply or switch role.
    #[serde(default)]
    pub safe_state: BTreeMap<Spanned<String>, Spanned<SafeState>>,
    /// Secrets the suites may send (`$NAME`), and where each comes from.
    #[serde(default)]
    pub secrets: BTreeMap<String, Spanned<super::secrets::SecretSpec>>,
}

/// General rig settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigInfo {
    /// The bench's name, shown in reports.
    pub name: String,
    /// The device profile of the board mounted on this bench (name or path).
    #[serde(default)]
    pub dut: Option<String>,
    /// Default timeout for one instrument exchange.
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<units::Time>,
    /// The firmware image flashed on the mounted board (a path, relative to the rig
    /// file's folder): its SHA-256 goes into the run's evidence.
    #[serde(default)]
    pub firmware: Option<Spanned<String>>,
}

fn default_timeout() -> Spanned<units::Time> {
    Spanned::new(0..0, units::Time(Duration::from_millis(500)))
}

/// The instrument families lockrig has drivers for, by the name a rig file's
/// `driver = "..."` uses.
#[derive(Debug, Clone, Copy)]
pub enum DriverKind {
    /// A programmable SCPI supply in one of the [`scpi_supply::DIALECTS`]
    /// (`rigol-dp800`, `siglent-spd3303x`, `keysight-e36300`).
    ScpiSupply(&'static Dialect),
    /// Korad KA3005P-family supply (Tenma 72-2540, RND 320-KA3005P): one channel,
    /// unterminated ASCII.
    KoradKa3005p,
    /// Riden RD60xx supply (RD6006, RD6006P, RD6012, RD6018): one channel, Modbus RTU.
    RidenRd60xx,
    /// LCUS-type CH340 USB relay board (`A0 ch op sum` frames).
    Lcus,
    /// Keysight DAQ970A (34970A/34972A) with a relay module: `ROUT:CLOS (@101)`.
    KeysightDaq970a,
    /// A Modbus RTU relay board: relays are coils, switched with function 05.
    ModbusRelay,
    /// Numato USB GPIO module (ASCII commands).
    NumatoGpio,
    /// Input lines of a Linux GPIO character device, with kernel-timestamped edges.
    GpioInput,
    /// Output lines of a Linux GPIO character device (relay drivers).
    GpioOutput,
    /// TI INA219 current/power monitor on I2C.
    Ina219,
    /// The lock board's line console.
    LockConsole,
    /// A debug probe on the board's SWD/JTAG port (probe-rs).
    ProbeRs,
}

/// The drivers that are not SCPI supply dialects.
const OTHER_DRIVERS: &[(&str, DriverKind)] = &[
    ("korad-ka3005p", DriverKind::KoradKa3005p),
    ("riden-rd60xx", DriverKind::RidenRd60xx),
    ("lcus", DriverKind::Lcus),
    ("keysight-daq970a", DriverKind::KeysightDaq970a),
    ("modbus-relay", DriverKind::ModbusRelay),
    ("numato-gpio", DriverKind::NumatoGpio),
    ("gpio-input", DriverKind::GpioInput),
    ("gpio-output", DriverKind::GpioOutput),
    ("ina219", DriverKind::Ina219),
    ("lock-console", DriverKind::LockConsole),
    ("probe-rs", DriverKind::ProbeRs),
];

/// The names of the drivers that are not SCPI supply dialects.
pub fn driver_names() -> impl Iterator<Item = &'static str> {
    OTHER_DRIVERS.iter().map(|(name, _)| *name)
}

/// What a driver can do, and so which roles it can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// A programmable supply channel.
    Supply,
    /// A relay or other on/off output.
    Switch,
    /// A digital input.
    Input,
    /// A voltage/current meter.
    Meter,
    /// A line console on the board.
    Console,
    /// A debug probe: flashing, reset, RTT; it plays no role in a suite.
    Probe,
}

impl Capability {
    /// The kind of role, with its article, for a message (`an input`).
    pub fn a(self) -> &'static str {
        match self {
            Self::Supply => "a supply",
            Self::Switch => "a switch",
            Self::Input => "an input",
            Self::Meter => "a meter",
            Self::Console => "a console",
            Self::Probe => "a debug probe",
        }
    }
}

impl std::fmt::Display for DriverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for DriverKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for DriverKind {}

impl std::str::FromStr for DriverKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(dialect) = scpi_supply::dialect(s) {
            return Ok(Self::ScpiSupply(dialect));
        }
        OTHER_DRIVERS
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                let names: Vec<&str> = scpi_supply::DIALECTS
                    .iter()
                    .map(|d| d.key)
                    .chain(OTHER_DRIVERS.iter().map(|(n, _)| *n))
                    .collect();
                format!(
                    "unknown driver `{s}`, expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for DriverKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for DriverKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl DriverKind {
    /// The name a rig file uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScpiSupply(dialect) => dialect.key,
            other => OTHER_DRIVERS
                .iter()
                .find(|(_, k)| std::mem::discriminant(k) == std::mem::discriminant(&other))
                .map_or("?", |(name, _)| name),
        }
    }

    /// The capability the driver provides.
    pub fn capability(self) -> Capability {
        match self {
            Self::ScpiSupply(_) | Self::KoradKa3005p | Self::RidenRd60xx => Capability::Supply,
            Self::Lcus | Self::KeysightDaq970a | Self::ModbusRelay | Self::GpioOutput => {
                Capability::Switch
            }
            Self::NumatoGpio | Self::GpioInput => Capability::Input,
            Self::Ina219 => Capability::Meter,
            Self::LockConsole => Capability::Console,
            Self::ProbeRs => Capability::Probe,
        }
    }

    /// Valid channel numbers, if the driver has channels.
    fn channels(self, spec: &InstrumentSpec) -> Option<std::ops::RangeInclusive<u8>> {
        match self {
            Self::ScpiSupply(dialect) => Some(1..=dialect.channels),
            Self::KoradKa3005p | Self::RidenRd60xx => Some(1..=1),
            Self::Lcus => Some(1..=spec.channels.unwrap_or(4)),
            Self::KeysightDaq970a => Some(1..=crate::drivers::keysight_daq970a::CHANNELS),
            Self::ModbusRelay => Some(1..=spec.channels.unwrap_or(8)),
            Self::NumatoGpio => Some(0..=31),
            Self::GpioInput | Self::GpioOutput => Some(0..=u8::MAX),
            Self::Ina219 | Self::LockConsole | Self::ProbeRs => None,
        }
    }

    /// True for a supply with its own OVP/OCP that can be armed at the envelope's
    /// limits. A KA3005P's protection trips only at its present settings, with no level
    /// of its own, so it does not count.
    pub fn has_hardware_protection(self) -> bool {
        match self {
            Self::ScpiSupply(d) => d.protection.is_some(),
            Self::RidenRd60xx => true,
            _ => false,
        }
    }

    /// True for the lines of a GPIO character device.
    pub fn is_gpio(self) -> bool {
        matches!(self, Self::GpioInput | Self::GpioOutput)
    }

    /// True for a Modbus RTU device (it has a slave address).
    pub fn is_modbus(self) -> bool {
        matches!(self, Self::RidenRd60xx | Self::ModbusRelay)
    }
}

/// One instrument and the way to reach it. Exactly one of `serial`, `tcp`, `i2c`,
/// `i2cdriver`, `gpiochip`, `sim`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentSpec {
    /// The driver.
    pub driver: DriverKind,
    /// Serial device path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`).
    #[serde(default)]
    pub serial: Option<String>,
    /// Baud rate for `serial`.
    #[serde(default)]
    pub baud: Option<u32>,
    /// TCP `host:port` (raw SCPI socket).
    #[serde(default)]
    pub tcp: Option<String>,
    /// I2C bus device (`/dev/i2c-1`).
    #[serde(default)]
    pub i2c: Option<String>,
    /// The serial port of an Excamera I2CDriver whose bus the chip is on.
    #[serde(default)]
    pub i2cdriver: Option<String>,
    /// A debug probe's selector, `VID:PID` or `VID:PID:SERIAL` (the first probe found
    /// when absent).
    #[serde(default)]
    pub probe: Option<String>,
    /// The chip behind a debug probe, as probe-rs names it (`nRF52840_xxAA`).
    #[serde(default)]
    pub chip: Option<String>,
    /// A GPIO character device (`/dev/gpiochip0`) whose lines the roles' channels are.
    #[serde(default)]
    pub gpiochip: Option<String>,
    /// 7-bit I2C address.
    #[serde(default)]
    pub address: Option<u8>,
    /// Name of a built-in simulated instrument (`psu` for a DP832, `spd3303x`,
    /// `e36312a`, `relays`, `gpio`, `console`, `i2cdriver`).
    #[serde(default)]
    pub sim: Option<String>,
    /// Per-exchange timeout; the rig's default if absent.
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub timeout: Option<Duration>,
    /// Number of relays on an LCUS board (1, 2, 4 or 8) or a Modbus relay board (1-32,
    /// default 8).
    #[serde(default)]
    pub channels: Option<u8>,
    /// The Modbus slave address of a Modbus device (1-247, default 1).
    #[serde(default)]
    pub slave: Option<Spanned<u8>>,
    /// The coil of a Modbus relay board's relay 1 (default 0; some boards start at 1).
    #[serde(default)]
    pub first_coil: Option<u16>,
    /// The slot of a DAQ970A's relay module (1-3): role channel N is `(@SNN)`.
    #[serde(default)]
    pub slot: Option<Spanned<u8>>,
    /// INA219 shunt resistance.
    #[serde(default)]
    pub shunt: Option<Ohms>,
    /// INA219 largest expected current (sets the current LSB).
    #[serde(default)]
    pub max_current: Option<Amps>,
    /// INA219: 12-bit samples averaged per result (1, 2, 4, ... 128; default 1): a
    /// result every 2 x N x 532 us.
    #[serde(default)]
    pub averaging: Option<Spanned<u8>>,
    /// The console dialect of a `lock-console` (built-in name or `.toml` path); lockrig's
    /// own protocol when absent.
    #[serde(default)]
    pub dialect: Option<Spanned<String>>,
    /// The date the instrument's calibration runs out (`"2027-03-01"`): a run after it
    /// is refused unless the operator accepts it (`--allow-expired-calibration`).
    #[serde(default)]
    pub calibration_due: Option<Spanned<CalendarDate>>,
}

/// A calendar date written `YYYY-MM-DD` (ISO 8601), as on a calibration certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CalendarDate(pub time::Date);

impl CalendarDate {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, String> {
        time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Self)
        .map_err(|e| format!("expected a date YYYY-MM-DD, found `{text}` ({e})"))
    }
}

impl std::fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for CalendarDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How an instrument is reached, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A serial port (or pty) at a baud rate.
    Serial {
        /// Device path.
        path: String,
        /// Baud rate.
        baud: u32,
    },
    /// A TCP socket.
    Tcp(String),
    /// An I2C bus device and address.
    I2c {
        /// Bus device path.
        bus: String,
        /// 7-bit address.
        address: u8,
    },
    /// A chip on the bus of an I2CDriver adapter, reached through its serial port.
    I2cDriver {
        /// The adapter's serial port.
        port: String,
        /// 7-bit address.
        address: u8,
    },
    /// The lines of a GPIO character device.
    GpioChip(String),
    /// A debug probe (a selector, or the first one found) and the chip behind it.
    DebugProbe {
        /// `VID:PID[:SERIAL]`.
        selector: Option<String>,
        /// The probe-rs target name.
        chip: String,
        /// The simulator's probe of that name (`sim = "swd"`), instead of a USB one.
        sim: Option<String>,
    },
    /// A built-in simulated instrument, served on a pty by the simulator.
    Sim(String),
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Serial { path, baud } => write!(f, "serial port {path} at {baud} baud"),
            Link::Tcp(addr) => write!(f, "TCP {addr}"),
            Link::I2c { bus, address } => write!(f, "I2C {bus} address {address:#04x}"),
            Link::I2cDriver { port, address } => {
                write!(f, "I2CDriver {port} address {address:#04x}")
            }
            Link::GpioChip(chip) => write!(f, "GPIO chip {chip}"),
            Link::DebugProbe {
                sim: Some(name),
                chip,
                ..
            } => write!(f, "simulated debug probe {name} to {chip}"),
            Link::DebugProbe { selector, chip, .. } => write!(
                f,
                "debug probe {} to {chip}",
                selector.as_deref().unwrap_or("(first found)")
            ),
            Link::Sim(name) => write!(f, "simulated {name}"),
        }
    }
}

impl Link {
    /// True for the simulator's instruments.
    pub fn is_simulated(&self) -> bool {
        matches!(self, Link::Sim(_) | Link::DebugProbe { sim: Some(_), .. })
    }

    /// The I2C bus a chip is on (the bus device, the adapter's port, or the simulated
    /// adapter), for the chips that share one; `None` for a link that is no bus.
    pub fn i2c_bus(&self) -> Option<String> {
        match self {
            Link::I2c { bus, .. } => Some(format!("I2C {bus}")),
            Link::I2cDriver { port, .. } => Some(format!("the I2CDriver on {port}")),
            Link::Sim(name) => Some(format!("the simulated {name}")),
            _ => None,
        }
    }
}

impl InstrumentSpec {
    /// The validated link.
    pub fn link(&self) -> Result<Link, String> {
        let given = [
            self.serial.is_some(),
            self.tcp.is_some(),
            self.i2c.is_some(),
            self.i2cdriver.is_some(),
            self.gpiochip.is_some(),
            self.sim.is_some(),
        ];
        if self.driver == DriverKind::ProbeRs {
            if given[..5].iter().any(|g| *g) || (self.sim.is_some() && self.probe.is_some()) {
                return Err(
                    "a probe-rs instrument is reached by `probe` (or the simulator's `sim = \"swd\"`) and `chip`, not by a port".into(),
                );
            }
            let chip = self.chip.clone().ok_or(
                "a probe-rs instrument needs `chip` (a probe-rs target name, e.g. `nRF52840_xxAA`)",
            )?;
            return Ok(Link::DebugProbe {
                selector: self.probe.clone(),
                chip,
                sim: self.sim.clone(),
            });
        }
        if self.probe.is_some() || self.chip.is_some() {
            return Err("`probe` and `chip` belong to a probe-rs instrument".into());
        }
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(
                "expected exactly one of `serial`, `tcp`, `i2c`, `i2cdriver`, `gpiochip`, `sim`"
                    .into(),
            );
        }
        if let Some(chip) = &self.gpiochip {
            return Ok(Link::GpioChip(chip.clone()));
        }
        if let Some(path) = &self.serial {
            let baud = self.baud.ok_or("`serial` needs `baud`")?;
            return Ok(Link::Serial {
                path: path.clone(),
                baud,
            });
        }
        if let Some(addr) = &self.tcp {
            if !addr.contains(':') {
                return Err(format!("`tcp` expected host:port, found `{addr}`"));
            }
            return Ok(Link::Tcp(addr.clone()));
        }
        if let Some(bus) = &self.i2c {
            let address = self.address.ok_or("`i2c` needs `address`")?;
            return Ok(Link::I2c {
                bus: bus.clone(),
                address,
            });
        }
        if let Some(port) = &self.i2cdriver {
            let address = self.address.ok_or("`i2cdriver` needs `address`")?;
            return Ok(Link::I2cDriver {
                port: port.clone(),
                address,
            });
        }
        Ok(Link::Sim(self.sim.clone().unwrap_or_default()))
    }
}

/// A role: which instrument (and channel) plays it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Instrument name from `[instruments]`.
    pub instrument: String,
    /// Channel on the instrument, for instruments with channels.
    #[serde(default)]
    pub channel: Option<u8>,
    /// For inputs: the state name when the line reads high.
    #[serde(default)]
    pub high: Option<String>,
    /// For inputs: the state name when the line reads low.
    #[serde(default)]
    pub low: Option<String>,
    /// For meters: the supply role whose line the meter sits on.
    #[serde(default)]
    pub line: Option<String>,
    /// For a meter role played by a supply's own readback (a bench without an
    /// INA219): its resolution and update interval, from the supply's manual.
    #[serde(default)]
    pub readback: Option<Readback>,
}

/// A supply's readback as a meter: `readback = { volts = "10mV", amps = "1mA", every =
/// "250ms" }`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readback {
    /// Voltage resolution.
    pub volts: Volts,
    /// Current resolution.
    pub amps: Amps,
    /// How often the supply makes a new reading.
    #[serde(deserialize_with = "units::positive_duration")]
    pub every: Duration,
}

/// An `[envelope.ROLE]` table as written, each limit with its place in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSpec {
    /// Highest voltage any step may set.
    pub max_volts: Spanned<Volts>,
    /// Highest current limit any step may set.
    pub max_amps: Spanned<Amps>,
    /// The supply's own OVP/OCP must hold the envelope too (so it holds even if
    /// lockrig dies): a supply without them is refused for this role when the rig is
    /// loaded. Without it, such a supply is accepted and each result records that the
    /// envelope was enforced by lockrig only.
    #[serde(default)]
    pub require_hardware_protection: Option<Spanned<bool>>,
}

impl EnvelopeSpec {
    /// The limits.
    pub fn limits(&self) -> Envelope {
        Envelope {
            max_volts: *self.max_volts.get_ref(),
            max_amps: *self.max_amps.get_ref(),
        }
    }
}

/// The most a supply role may be driven to.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Envelope {
    /// Highest voltage any step may set.
    pub max_volts: Volts,
    /// Highest current limit any step may set.
    pub max_amps: Amps,
}

/// A command outside an envelope: what, the value, and the limit, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// "voltage" or "current limit".
    pub what: &'static str,
    /// The commanded value.
    pub value: String,
    /// The limit it breaks (`max_volts 14V`).
    pub limit: String,
}

impl Envelope {
    /// Checks a commanded voltage and/or current limit against the envelope.
    pub fn check(&self, volts: Option<Volts>, amps: Option<Amps>) -> Result<(), Breach> {
        if let Some(v) = volts.filter(|v| *v > self.max_volts || v.0 < 0.0) {
            return Err(Breach {
                what: "voltage",
                value: v.to_string(),
                limit: format!("max_volts {}", self.max_volts),
            });
        }
        if let Some(a) = amps.filter(|a| *a > self.max_amps || a.0 < 0.0) {
            return Err(Breach {
                what: "current limit",
                value: a.to_string(),
                limit: format!("max_amps {}", self.max_amps),
            });
        }
        Ok(())
    }
}

/// The state a role returns to at the end of every check and on every exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SafeState {
    /// Output off / relay released.
    Off,
    /// Relay energised (e.g. a fire-alarm loop that must stay closed).
    On,
}

/// The role names a rig file may map, with the capability each needs.
pub const ROLES: &[(&str, Capability)] = &[
    ("main", Capability::Supply),
    ("sag", Capability::Supply),
    ("emergency", Capability::Supply),
    ("dip", Capability::Switch),
    ("fire_alarm_loop", Capability::Switch),
    ("door_push", Capability::Switch),
    ("egress_handle", Capability::Switch),
    ("rex_button", Capability::Switch),
    ("key_turn", Capability::Switch),
    ("door_position", Capability::Input),
    ("latch_sensor", Capability::Input),
    ("door_push_feedback", Capability::Input),
    ("egress_handle_feedback", Capability::Input),
    ("rex_button_feedback", Capability::Input),
    ("key_turn_feedback", Capability::Input),
    ("main_meter", Capability::Meter),
    ("emergency_meter", Capability::Meter),
    ("console", Capability::Console),
];

/// The capability a role name needs, if it is a known role.
pub fn role_capability(role: &str) -> Option<Capability> {
    ROLES.iter().find(|(r, _)| *r == role).map(|(_, c)| *c)
}

/// Actuator roles and the input role that shows each one driving: a current switch on
/// the actuator's supply, or a pressure switch on a pneumatic cylinder. It reads the
/// actuator itself, not the door or the lock, so a dead actuator is told apart from a
/// lock that held.
pub const ACTUATOR_FEEDBACK: &[(&str, &str)] = &[
    ("door_push", "door_push_feedback"),
    ("egress_handle", "egress_handle_feedback"),
    ("rex_button", "rex_button_feedback"),
    ("key_turn", "key_turn_feedback"),
];

/// The states a feedback input names: driving, then not driving.
pub const FEEDBACK_STATES: [&str; 2] = ["active", "idle"];

/// The feedback input role of an actuator role, if it has one.
pub fn feedback_role(actuator: &str) -> Option<&'static str> {
    ACTUATOR_FEEDBACK
        .iter()
        .find(|(a, _)| *a == actuator)
        .map(|(_, f)| *f)
}

/// When a door fails to reach a state, the input that says whether the lock let go:
/// door role, door state, witness role, witness state. With the witness in that state
/// the failure is not the lock's to answer for (the door actuator did not push, or the
/// lock holds past its own sensor), so it is a rig error, never a failure.
pub const LOCK_LET_GO: (&str, &str, &str, &str) =
    ("door_position", "open", "latch_sensor", "released");

/// Switch roles a person at the bench can play when the rig has no actuator for them:
/// the instruction for energising and for releasing.
pub const BY_HAND: &[(&str, &str, &str)] = &[(
    "key_turn",
    "turn the mechanical key to open the lock, and hold it there",
    "let the key go back to its rest position",
)];

/// What a person is asked to do for a hand-played switch role, if it is one.
pub fn by_hand(role: &str, on: bool) -> Option<&'static str> {
    BY_HAND
        .iter()
        .find(|(r, _, _)| *r == role)
        .map(|(_, energise, release)| if on { *energise } else { *release })
}

/// A validated rig: the file plus the source it came from.
#[derive(Debug, Clone)]
pub struct Rig {
    /// The parsed file.
    pub file: RigFile,
    /// The source, for error positions and the evidence hash.
    pub source: Source,
    /// The console dialect of each console instrument that names one.
    pub dialects: BTreeMap<String, super::dialect::Loaded>,
}

impl Rig {
    /// The built-in simulated rig.
    pub fn builtin_sim() -> Result<Self, ConfigError> {
        Self::from_source(Source::builtin("rigs/sim.toml", SIM_RIG))
    }

    /// Loads and validates a rig file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(Source::read(path)?)
    }

    /// Parses and validates.
    pub fn from_source(source: Source) -> Result<Self, ConfigError> {
        let file: RigFile = source.parse()?;
        validate(&file, &source)?;
        let mut rig = Self {
            file,
            source,
            dialects: BTreeMap::new(),
        };
        rig.dialects = rig.load_dialects()?;
        Ok(rig)
    }

    /// The rig file's folder, for relative paths (none for a built-in rig).
    fn folder(&self) -> Option<&Path> {
        self.source
            .file
            .parent()
            .filter(|_| !self.source.file.starts_with("<built-in>"))
    }

    /// Loads the dialect each console names: a built-in name, or a path (from the rig
    /// file's folder where the file is there). A dialect that cannot be found is an
    /// error at the rig's field; one that does not parse, at its own line.
    fn load_dialects(&self) -> Result<BTreeMap<String, super::dialect::Loaded>, ConfigError> {
        let mut loaded = BTreeMap::new();
        for (name, spec) in &self.file.instruments {
            let Some(given) = &spec.get_ref().dialect else {
                continue;
            };
            let path = Path::new(given.get_ref());
            let resolved = match self.folder() {
                Some(dir) if path.is_relative() && dir.join(path).is_file() => {
                    dir.join(path).to_string_lossy().into_owned()
                }
                _ => given.get_ref().clone(),
            };
            let dialect = super::dialect::load(&resolved).map_err(|e| match e {
                ConfigError::Invalid { .. } => e,
                other => self.source.error(
                    given.span(),
                    format!("instrument `{name}`: field `dialect`: {other}"),
                ),
            })?;
            loaded.insert(name.clone(), dialect);
        }
        Ok(loaded)
    }

    /// The rig's debug probe instruments (`probe-rs`), by name, with their links.
    pub fn debug_probes(&self) -> Vec<(String, Link)> {
        self.file
            .instruments
            .iter()
            .filter(|(_, s)| s.get_ref().driver == DriverKind::ProbeRs)
            .filter_map(|(n, s)| s.get_ref().link().ok().map(|l| (n.clone(), l)))
            .collect()
    }

    /// True when every instrument is a built-in simulated one (virtual time).
    pub fn is_simulated(&self) -> bool {
        self.file
            .instruments
            .values()
            .all(|i| i.get_ref().link().is_ok_and(|l| l.is_simulated()))
    }

    /// The mounted board's profile reference, with a relative `.toml` path taken
    /// relative to the rig file's folder (a built-in name is returned as is).
    pub fn dut(&self) -> Option<String> {
        let dut = self.file.rig.dut.as_ref()?;
        let path = Path::new(dut);
        let base = self
            .source
            .file
            .parent()
            .filter(|_| !self.source.file.starts_with("<built-in>"));
        Some(match base {
            Some(dir)
                if path.is_relative() && dut.ends_with(".toml") && dir.join(path).exists() =>
            {
                dir.join(path).to_string_lossy().into_owned()
            }
            _ => dut.clone(),
        })
    }

    /// The declared firmware image, with a relative path taken from the rig file's
    /// folder, and the span of its value for error messages.
    pub fn firmware(&self) -> Option<(std::path::PathBuf, std::ops::Range<usize>)> {
        let declared = self.file.rig.firmware.as_ref()?;
        let path = Path::new(declared.get_ref());
        let base = self
            .source
            .file
            .parent()
            .filter(|_| !self.source.file.starts_with("<built-in>"));
        let path = match base {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        Some((path, declared.span()))
    }

    /// The role spec for a role name.
    pub fn role(&self, name: &str) -> Option<&RoleSpec> {
        self.file
            .roles
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(_, v)| v.get_ref())
    }

    /// The instrument spec playing a role.
    pub fn instrument_of(&self, role: &str) -> Option<(&str, &InstrumentSpec)> {
        let spec = self.role(role)?;
        self.file
            .instruments
            .get_key_value(&spec.instrument)
            .map(|(k, v)| (k.as_str(), v.get_ref()))
    }

    /// The envelope of a supply role.
    pub fn envelope(&self, role: &str) -> Option<Envelope> {
        self.file
            .envelope
            .iter()
            .find(|(k, _)| k.get_ref() == role)
            .map(|(_, v)| v.limits())
    }

    /// The safe state of a role.
    pub fn safe_state(&self, role: &str) -> Option<SafeState> {
        self.file
            .safe_state
            .iter()
            .find(|(k, _)| k.get_ref() == role)
            .map(|(_, v)| *v.get_ref())
    }

    /// The role names this rig maps, in file order of names.
    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.file.roles.keys().map(|k| k.get_ref().as_str())
    }

    /// The rig's secrets, by name, and where each comes from (a relative `file` is
    /// taken from the rig file's folder).
    pub fn secret_specs(&self) -> BTreeMap<String, super::secrets::SecretSpec> {
        let base = self
            .source
            .file
            .parent()
            .filter(|_| !self.source.file.starts_with("<built-in>"));
        self.file
            .secrets
            .iter()
            .map(|(k, v)| {
                let mut spec = v.get_ref().clone();
                if let (Some(f), Some(dir)) = (&spec.file, base) {
                    if Path::new(f).is_relative() {
                        spec.file = Some(dir.join(f).to_string_lossy().into_owned());
                    }
                }
                (k.clone(), spec)
            })
            .collect()
    }

    /// The exchange timeout for an instrument.
    pub fn timeout(&self, spec: &InstrumentSpec) -> Duration {
        spec.timeout.unwrap_or(self.file.rig.timeout.get_ref().0)
    }
}

/// The shortest exchange timeout a rig may set: below this every instrument times out.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(5);
/// The longest: an exchange that may take longer is a hang, not a slow instrument.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

fn validate(file: &RigFile, src: &Source) -> Result<(), ConfigError> {
    let bad_timeout = |t: Duration| !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&t);
    if bad_timeout(file.rig.timeout.get_ref().0) {
        return Err(src.error(
            file.rig.timeout.span(),
            "field `timeout`: expected 5ms to 60s",
        ));
    }
    let mut kinds = (0, 0);
    // INA219s by bus and address: chips on one bus answer at addresses of their own.
    let mut chips: Vec<(String, u8, &str)> = Vec::new();
    for (name, spec) in &file.instruments {
        let link = spec
            .get_ref()
            .link()
            .map_err(|m| src.error(spec.span(), format!("instrument `{name}`: {m}")))?;
        let driver = spec.get_ref().driver;
        if let DriverKind::Ina219 = driver {
            let address = spec.get_ref().address.unwrap_or(0x40);
            let bus = link.i2c_bus().unwrap_or_default();
            if let Some((_, _, other)) = chips.iter().find(|(b, a, _)| *b == bus && *a == address) {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "instrument `{name}`: field `address`: `{other}` already answers at {address:#04x} on {bus}; each INA219 on one bus needs its own address (0x40-0x4F, set by its A0/A1 pins)"
                    ),
                ));
            }
            chips.push((bus, address, name));
        }
        let fits = match (&link, driver) {
            (Link::I2c { .. } | Link::I2cDriver { .. }, DriverKind::Ina219) => true,
            (Link::I2c { .. } | Link::I2cDriver { .. }, _) => false,
            (Link::GpioChip(_), kind) => kind.is_gpio(),
            (Link::Sim(name), kind) if kind.is_gpio() => name == "gpiochip",
            (_, kind) if kind.is_gpio() => false,
            (Link::Sim(name), DriverKind::Ina219) => name == "i2cdriver",
            (Link::Sim(name), _) => name != "i2cdriver",
            (Link::Tcp(_), DriverKind::ScpiSupply(_) | DriverKind::KeysightDaq970a) => true,
            (Link::Tcp(_), _) => false,
            (_, DriverKind::Ina219) => false,
            _ => true,
        };
        if !fits {
            return Err(src.error(
                spec.span(),
                format!("instrument `{name}`: driver {driver} cannot be reached over {link}"),
            ));
        }
        if driver == DriverKind::Lcus && !matches!(spec.get_ref().channels, Some(1 | 2 | 4 | 8)) {
            return Err(src.error(
                spec.span(),
                format!("instrument `{name}`: field `channels`: expected 1, 2, 4 or 8 (the LCUS board size)"),
            ));
        }
        match (driver, &spec.get_ref().slot) {
            (DriverKind::KeysightDaq970a, Some(slot))
                if !crate::drivers::keysight_daq970a::SLOTS.contains(slot.get_ref()) =>
            {
                return Err(src.error(
                    slot.span(),
                    format!(
                        "instrument `{name}`: field `slot`: expected 1, 2 or 3 (the DAQ970A's module slots), found {}",
                        slot.get_ref()
                    ),
                ))
            }
            (DriverKind::KeysightDaq970a, _) | (_, None) => {}
            (_, Some(slot)) => {
                return Err(src.error(
                    slot.span(),
                    format!("instrument `{name}`: field `slot` applies to keysight-daq970a only"),
                ))
            }
        }
        let i = spec.get_ref();
        match (&i.slave, driver.is_modbus()) {
            (Some(slave), true) if !(1..=247).contains(slave.get_ref()) => {
                return Err(src.error(
                    slave.span(),
                    format!(
                        "instrument `{name}`: field `slave`: expected a Modbus slave address 1-247, found {}",
                        slave.get_ref()
                    ),
                ))
            }
            (Some(slave), false) => {
                return Err(src.error(
                    slave.span(),
                    format!("instrument `{name}`: field `slave` applies to Modbus devices only (riden-rd60xx, modbus-relay)"),
                ))
            }
            _ => {}
        }
        if let (Some(d), false) = (&i.dialect, driver == DriverKind::LockConsole) {
            return Err(src.error(
                d.span(),
                format!("instrument `{name}`: field `dialect` applies to lock-console only"),
            ));
        }
        if i.first_coil.is_some() && driver != DriverKind::ModbusRelay {
            return Err(src.error(
                spec.span(),
                format!("instrument `{name}`: field `first_coil` applies to modbus-relay only"),
            ));
        }
        if driver == DriverKind::ModbusRelay
            && !(1..=crate::drivers::modbus_relay::MAX_CHANNELS).contains(&i.channels.unwrap_or(8))
        {
            return Err(src.error(
                spec.span(),
                format!("instrument `{name}`: field `channels`: expected 1-32 relays on a Modbus relay board"),
            ));
        }
        if i.timeout.is_some_and(bad_timeout) {
            return Err(src.error(
                spec.span(),
                format!("instrument `{name}`: field `timeout`: expected 5ms to 60s"),
            ));
        }
        match (&i.averaging, driver == DriverKind::Ina219) {
            (Some(n), true) if crate::drivers::ina219::averaging(*n.get_ref()).is_none() => {
                return Err(src.error(
                    n.span(),
                    format!(
                        "instrument `{name}`: field `averaging`: expected one of {:?} samples, found {}",
                        crate::drivers::ina219::AVERAGING,
                        n.get_ref()
                    ),
                ))
            }
            (Some(n), false) => {
                return Err(src.error(
                    n.span(),
                    format!("instrument `{name}`: field `averaging` applies to ina219 only"),
                ))
            }
            _ => {}
        }
        if driver == DriverKind::Ina219 {
            let (Some(shunt), Some(max)) = (i.shunt, i.max_current) else {
                return Err(src.error(
                    spec.span(),
                    format!("instrument `{name}`: an ina219 needs `shunt` and `max_current`"),
                ));
            };
            if shunt.0 * max.0 > INA219_MAX_SHUNT.0 {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "instrument `{name}`: {max} through {shunt} drops {}, beyond the INA219's +/-320 mV shunt range: expected shunt x max_current <= 320mV",
                        Volts(shunt.0 * max.0)
                    ),
                ));
            }
            if crate::drivers::ina219::calibration(shunt.0, max.0).is_none()
                || shunt.0 <= 0.0
                || max.0 <= 0.0
            {
                return Err(src.error(
                    spec.span(),
                    format!("instrument `{name}`: no INA219 calibration fits a {shunt} shunt at {max}: expected a shunt of about 1mohm-1ohm and a current the chip can resolve"),
                ));
            }
            match i.address {
                Some(address) if (0x40..=0x4F).contains(&address) => {}
                Some(address) => {
                    return Err(src.error(
                        spec.span(),
                        format!("instrument `{name}`: field `address`: expected 0x40..=0x4F for an INA219, found {address:#04x}"),
                    ))
                }
                None => {
                    return Err(src.error(
                        spec.span(),
                        format!("instrument `{name}`: an ina219 needs `address` (0x40..=0x4F, set by its A0/A1 pins)"),
                    ))
                }
            }
        }
        if link.is_simulated() {
            kinds.0 += 1;
        } else {
            kinds.1 += 1;
        }
    }
    if kinds.0 > 0 && kinds.1 > 0 {
        return Err(src.error(
            0..0,
            "a rig is either all simulated (`sim = ...`) or all real; this one mixes both",
        ));
    }
    for (name, spec) in &file.secrets {
        let s = spec.get_ref();
        let sources = usize::from(s.env.is_some()) + usize::from(s.file.is_some());
        if sources != 1 {
            return Err(src.error(
                spec.span(),
                format!("[secrets] `{name}`: expected exactly one of `env` or `file`"),
            ));
        }
        if s.default.is_some() && (kinds.1 > 0 || s.file.is_some()) {
            return Err(src.error(
                spec.span(),
                format!("[secrets] `{name}`: `default` is for a simulated rig's `env` only; a real rig takes its secrets from the environment or a file"),
            ));
        }
        if name == crate::config::secrets::WRONG_CREDENTIAL {
            return Err(src.error(
                spec.span(),
                format!("[secrets] `{name}` is generated from `credential`; name yours otherwise"),
            ));
        }
    }

    for (role, spec) in &file.roles {
        let name = role.get_ref();
        let at = role.span();
        let need = role_capability(name).ok_or_else(|| {
            src.error(
                at.clone(),
                format!(
                    "unknown role `{name}`, expected one of: {}",
                    ROLES.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let r = spec.get_ref();
        let inst = file.instruments.get(&r.instrument).ok_or_else(|| {
            src.error(
                spec.span(),
                format!(
                    "role `{name}`: field `instrument`: no instrument named `{}` in [instruments]",
                    r.instrument
                ),
            )
        })?;
        let driver = inst.get_ref().driver;
        // A meter role may be played by a supply channel's own readback, reading the
        // line of the supply role on that same channel.
        let readback = need == Capability::Meter && driver.capability() == Capability::Supply;
        match (readback, &r.readback) {
            (true, None) => {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: `{}` is a supply; its own readback serves as a meter only with `readback = {{ volts = \"10mV\", amps = \"1mA\", every = \"250ms\" }}` (its resolution and update interval, from its manual)",
                        r.instrument
                    ),
                ))
            }
            (false, Some(_)) => {
                return Err(src.error(
                    spec.span(),
                    format!("role `{name}`: field `readback` applies to a meter role played by a supply's readback"),
                ))
            }
            (true, Some(rb)) => {
                let same_channel = r.line.as_ref().and_then(|l| {
                    file.roles
                        .iter()
                        .find(|(k, _)| k.get_ref() == l)
                        .map(|(_, o)| o.get_ref())
                        .filter(|o| o.instrument == r.instrument && o.channel == r.channel)
                });
                if same_channel.is_none() {
                    return Err(src.error(
                        spec.span(),
                        format!(
                            "role `{name}`: field `line`: a supply's readback measures its own channel, so `line` must name the supply role on `{}` channel {}",
                            r.instrument,
                            r.channel.map_or("?".into(), |c| c.to_string())
                        ),
                    ));
                }
                if rb.volts.0 <= 0.0 || rb.amps.0 <= 0.0 {
                    return Err(src.error(
                        spec.span(),
                        format!("role `{name}`: field `readback`: resolutions must be positive"),
                    ));
                }
            }
            (false, None) => {}
        }
        if let (DriverKind::ScpiSupply(d), Capability::Supply) = (driver, need) {
            let earlier = file.roles.iter().find(|(k, o)| {
                k.span().start < at.start
                    && o.get_ref().instrument == r.instrument
                    && role_capability(k.get_ref()) == Some(Capability::Supply)
            });
            if let (true, Some((other, _))) = (d.outputs_together, earlier) {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: `{}` ({}) switches all its outputs with one `OUTP` command, so `{}` and `{name}` would go on and off together; give it one supply role, and another supply the other",
                        r.instrument,
                        d.key,
                        other.get_ref()
                    ),
                ));
            }
        }
        let shared = file
            .roles
            .values()
            .filter(|o| o.get_ref().instrument == r.instrument)
            .count();
        if matches!(need, Capability::Meter | Capability::Console) && shared > 1 && !readback {
            return Err(src.error(
                spec.span(),
                format!(
                    "role `{name}`: instrument `{}` is a {need:?}, which serves one role only",
                    r.instrument
                ),
            ));
        }
        if driver.capability() != need && !readback {
            return Err(src.error(
                spec.span(),
                format!(
                    "role `{name}` needs a {need:?} instrument, but `{}` is a {driver} ({:?})",
                    r.instrument,
                    driver.capability()
                ),
            ));
        }
        match (driver.channels(inst.get_ref()), r.channel) {
            (Some(range), Some(ch)) if !range.contains(&ch) => {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: field `channel`: expected {}..={} for {driver}, found {ch}",
                        range.start(),
                        range.end()
                    ),
                ))
            }
            (Some(_), None) => {
                return Err(src.error(
                    spec.span(),
                    format!("role `{name}`: field `channel` is required for {driver}"),
                ))
            }
            (None, Some(_)) => {
                return Err(src.error(
                    spec.span(),
                    format!("role `{name}`: field `channel` does not apply to {driver}"),
                ))
            }
            _ => {}
        }
        if let Some(ch) = r.channel {
            if let Some((other, _)) = file.roles.iter().find(|(k, o)| {
                k.get_ref() != name
                    && r.line.as_ref() != Some(k.get_ref())
                    && o.get_ref().line.as_ref() != Some(name)
                    && o.get_ref().instrument == r.instrument
                    && o.get_ref().channel == Some(ch)
                    && k.span().start < at.start
            }) {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: field `channel`: channel {ch} of `{}` already plays `{}`; one channel, one role (evidence from one line cannot stand for two)",
                        r.instrument,
                        other.get_ref()
                    ),
                ));
            }
        }
        if need == Capability::Input && (r.high.is_none() || r.low.is_none()) {
            return Err(src.error(
                spec.span(),
                format!("role `{name}`: an input role needs `high` and `low` state names"),
            ));
        }
        if ACTUATOR_FEEDBACK.iter().any(|(_, f)| f == name) {
            let mut states = [r.high.as_deref(), r.low.as_deref()];
            states.sort();
            if states != [Some(FEEDBACK_STATES[0]), Some(FEEDBACK_STATES[1])] {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: a feedback input's states are `{}` (the actuator is driving) and `{}`, as `high` and `low` in the order the line gives them",
                        FEEDBACK_STATES[0], FEEDBACK_STATES[1]
                    ),
                ));
            }
        }
        if need == Capability::Supply || need == Capability::Switch {
            let safe = file.safe_state.iter().find(|(k, _)| k.get_ref() == name);
            if let Some((_, state)) = safe {
                if need == Capability::Supply && *state.get_ref() != SafeState::Off {
                    return Err(src.error(
                        state.span(),
                        format!("[safe_state] `{name}`: a supply's safe state must be \"off\""),
                    ));
                }
            } else {
                return Err(src.error(
                    at.clone(),
                    format!("role `{name}` has no entry in [safe_state]: every supply and switch role needs one"),
                ));
            }
        }
        if need == Capability::Supply {
            let env = file.envelope.iter().find(|(k, _)| k.get_ref() == name);
            let Some((_, env)) = env else {
                return Err(src.error(
                    at.clone(),
                    format!(
                        "supply role `{name}` has no [envelope.{name}] with max_volts and max_amps"
                    ),
                ));
            };
            for (field, span, bad) in [
                (
                    "max_volts",
                    env.max_volts.span(),
                    (env.max_volts.get_ref().0 <= 0.0).then(|| env.max_volts.get_ref().to_string()),
                ),
                (
                    "max_amps",
                    env.max_amps.span(),
                    (env.max_amps.get_ref().0 <= 0.0).then(|| env.max_amps.get_ref().to_string()),
                ),
            ] {
                if let Some(value) = bad {
                    return Err(src.error(
                        span,
                        format!(
                            "[envelope.{name}]: field `{field}`: must be positive, found {value}"
                        ),
                    ));
                }
            }
            let required = env.require_hardware_protection.as_ref();
            if let Some(required) =
                required.filter(|r| *r.get_ref() && !driver.has_hardware_protection())
            {
                return Err(src.error(
                    required.span(),
                    format!(
                        "[envelope.{name}]: field `require_hardware_protection`: `{}` ({driver}) has no OVP/OCP of its own; map the role to a supply that has, or accept lockrig's envelope alone by removing the field",
                        r.instrument
                    ),
                ));
            }
        }
        if need == Capability::Meter {
            let line = r.line.as_deref().ok_or_else(|| {
                src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: field `line` (the supply role it measures) is required"
                    ),
                )
            })?;
            let env = file
                .envelope
                .iter()
                .find(|(k, _)| k.get_ref() == line)
                .map(|(_, e)| e.limits())
                .ok_or_else(|| {
                    src.error(
                        spec.span(),
                        format!("role `{name}`: field `line`: `{line}` is not a supply role with an envelope"),
                    )
                })?;
            if driver == DriverKind::Ina219 && env.max_volts > INA219_MAX_BUS {
                return Err(src.error(
                    spec.span(),
                    format!(
                        "role `{name}`: the INA219 takes 0-26 V on its inputs, but line `{line}` may be driven to {}",
                        env.max_volts
                    ),
                ));
            }
        }
    }
    let tables = [
        (
            "safe_state",
            file.safe_state.keys().collect::<Vec<_>>(),
            &[Capability::Supply, Capability::Switch][..],
        ),
        (
            "envelope",
            file.envelope.keys().collect(),
            &[Capability::Supply][..],
        ),
    ];
    for (table, keys, allowed) in tables {
        for role in keys {
            let name = role.get_ref();
            if !file.roles.keys().any(|k| k.get_ref() == name) {
                return Err(src.error(
                    role.span(),
                    format!("[{table}]: `{name}` is not a role mapped in [roles]"),
                ));
            }
            if !role_capability(name).is_some_and(|c| allowed.contains(&c)) {
                return Err(src.error(
                    role.span(),
                    format!(
                        "[{table}]: `{name}` is not a {} role; only those have a {}",
                        allowed
                            .iter()
                            .map(|c| format!("{c:?}").to_lowercase())
                            .collect::<Vec<_>>()
                            .join(" or "),
                        if table == "envelope" {
                            "safety envelope"
                        } else {
                            "safe state"
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The debug probe to use among a rig's `probes` ([`Rig::debug_probes`]): the one
/// `name`d, or the only one. The error says what the rig has and how to choose.
pub fn choose_probe(
    probes: &[(String, Link)],
    name: Option<&str>,
) -> Result<(String, Link), String> {
    let names = || {
        probes
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (name, probes) {
        (_, []) => Err(
            "the rig has no probe-rs instrument: add one, e.g. [instruments.swd] driver = \"probe-rs\", chip = \"nRF52840_xxAA\"".into(),
        ),
        (Some(n), _) => probes
            .iter()
            .find(|(p, _)| p == n)
            .cloned()
            .ok_or_else(|| format!("the rig has no probe-rs instrument `{n}` (it has: {})", names())),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(format!(
            "the rig has several probes ({}): name one (`lockrig flash --probe NAME`, `lockrig ctl probe NAME ...`)",
            names()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_with(from: &str, to: &str) -> Result<Rig, ConfigError> {
        assert!(SIM_RIG.contains(from), "fixture lacks {from}");
        Rig::from_source(Source::builtin("r.toml", &SIM_RIG.replacen(from, to, 1)))
    }

    #[test]
    fn a_supply_readback_meter_must_declare_its_resolution_and_read_its_own_channel() {
        let meter = "main_meter = { instrument = \"meter\", line = \"main\" }";
        let msg = sim_with(
            meter,
            "main_meter = { instrument = \"psu\", channel = 1, line = \"main\" }",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("its own readback serves as a meter only with `readback = "),
            "{msg}"
        );
        let msg = sim_with(
            meter,
            "main_meter = { instrument = \"psu\", channel = 2, line = \"main\", readback = { volts = \"10mV\", amps = \"5mA\", every = \"100ms\" } }",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("must name the supply role on `psu` channel 2"),
            "{msg}"
        );
        let msg = sim_with(
            meter,
            "main_meter = { instrument = \"psu\", channel = 1, line = \"main\", readback = { volts = \"10mV\", amps = \"5mA\", every = \"0s\" } }",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("every"), "{msg}");
        let msg = sim_with(
            meter,
            "main_meter = { instrument = \"meter\", line = \"main\", readback = { volts = \"10mV\", amps = \"5mA\", every = \"1s\" } }",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("field `readback` applies to a meter role played by a supply"),
            "{msg}"
        );
        sim_with(
            meter,
            "main_meter = { instrument = \"psu\", channel = 1, line = \"main\", readback = { volts = \"10mV\", amps = \"5mA\", every = \"100ms\" } }",
        )
        .unwrap();
    }

    #[test]
    fn builtin_sim_rig_is_valid_and_simulated() {
        let rig = Rig::builtin_sim().unwrap();
        assert!(rig.is_simulated());
        assert!(rig.role("main").is_some());
        assert_eq!(rig.safe_state("main"), Some(SafeState::Off));
    }

    #[test]
    fn unknown_role_is_located_and_lists_valid_roles() {
        let msg = sim_with("door_push =", "door_psuh =")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("r.toml:"), "{msg}");
        assert!(msg.contains("unknown role `door_psuh`"), "{msg}");
        assert!(msg.contains("egress_handle"), "{msg}");
    }

    #[test]
    fn channel_out_of_range_is_refused() {
        let msg = sim_with(
            "instrument = \"psu\", channel = 1",
            "instrument = \"psu\", channel = 7",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("field `channel`: expected 1..=3"), "{msg}");
    }

    #[test]
    fn supply_without_safe_state_is_refused() {
        let msg = sim_with("main = \"off\"", "").unwrap_err().to_string();
        assert!(msg.contains("no entry in [safe_state]"), "{msg}");
    }

    #[test]
    fn meter_on_a_line_above_26v_is_refused() {
        let msg = sim_with("max_volts = \"26.0V\"", "max_volts = \"28.0V\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("0-26 V"), "{msg}");
    }

    #[test]
    fn ina219_needs_a_valid_address_and_calibration() {
        let msg = sim_with("address = 0x40", "address = 0x20")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected 0x40..=0x4F"), "{msg}");
        let msg = sim_with("shunt = \"0.1ohm\"", "shunt = \"100ohm\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("beyond the INA219's +/-320 mV shunt range"),
            "{msg}"
        );
        let msg = sim_with("shunt = \"0.1ohm\"", "shunt = \"0.000001ohm\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no INA219 calibration fits"), "{msg}");
        let msg = sim_with("address = 0x40\n", "").unwrap_err().to_string();
        assert!(msg.contains("an ina219 needs `address`"), "{msg}");
    }

    #[test]
    fn an_ina219_is_reached_over_i2c_or_an_i2cdriver_and_nothing_else_is() {
        let sim = Rig::builtin_sim().unwrap();
        let link = sim.file.instruments["meter"].get_ref().link().unwrap();
        assert_eq!(link, Link::Sim("i2cdriver".into()));
        // The I2CDriver emulator serves an INA219, not a relay board.
        let msg = sim_with("sim = \"relays\"", "sim = \"i2cdriver\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("driver lcus cannot be reached"), "{msg}");
        // Nor does the INA219 sit behind another simulated instrument.
        let msg = sim_with("sim = \"i2cdriver\"", "sim = \"gpio\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("driver ina219 cannot be reached"), "{msg}");
        // A real adapter: the port and the chip's address.
        let spec: InstrumentSpec =
            toml::from_str("driver = \"ina219\"\ni2cdriver = \"/dev/ttyUSB3\"\naddress = 0x41")
                .unwrap();
        assert_eq!(
            spec.link().unwrap(),
            Link::I2cDriver {
                port: "/dev/ttyUSB3".into(),
                address: 0x41
            }
        );
        let spec: InstrumentSpec = toml::from_str(
            "driver = \"ina219\"\ni2cdriver = \"/dev/ttyUSB3\"\ni2c = \"/dev/i2c-1\"",
        )
        .unwrap();
        assert!(spec.link().unwrap_err().contains("exactly one of"));
    }

    #[test]
    fn duplicate_roles_and_missing_instruments_are_located() {
        let err = sim_with(
            "console = { instrument = \"board\" }",
            "console = { instrument = \"board\" }\nmain = { instrument = \"psu\", channel = 2 }",
        )
        .unwrap_err();
        let ConfigError::Invalid { at, message } = err else {
            panic!()
        };
        assert!(message.contains("duplicate key"), "{message}");
        assert_eq!(
            SIM_RIG
                .lines()
                .filter(|l| l.starts_with("console ="))
                .count(),
            1
        );
        assert!(at.line > 1);
        let msg = sim_with(
            "door_push = { instrument = \"relays\"",
            "door_push = { instrument = \"relay\"",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("no instrument named `relay`"), "{msg}");
    }

    #[test]
    fn a_relative_dut_path_is_taken_from_the_rig_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("devices")).unwrap();
        std::fs::write(dir.path().join("devices/lock.toml"), "x").unwrap();
        let text = SIM_RIG.replace(
            "name = \"sim\"",
            "name = \"b\"\ndut = \"devices/lock.toml\"",
        );
        std::fs::write(dir.path().join("bench.toml"), text).unwrap();
        let rig = Rig::load(&dir.path().join("bench.toml")).unwrap();
        assert_eq!(
            rig.dut().unwrap(),
            dir.path().join("devices/lock.toml").to_string_lossy()
        );
        let builtin = SIM_RIG.replace("name = \"sim\"", "name = \"b\"\ndut = \"maglock_12v\"");
        std::fs::write(dir.path().join("named.toml"), builtin).unwrap();
        assert_eq!(
            Rig::load(&dir.path().join("named.toml"))
                .unwrap()
                .dut()
                .unwrap(),
            "maglock_12v"
        );
    }

    #[test]
    fn safe_states_and_envelopes_belong_to_outputs() {
        let msg = sim_with(
            "egress_handle = \"off\"",
            "egress_handle = \"off\"\ndoor_position = \"off\"",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("[safe_state]: `door_position` is not a supply or switch role"),
            "{msg}"
        );
        let msg = sim_with(
            "[envelope.main]",
            "[envelope.door_push]\nmax_volts = \"1V\"\nmax_amps = \"1A\"\n\n[envelope.main]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("[envelope]: `door_push` is not a supply role"),
            "{msg}"
        );
    }

    #[test]
    fn an_instrument_that_switches_all_its_outputs_together_plays_one_supply_role() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rigs/sim-e3631a.toml");
        let text = std::fs::read_to_string(path).unwrap();
        Rig::from_source(Source::builtin("e.toml", &text)).unwrap();
        let two = text
            .replacen(
                "main = { instrument = \"psu\", channel = 2 }",
                "main = { instrument = \"psu\", channel = 2 }\nemergency = { instrument = \"psu\", channel = 1 }",
                1,
            )
            .replacen("main = \"off\"", "main = \"off\"\nemergency = \"off\"", 1)
            .replacen(
                "[safe_state]",
                "[envelope.emergency]\nmax_volts = \"5.5V\"\nmax_amps = \"1A\"\n\n[safe_state]",
                1,
            );
        let msg = Rig::from_source(Source::builtin("e.toml", &two))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("role `emergency`: `psu` (keysight-e3631a) switches all its outputs with one `OUTP` command, so `main` and `emergency` would go on and off together"),
            "{msg}"
        );
    }

    #[test]
    fn two_ina219s_on_one_bus_need_two_addresses() {
        let msg = sim_with("address = 0x41", "address = 0x40")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("instrument `port_meter`: field `address`: `meter` already answers at 0x40 on the simulated i2cdriver"),
            "{msg}"
        );
    }

    #[test]
    fn a_feedback_input_must_name_its_states_active_and_idle() {
        let msg = sim_with(
            "channel = 2, high = \"active\", low = \"idle\"",
            "channel = 2, high = \"on\", low = \"idle\"",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("r.toml:") && msg.contains("role `door_push_feedback`: a feedback input's states are `active` (the actuator is driving) and `idle`"),
            "{msg}"
        );
        // Either level may mean driving: a current switch often pulls its line low.
        sim_with(
            "channel = 2, high = \"active\", low = \"idle\"",
            "channel = 2, high = \"idle\", low = \"active\"",
        )
        .unwrap();
    }

    #[test]
    fn two_roles_on_one_channel_are_refused() {
        let msg = sim_with(
            "latch_sensor = { instrument = \"gpio\", channel = 1,",
            "latch_sensor = { instrument = \"gpio\", channel = 0,",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("already plays `door_position`"), "{msg}");
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let msg = sim_with("timeout = \"500ms\"", "timeout = \"0ms\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("field `timeout`: expected 5ms to 60s"),
            "{msg}"
        );
        let msg = sim_with(
            "timeout = \"500ms\"",
            "timeout = \"99999999999999999999999s\"",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("expected a duration"), "{msg}");
        let msg = sim_with("timeout = \"500ms\"", "timeout = \"10000000000000000000s\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected 5ms to 60s"), "{msg}");
    }

    #[test]
    fn every_rig_file_shipped_in_rigs_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rigs");
        let mut loaded = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Rig::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                loaded += 1;
            }
        }
        assert!(loaded >= 8, "{loaded}");
    }

    #[test]
    fn ina219_averaging_is_one_of_the_chips_modes() {
        let load = |to: &str| {
            let text = SIM_RIG.replacen("max_current = \"2A\"", to, 1);
            Rig::from_source(Source::builtin("r.toml", &text))
        };
        assert!(load("max_current = \"2A\"\naveraging = 128").is_ok());
        let msg = load("max_current = \"2A\"\naveraging = 100")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("field `averaging`: expected one of [1, 2, 4, 8, 16, 32, 64, 128] samples, found 100"), "{msg}");
        let text = SIM_RIG.replacen("sim = \"relays\"", "sim = \"relays\"\naveraging = 2", 1);
        let msg = Rig::from_source(Source::builtin("r.toml", &text))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("field `averaging` applies to ina219 only"),
            "{msg}"
        );
    }

    #[test]
    fn modbus_fields_are_checked_where_they_are_written() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rigs/sim-riden.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let load = |from: &str, to: &str| {
            Rig::from_source(Source::builtin("r.toml", &text.replacen(from, to, 1)))
        };
        let rig = load("", "").unwrap();
        let (_, psu) = rig.instrument_of("main").unwrap();
        assert!(psu.driver.has_hardware_protection());
        let msg = load("slave = 1\n", "slave = 248\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("r.toml:13:9:"), "{msg}");
        assert!(
            msg.contains("field `slave`: expected a Modbus slave address 1-247, found 248"),
            "{msg}"
        );
        let msg = load("sim = \"gpio\"", "sim = \"gpio\"\nslave = 2")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("field `slave` applies to Modbus devices only"),
            "{msg}"
        );
        let msg = load("channels = 8", "channels = 40")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected 1-32 relays"), "{msg}");
        let msg = load("channel = 5 }", "channel = 9 }")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("expected 1..=8 for modbus-relay, found 9"),
            "{msg}"
        );
    }

    #[test]
    fn a_supply_dialect_is_chosen_by_name_with_its_channel_count() {
        let siglent = |channel: &str| {
            let text = SIM_RIG
                .replacen(
                    "driver = \"rigol-dp800\"",
                    "driver = \"siglent-spd3303x\"",
                    1,
                )
                .replacen("\"psu\", channel = 3", channel, 1);
            Rig::from_source(Source::builtin("r.toml", &text))
        };
        let rig = siglent("\"psu\", channel = 2").unwrap();
        let (_, psu) = rig.instrument_of("main").unwrap();
        assert_eq!(psu.driver.to_string(), "siglent-spd3303x");
        assert!(!psu.driver.has_hardware_protection());
        // CH3 of an SPD3303X is not programmable.
        let msg = siglent("\"psu\", channel = 3").unwrap_err().to_string();
        assert!(
            msg.contains("field `channel`: expected 1..=2 for siglent-spd3303x, found 3"),
            "{msg}"
        );
        let msg = sim_with("driver = \"rigol-dp800\"", "driver = \"rigol-dp900\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown driver `rigol-dp900`"), "{msg}");
        assert!(msg.contains("keysight-e36300"), "{msg}");
    }

    #[test]
    fn an_envelope_that_requires_hardware_protection_refuses_a_supply_without_it() {
        let require = "max_amps = \"1.5A\"\nrequire_hardware_protection = true";
        sim_with("max_amps = \"1.5A\"", require).expect("the DP800 has OVP/OCP");
        let text = SIM_RIG
            .replacen(
                "driver = \"rigol-dp800\"",
                "driver = \"siglent-spd3303x\"",
                1,
            )
            .replacen("\"psu\", channel = 3", "\"psu\", channel = 2", 1)
            .replacen("max_amps = \"1.5A\"", require, 1);
        let err = Rig::from_source(Source::builtin("r.toml", &text)).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("[envelope.main]: field `require_hardware_protection`: `psu` (siglent-spd3303x) has no OVP/OCP of its own"),
            "{msg}"
        );
        let ConfigError::Invalid { at, .. } = err else {
            panic!()
        };
        let line = text.lines().nth(at.line - 1).unwrap();
        assert!(
            line.starts_with("require_hardware_protection"),
            "points at the field: {line}"
        );
    }

    #[test]
    fn a_ka3005p_has_one_channel_and_no_protection_at_the_envelope() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rigs/sim-ka3005p.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let korad = |from: &str, to: &str| {
            assert!(text.contains(from), "fixture lacks {from}");
            Rig::from_source(Source::builtin("r.toml", &text.replacen(from, to, 1)))
        };
        let rig = korad("", "").unwrap();
        let (_, psu) = rig.instrument_of("main").unwrap();
        assert_eq!(psu.driver.capability(), Capability::Supply);
        assert!(!psu.driver.has_hardware_protection());
        let msg = korad("\"psu\", channel = 1", "\"psu\", channel = 2")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("field `channel`: expected 1..=1 for korad-ka3005p, found 2"),
            "{msg}"
        );
        let require = "max_amps = \"1.5A\"\nrequire_hardware_protection = true";
        let msg = korad("max_amps = \"1.5A\"", require)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`psu` (korad-ka3005p) has no OVP/OCP of its own"),
            "{msg}"
        );
    }

    #[test]
    fn the_sim_rigs_for_each_supply_are_valid() {
        for (file, driver) in [
            ("rigs/sim-spd3303x.toml", "siglent-spd3303x"),
            ("rigs/sim-e36312a.toml", "keysight-e36300"),
            ("rigs/sim-ka3005p.toml", "korad-ka3005p"),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            let rig = Rig::load(&path).unwrap();
            assert!(rig.is_simulated(), "{file}");
            assert_eq!(
                rig.instrument_of("main").unwrap().1.driver.to_string(),
                driver
            );
        }
    }

    #[test]
    fn a_calibration_date_is_parsed_and_a_bad_one_is_located() {
        let rig = sim_with(
            "driver = \"rigol-dp800\"",
            "driver = \"rigol-dp800\"\ncalibration_due = \"2027-03-01\"",
        )
        .unwrap();
        let due = rig.file.instruments["psu"]
            .get_ref()
            .calibration_due
            .as_ref();
        assert_eq!(due.unwrap().get_ref().to_string(), "2027-03-01");
        for bad in ["2027-13-01", "2027-02-30", "1 March 2027", "2027-3-1"] {
            let err = sim_with(
                "driver = \"rigol-dp800\"",
                &format!("driver = \"rigol-dp800\"\ncalibration_due = \"{bad}\""),
            )
            .unwrap_err();
            let ConfigError::Invalid { at, message } = &err else {
                panic!("{err}")
            };
            let line = SIM_RIG
                .lines()
                .position(|l| l.starts_with("driver = \"rigol-dp800\""))
                .unwrap()
                + 2;
            assert_eq!((at.line, at.column), (line, 19), "{err}");
            assert!(message.contains("calibration_due"), "{message}");
            assert!(message.contains("expected a date YYYY-MM-DD"), "{message}");
            assert!(message.contains(bad), "{message}");
        }
    }

    #[test]
    fn a_firmware_path_is_taken_from_the_rig_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let text = SIM_RIG.replace("name = \"sim\"", "name = \"b\"\nfirmware = \"fw/lock.bin\"");
        std::fs::write(dir.path().join("bench.toml"), text).unwrap();
        let rig = Rig::load(&dir.path().join("bench.toml")).unwrap();
        let (path, span) = rig.firmware().unwrap();
        assert_eq!(path, dir.path().join("fw/lock.bin"));
        assert_eq!(&rig.source.text[span], "\"fw/lock.bin\"");
        assert!(Rig::builtin_sim().unwrap().firmware().is_none());
    }

    #[test]
    fn wrong_capability_is_refused() {
        let msg = sim_with(
            "door_push = { instrument = \"relays\"",
            "door_push = { instrument = \"gpio\"",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("needs a Switch instrument"), "{msg}");
    }
}
