//! Background capture of a meter on a bench that runs in real time: a thread reads the
//! meter at its own update rate and stamps each reading on the rig's clock, while the
//! step executor talks to the other instruments (a command to the board, a supply
//! setting). A measurement window then covers what happened during those exchanges,
//! which a meter read only between them cannot.
//!
//! The simulator's virtual clock has no background: its time moves only when the step
//! executor waits, and the executor reads the meter itself at the meter's rate as it
//! waits, so a run stays deterministic. The two meet at [`Meter::captured`]: a captured
//! meter hands over what it read since a moment; any other meter says it cannot, and is
//! read as time passes.
//!
//! A capture runs only for the meters a check measures over a window, from the check's
//! start to its end, and only for a meter on a link of its own (an INA219), never for a
//! supply's own readback, whose link the supply's commands need.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Meter, Resolution};
use crate::clock::Clock;
use crate::drivers::{InstrumentError, Result};
use crate::units::{Amps, Volts};

/// How long readings are kept for a window to collect: far longer than the executor
/// ever goes between two collections (one poll interval).
const KEEP: Duration = Duration::from_secs(5);

/// The shortest pause between readings: a meter that claims to update faster than
/// this is read back to back.
const MIN_PAUSE: Duration = Duration::from_micros(100);

/// What one reading showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Bus voltage and current.
    Value(Volts, Amps),
    /// The current was beyond the meter's scale: what it showed, and the current it is
    /// known to exceed (see [`InstrumentError::OverRange`]).
    OffScale {
        /// What the meter showed.
        what: String,
        /// The current, in amperes, the reading is known to exceed.
        above_a: f64,
    },
}

/// One reading taken in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When the reading began, on the rig's clock.
    pub at: Duration,
    /// How long the meter took to give it.
    pub took: Duration,
    /// What it showed.
    pub reading: Reading,
}

impl Sample {
    /// The reading as a meter call would have returned it.
    pub fn result(&self) -> Result<(Volts, Amps)> {
        match &self.reading {
            Reading::Value(v, a) => Ok((*v, *a)),
            Reading::OffScale { what, above_a } => Err(InstrumentError::OverRange {
                what: what.clone(),
                above_a: *above_a,
            }),
        }
    }
}

#[derive(Default)]
struct Taken {
    samples: VecDeque<Sample>,
    /// The error that stopped the capture, until a caller takes it.
    fault: Option<InstrumentError>,
    /// The capture has ended (a fault, or asked to stop).
    ended: bool,
}

struct Shared {
    taken: Mutex<Taken>,
    arrived: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Taken> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running capture: stopping it hands the meter back.
pub struct Capture {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Box<dyn Meter>>>,
}

impl Capture {
    /// Starts reading `meter` in the background, stamped on `clock` (real time), and
    /// returns the capture and the meter the bench uses in its place.
    pub fn start(
        meter: Box<dyn Meter>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> std::io::Result<(Self, Box<dyn Meter>)> {
        let resolution = meter.resolution();
        let shared = Arc::new(Shared {
            taken: Mutex::new(Taken::default()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name("meter capture".into())
            .spawn({
                let shared = shared.clone();
                let clock = clock.clone();
                move || capture(meter, &shared, clock.as_ref(), resolution.every)
            })?;
        let proxy = Captured {
            shared: shared.clone(),
            clock,
            resolution,
            timeout,
        };
        Ok((
            Self {
                shared,
                thread: Some(thread),
            },
            Box::new(proxy),
        ))
    }

    /// Stops the capture and returns the meter (`None` if the capture's thread died: a
    /// driver panicked, which leaves the meter unusable) and the error that stopped it
    /// early, if nobody has taken it yet.
    pub fn stop(mut self) -> (Option<Box<dyn Meter>>, Option<InstrumentError>) {
        let meter = self.halt();
        let fault = self.shared.lock().fault.take();
        (meter, fault)
    }

    fn halt(&mut self) -> Option<Box<dyn Meter>> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The capture loop: a reading every `every`, due from when the last one began.
fn capture(
    mut meter: Box<dyn Meter>,
    shared: &Shared,
    clock: &dyn Clock,
    every: Duration,
) -> Box<dyn Meter> {
    let pause = every.max(MIN_PAUSE);
    while !shared.stop.load(Ordering::Relaxed) {
        let at = clock.now();
        let result = meter.reading();
        let took = clock.now().saturating_sub(at);
        let reading = match result {
            Ok((v, a)) => Reading::Value(v, a),
            Err(InstrumentError::OverRange { what, above_a }) => {
                Reading::OffScale { what, above_a }
            }
            Err(e) => {
                let mut t = shared.lock();
                t.fault = Some(e);
                t.ended = true;
                shared.arrived.notify_all();
                return meter;
            }
        };
        {
            let mut t = shared.lock();
            t.samples.push_back(Sample { at, took, reading });
            let horizon = at.saturating_sub(KEEP);
            while t.samples.front().is_some_and(|s| s.at < horizon) {
                t.samples.pop_front();
            }
            shared.arrived.notify_all();
        }
        let next = (at + pause).saturating_sub(clock.now());
        if !next.is_zero() {
            std::thread::sleep(next);
        }
    }
    let mut t = shared.lock();
    t.ended = true;
    shared.arrived.notify_all();
    meter
}

/// The meter as the bench sees it while it is captured.
struct Captured {
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    resolution: Resolution,
    timeout: Duration,
}

impl Captured {
    /// Waits, up to the meter's timeout and one update period, until `ready` holds
    /// for what the capture has taken; the capture's own error first, then its end,
    /// then the timeout (named `what`) if it never does.
    fn wait_until(
        &self,
        what: &str,
        ready: impl Fn(&Taken) -> bool,
    ) -> Result<std::sync::MutexGuard<'_, Taken>> {
        let mut t = self.shared.lock();
        let deadline = std::time::Instant::now() + self.timeout + self.resolution.every;
        loop {
            if let Some(e) = t.fault.take() {
                return Err(e);
            }
            if ready(&t) {
                return Ok(t);
            }
            if t.ended {
                return Err(Self::ended());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(InstrumentError::Timeout {
                    command: what.into(),
                    after: self.timeout,
                });
            }
            t = self
                .shared
                .arrived
                .wait_timeout(t, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn ended() -> InstrumentError {
        InstrumentError::Io {
            command: "(meter capture)".into(),
            source: std::io::Error::other("the meter's background capture has stopped"),
        }
    }
}

impl Meter for Captured {
    fn voltage(&mut self) -> Result<Volts> {
        self.reading().map(|(v, _)| v)
    }

    fn current(&mut self) -> Result<Amps> {
        self.reading().map(|(_, a)| a)
    }

    /// The first reading the capture began after this call: as fresh as asking.
    fn reading(&mut self) -> Result<(Volts, Amps)> {
        let asked = self.clock.now();
        let t = self.wait_until("(meter capture)", |t| {
            t.samples.iter().any(|s| s.at >= asked)
        })?;
        let fresh = t
            .samples
            .iter()
            .find(|s| s.at >= asked)
            .expect("waited for");
        fresh.result()
    }

    fn resolution(&self) -> Resolution {
        self.resolution
    }

    fn captured(
        &mut self,
        since: Duration,
        through: Option<Duration>,
    ) -> Option<Result<Vec<Sample>>> {
        // Up to a reading that began at `through` or later, so nothing before it is
        // missing: a capture stalled in its driver is a timeout, never a short window.
        let covered =
            |t: &Taken| through.is_none_or(|end| t.samples.back().is_some_and(|s| s.at >= end));
        let t = match self.wait_until("(meter capture: a reading to the window's end)", covered) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        if t.ended && t.samples.back().is_none_or(|s| s.at < since) {
            return Some(Err(Self::ended()));
        }
        Some(Ok(t
            .samples
            .iter()
            .filter(|s| s.at >= since)
            .cloned()
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::WallClock;

    /// A meter whose current counts its readings; it fails on the `fail_at`th.
    struct Counting {
        n: u32,
        fail_at: Option<u32>,
    }

    impl Meter for Counting {
        fn voltage(&mut self) -> Result<Volts> {
            Ok(Volts(12.0))
        }

        fn current(&mut self) -> Result<Amps> {
            self.n += 1;
            if Some(self.n) == self.fail_at {
                return Err(InstrumentError::Timeout {
                    command: "read".into(),
                    after: Duration::from_millis(5),
                });
            }
            if self.n % 10 == 0 {
                return Err(InstrumentError::OverRange {
                    what: "OVF".into(),
                    above_a: 0.4,
                });
            }
            Ok(Amps(f64::from(self.n) * 1e-3))
        }

        fn resolution(&self) -> Resolution {
            Resolution {
                volts: Volts(4e-3),
                amps: Amps(1e-4),
                every: Duration::from_millis(1),
            }
        }
    }

    fn start(fail_at: Option<u32>) -> (Capture, Box<dyn Meter>, Arc<dyn Clock>) {
        let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
        let (c, m) = Capture::start(
            Box::new(Counting { n: 0, fail_at }),
            clock.clone(),
            Duration::from_millis(200),
        )
        .unwrap();
        (c, m, clock)
    }

    #[test]
    fn readings_are_taken_at_the_meters_rate_while_nobody_asks() {
        let (capture, mut meter, clock) = start(None);
        let since = clock.now();
        std::thread::sleep(Duration::from_millis(60));
        let samples = meter.captured(since, None).unwrap().unwrap();
        // About one a millisecond, each stamped when it began, in order, off-scale
        // readings kept as such.
        assert!(samples.len() >= 20, "{}", samples.len());
        assert!(samples.windows(2).all(|p| p[0].at < p[1].at));
        assert!(samples.iter().all(|s| s.at >= since));
        let gaps = samples.windows(2).map(|p| p[1].at - p[0].at);
        assert!(gaps.min().unwrap() >= Duration::from_micros(900));
        assert!(samples
            .iter()
            .any(|s| matches!(s.reading, Reading::OffScale { .. })));
        // A reading asked for is one taken after the asking.
        let asked = clock.now();
        let (v, _) = meter.reading().unwrap();
        assert_eq!(v, Volts(12.0));
        assert!(!meter.captured(asked, None).unwrap().unwrap().is_empty());
        // Asked through a moment to come, it waits for a reading that began then.
        let end = clock.now() + Duration::from_millis(20);
        let through = meter.captured(asked, Some(end)).unwrap().unwrap();
        assert!(through.last().unwrap().at >= end);
        // Stopping hands the meter back, still counting where it stopped.
        let (inner, fault) = capture.stop();
        assert!(fault.is_none());
        let mut inner = inner.expect("the meter back");
        let next = inner.current().unwrap().0;
        assert!(next > 0.02, "{next}");
        assert!(meter.reading().is_err(), "the proxy is done");
    }

    #[test]
    fn a_fault_stops_the_capture_and_is_reported_once_then_as_ended() {
        let (_capture, mut meter, _clock) = start(Some(5));
        std::thread::sleep(Duration::from_millis(30));
        match meter.reading() {
            Err(InstrumentError::Timeout { command, .. }) => assert_eq!(command, "read"),
            other => panic!("expected the meter's own error, got {other:?}"),
        }
        let err = meter.reading().unwrap_err().to_string();
        assert!(err.contains("capture has stopped"), "{err}");
    }

    #[test]
    fn a_window_through_a_stalled_capture_is_an_error_and_a_fault_nobody_took_comes_back() {
        let (capture, mut meter, clock) = start(Some(5));
        std::thread::sleep(Duration::from_millis(30));
        // The fault ended the capture before the window's end: never a short window.
        let end = clock.now() + Duration::from_millis(10);
        match meter.captured(Duration::ZERO, Some(end)) {
            Some(Err(InstrumentError::Timeout { command, .. })) => assert_eq!(command, "read"),
            other => panic!("expected the meter's error, got {other:?}"),
        }
        // A fault nobody asked about is handed back when the capture stops.
        let (capture2, _meter2, _) = start(Some(3));
        std::thread::sleep(Duration::from_millis(30));
        let (_, fault) = capture2.stop();
        assert!(
            matches!(fault, Some(InstrumentError::Timeout { .. })),
            "{fault:?}"
        );
        drop(capture);
    }
}
