//! The built-in simulated bench, a peer of real hardware below the transport line.
//!
//! Each instrument is emulated at its wire protocol (SCPI over a pty: a Rigol DP832, a
//! Siglent SPD3303X or a Keysight E36312A as the bench's supply, or a Korad KA3005P's
//! unterminated ASCII; LCUS frames,
//! Numato ASCII, Modbus RTU (a Riden RD6006, a relay board), the lock console, an I2CDriver adapter with the INA219 on its bus),
//! so the same drivers that run a real bench run this one. Behind the emulators is one
//! [`World`]: supply, relays, door and a lock board with physics and optional
//! [`Defect`]s.

mod acme_console;
pub mod board;
mod console;
mod daq970a;
pub mod defects;
mod dp800;
mod e36300;
mod e3631a;
pub mod faults;
mod gpiochip;
mod i2cdriver;
pub mod ina219;
mod ka3005p;
mod lcus;
pub mod loopback;
pub mod modbus;
mod modbus_relay;
mod numato;
pub mod pty;
mod rd60xx;
mod scpi;
mod spd3303x;
pub mod swd;
pub mod tcp;
pub mod world;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use defects::Defect;
pub use faults::Fault;
pub use world::{TimeMode, World};

use crate::clock::Clock;
use crate::config::device::DeviceProfile;
use crate::signals;
use pty::PtyServer;

/// The credential the simulated keypad accepts when `LOCKRIG_SECRET_CREDENTIAL` is not
/// set (documented in the README; the simulator only).
pub const SIM_CREDENTIAL: &str = "246810";

/// How to build a simulated bench beyond the device: seed, credential, defects,
/// faults, evidence log.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Picks the board's properties within the profile's `[sim]` spreads.
    pub seed: u64,
    /// The credential the board accepts.
    pub credential: String,
    /// Board defects.
    pub defects: Vec<Defect>,
    /// Instrument faults.
    pub faults: Vec<Fault>,
    /// Where the simulated instruments record every output change they see.
    pub log: Option<SimLog>,
}

/// A shared, append-only record of what the simulated instruments saw: one line per
/// output change and one per bench teardown saying whether it was left safe. Each line
/// is one `write` to a file opened for appending, so it survives an abrupt exit.
#[derive(Debug, Clone)]
pub struct SimLog {
    file: Arc<Mutex<std::fs::File>>,
    label: String,
}

impl SimLog {
    /// Opens (appending) the log file.
    pub fn create(path: &std::path::Path) -> io::Result<Self> {
        let file = crate::files::open_append(path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
            label: String::new(),
        })
    }

    /// The same log, with lines labelled `label` (the trial).
    pub fn labelled(&self, label: &str) -> Self {
        Self {
            file: self.file.clone(),
            label: label.to_string(),
        }
    }

    /// Appends one line.
    pub fn line(&self, text: &str) {
        use std::io::Write;
        let line = format!("{} {text}\n", self.label);
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::error!("simulator log: {e}");
        }
    }
}

/// A simulated instrument: the name a rig file's `sim = "..."` uses, the fault target it
/// answers to, and a fresh emulator.
type Served = (&'static str, faults::Target, fn() -> Box<dyn pty::Protocol>);

/// The simulated instruments. The four supplies drive the same bench outputs (each
/// with its own wiring): a rig uses one of them.
const SERVED: &[Served] = &[
    ("psu", faults::Target::Psu, || {
        Box::<dp800::Dp800Sim>::default()
    }),
    ("spd3303x", faults::Target::Psu, || {
        Box::<spd3303x::Spd3303xSim>::default()
    }),
    ("e36312a", faults::Target::Psu, || {
        Box::<e36300::E36300Sim>::default()
    }),
    ("e3631a", faults::Target::Psu, || {
        Box::<e3631a::E3631aSim>::default()
    }),
    ("spd1168x", faults::Target::Psu, || {
        Box::new(spd3303x::Spd3303xSim::model(&spd3303x::SPD1168X))
    }),
    ("ka3005p", faults::Target::Psu, || {
        Box::<ka3005p::Ka3005pSim>::default()
    }),
    ("rd6006", faults::Target::Psu, || {
        Box::<rd60xx::Rd60xxSim>::default()
    }),
    ("relays", faults::Target::Relays, || {
        Box::<lcus::LcusSim>::default()
    }),
    ("daq970a", faults::Target::Relays, || {
        Box::<daq970a::Daq970aSim>::default()
    }),
    ("modbus-relays", faults::Target::Relays, || {
        Box::<modbus_relay::ModbusRelaySim>::default()
    }),
    ("gpio", faults::Target::Gpio, || {
        Box::<numato::NumatoSim>::default()
    }),
    ("console", faults::Target::Console, || {
        Box::<console::ConsoleSim>::default()
    }),
    ("console-acme", faults::Target::Console, || {
        Box::<acme_console::AcmeConsoleSim>::default()
    }),
    ("i2cdriver", faults::Target::Meter, || {
        Box::<i2cdriver::I2cDriverSim>::default()
    }),
];

/// The simulated debug probe's name (`sim = "swd"` on a `probe-rs` instrument).
pub const SWD: &str = "swd";

/// The simulated instruments that have a LAN port of their own (raw SCPI): `lockrig sim
/// serve` serves them on TCP too.
pub const LAN: &[&str] = &["psu", "spd3303x", "e36312a", "daq970a"];

/// The simulated instruments, by the name a rig file's `sim = "..."` uses.
pub fn instruments() -> impl Iterator<Item = &'static str> {
    SERVED.iter().map(|(name, _, _)| *name)
}

/// A simulated bench: one world (one board, kept across trials as a real board stays
/// mounted) and its instruments, served on ptys (a bench served to another process,
/// in real time) or linked in-process (virtual time).
pub struct SimBench {
    world: Arc<Mutex<World>>,
    servers: Vec<(&'static str, PtyServer)>,
    sockets: Vec<(&'static str, tcp::TcpServer)>,
    faults: Vec<Fault>,
    virtual_time: bool,
    /// A trial is under way (its record not yet closed).
    in_trial: bool,
}

impl SimBench {
    /// Builds the bench with `device` mounted; a served bench (wall time) serves its
    /// instruments on ptys at once.
    pub fn start(device: &DeviceProfile, options: &SimOptions, mode: TimeMode) -> io::Result<Self> {
        let board = board::Board::new(device, &options.defects, options.seed, &options.credential)
            .map_err(io::Error::other)?;
        let mut world = World::new(board, mode);
        if let Some(log) = &options.log {
            world.log_to(log.clone());
        }
        let mut bench = Self {
            world: Arc::new(Mutex::new(world)),
            servers: Vec::new(),
            sockets: Vec::new(),
            faults: options.faults.clone(),
            virtual_time: matches!(mode, TimeMode::Virtual),
            in_trial: false,
        };
        if !bench.virtual_time {
            bench.serve_ptys()?;
        }
        bench.mark_dead_actuators();
        Ok(bench)
    }

    /// Serves every instrument on a pty, as a served bench does (driver tests use it
    /// in virtual time too).
    pub fn serve_ptys(&mut self) -> io::Result<()> {
        for name in instruments() {
            let protocol = self.protocol(name).expect("a listed instrument");
            let server = PtyServer::spawn(self.world.clone(), protocol)?;
            self.servers.push((name, server));
        }
        Ok(())
    }

    /// Serves the instruments that have a LAN port of their own on raw TCP sockets,
    /// bound to `ip` (loopback unless the user said otherwise).
    pub fn serve_tcp(&mut self, ip: std::net::IpAddr) -> io::Result<()> {
        for name in LAN {
            let protocol = self.protocol(name).expect("a LAN instrument is served");
            let server = tcp::TcpServer::spawn(self.world.clone(), protocol, ip)?;
            self.sockets.push((name, server));
        }
        Ok(())
    }

    /// The TCP address a LAN instrument is served on.
    pub fn tcp_addr(&self, name: &str) -> Option<std::net::SocketAddr> {
        self.sockets
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.addr())
    }

    /// A fresh emulator of a named instrument, with its fault (fresh counts).
    fn protocol(&self, name: &str) -> Option<Box<dyn pty::Protocol>> {
        let (_, target, emulator) = SERVED.iter().find(|(n, _, _)| *n == name)?;
        let fault = self.faults.iter().find(|f| f.target == *target).copied();
        Some(match fault {
            // The chip stops acknowledging; the adapter itself goes on answering.
            Some(f) if f.kind == faults::Kind::Nack && *target == faults::Target::Meter => {
                Box::new(i2cdriver::I2cDriverSim::nacking_after(f.after))
            }
            Some(f) => Box::new(faults::Faulty::new(emulator(), f)),
            None => emulator(),
        })
    }

    fn mark_dead_actuators(&self) {
        let mut world = self.world();
        for f in &self.faults {
            if let Some(relay) = f.target.actuator_relay() {
                world.dead[relay - 1] = true;
            }
        }
    }

    /// Starts a trial on the same board; the record is labelled `label`.
    pub fn begin_trial(&mut self, label: &str) {
        if self.in_trial {
            // The last trial never ended (it panicked): close its record first.
            self.end_trial();
        }
        self.in_trial = true;
        self.world().relabel_log(label);
    }

    /// Ends a trial: the record says whether the bench was left safe.
    pub fn end_trial(&mut self) {
        self.in_trial = false;
        self.world().log_teardown();
    }

    /// The pty path a served instrument is on.
    pub fn serial_path(&self, name: &str) -> Option<String> {
        self.servers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.path().to_string())
    }

    /// An in-process link to a named instrument (virtual time), with fresh fault counts.
    pub fn connect(&self, name: &str) -> Option<loopback::Loopback> {
        self.virtual_time
            .then(|| self.protocol(name))
            .flatten()
            .map(|protocol| loopback::Loopback::new(self.world.clone(), protocol))
    }

    /// A debug probe on the board's SWD header (`sim = "swd"`), in this process: a
    /// served bench cannot offer one to another process (a probe is no byte stream).
    /// Each call of the returned function opens it afresh, as probe-rs opens a USB one.
    pub fn debug_probe(
        &self,
        name: &str,
    ) -> Option<Box<dyn FnMut() -> probe_rs::probe::Probe + Send>> {
        let world = self.world.clone();
        (name == SWD).then(|| {
            Box::new(move || swd::SwdProbe::open(world.clone()))
                as Box<dyn FnMut() -> probe_rs::probe::Probe + Send>
        })
    }

    /// A line request on the bench's emulated GPIO chip (`sim = "gpiochip"`): inputs
    /// 0-7, outputs 8-15 (see `gpiochip`).
    pub fn gpio_lines(
        &self,
        inputs: &[u32],
        outputs: &[u32],
    ) -> io::Result<Box<dyn crate::transport::gpio::GpioLines>> {
        gpiochip::SimLines::request(self.world.clone(), inputs, outputs)
            .map(|l| Box::new(l) as Box<dyn crate::transport::gpio::GpioLines>)
    }

    /// The clock scenarios use on this bench.
    pub fn clock(&self) -> Arc<dyn Clock> {
        if self.virtual_time {
            Arc::new(VirtualClock {
                world: self.world.clone(),
            })
        } else {
            Arc::new(crate::clock::WallClock::new())
        }
    }

    /// The world, for tests.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SimBench {
    fn drop(&mut self) {
        // Stop the emulators first, so nothing changes after the verdict below.
        self.servers.clear();
        self.sockets.clear();
        if self.in_trial || !self.virtual_time {
            self.end_trial();
        }
    }
}

/// Virtual time: waiting advances the world's physics without sleeping.
struct VirtualClock {
    world: Arc<Mutex<World>>,
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.world.lock().unwrap_or_else(|p| p.into_inner()).now()
    }

    fn wait(&self, d: Duration) {
        // Advance in slices so an interrupt is noticed during a long virtual wait.
        const SLICE: Duration = Duration::from_secs(1);
        let mut left = d;
        while !left.is_zero() && signals::received().is_none() {
            let step = left.min(SLICE);
            self.world
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .advance(step);
            left -= step;
        }
    }
}

/// A wall-clock origin for served benches.
pub fn wall_time() -> TimeMode {
    TimeMode::Wall(Instant::now())
}
