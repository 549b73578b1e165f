//! An opened bench: every role bound to a live instrument, the envelope enforced on
//! every command, and the safe state applied on drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::adapters::{Channel, SupplyReadback};
use super::capture::{self, InputCapture, MeterCapture, Sample};
use super::listen::{Arrival, Arrivals, Listener};
use super::timeline::{Recorder, Row, Source, Timing};
use super::{Console, Input, Meter, Resolution, StepTiming, Supply, Switch};
use crate::clock::{Clock, WallClock};
use crate::config::rig::{Capability, DriverKind, Envelope, Link, Rig, SafeState};
use crate::drivers::console::{Dialect, Heard};
use crate::drivers::console::{LockConsole, Lost};
use crate::drivers::debug_probe::{CoreState, DebugProbe};
use crate::drivers::gpio_cdev::Gpio;
use crate::drivers::i2cdriver::{I2cDriver, SharedBus, Speed, BAUD as I2CDRIVER_BAUD};
use crate::drivers::ina219::Ina219;
use crate::drivers::keysight_daq970a::Daq970a;
use crate::drivers::korad_ka3005p::Ka3005p;
use crate::drivers::lcus::Lcus;
use crate::drivers::modbus_relay::ModbusRelay;
use crate::drivers::numato::NumatoGpio;
use crate::drivers::riden_rd60xx::Rd60xx;
use crate::drivers::scpi_supply::ScpiSupply;
use crate::drivers::{on_off, InstrumentError};
use crate::sim::SimBench;
use crate::transport::gpio::{CdevLines, GpioLines};
use crate::transport::{self, Framing, LineIo};
use crate::units::{Amps, Volts};

/// Something a role could not do.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The instrument playing the role failed.
    #[error("role `{role}` on instrument `{instrument}`: {source}")]
    Instrument {
        /// The role.
        role: String,
        /// The instrument's name in the rig file.
        instrument: String,
        /// What went wrong.
        source: InstrumentError,
    },
    /// An instrument could not be opened.
    #[error("instrument `{instrument}` ({driver}): {source}")]
    Open {
        /// The instrument's name in the rig file.
        instrument: String,
        /// Its driver.
        driver: DriverKind,
        /// What went wrong.
        source: InstrumentError,
    },
    /// A command outside the rig's safety envelope, refused before it was sent.
    #[error(
        "refused: {what} {value} on `{role}` exceeds the envelope ({limit}); nothing was sent"
    )]
    Envelope {
        /// The role.
        role: String,
        /// "voltage" or "current limit".
        what: &'static str,
        /// The commanded value.
        value: String,
        /// The limit.
        limit: String,
    },
    /// The role is not mapped to a capability of the needed kind.
    #[error("role `{role}` is not mapped to a {need:?} on this rig")]
    Unmapped {
        /// The role.
        role: String,
        /// The capability needed.
        need: Capability,
    },
    /// The run was interrupted.
    #[error("interrupted by {0}")]
    Interrupted(nix::sys::signal::Signal),
}

impl RoleError {
    /// A meter reading beyond the meter's range: what it showed, and the current in
    /// amperes it is known to exceed.
    pub fn off_scale(&self) -> Option<(&str, f64)> {
        match self {
            RoleError::Instrument {
                source: InstrumentError::OverRange { what, above_a },
                ..
            } => Some((what, *above_a)),
            _ => None,
        }
    }
}

struct Role<T: ?Sized> {
    instrument: String,
    dev: Box<T>,
}

impl<T: ?Sized> Role<T> {
    /// Calls the instrument, naming the role and instrument in any error.
    fn call<R>(
        &mut self,
        role: &str,
        f: impl FnOnce(&mut T) -> crate::drivers::Result<R>,
    ) -> Result<R, RoleError> {
        f(&mut self.dev).map_err(|source| RoleError::Instrument {
            role: role.into(),
            instrument: self.instrument.clone(),
            source,
        })
    }
}

struct InputRole {
    input: Role<dyn Input>,
    channel: u8,
    high: String,
    low: String,
}

/// How far a board's uptime stamp may place a line outside the time between the two
/// reads that bracket it: the millisecond of the stamp, the probe that paired the
/// board's clock with the rig's, and a line's time on the wire.
const CLOCK_SLACK: Duration = Duration::from_millis(50);

/// How far a board's clock may run from the rig's before its stamps place nothing: a
/// crystal is good to 100 ppm; this is ten times that.
const CLOCK_RATE: f64 = 1e-3;

/// A board's uptime read at a moment of the rig's clock: the board read its clock
/// between `sent` and `answered`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockPair {
    sent: Duration,
    answered: Duration,
    uptime: u64,
}

impl ClockPair {
    /// The board's uptime, in milliseconds.
    pub fn uptime(&self) -> u64 {
        self.uptime
    }

    /// Where this pair puts a line stamped `u`: paired with when the answer was in,
    /// plus the stamp's millisecond, so a line is never placed before it was printed
    /// (an event a command set off never lands before the command); it may be placed
    /// late by the probe's round trip.
    fn place(&self, u: u64) -> Option<Duration> {
        let rig = self.answered + Duration::from_millis(1);
        let offset = |ms: u64| Duration::from_millis(ms);
        if u <= self.uptime {
            rig.checked_sub(offset(self.uptime - u))
        } else {
            Some(rig + offset(u - self.uptime))
        }
    }

    /// The rig's time from this pair to `later`, in milliseconds: its middle, and how
    /// far either way the two reads of the board's clock may have been from it (the
    /// round trips, and each stamp's millisecond).
    fn span_to(&self, later: &ClockPair) -> (f64, f64) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let shortest = ms(later.sent.saturating_sub(self.answered));
        let longest = ms(later.answered.saturating_sub(self.sent));
        ((shortest + longest) / 2.0, (longest - shortest) / 2.0 + 1.0)
    }

    /// How many milliseconds the board's clock counted short of the rig's from this
    /// pair to `later` (negative when it counted more).
    pub fn lost_to(&self, later: &ClockPair) -> f64 {
        self.span_to(later).0 - (later.uptime as f64 - self.uptime as f64)
    }

    /// The board's clock's rate against the rig's from this pair to `later`, and how
    /// far off that figure may be.
    pub fn rate_to(&self, later: &ClockPair) -> (f64, f64) {
        let (mid, doubt) = self.span_to(later);
        let counted = later.uptime as f64 - self.uptime as f64;
        (counted / mid, doubt / mid)
    }

    /// Whether the board's clock ran with the rig's from `self` to `later` (both of one
    /// boot): what it counted lies within the rig's time between the two reads, give
    /// or take the reads' doubt and [`CLOCK_RATE`]. Else what went wrong.
    fn agrees(&self, later: &ClockPair) -> Result<(), String> {
        let (mid, doubt) = self.span_to(later);
        if self.lost_to(later).abs() <= doubt + CLOCK_RATE * mid {
            return Ok(());
        }
        let counted = later.uptime as f64 - self.uptime as f64;
        let (shortest, longest) = (mid - doubt + 1.0, mid + doubt - 1.0);
        let ran = if longest - shortest < 0.5 {
            format!("{longest:.0} ms")
        } else {
            format!("{shortest:.0}-{longest:.0} ms")
        };
        Err(format!(
            "the board's clock counted {counted:.0} ms while the rig's ran {ran}"
        ))
    }
}

/// An input role's edges on the rig's clock: when, and the state entered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleEdges {
    /// Oldest first.
    pub edges: Vec<(Duration, String)>,
    /// Edges the instrument lost: while not zero, the line's history has a hole.
    pub lost: u64,
}

/// How a console line was placed on the rig's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// By the board's own uptime stamp: it happened then.
    Uptime,
    /// Heard by the background listener as it arrived: printed within its span, a
    /// few milliseconds.
    Heard,
    /// Read by the bench between steps: printed since the read before.
    Read,
}

impl Placed {
    /// How the line's time is known, for a verdict's text.
    pub fn how(self) -> &'static str {
        match self {
            Self::Uptime => "placed by its clock",
            Self::Heard => "stamped when heard: the board's clock could not place it",
            Self::Read => "stamped when read: the board's clock could not place it",
        }
    }
}

/// A console event on the rig's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedEvent {
    /// When it happened, or the latest it can have (when it was read).
    pub at: Duration,
    /// The earliest it can have happened (`at` itself when placed by its uptime).
    pub from: Duration,
    /// How it was placed.
    pub placed: Placed,
    /// The event (`BOOT BOR`), or the board's text.
    pub text: String,
    /// False for board text that is not an event line.
    pub event: bool,
}

/// What [`Bench::take_console_events`] hands over.
#[derive(Debug, Default)]
pub struct ConsoleTake {
    /// The lines, placed, in time order.
    pub placed: Vec<PlacedEvent>,
    /// What the consoles could not keep.
    pub lost: Lost,
    /// What the bench found about the consoles' clocks.
    pub notes: Vec<String>,
}

/// How often the board's RTT up channel is looked at while waiting for its answer.
const RTT_LOOK_EVERY: Duration = Duration::from_millis(5);

/// What the board's debug probe finds when its console has fallen silent (see
/// [`Bench::second_path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondPath {
    /// The rig has no debug probe to ask (or several, none known to be this board's).
    Absent,
    /// The chip does not answer its debug port.
    NoAnswer(String),
    /// Its core is locked up: a fault it cannot handle, or no valid image to run.
    LockedUp,
    /// Its core is halted.
    Halted,
    /// Its core runs, and the firmware answered the console's state query on RTT.
    Answered(String),
    /// Its core runs; RTT could not be used (no control block: the firmware has no
    /// RTT, or it is not running).
    NoRtt(String),
    /// Its core runs; RTT did not answer within `timeout` (`heard` other lines).
    Unanswered {
        /// Lines that came on RTT meanwhile.
        heard: usize,
        /// How long it was waited for.
        timeout: Duration,
    },
}

/// An instrument identity for the evidence record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// Name in the rig file.
    pub instrument: String,
    /// Driver.
    pub driver: DriverKind,
    /// What the instrument says it is (`*IDN?`, `ver`), where it can say.
    pub identity: String,
}

/// A bench with its instruments open.
pub struct Bench {
    supplies: BTreeMap<String, Role<dyn Supply>>,
    switches: BTreeMap<String, Role<dyn Switch>>,
    inputs: BTreeMap<String, InputRole>,
    meters: BTreeMap<String, Role<dyn Meter>>,
    consoles: BTreeMap<String, Role<dyn Console>>,
    /// The debug probes, by instrument: no role is theirs.
    probes: BTreeMap<String, DebugProbe>,
    /// The dialect each console role speaks, for asking the board the same through
    /// its debug probe.
    dialects: BTreeMap<String, Arc<Dialect>>,
    /// Supply role -> the meter role on its line.
    meter_lines: BTreeMap<String, String>,
    envelope: BTreeMap<String, Envelope>,
    safe_state: Vec<(String, SafeState)>,
    setpoints: BTreeMap<String, Volts>,
    /// The last current limit set on each supply role.
    limits: BTreeMap<String, Amps>,
    /// The sag programmed into each supply role's sequencer: depth, hold, timer name.
    sequences: BTreeMap<String, (Volts, Duration, &'static str)>,
    /// Per console: the last (rig time, board uptime) pair, to place events by.
    console_refs: BTreeMap<String, ClockPair>,
    /// Consoles whose board clock was found running off the rig's in this boot: their
    /// stamps place nothing until the board boots again.
    console_clock_off: std::collections::BTreeSet<String>,
    /// What the bench found about the consoles that the check's log should say.
    console_notes: Vec<String>,
    /// When each console's lines were last taken: a line taken now was printed after
    /// that (less the time on the wire).
    console_taken: BTreeMap<String, Duration>,
    /// Meter roles on a link of their own (not a supply's readback): the ones a bench
    /// running in real time can capture in the background.
    capturable: std::collections::BTreeSet<String>,
    /// The captures running, by meter role (see [`capture`](super::capture)).
    captures: BTreeMap<String, MeterCapture>,
    /// The input instruments captured, by instrument (see [`capture`](super::capture)).
    input_captures: BTreeMap<String, InputCapture>,
    /// The last reading put on the timeline for each captured input role (when it
    /// began, its state): a captured line goes there when it changes and at the last
    /// reading of each take, each reading once.
    input_shown: BTreeMap<String, (Duration, String)>,
    /// The consoles listened to in the background, by role (see
    /// [`listen`](super::listen)).
    listeners: BTreeMap<String, Listener>,
    /// Lines a listener heard that were not taken before it stopped: the next take
    /// hands them on first.
    console_left: BTreeMap<String, Arrivals>,
    /// The rig runs in real time (a real or served bench), not on the simulator's
    /// virtual clock.
    real_time: bool,
    identities: Vec<Identity>,
    protections: Vec<String>,
    clock: Arc<dyn Clock>,
    probe_timeout: Duration,
    safe: bool,
    /// Where the trial's timeline goes, if anywhere.
    recorder: Option<Box<dyn Recorder>>,
}

/// The longest a console probe waits for the board to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// Binds one channel of an opened supply to a role.
type SupplyChannel = Box<dyn Fn(u8) -> Box<dyn Supply>>;

/// Binds one channel of an opened relay instrument to a role.
type SwitchChannel = Box<dyn Fn(u8) -> Box<dyn Switch>>;

/// Binds one line of an opened input instrument to a role.
type InputChannel = Box<dyn Fn(u8) -> Box<dyn Input>>;

/// An opened instrument before it is split into roles.
enum Opened {
    Supply(SupplyChannel),
    Switch(SwitchChannel),
    Input(InputChannel),
    Meter(Option<Box<dyn Meter>>),
    Console(Option<Box<dyn Console>>),
    /// A debug probe: opened at bring-up (its identity proves it is there); the chip
    /// behind it is attached when first needed. It plays no role: the bench keeps it
    /// by instrument name.
    Probe(Option<Box<DebugProbe>>),
}

/// The byte transport to an instrument on a serial port, a socket or the simulator.
fn transport(
    link: &Link,
    sim: Option<&SimBench>,
    timeout: Duration,
) -> Result<Box<dyn transport::Transport>, InstrumentError> {
    framed_transport(link, sim, timeout, Framing::PLAIN)
}

/// [`transport`] for an instrument whose serial framing is its own.
fn framed_transport(
    link: &Link,
    sim: Option<&SimBench>,
    timeout: Duration,
    framing: Framing,
) -> Result<Box<dyn transport::Transport>, InstrumentError> {
    let port = match link {
        Link::Serial { path, baud } => transport::open_serial(path, *baud, timeout, framing),
        Link::I2cDriver { port, .. } => {
            transport::open_serial(port, I2CDRIVER_BAUD, timeout, Framing::PLAIN)
        }
        Link::Tcp(addr) => transport::open_tcp(addr, timeout),
        Link::Sim(name) => {
            let missing = || InstrumentError::Open {
                what: format!("simulated instrument `{name}`"),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the simulator has no such instrument",
                ),
            };
            let sim = sim.ok_or_else(missing)?;
            match sim.connect(name) {
                Some(socket) => {
                    let mut socket: Box<dyn transport::Transport> = Box::new(socket);
                    socket.set_timeout(timeout).map(|_| socket)
                }
                None => {
                    let path = sim.serial_path(name).ok_or_else(missing)?;
                    transport::open_serial(&path, 115_200, timeout, framing)
                }
            }
        }
        Link::I2c { bus: what, .. }
        | Link::GpioChip(what)
        | Link::DebugProbe { chip: what, .. } => {
            return Err(InstrumentError::Open {
                what: what.clone(),
                source: std::io::Error::other("an I2C bus or GPIO chip is not a byte stream"),
            })
        }
    };
    port.map_err(|source| InstrumentError::Open {
        what: link.to_string(),
        source,
    })
}

fn line_io(
    link: &Link,
    sim: Option<&SimBench>,
    timeout: Duration,
) -> Result<LineIo, InstrumentError> {
    Ok(LineIo::new(transport(link, sim, timeout)?, timeout))
}

/// Shares a relay instrument between the roles its channels serve.
fn relays_of<T: Send + 'static>(dev: T) -> SwitchChannel
where
    Channel<T>: Switch,
{
    let dev = Arc::new(Mutex::new(dev));
    Box::new(move |ch| Box::new(Channel::new(dev.clone(), ch)))
}

/// Shares an input instrument between the roles its lines serve.
fn inputs_of<T: Send + 'static>(dev: T) -> InputChannel
where
    Channel<T>: Input,
{
    let dev = Arc::new(Mutex::new(dev));
    Box::new(move |ch| Box::new(Channel::new(dev.clone(), ch)))
}

/// The GPIO lines an instrument's roles use.
fn gpio_lines(rig: &Rig, name: &str) -> Vec<u32> {
    rig.role_names()
        .filter_map(|r| rig.role(r))
        .filter(|spec| spec.instrument == name)
        .filter_map(|spec| spec.channel.map(u32::from))
        .collect()
}

/// Requests an instrument's GPIO lines, on a real chip or the simulated one.
fn open_gpio(
    rig: &Rig,
    name: &str,
    link: &Link,
    sim: Option<&SimBench>,
    output: bool,
) -> Result<Gpio, InstrumentError> {
    let lines = gpio_lines(rig, name);
    let (inputs, outputs) = if output {
        (&[][..], &lines[..])
    } else {
        (&lines[..], &[][..])
    };
    let requested: std::io::Result<Box<dyn GpioLines>> = match (link, sim) {
        (Link::GpioChip(chip), _) => CdevLines::request(chip, inputs, outputs, "lockrig")
            .map(|l| Box::new(l) as Box<dyn GpioLines>),
        (Link::Sim(_), Some(sim)) => sim.gpio_lines(inputs, outputs),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the simulator has no such instrument",
        )),
    };
    requested
        .map(Gpio::open)
        .map_err(|source| InstrumentError::Open {
            what: format!("lines {lines:?} of {link}"),
            source,
        })
}

/// Shares a supply between the roles its channels serve.
fn channels_of<T: Send + 'static>(dev: T) -> SupplyChannel
where
    Channel<T>: Supply,
{
    let dev = Arc::new(Mutex::new(dev));
    Box::new(move |ch| Box::new(Channel::new(dev.clone(), ch)))
}

/// Opens the debug probe of a `probe-rs` instrument's link: a USB probe, or the
/// simulator's (`sim = "swd"`, served by `sim`).
pub fn open_probe(link: &Link, sim: Option<&SimBench>) -> Result<DebugProbe, InstrumentError> {
    let Link::DebugProbe {
        selector,
        chip,
        sim: simulated,
    } = link
    else {
        unreachable!("validated: a probe-rs instrument has a probe link")
    };
    match simulated {
        None => DebugProbe::open(selector.as_deref(), chip),
        Some(name) => {
            let missing = || {
                InstrumentError::Open {
                what: format!("simulated probe `{name}`"),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "the simulator's debug probe is `{}`, and it is reached in this process only (not on a served bench)",
                        crate::sim::SWD
                    ),
                ),
            }
            };
            let mut open = sim
                .ok_or_else(missing)?
                .debug_probe(name)
                .ok_or_else(missing)?;
            DebugProbe::with_opener(Box::new(move || Ok(open())), chip)
        }
    }
}

/// I2CDriver adapters opened so far in one bring-up, by link: the chips on one share it.
type Buses = BTreeMap<String, SharedBus>;

fn open_instrument(
    rig: &Rig,
    name: &str,
    spec: &crate::config::rig::InstrumentSpec,
    sim: Option<&SimBench>,
    buses: &mut Buses,
) -> Result<(Opened, String), InstrumentError> {
    let link = spec.link().map_err(|m| InstrumentError::Open {
        what: "link".into(),
        source: std::io::Error::other(m),
    })?;
    let timeout = rig.timeout(spec);
    Ok(match spec.driver {
        DriverKind::ScpiSupply(dialect) => {
            let port = framed_transport(&link, sim, timeout, dialect.framing)?;
            let dev = ScpiSupply::open(LineIo::new(port, timeout), dialect)?;
            let id = dev.identity().to_string();
            (Opened::Supply(channels_of(dev)), id)
        }
        DriverKind::KoradKa3005p => {
            let dev = Ka3005p::open(line_io(&link, sim, timeout)?)?;
            let id = dev.identity().to_string();
            (Opened::Supply(channels_of(dev)), id)
        }
        DriverKind::RidenRd60xx => {
            let slave = spec.slave.as_ref().map_or(1, |s| *s.get_ref());
            let dev = Rd60xx::open(transport(&link, sim, timeout)?, slave, timeout)?;
            let id = dev.identity().to_string();
            (Opened::Supply(channels_of(dev)), id)
        }
        DriverKind::ModbusRelay => {
            let slave = spec.slave.as_ref().map_or(1, |s| *s.get_ref());
            let channels = spec.channels.unwrap_or(8);
            let first = spec.first_coil.unwrap_or(0);
            let dev = ModbusRelay::open(
                transport(&link, sim, timeout)?,
                slave,
                first,
                channels,
                timeout,
            )?;
            let id = dev.identity();
            (Opened::Switch(relays_of(dev)), id)
        }
        DriverKind::Lcus => {
            let channels = spec.channels.unwrap_or(4);
            let dev = Lcus::open(line_io(&link, sim, timeout)?, channels)?;
            (Opened::Switch(relays_of(dev)), format!("LCUS-{channels}"))
        }
        DriverKind::KeysightDaq970a => {
            let slot = spec.slot.as_ref().map_or(1, |s| *s.get_ref());
            let dev = Daq970a::open(line_io(&link, sim, timeout)?, slot)?;
            let id = format!("{} (module in slot {slot})", dev.identity());
            (Opened::Switch(relays_of(dev)), id)
        }
        DriverKind::NumatoGpio => {
            let dev = NumatoGpio::open(line_io(&link, sim, timeout)?)?;
            let id = format!("Numato GPIO ver {}", dev.version());
            (Opened::Input(inputs_of(dev)), id)
        }
        DriverKind::GpioInput => {
            let dev = open_gpio(rig, name, &link, sim, false)?;
            let id = dev.identity();
            (Opened::Input(inputs_of(dev)), id)
        }
        DriverKind::GpioOutput => {
            let dev = open_gpio(rig, name, &link, sim, true)?;
            let id = dev.identity();
            (Opened::Switch(relays_of(dev)), id)
        }
        DriverKind::ProbeRs => {
            let dev = open_probe(&link, sim)?;
            let id = dev.identity();
            (Opened::Probe(Some(Box::new(dev))), id)
        }
        DriverKind::LockConsole => {
            let io = line_io(&link, sim, timeout)?;
            let (dev, id) = match rig.dialects.get(name) {
                Some(d) => (
                    LockConsole::with_dialect(io, d.dialect.clone()),
                    format!("lock console ({} dialect)", d.dialect.name),
                ),
                None => (LockConsole::open(io), "lock console".into()),
            };
            (Opened::Console(Some(Box::new(dev))), id)
        }
        DriverKind::Ina219 => {
            let address = spec.address.unwrap_or(0x40);
            let shunt = spec.shunt.map_or(0.1, |s| s.0);
            let max = spec.max_current.map_or(2.0, |a| a.0);
            let samples = spec.averaging.as_ref().map_or(1, |n| *n.get_ref());
            // Configured before it is boxed: the averaging sets how often it reads.
            fn configured<I: embedded_hal::i2c::I2c + Send + 'static>(
                mut m: Ina219<I>,
                samples: u8,
            ) -> Result<Box<dyn Meter>, InstrumentError> {
                if samples > 1 {
                    m.set_averaging(samples)?;
                }
                Ok(Box::new(m))
            }
            let (meter, identity): (Box<dyn Meter>, String) = match &link {
                Link::I2c { bus, .. } => {
                    let i2c = linux_embedded_hal::I2cdev::new(bus).map_err(|e| {
                        InstrumentError::Open {
                            what: bus.clone(),
                            source: std::io::Error::other(e.to_string()),
                        }
                    })?;
                    (
                        configured(Ina219::open(i2c, address, shunt, max)?, samples)?,
                        format!("INA219 @ {address:#04x} on {bus}"),
                    )
                }
                _ => {
                    // Opened once, for every chip on its bus.
                    let key = link.i2c_bus().unwrap_or_else(|| link.to_string());
                    let bus = match buses.get(&key) {
                        Some(bus) => bus.clone(),
                        None => {
                            let port = transport(&link, sim, timeout)?;
                            let bus = SharedBus::new(I2cDriver::open(port, timeout, Speed::Fast)?);
                            buses.insert(key, bus.clone());
                            bus
                        }
                    };
                    let identity = format!(
                        "INA219 @ {address:#04x} on I2CDriver {} ({})",
                        bus.status().serial,
                        link
                    );
                    (
                        configured(Ina219::open(bus, address, shunt, max)?, samples)?,
                        identity,
                    )
                }
            };
            let every = meter.resolution().every;
            let identity = format!(
                "{identity}, {samples} sample{} per reading, one every {}",
                if samples == 1 { "" } else { "s" },
                crate::units::format_duration(every)
            );
            (Opened::Meter(Some(meter)), identity)
        }
    })
}

impl Bench {
    /// Opens every instrument of a rig. `sim` serves the rig's simulated instruments.
    pub fn open(rig: &Rig, sim: Option<&SimBench>) -> Result<Self, RoleError> {
        let mut opened = BTreeMap::new();
        let mut identities = Vec::new();
        let mut buses = Buses::new();
        for (name, spec) in &rig.file.instruments {
            let spec = spec.get_ref();
            let (inst, identity) =
                open_instrument(rig, name, spec, sim, &mut buses).map_err(|source| {
                    RoleError::Open {
                        instrument: name.clone(),
                        driver: spec.driver,
                        source,
                    }
                })?;
            identities.push(Identity {
                instrument: name.clone(),
                driver: spec.driver,
                identity,
            });
            opened.insert(name.clone(), inst);
        }
        let clock: Arc<dyn Clock> = match sim {
            Some(s) => s.clock(),
            None => Arc::new(WallClock::new()),
        };
        let mut bench = Self {
            supplies: BTreeMap::new(),
            switches: BTreeMap::new(),
            inputs: BTreeMap::new(),
            meters: BTreeMap::new(),
            consoles: BTreeMap::new(),
            probes: opened
                .iter_mut()
                .filter_map(|(name, o)| match o {
                    Opened::Probe(p) => p.take().map(|p| (name.clone(), *p)),
                    _ => None,
                })
                .collect(),
            dialects: BTreeMap::new(),
            meter_lines: BTreeMap::new(),
            envelope: BTreeMap::new(),
            safe_state: Vec::new(),
            setpoints: BTreeMap::new(),
            limits: BTreeMap::new(),
            sequences: BTreeMap::new(),
            console_refs: BTreeMap::new(),
            console_clock_off: std::collections::BTreeSet::new(),
            console_notes: Vec::new(),
            console_taken: BTreeMap::new(),
            capturable: std::collections::BTreeSet::new(),
            captures: BTreeMap::new(),
            input_captures: BTreeMap::new(),
            input_shown: BTreeMap::new(),
            listeners: BTreeMap::new(),
            console_left: BTreeMap::new(),
            real_time: sim.is_none(),
            identities,
            protections: Vec::new(),
            clock,
            probe_timeout: rig.file.rig.timeout.get_ref().0.min(PROBE_TIMEOUT),
            safe: false,
            recorder: None,
        };
        for role in rig.role_names() {
            let spec = rig.role(role).expect("listed role");
            let instrument = spec.instrument.clone();
            let ch = spec.channel.unwrap_or(0);
            let inst = opened.get_mut(&instrument).expect("validated instrument");
            let role_s = role.to_string();
            match inst {
                Opened::Supply(channel) => match spec.readback {
                    // A meter role played by the supply channel's own readback.
                    Some(rb) => {
                        let dev = Box::new(SupplyReadback::new(
                            channel(ch),
                            Resolution {
                                volts: rb.volts,
                                amps: rb.amps,
                                every: rb.every,
                            },
                        ));
                        if let Some(line) = &spec.line {
                            bench.meter_lines.insert(line.clone(), role_s.clone());
                        }
                        bench.meters.insert(role_s, Role { instrument, dev });
                    }
                    None => {
                        let dev = channel(ch);
                        bench.supplies.insert(role_s, Role { instrument, dev });
                    }
                },
                Opened::Switch(channel) => {
                    let dev = channel(ch);
                    bench.switches.insert(role_s, Role { instrument, dev });
                }
                Opened::Input(channel) => {
                    let dev = channel(ch);
                    let high = spec.high.clone().unwrap_or_else(|| "high".into());
                    let low = spec.low.clone().unwrap_or_else(|| "low".into());
                    let input: Role<dyn Input> = Role { instrument, dev };
                    bench.inputs.insert(
                        role_s,
                        InputRole {
                            input,
                            channel: ch,
                            high,
                            low,
                        },
                    );
                }
                Opened::Meter(m) => {
                    if let Some(line) = &spec.line {
                        bench.meter_lines.insert(line.clone(), role_s.clone());
                    }
                    let dev = m.take().expect("validated: a meter serves one role");
                    bench.capturable.insert(role_s.clone());
                    bench.meters.insert(role_s, Role { instrument, dev });
                }
                Opened::Console(c) => {
                    let dev = c.take().expect("validated: a console serves one role");
                    let dialect = rig
                        .dialects
                        .get(&instrument)
                        .map_or_else(|| Arc::new(Dialect::lockrig()), |d| d.dialect.clone());
                    bench.dialects.insert(role_s.clone(), dialect);
                    bench.consoles.insert(role_s, Role { instrument, dev });
                }
                Opened::Probe(_) => unreachable!("validated: no role is a debug probe's"),
            }
            if let Some(env) = rig.envelope(role) {
                bench.envelope.insert(role.to_string(), env);
                // The current limit starts at the envelope's, and the instrument's own
                // protection enforces the envelope even if lockrig dies.
                if let Some(r) = bench.supplies.get_mut(role) {
                    if let Some(latched) = r.call(role, |d| d.clear_protection())? {
                        bench.protections.push(format!(
                            "{role}: {latched} trip latched on {} before this run; cleared",
                            r.instrument
                        ));
                    }
                    r.call(role, |d| d.set_current_limit(env.max_amps))?;
                    let armed = r.call(role, |d| d.set_protection(env.max_volts, env.max_amps))?;
                    bench.protections.push(format!(
                        "{role}: {}",
                        if armed {
                            format!(
                                "OVP {} / OCP {} armed on {}",
                                env.max_volts, env.max_amps, r.instrument
                            )
                        } else {
                            format!(
                                "no hardware OVP/OCP on {}; the envelope is enforced by lockrig only",
                                r.instrument
                            )
                        }
                    ));
                }
            }
            if let Some(state) = rig.safe_state(role) {
                bench.safe_state.push((role.to_string(), state));
            }
        }
        Ok(bench)
    }

    /// Asks the board behind a silent console role through the rig's debug probe (the
    /// only one: with several, which is this board's is not known): whether its chip
    /// answers, what its core is doing, and, when it runs, whether it answers the
    /// console's state query on RTT. Everything asked and heard goes on the timeline.
    pub fn second_path(&mut self, role: &str) -> SecondPath {
        if self.probes.len() != 1 {
            return SecondPath::Absent;
        }
        let dialect = self
            .dialects
            .get(role)
            .cloned()
            .unwrap_or_else(|| Arc::new(Dialect::lockrig()));
        let (timeout, clock) = (self.probe_timeout, self.clock.clone());
        let (instrument, probe) = self.probes.iter_mut().next().expect("one probe");
        let instrument = instrument.clone();
        let began = clock.now();
        let state = probe.core_state();
        let mut rows = vec![(
            began,
            match &state {
                Ok(s) => format!("core {s:?}"),
                Err(e) => format!("no answer: {e}"),
            },
        )];
        let found = match state {
            Err(e) => SecondPath::NoAnswer(e.to_string()),
            Ok(CoreState::LockedUp) => SecondPath::LockedUp,
            Ok(CoreState::Halted) => SecondPath::Halted,
            Ok(CoreState::Running) => {
                let query = dialect.command("STATE?");
                let asked = probe.rtt_lines().and_then(|_| probe.rtt_send(&query));
                rows.push((clock.now(), format!("RTT> {query}")));
                let mut heard = 0;
                let mut reply = None;
                if let Err(e) = asked {
                    reply = Some(Err(e.to_string()));
                }
                while reply.is_none() {
                    match probe.rtt_lines() {
                        Err(e) => reply = Some(Err(e.to_string())),
                        Ok(lines) => {
                            for line in lines {
                                heard += 1;
                                rows.push((clock.now(), format!("RTT< {line}")));
                                if let Heard::Reply(r) = dialect.hear(&line) {
                                    reply = Some(Ok(r));
                                    break;
                                }
                            }
                        }
                    }
                    if reply.is_none() {
                        if clock.now().saturating_sub(began) >= timeout {
                            break;
                        }
                        clock.wait(RTT_LOOK_EVERY);
                    }
                }
                match reply {
                    Some(Ok(r)) => SecondPath::Answered(r),
                    Some(Err(e)) => SecondPath::NoRtt(e),
                    None => SecondPath::Unanswered { heard, timeout },
                }
            }
        };
        if let Some(r) = self.recorder.as_mut() {
            for (at, value) in rows {
                r.record(Row {
                    at,
                    timing: Timing::Read,
                    source: Source::Console,
                    role: &instrument,
                    value: &value,
                });
            }
        }
        found
    }

    /// The debug probes, by instrument name.
    pub fn probe_names(&self) -> Vec<String> {
        self.probes.keys().cloned().collect()
    }

    /// The debug probe `instrument`.
    pub fn probe(&mut self, instrument: &str) -> Option<&mut DebugProbe> {
        self.probes.get_mut(instrument)
    }

    /// Sends the timeline (every command, reading and board line from now on) to
    /// `recorder`, until [`Bench::stop_recording`].
    pub fn record_to(&mut self, recorder: Box<dyn Recorder>) {
        self.recorder = Some(recorder);
    }

    /// Stops recording and hands the recorder back (to finish its file).
    pub fn stop_recording(&mut self) -> Option<Box<dyn Recorder>> {
        self.recorder.take()
    }

    /// Marks a suite step beginning on the timeline.
    pub fn mark_step(&mut self, number: usize, text: &str) {
        let at = self.clock.now();
        if let Some(r) = self.recorder.as_mut() {
            r.record(Row {
                at,
                timing: Timing::Exact,
                source: Source::Step,
                role: &number.to_string(),
                value: text,
            });
        }
    }

    /// Records an exchange that began at `began` (it ends now) and returns its result.
    fn exchanged<T>(
        &mut self,
        began: Duration,
        source: Source,
        role: &str,
        result: Result<T, RoleError>,
        value: impl FnOnce(&T) -> String,
    ) -> Result<T, RoleError> {
        if let Some(r) = self.recorder.as_mut() {
            let took = self.clock.now().saturating_sub(began);
            let text = match &result {
                Ok(v) => value(v),
                Err(e) => format!("ERROR {e}"),
            };
            r.record(Row {
                at: began,
                timing: Timing::Exchange(took),
                source,
                role,
                value: &text,
            });
        }
        result
    }

    /// The scenario clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Instrument identities, for the evidence record.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// The hardware protection armed for each supply role, for the evidence record.
    pub fn protections(&self) -> &[String] {
        &self.protections
    }

    fn supply(&mut self, role: &str) -> Result<&mut Role<dyn Supply>, RoleError> {
        self.supplies
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Supply,
            })
    }

    /// The envelope limits of a supply role.
    pub fn envelope(&self, role: &str) -> Option<Envelope> {
        self.envelope.get(role).copied()
    }

    /// Refuses a setting outside a supply role's envelope (nothing is sent).
    pub fn check_envelope(
        &self,
        role: &str,
        volts: Option<Volts>,
        amps: Option<Amps>,
    ) -> Result<(), RoleError> {
        match self.envelope(role).map(|e| e.check(volts, amps)) {
            Some(Err(b)) => Err(RoleError::Envelope {
                role: role.into(),
                what: b.what,
                value: b.value,
                limit: b.limit,
            }),
            _ => Ok(()),
        }
    }

    /// Sets a supply's voltage, refusing values outside the envelope before sending.
    pub fn set_voltage(&mut self, role: &str, volts: Volts) -> Result<(), RoleError> {
        self.check_envelope(role, Some(volts), None)?;
        self.safe = false;
        let began = self.clock.now();
        let done = self
            .supply(role)
            .and_then(|r| r.call(role, |d| d.set_voltage(volts)));
        self.exchanged(began, Source::Supply, role, done, |_| {
            format!("set {volts}")
        })?;
        self.setpoints.insert(role.into(), volts);
        Ok(())
    }

    /// Supply roles whose own protection has tripped, as `role: OVP`.
    pub fn protection_trips(&mut self) -> Result<Vec<String>, RoleError> {
        let mut trips = Vec::new();
        for (role, r) in &mut self.supplies {
            if let Some(what) = r.call(role, |d| d.protection_tripped())? {
                trips.push(format!("{role}: {what}"));
            }
        }
        Ok(trips)
    }

    /// True when the rig maps `role` to a supply or a switch.
    pub fn maps(&self, role: &str) -> bool {
        self.supplies.contains_key(role) || self.switches.contains_key(role)
    }

    /// The last voltage set on a supply role by this bench.
    pub fn setpoint(&self, role: &str) -> Option<Volts> {
        self.setpoints.get(role).copied()
    }

    /// Sets a supply's current limit, refusing values outside the envelope.
    pub fn set_current_limit(&mut self, role: &str, amps: Amps) -> Result<(), RoleError> {
        self.check_envelope(role, None, Some(amps))?;
        self.safe = false;
        let began = self.clock.now();
        let done = self
            .supply(role)
            .and_then(|r| r.call(role, |d| d.set_current_limit(amps)));
        self.exchanged(began, Source::Supply, role, done, |_| {
            format!("limit {amps}")
        })?;
        self.limits.insert(role.into(), amps);
        Ok(())
    }

    /// The step lengths `role`'s supply can time itself, if it has a sequencer.
    pub fn sequencer_timing(&mut self, role: &str) -> Option<StepTiming> {
        let r = self.supplies.get_mut(role)?;
        r.dev.sequencer().map(|s| s.timing())
    }

    /// Programs a sag into `role`'s supply sequencer, when it has one that can time
    /// `hold` and a setpoint to return to: `to` for `hold`, then the setpoint, held, at
    /// the present current limit. Refused beyond the envelope, like any setting;
    /// started by [`Bench::run_sequence`]. False (and nothing sent) when it cannot.
    pub fn program_sag(
        &mut self,
        role: &str,
        to: Volts,
        hold: Duration,
    ) -> Result<bool, RoleError> {
        let Some(timing) = self.sequencer_timing(role).filter(|t| t.fits(hold)) else {
            return Ok(false);
        };
        let restore = self.setpoint(role);
        let limit = self.limits.get(role).copied();
        let (Some(restore), Some(limit)) = (restore, limit) else {
            return Ok(false);
        };
        self.check_envelope(role, Some(to), Some(limit))?;
        self.check_envelope(role, Some(restore), None)?;
        self.safe = false;
        let began = self.clock.now();
        let steps = [(to, hold), (restore, timing.step)];
        let done = self.supply(role).and_then(|r| {
            r.call(role, |d| match d.sequencer() {
                Some(seq) => seq.program(&steps, limit),
                None => unreachable!("timing came from this sequencer"),
            })
        });
        self.exchanged(began, Source::Supply, role, done, |_| {
            format!(
                "program {}: {to} for {}, then {restore}",
                timing.name,
                crate::units::format_duration(hold)
            )
        })?;
        self.sequences.insert(role.into(), (to, hold, timing.name));
        Ok(true)
    }

    /// Starts (`true`) or stops `role`'s programmed sequence.
    pub fn run_sequence(&mut self, role: &str, on: bool) -> Result<(), RoleError> {
        self.safe = false;
        let began = self.clock.now();
        let done = self.supply(role).and_then(|r| {
            r.call(role, |d| match d.sequencer() {
                Some(seq) => seq.run(on),
                None => Ok(()),
            })
        });
        let what = self.sequences.get(role).copied();
        self.exchanged(began, Source::Supply, role, done, |_| match (what, on) {
            (Some((to, hold, name)), true) => {
                format!(
                    "set {to} for {} by {name}",
                    crate::units::format_duration(hold)
                )
            }
            (Some((_, _, name)), false) => format!("{name} stop"),
            (None, _) => format!("sequence {}", if on { "start" } else { "stop" }),
        })
    }

    /// Switches a supply output.
    pub fn set_output(&mut self, role: &str, on: bool) -> Result<(), RoleError> {
        self.safe = false;
        let began = self.clock.now();
        let done = self
            .supply(role)
            .and_then(|r| r.call(role, |d| d.set_output(on)));
        self.exchanged(began, Source::Supply, role, done, |_| {
            on_off(on).to_lowercase()
        })
    }

    /// Energises or releases a switch role.
    pub fn set_switch(&mut self, role: &str, on: bool) -> Result<(), RoleError> {
        self.safe = false;
        let began = self.clock.now();
        let done = self
            .switches
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Switch,
            })
            .and_then(|r| r.call(role, |d| d.set(on)));
        self.exchanged(began, Source::Switch, role, done, |_| {
            on_off(on).to_lowercase()
        })
    }

    /// Reads a switch role back from its instrument (true: energised).
    pub fn read_switch(&mut self, role: &str) -> Result<bool, RoleError> {
        let r = self
            .switches
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Switch,
            })?;
        r.call(role, |d| d.get())
    }

    /// Measures a supply role's output: (voltage, current) as the supply reads them.
    pub fn measure_supply(&mut self, role: &str) -> Result<(Volts, Amps), RoleError> {
        self.supply(role)?.call(role, |d| d.measure())
    }

    /// True while every role is in its confirmed safe state (nothing changed since).
    pub fn is_safe(&self) -> bool {
        self.safe
    }

    /// Reads an input role and returns its state name (`open`, `closed`).
    pub fn read_input(&mut self, role: &str) -> Result<String, RoleError> {
        let began = self.clock.now();
        let read = self.read_input_now(role);
        self.exchanged(began, Source::Input, role, read, String::clone)
    }

    fn read_input_now(&mut self, role: &str) -> Result<String, RoleError> {
        let r = self.input_role(role)?;
        let high = r.input.call(role, |d| d.read())?;
        Ok(if high { r.high.clone() } else { r.low.clone() })
    }

    fn input_role(&mut self, role: &str) -> Result<&mut InputRole, RoleError> {
        self.inputs
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Input,
            })
    }

    /// The edges of an input role since the last call, on the rig's clock, with the
    /// state each edge entered, and how many edges were lost; `None` when the
    /// instrument can only be polled.
    pub fn input_edges(&mut self, role: &str) -> Result<Option<RoleEdges>, RoleError> {
        let clock = self.clock.clone();
        let r = self.input_role(role)?;
        let Some(edges) = r.input.call(role, |d| d.edges())? else {
            return Ok(None);
        };
        let now = clock.now();
        let placed = RoleEdges {
            edges: edges
                .edges
                .iter()
                .map(|e| {
                    let state = if e.high { &r.high } else { &r.low };
                    (now.saturating_sub(e.ago), state.clone())
                })
                .collect(),
            lost: edges.lost,
        };
        if let Some(rec) = self.recorder.as_mut() {
            for (at, state) in &placed.edges {
                rec.record(Row {
                    at: *at,
                    timing: Timing::Edge,
                    source: Source::Input,
                    role,
                    value: state,
                });
            }
            if placed.lost > 0 {
                let text = format!("LOST {} edges", placed.lost);
                rec.record(Row {
                    at: now,
                    timing: Timing::Edge,
                    source: Source::Input,
                    role,
                    value: &text,
                });
            }
        }
        Ok(Some(placed))
    }

    /// Reads several input roles, one exchange per instrument where the instrument
    /// reads all its lines at once, and returns their state names in order.
    pub fn read_inputs(&mut self, roles: &[String]) -> Result<Vec<String>, RoleError> {
        let began = self.clock.now();
        let read = self.read_inputs_now(roles);
        if self.recorder.is_none() {
            return read;
        }
        match read {
            Ok(states) => {
                for (role, state) in roles.iter().zip(&states) {
                    self.exchanged(began, Source::Input, role, Ok(()), |_| state.clone())?;
                }
                Ok(states)
            }
            Err(e) => self.exchanged(began, Source::Input, &roles.join("+"), Err(e), |_| {
                String::new()
            }),
        }
    }

    fn read_inputs_now(&mut self, roles: &[String]) -> Result<Vec<String>, RoleError> {
        let mut masks: BTreeMap<String, Option<u32>> = BTreeMap::new();
        let mut states = Vec::with_capacity(roles.len());
        for role in roles {
            let r = self
                .inputs
                .get_mut(role)
                .ok_or_else(|| RoleError::Unmapped {
                    role: role.clone(),
                    need: Capability::Input,
                })?;
            let shared = roles.len() > 1;
            let mask = match masks.get(&r.input.instrument) {
                Some(m) => *m,
                None if shared => {
                    let m = r.input.call(role, |d| d.read_lines())?;
                    masks.insert(r.input.instrument.clone(), m);
                    m
                }
                None => None,
            };
            let high = match mask {
                Some(m) => m >> r.channel & 1 == 1,
                None => r.input.call(role, |d| d.read())?,
            };
            states.push(if high { r.high.clone() } else { r.low.clone() });
        }
        Ok(states)
    }

    /// The state names an input role can report.
    pub fn input_states(&self, role: &str) -> Option<[&str; 2]> {
        self.inputs
            .get(role)
            .map(|r| [r.high.as_str(), r.low.as_str()])
    }

    /// The capability a role is bound to on this bench.
    pub fn capability(&self, role: &str) -> Option<Capability> {
        if self.supplies.contains_key(role) {
            Some(Capability::Supply)
        } else if self.switches.contains_key(role) {
            Some(Capability::Switch)
        } else if self.inputs.contains_key(role) {
            Some(Capability::Input)
        } else if self.meters.contains_key(role) {
            Some(Capability::Meter)
        } else if self.consoles.contains_key(role) {
            Some(Capability::Console)
        } else {
            None
        }
    }

    /// The meter role on a supply role's line, if the rig maps one.
    pub fn meter_on(&self, supply: &str) -> Option<String> {
        self.meter_lines.get(supply).cloned()
    }

    /// The console roles.
    pub fn console_roles(&self) -> Vec<String> {
        self.consoles.keys().cloned().collect()
    }

    /// True when `role` is a console role.
    pub fn is_console(&self, role: &str) -> bool {
        self.consoles.contains_key(role)
    }

    /// The instrument a console role is on (the role's name if it is none).
    pub fn console_instrument<'a>(&'a self, role: &'a str) -> &'a str {
        self.consoles.get(role).map_or(role, |r| &r.instrument)
    }

    /// How finely and how often a meter role measures.
    pub fn meter_resolution(&self, role: &str) -> Option<Resolution> {
        self.meters.get(role).map(|r| r.dev.resolution())
    }

    /// Starts reading a meter role in the background, on a bench that runs in real
    /// time and for a meter on a link of its own; true when it is (or already was)
    /// captured. A simulated bench is never captured: its executor reads the meter as
    /// virtual time passes.
    pub fn capture_meter(&mut self, role: &str) -> Result<bool, RoleError> {
        if self.captures.contains_key(role) {
            return Ok(true);
        }
        if !self.real_time || !self.capturable.contains(role) {
            return Ok(false);
        }
        let Some(r) = self.meters.get_mut(role) else {
            return Ok(false);
        };
        let timeout = self.probe_timeout.max(Duration::from_millis(500));
        let meter = std::mem::replace(&mut r.dev, Box::new(Detached));
        match capture::start_meter(meter, self.clock.clone(), timeout) {
            Ok((capture, proxy)) => {
                r.dev = proxy;
                self.captures.insert(role.to_string(), capture);
                Ok(true)
            }
            Err(e) => Err(RoleError::Instrument {
                role: role.into(),
                instrument: r.instrument.clone(),
                source: InstrumentError::Io {
                    command: "(start the meter's capture)".into(),
                    source: e,
                },
            }),
        }
    }

    /// Reads every polled input instrument in the background from now to the check's
    /// end, on a bench that runs in real time, so a watch sees the lines every
    /// [`capture::INPUT_EVERY`] whatever the executor is doing. An input that stamps
    /// its own edges is not captured; nor is any input on a simulated bench, whose
    /// executor reads the inputs as virtual time passes.
    pub fn capture_inputs(&mut self) -> Result<(), RoleError> {
        if !self.real_time {
            return Ok(());
        }
        let mut by_instrument: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (role, r) in &self.inputs {
            if !r.input.dev.stamps_edges() && !self.input_captures.contains_key(&r.input.instrument)
            {
                by_instrument
                    .entry(r.input.instrument.clone())
                    .or_default()
                    .push(role.clone());
            }
        }
        let timeout = self.probe_timeout.max(Duration::from_millis(500));
        for (instrument, roles) in by_instrument {
            let lines = roles
                .iter()
                .map(|role| {
                    let r = self.inputs.get_mut(role).expect("listed above");
                    let dev = std::mem::replace(&mut r.input.dev, Box::new(Detached));
                    (role.clone(), r.channel, dev)
                })
                .collect();
            match capture::start_inputs(lines, self.clock.clone(), timeout) {
                Ok((capture, proxies)) => {
                    for (role, proxy) in roles.iter().zip(proxies) {
                        self.inputs.get_mut(role).expect("listed above").input.dev = proxy;
                    }
                    self.input_captures.insert(instrument, capture);
                }
                Err(e) => {
                    return Err(RoleError::Instrument {
                        role: roles.join("+"),
                        instrument,
                        source: InstrumentError::Io {
                            command: "(start the inputs' capture)".into(),
                            source: e,
                        },
                    })
                }
            }
        }
        Ok(())
    }

    /// True when an input role's instrument is read in the background.
    pub fn input_captured(&self, role: &str) -> bool {
        self.inputs
            .get(role)
            .is_some_and(|r| self.input_captures.contains_key(&r.input.instrument))
    }

    /// The states a captured input role read on its own since `since`, through a
    /// reading that began at `through` or later; `None` for an input that is not
    /// captured. Each change goes on the timeline, and the last reading.
    pub fn captured_input(
        &mut self,
        role: &str,
        since: Duration,
        through: Duration,
    ) -> Result<Option<Vec<Sample<String>>>, RoleError> {
        let r = self.input_role(role)?;
        let Some(taken) = r.input.dev.captured(since, Some(through)) else {
            return Ok(None);
        };
        let samples = r.input.call(role, |_| taken)?;
        let states: Vec<Sample<String>> = samples
            .into_iter()
            .map(|s| Sample {
                at: s.at,
                took: s.took,
                reading: if s.reading {
                    r.high.clone()
                } else {
                    r.low.clone()
                },
            })
            .collect();
        if let Some(rec) = self.recorder.as_mut() {
            let last = states.len().saturating_sub(1);
            for (i, s) in states.iter().enumerate() {
                let shown = self.input_shown.get(role);
                if shown.is_some_and(|(at, _)| s.at <= *at) {
                    continue;
                }
                if i == last || shown.map(|(_, state)| state) != Some(&s.reading) {
                    rec.record(Row {
                        at: s.at,
                        timing: Timing::Exchange(s.took),
                        source: Source::Input,
                        role,
                        value: &s.reading,
                    });
                    self.input_shown
                        .insert(role.to_string(), (s.at, s.reading.clone()));
                }
            }
        }
        Ok(Some(states))
    }

    /// Listens to every console in the background from now to the check's end, on a
    /// bench that runs in real time, so each line is stamped as it arrives. A simulated
    /// bench is never listened to: its executor reads the console as virtual time
    /// passes.
    pub fn listen_consoles(&mut self) -> Result<(), RoleError> {
        if !self.real_time {
            return Ok(());
        }
        for (role, r) in self.consoles.iter_mut() {
            if self.listeners.contains_key(role) {
                continue;
            }
            let since = self.console_taken.get(role).copied().unwrap_or_default();
            let console = std::mem::replace(&mut r.dev, Box::new(super::listen::Gone));
            match Listener::start(console, self.clock.clone(), since) {
                Ok((listener, proxy)) => {
                    r.dev = proxy;
                    self.listeners.insert(role.clone(), listener);
                }
                Err(e) => {
                    return Err(RoleError::Instrument {
                        role: role.clone(),
                        instrument: r.instrument.clone(),
                        source: InstrumentError::Io {
                            command: "(start listening to the console)".into(),
                            source: e,
                        },
                    })
                }
            }
        }
        Ok(())
    }

    /// Stops every background capture and listener and gives each meter and console
    /// back to its role; the first error that had stopped one and that no call
    /// reported.
    pub fn end_captures(&mut self) -> Result<(), RoleError> {
        let mut first = Ok(());
        for (role, listener) in std::mem::take(&mut self.listeners) {
            let stopped = listener.stop();
            if !stopped.left.lines.is_empty() || !stopped.left.lost.is_none() {
                self.console_left.insert(role.clone(), stopped.left);
            }
            if let Some(r) = self.consoles.get_mut(&role) {
                r.dev = stopped
                    .console
                    .unwrap_or_else(|| Box::new(super::listen::Gone));
                if let (Some(source), Ok(())) = (stopped.fault, &first) {
                    first = Err(RoleError::Instrument {
                        role: role.clone(),
                        instrument: r.instrument.clone(),
                        source,
                    });
                }
            }
        }
        for (instrument, capture) in std::mem::take(&mut self.input_captures) {
            let (lines, fault) = capture.stop();
            // A capture whose driver panicked leaves its roles without an input: every
            // later reading is an error naming it.
            for (role, _, dev) in lines.unwrap_or_default() {
                if let Some(r) = self.inputs.get_mut(&role) {
                    r.input.dev = dev;
                }
            }
            if let (Some(source), Ok(())) = (fault, &first) {
                let roles: Vec<&str> = self
                    .inputs
                    .iter()
                    .filter(|(_, r)| r.input.instrument == instrument)
                    .map(|(role, _)| role.as_str())
                    .collect();
                first = Err(RoleError::Instrument {
                    role: roles.join("+"),
                    instrument,
                    source,
                });
            }
        }
        self.input_shown.clear();
        for (role, capture) in std::mem::take(&mut self.captures) {
            let (meter, fault) = capture.stop();
            if let Some(r) = self.meters.get_mut(&role) {
                // A capture whose driver panicked leaves the role without a meter:
                // every later reading is an error naming it.
                r.dev = meter.unwrap_or_else(|| Box::new(Detached));
            }
            if let (Some(source), Ok(())) = (fault, &first) {
                first = Err(self.meter_error(&role, source));
            }
        }
        first
    }

    /// The readings a captured meter role took on its own since `since`, each on the
    /// timeline; `None` for a meter that is not captured.
    pub fn captured_readings(
        &mut self,
        role: &str,
        since: Duration,
        through: Option<Duration>,
    ) -> Result<Option<Vec<Sample>>, RoleError> {
        let Some(r) = self.meters.get_mut(role) else {
            return Err(RoleError::Unmapped {
                role: role.into(),
                need: Capability::Meter,
            });
        };
        let Some(taken) = r.dev.captured(since, through) else {
            return Ok(None);
        };
        let samples = r.call(role, |_| taken)?;
        if let Some(rec) = self.recorder.as_mut() {
            for s in &samples {
                let text = match s.result() {
                    Ok((v, a)) => format!("{v} {a}"),
                    Err(e) => format!("ERROR {e}"),
                };
                rec.record(Row {
                    at: s.at,
                    timing: Timing::Exchange(s.took),
                    source: Source::Meter,
                    role,
                    value: &text,
                });
            }
        }
        Ok(Some(samples))
    }

    /// A meter role's reading that came back an error, as the bench reports errors.
    pub fn meter_error(&self, role: &str, source: InstrumentError) -> RoleError {
        RoleError::Instrument {
            role: role.into(),
            instrument: self
                .meters
                .get(role)
                .map_or_else(String::new, |r| r.instrument.clone()),
            source,
        }
    }

    /// Reads a meter: (voltage, current).
    pub fn read_meter(&mut self, role: &str) -> Result<(Volts, Amps), RoleError> {
        let began = self.clock.now();
        let read = self
            .meters
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Meter,
            })
            .and_then(|r| r.call(role, |d| d.reading()));
        self.exchanged(began, Source::Meter, role, read, |(v, a)| {
            format!("{v} {a}")
        })
    }

    /// The lock state reported on a console role, lower-case (`locked`).
    pub fn console_state(&mut self, role: &str) -> Result<String, RoleError> {
        let began = self.clock.now();
        let state = self
            .console(role)
            .and_then(|r| r.call(role, |d| d.lock_state().map(|s| s.to_lowercase())));
        self.exchanged(began, Source::Console, role, state, |s| {
            format!("state {s}")
        })
    }

    fn console(&mut self, role: &str) -> Result<&mut Role<dyn Console>, RoleError> {
        self.consoles
            .get_mut(role)
            .ok_or_else(|| RoleError::Unmapped {
                role: role.into(),
                need: Capability::Console,
            })
    }

    /// Sends a command line to the board and returns its reply.
    pub fn console_command(&mut self, role: &str, line: &str) -> Result<String, RoleError> {
        let began = self.clock.now();
        let reply = self
            .console(role)
            .and_then(|r| r.call(role, |d| d.command(line)));
        self.exchanged(began, Source::Console, role, reply, |r| {
            format!("{line} -> {r}")
        })
    }

    /// The board's clock on a console role as last asked (see
    /// [`console_probe`](Self::console_probe)).
    pub fn console_clock(&self, role: &str) -> Option<ClockPair> {
        self.console_refs.get(role).copied()
    }

    /// Asks the board its uptime with a short timeout ([`PROBE_TIMEOUT`] at most): the
    /// board answers (`Some`, and its clock is placed on the rig's) or it does not
    /// (`None`: silence is an answer here, not an instrument fault). A garbled reply or
    /// a vanished port is still an error.
    pub fn console_probe(&mut self, role: &str) -> Result<Option<u64>, RoleError> {
        let timeout = self.probe_timeout;
        let sent = self.clock.now();
        let r = self.console(role)?;
        match r.call(role, |d| d.uptime_ms(timeout)) {
            Ok(uptime) => {
                let pair = ClockPair {
                    sent,
                    answered: self.clock.now(),
                    uptime,
                };
                self.console_refs.insert(role.to_string(), pair);
                Ok(Some(uptime))
            }
            Err(RoleError::Instrument {
                source: InstrumentError::Timeout { .. },
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lines the board printed since the last call, placed on the rig's clock.
    ///
    /// Each line comes with the span in which it was printed: heard by a background
    /// listener (a bench in real time, see [`listen`](super::listen)), a few
    /// milliseconds; else between the read before and this one. Within it, an event's
    /// uptime stamp places it through the last (rig time, uptime) pair of the same
    /// boot; after a `BOOT` line the board's clock restarted, so one probe gives the
    /// new boot's pair. A stamp that falls outside the span (by more than
    /// [`CLOCK_SLACK`]) means the board's clock runs off the rig's, and places
    /// nothing. A line that cannot be placed is put at the end of its span, and says
    /// so. What the consoles could not keep comes with them, summed over the consoles.
    pub fn take_console_events(&mut self) -> Result<ConsoleTake, RoleError> {
        let mut placed = Vec::new();
        let mut lost = Lost::default();
        let roles: Vec<String> = self.consoles.keys().cloned().collect();
        for role in roles {
            let read_at = self.clock.now();
            let taken_before = self.console_taken.insert(role.clone(), read_at);
            let (lines, heard) = {
                let r = self.console(&role)?;
                match r.dev.arrivals() {
                    Some(arrivals) => (r.call(&role, |_| arrivals)?, true),
                    None => {
                        let batch = r.call(&role, |d| d.take_events())?;
                        let from = taken_before.unwrap_or_default();
                        let lines = batch
                            .lines
                            .into_iter()
                            .map(|line| Arrival {
                                from,
                                to: read_at,
                                line,
                            })
                            .collect();
                        (
                            Arrivals {
                                lines,
                                lost: batch.lost,
                            },
                            false,
                        )
                    }
                }
            };
            let mut lines = lines;
            if let Some(left) = self.console_left.remove(&role) {
                lost.add(left.lost);
                lines.lines.splice(0..0, left.lines);
            }
            lost.add(lines.lost);
            let events = lines.lines;
            if events.is_empty() {
                continue;
            }
            let rebooted = events.iter().any(|e| e.line.is_boot());
            // A board that has just shut itself down answers nothing: do not wait on it.
            let down = events.last().is_some_and(|e| e.line.is_shutdown());
            // A clock found off in the boot before places nothing of it.
            let before = self
                .console_refs
                .get(&role)
                .copied()
                .filter(|_| !self.console_clock_off.contains(&role));
            let after = if rebooted {
                self.console_refs.remove(&role);
                self.console_clock_off.remove(&role);
                if !down {
                    self.console_probe(&role)?;
                }
                self.console_refs.get(&role).copied()
            } else {
                // Read between steps (the simulator's virtual clock, where asking costs
                // no time), a line's span is wide and a stamp would place it within it:
                // the board is asked again first (unless it has just shut itself down),
                // and the new pair must show its clock kept time since the last (no boot
                // line came between). Heard as they arrived (a bench in real time), lines
                // are placed to their narrow spans whatever the clock, and the board is
                // not asked: a silent board would stall the step running.
                let stamped = events.iter().any(|e| e.line.uptime_ms.is_some());
                let last = self.console_refs.get(&role).copied();
                match (heard || down, stamped, last) {
                    (false, true, Some(last)) => {
                        if self.console_probe(&role)?.is_some() {
                            let now = self.console_refs[&role];
                            let off = if now.uptime < last.uptime {
                                Err(format!(
                                    "the board's clock went back from {} ms to {} ms without a boot line (a reset unseen)",
                                    last.uptime, now.uptime
                                ))
                            } else {
                                last.agrees(&now)
                            };
                            if let Err(why) = off {
                                if self.console_clock_off.insert(role.clone()) {
                                    self.console_notes.push(format!(
                                        "{role}: {why}; its stamps place nothing until it boots again, its lines are placed by when they came in"
                                    ));
                                }
                            }
                            Some(now)
                        } else {
                            Some(last)
                        }
                    }
                    _ => last,
                }
            };
            let after = after.filter(|_| !self.console_clock_off.contains(&role));
            // Lines before the first boot of the batch share the old pair; lines of a
            // boot that ended within the batch have none.
            let first_boot = events.iter().position(|e| e.line.is_boot());
            let last_boot = events.iter().rposition(|e| e.line.is_boot());
            let mut ours: Vec<PlacedEvent> = Vec::with_capacity(events.len());
            for (i, a) in events.into_iter().enumerate() {
                let reference = match (first_boot, last_boot) {
                    (Some(f), _) if i < f => before,
                    (_, Some(l)) if i < l => None,
                    _ => after,
                };
                let at = match (a.line.uptime_ms, reference) {
                    (Some(u), Some(pair)) => pair.place(u),
                    _ => None,
                };
                // The board's clock must agree with the span the line was printed in:
                // outside it, the board's clock runs off the rig's (drifting, or reset
                // unseen), and its stamps cannot place anything.
                let at = at
                    .filter(|t| *t <= a.to + CLOCK_SLACK && *t + CLOCK_SLACK >= a.from)
                    .map(|t| t.clamp(a.from, a.to));
                let event = PlacedEvent {
                    at: at.unwrap_or(a.to),
                    from: at.unwrap_or(a.from),
                    placed: match (at, heard) {
                        (Some(_), _) => Placed::Uptime,
                        (None, true) => Placed::Heard,
                        (None, false) => Placed::Read,
                    },
                    text: a.line.text,
                    event: a.line.event,
                };
                ours.push(event);
            }
            // The board printed its lines in order: none later than the one after it,
            // none earlier than the one before it. So a line placed by its clock bounds
            // its unplaced neighbours, and the batch stays in the order it was printed.
            for i in (1..ours.len()).rev() {
                let next = ours[i].at;
                let e = &mut ours[i - 1];
                e.at = e.at.min(next).max(e.from);
            }
            for i in 1..ours.len() {
                let before = ours[i - 1].from;
                let e = &mut ours[i];
                e.from = e.from.max(before).min(e.at);
            }
            for event in ours {
                if let Some(r) = self.recorder.as_mut() {
                    let prefix = if event.event { "EVT " } else { "" };
                    r.record(Row {
                        at: event.at,
                        timing: match event.placed {
                            Placed::Uptime => Timing::Uptime,
                            Placed::Heard => Timing::Heard(event.at - event.from),
                            Placed::Read => Timing::Read,
                        },
                        source: Source::Board,
                        role: &role,
                        value: &format!("{prefix}{}", event.text),
                    });
                }
                placed.push(event);
            }
        }
        // Consoles merged by time; each one's lines keep their order (a stable sort of
        // lines already in order).
        placed.sort_by_key(|e| e.at);
        Ok(ConsoleTake {
            placed,
            lost,
            notes: std::mem::take(&mut self.console_notes),
        })
    }

    /// Returns every role to its declared safe state: switches first (release the
    /// actuators), then supplies. Carries on past failures and returns them all.
    pub fn apply_safe_state(&mut self) -> Vec<RoleError> {
        let mut errors = Vec::new();
        let (switches, supplies): (Vec<_>, Vec<_>) = self
            .safe_state
            .clone()
            .into_iter()
            .partition(|(role, _)| self.switches.contains_key(role));
        for (role, state) in switches {
            if let Err(e) = self.set_switch(&role, state == SafeState::On) {
                errors.push(e);
            }
        }
        for (role, state) in supplies {
            if let Err(e) = self.set_output(&role, state == SafeState::On) {
                errors.push(e);
            }
        }
        self.safe = errors.is_empty();
        for e in &errors {
            tracing::debug!("safe state not confirmed: {e}");
        }
        errors
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if !self.safe {
            self.apply_safe_state();
        }
        // Nothing is left to report a capture's error to.
        let _ = self.end_captures();
    }
}

/// The place of a meter or input whose capture has taken it: every reading is an
/// error.
struct Detached;

impl Input for Detached {
    fn read(&mut self) -> crate::drivers::Result<bool> {
        Err(Self::gone())
    }
}

impl Meter for Detached {
    fn voltage(&mut self) -> crate::drivers::Result<Volts> {
        Err(Self::gone())
    }

    fn current(&mut self) -> crate::drivers::Result<Amps> {
        Err(Self::gone())
    }

    fn resolution(&self) -> Resolution {
        Resolution {
            volts: Volts(f64::NAN),
            amps: Amps(f64::NAN),
            every: Duration::ZERO,
        }
    }
}

impl Detached {
    fn gone() -> InstrumentError {
        InstrumentError::Io {
            command: "(read)".into(),
            source: std::io::Error::other("the driver failed in its background capture"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(sent_ms: u64, answered_ms: u64, uptime: u64) -> ClockPair {
        ClockPair {
            sent: Duration::from_millis(sent_ms),
            answered: Duration::from_millis(answered_ms),
            uptime,
        }
    }

    #[test]
    fn a_board_clock_keeps_time_within_the_round_trips_and_a_tenth_of_a_percent() {
        let first = pair(1000, 1010, 500);
        // 10 s later, asked with a 10 ms round trip: the board counted 9,990-10,010 ms,
        // give or take 1 ms and 0.1 %.
        assert!(first.agrees(&pair(11_000, 11_010, 10_500)).is_ok());
        assert!(first
            .agrees(&pair(11_000, 11_010, 10_500 + 10 + 11))
            .is_ok());
        assert!(first
            .agrees(&pair(11_000, 11_010, 10_500 - 10 - 11))
            .is_ok());
        // A clock 0.5 % slow is found out; so is one 0.5 % fast.
        let err = first.agrees(&pair(11_000, 11_010, 10_450)).unwrap_err();
        assert!(
            err.contains("counted 9950 ms while the rig's ran 9990-10010 ms"),
            "{err}"
        );
        assert!(first.agrees(&pair(11_000, 11_010, 10_550)).is_err());
    }

    #[test]
    fn a_pair_places_a_stamp_from_when_the_answer_was_in() {
        let p = pair(1000, 1010, 500);
        assert_eq!(p.place(500), Some(Duration::from_millis(1011)));
        assert_eq!(p.place(400), Some(Duration::from_millis(911)));
        assert_eq!(p.place(600), Some(Duration::from_millis(1111)));
        assert_eq!(
            pair(0, 5, 5000).place(0),
            None,
            "before the rig's clock began"
        );
    }
}
