//! An emulated GPIO chip, as the kernel's GPIO character device presents one to a
//! program (uAPI v2 line requests): a GPIO chip has no byte protocol to emulate on a
//! pty, so the simulator offers the driver the same line-request interface the real
//! chip does ([`GpioLines`]).
//!
//! | offsets | lines |
//! |---|---|
//! | 0-7 | inputs: 0 the door-position switch (high = open), 1 the latch sensor (high = released), as on the Numato |
//! | 8-15 | outputs: offset 8 + N - 1 drives the bench's relay N |
//!
//! Requesting an input outside 0-7 or an output outside 8-15 fails as the kernel
//! fails a request for a line the chip does not have (`EINVAL`). Edge events on the
//! inputs are stamped with the simulated time at which the line changed (the physics
//! runs in 1 ms steps) and numbered per request, as the kernel numbers them; edges
//! the world no longer holds show as a gap in the numbers.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::world::World;
use crate::transport::gpio::{GpioLines, LineEdge};

/// The chip's name, as `/sys/bus/gpio` would give it.
pub const CHIP: &str = "gpiochip-sim (lockrig simulated bench)";
/// The first output offset.
pub const FIRST_OUTPUT: u32 = 8;
/// Lines on the chip.
pub const LINES: u32 = 16;

/// A line request on the emulated chip.
pub struct SimLines {
    world: Arc<Mutex<World>>,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
    /// The world's edge number last delivered.
    cursor: u64,
    /// The request's own event numbering.
    seqno: u32,
}

impl SimLines {
    /// Requests `inputs` (edges on both) and `outputs` (driven low).
    pub fn request(world: Arc<Mutex<World>>, inputs: &[u32], outputs: &[u32]) -> io::Result<Self> {
        for &i in inputs {
            if i >= FIRST_OUTPUT {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("line {i} is not an input of {CHIP} (inputs 0-7)"),
                ));
            }
        }
        for &o in outputs {
            if !(FIRST_OUTPUT..LINES).contains(&o) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("line {o} is not an output of {CHIP} (outputs 8-15)"),
                ));
            }
        }
        let mut lines = Self {
            world,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            cursor: 0,
            seqno: 0,
        };
        let mut w = lines.world();
        let cursor = w.gpio_serial();
        for &o in outputs {
            w.set_relay((o - FIRST_OUTPUT + 1) as usize, false);
        }
        drop(w);
        lines.cursor = cursor;
        Ok(lines)
    }

    fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        w.sync();
        w
    }

    fn requested(&self, offset: u32) -> io::Result<()> {
        if self.inputs.contains(&offset) || self.outputs.contains(&offset) {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("line {offset} was not requested"),
        ))
    }
}

impl GpioLines for SimLines {
    fn get(&mut self, offset: u32) -> io::Result<bool> {
        self.requested(offset)?;
        let w = self.world();
        Ok(if offset >= FIRST_OUTPUT {
            w.relays[(offset - FIRST_OUTPUT) as usize]
        } else {
            w.gpio(offset as u8)
        })
    }

    fn set(&mut self, offset: u32, high: bool) -> io::Result<()> {
        if !self.outputs.contains(&offset) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("line {offset} is not a requested output"),
            ));
        }
        self.world()
            .set_relay((offset - FIRST_OUTPUT + 1) as usize, high);
        Ok(())
    }

    fn edges(&mut self) -> io::Result<Vec<LineEdge>> {
        let (edges, latest): (Vec<_>, u64) = {
            let w = self.world();
            (
                w.gpio_edges_after(self.cursor).copied().collect(),
                w.gpio_serial(),
            )
        };
        let mut out = Vec::new();
        let mut next = self.cursor + 1;
        for e in edges {
            // Edges the world dropped before this one: a gap in the numbering.
            self.seqno = self.seqno.wrapping_add((e.serial - next) as u32);
            next = e.serial + 1;
            if self.inputs.contains(&u32::from(e.line)) {
                self.seqno = self.seqno.wrapping_add(1);
                out.push(LineEdge {
                    offset: u32::from(e.line),
                    rising: e.rising,
                    at: e.at,
                    seqno: self.seqno,
                });
            }
        }
        self.cursor = latest;
        Ok(out)
    }

    fn now(&self) -> Duration {
        self.world().now()
    }

    fn describe(&self) -> String {
        CHIP.to_string()
    }
}
