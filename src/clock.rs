//! Time as the scenario sees it: wall-clock time on a real bench, virtual time on the
//! simulator, where only scenario waits move the clock so long suites finish in
//! seconds. Instrument I/O timeouts are always real time.

use std::time::{Duration, Instant};

use crate::signals;

/// A source of scenario time.
pub trait Clock: Send + Sync {
    /// Time since the clock started.
    fn now(&self) -> Duration;
    /// Lets `d` pass. Returns early if the run is interrupted.
    fn wait(&self, d: Duration);
}

/// Real time.
pub struct WallClock {
    start: Instant,
}

impl WallClock {
    /// Starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wait(&self, d: Duration) {
        let end = Instant::now() + d;
        // Sleep in slices so an interrupt is noticed within 20 ms.
        while signals::received().is_none() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
}
