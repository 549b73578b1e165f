//! The built-in simulated bench, a peer of real hardware below the transport line.
//!
//! Each instrument is emulated at its wire protocol (SCPI over a pty, LCUS frames,
//! Numato ASCII, the lock console, INA219 registers behind `embedded_hal::i2c::I2c`),
//! so the same drivers that run a real bench run this one. Behind the emulators is one
//! [`World`]: supply, relays, door and a lock board with physics and optional
//! [`Defect`]s.

pub mod board;
mod console;
pub mod defects;
mod dp800;
pub mod ina219;
mod lcus;
mod numato;
pub mod pty;
pub mod world;

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use defects::Defect;
pub use world::{TimeMode, World};

use crate::clock::Clock;
use crate::config::device::DeviceProfile;
use crate::signals;
use pty::PtyServer;

/// The simulated instruments, by the name a rig file's `sim = "..."` uses.
pub const INSTRUMENTS: &[&str] = &["psu", "relays", "gpio", "console"];

/// A running simulated bench.
pub struct SimBench {
    world: Arc<Mutex<World>>,
    servers: Vec<(&'static str, PtyServer)>,
    virtual_time: bool,
}

impl SimBench {
    /// Builds the bench with `device` mounted and serves its instruments on ptys.
    pub fn start(device: &DeviceProfile, defects: &[Defect], mode: TimeMode) -> io::Result<Self> {
        let board = board::Board::new(device, defects);
        let world = Arc::new(Mutex::new(World::new(board, mode)));
        let firmware = format!("lockboard-sim 1.0 ({})", device.name);
        let protocols: [(&'static str, Box<dyn pty::Protocol>); 4] = [
            ("psu", Box::<dp800::Dp800Sim>::default()),
            ("relays", Box::<lcus::LcusSim>::default()),
            ("gpio", Box::<numato::NumatoSim>::default()),
            ("console", Box::new(console::ConsoleSim::new(firmware))),
        ];
        let mut servers = Vec::new();
        for (name, proto) in protocols {
            servers.push((name, PtyServer::spawn(world.clone(), proto)?));
        }
        Ok(Self {
            world,
            servers,
            virtual_time: matches!(mode, TimeMode::Virtual),
        })
    }

    /// The pty path a simulated instrument is served on.
    pub fn serial_path(&self, name: &str) -> Option<String> {
        self.servers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.path().to_string())
    }

    /// The simulator's I2C bus.
    pub fn i2c(&self) -> ina219::SimI2c {
        ina219::SimI2c::new(self.world.clone())
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

    /// The world, for tests and the `sim serve` status line.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
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

    fn is_virtual(&self) -> bool {
        true
    }
}

/// A wall-clock origin for served benches.
pub fn wall_time() -> TimeMode {
    TimeMode::Wall(Instant::now())
}
