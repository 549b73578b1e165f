//! An in-process byte link to an emulated instrument: the driver's bytes go to the
//! emulator's wire-protocol parser and its answer comes back as bytes, without a
//! thread or a kernel buffer in between. A bench simulated inside lockrig's own
//! process uses it; a served bench carries the same bytes over ptys (see [`super::pty`]).
//!
//! The emulator runs when the driver writes (the answer) and when it reads (anything the
//! instrument says on its own, such as a board's console events), so what an instrument
//! printed during a wait of virtual time is there for the next read. An instrument that
//! stays silent, answers late or hangs up is a timeout or an end of file for the driver,
//! as on a wire. A read that could only end in a timeout ends at once: in virtual time
//! nothing changes while the driver waits, unless the emulator is holding back an
//! answer in real time (a late-answer fault), which the read waits for.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pty::Protocol;
use super::world::World;
use crate::transport::Transport;

/// How long a waiting read sleeps between looks at the emulator (for late answers).
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// The driver's end of an in-process link.
pub struct Loopback {
    world: Arc<Mutex<World>>,
    protocol: Box<dyn Protocol>,
    out: Vec<u8>,
    timeout: Duration,
}

impl Loopback {
    /// A link to `protocol`, emulated against `world`.
    pub fn new(world: Arc<Mutex<World>>, protocol: Box<dyn Protocol>) -> Self {
        Self {
            world,
            protocol,
            out: Vec::new(),
            timeout: Duration::from_millis(500),
        }
    }

    /// Collects what the instrument says on its own; true once it has hung up.
    fn listen(&mut self) -> bool {
        if self.protocol.closed() {
            return true;
        }
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let said = self.protocol.idle(&mut w);
        self.out.extend(said);
        false
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        n
    }
}

impl Read for Loopback {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.out.is_empty() {
            // The answer is here: no clock to read (binary protocols read byte counts
            // many times per exchange).
            return Ok(self.take(buf));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.out.is_empty() && self.listen() {
                return Ok(0);
            }
            if !self.out.is_empty() {
                return Ok(self.take(buf));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let due = self.protocol.next_due().filter(|d| *d <= deadline);
            if left.is_zero() || due.is_none() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            std::thread::sleep(left.min(LOOK_EVERY));
        }
    }
}

impl Write for Loopback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.protocol.closed() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the instrument hung up",
            ));
        }
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let answer = self.protocol.input(buf, &mut w);
        self.out.extend(answer);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Loopback {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.timeout = timeout;
        Ok(())
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.out.clear();
        Ok(())
    }

    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out.is_empty() && self.listen() {
            return Ok(0);
        }
        if self.out.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "nothing yet"));
        }
        Ok(self.take(buf))
    }

    fn now(&self) -> Duration {
        let w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        if w.is_virtual() {
            w.now()
        } else {
            crate::transport::wall_now()
        }
    }

    /// In simulated time the emulated instrument's time passes (and the run's with it,
    /// as on a bench); in real time the host sleeps, without holding the world.
    fn pause(&mut self, d: Duration) {
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        if w.is_virtual() {
            w.busy(d);
        } else {
            drop(w);
            std::thread::sleep(d);
        }
    }
}
