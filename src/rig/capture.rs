//! Background capture on a bench that runs in real time: a thread reads an instrument
//! at its own pace and stamps each reading on the rig's clock, while the step executor
//! talks to the other instruments (a command to the board, a supply setting). A
//! measurement window or a watch then covers what happened during those exchanges,
//! which an instrument read only between them cannot.
//!
//! Two kinds of instrument are captured:
//! - a meter, at its own update rate (the INA219's conversion period), for the checks
//!   that measure over a window or follow a supply line;
//! - the polled inputs of one instrument (a Numato board's door and latch lines), all
//!   lines in one reading every [`INPUT_EVERY`], for the watches on them. An input that
//!   timestamps its own edges (a GPIO character device) needs no capture: its edges
//!   already say when every change happened.
//!
//! The simulator's virtual clock has no background: its time moves only when the step
//! executor waits, and the executor reads the instruments itself as it waits, so a run
//! stays deterministic. The two meet at [`Meter::captured`] and [`Input::captured`]: a
//! captured instrument hands over what it read since a moment; any other says it
//! cannot, and is read as time passes.
//!
//! A meter is captured only on a link of its own (an INA219), never a supply's own
//! readback, whose link the supply's commands need. An input instrument that also
//! drives relays shares its link through the instrument's lock: a relay command waits
//! at most one reading.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Input, Meter, Resolution};
use crate::clock::Clock;
use crate::drivers::{InstrumentError, Result};
use crate::units::{Amps, Volts};

/// How long readings are kept for a window or a watch to collect: three times the
/// longest poll interval (`--poll` takes up to 10 s), the longest the executor goes
/// between two collections while it waits. (A step that blocks longer, an operator's
/// prompt, leaves a gap that the watch's result states.) At an INA219's fastest rate
/// this holds about 60,000 readings, a few megabytes.
const KEEP: Duration = Duration::from_secs(30);

/// The shortest pause between readings: a meter that claims to update faster than
/// this is read back to back.
const MIN_PAUSE: Duration = Duration::from_micros(100);

/// How often a captured input instrument is read: as often as a USB-serial GPIO board
/// answers (a Numato `gpio readall` takes about a millisecond at 115200 baud), so a
/// change that lasts a few milliseconds is seen whatever the executor is doing.
pub const INPUT_EVERY: Duration = Duration::from_millis(1);

/// What one meter reading showed.
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

/// One reading taken in the background: a meter's [`Reading`] by default, an input
/// line's level (`true`: high) for an input.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<R = Reading> {
    /// When the reading began, on the rig's clock.
    pub at: Duration,
    /// How long the instrument took to give it.
    pub took: Duration,
    /// What it showed.
    pub reading: R,
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

struct Taken<R> {
    samples: VecDeque<Sample<R>>,
    /// The error that stopped the capture, until a caller takes it.
    fault: Option<InstrumentError>,
    /// The capture has ended (a fault, or asked to stop).
    ended: bool,
}

struct Shared<R> {
    taken: Mutex<Taken<R>>,
    arrived: Condvar,
    stop: AtomicBool,
}

impl<R> Shared<R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Taken<R>> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running capture of instrument `D`: stopping it hands the instrument back.
pub struct Capture<D, R> {
    shared: Arc<Shared<R>>,
    thread: Option<JoinHandle<D>>,
}

impl<D: Send + 'static, R: Send + 'static> Capture<D, R> {
    /// Starts reading `dev` with `read` every `every` in a thread named `name`, each
    /// reading stamped on `clock` (real time); returns the capture and the handle its
    /// readings are taken through, which waits up to `timeout` for one.
    fn start(
        name: &str,
        dev: D,
        read: impl FnMut(&mut D) -> Result<R> + Send + 'static,
        every: Duration,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> std::io::Result<(Self, Taker<R>)> {
        let shared = Arc::new(Shared {
            taken: Mutex::new(Taken {
                samples: VecDeque::new(),
                fault: None,
                ended: false,
            }),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new().name(name.into()).spawn({
            let shared = shared.clone();
            let clock = clock.clone();
            move || capture(dev, read, &shared, clock.as_ref(), every)
        })?;
        let taker = Taker {
            shared: shared.clone(),
            clock,
            every,
            timeout,
        };
        Ok((
            Self {
                shared,
                thread: Some(thread),
            },
            taker,
        ))
    }

    /// Stops the capture and returns the instrument (`None` if the capture's thread
    /// died: a driver panicked, which leaves the instrument unusable) and the error
    /// that stopped it early, if nobody has taken it yet.
    pub fn stop(mut self) -> (Option<D>, Option<InstrumentError>) {
        let dev = self.halt();
        let fault = self.shared.lock().fault.take();
        (dev, fault)
    }
}

impl<D, R> Capture<D, R> {
    /// Asks the thread to stop and waits for it: the instrument, if it did not panic.
    fn halt(&mut self) -> Option<D> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<D, R> Drop for Capture<D, R> {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A captured meter.
pub type MeterCapture = Capture<Box<dyn Meter>, Reading>;

/// A captured input instrument: the input roles it serves (role, line), each handed
/// back when the capture stops.
pub type InputCapture = Capture<Vec<(String, u8, Box<dyn Input>)>, u32>;

/// Starts reading `meter` in the background at its update rate, stamped on `clock`
/// (real time), and returns the capture and the meter the bench uses in its place.
pub fn start_meter(
    meter: Box<dyn Meter>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
) -> std::io::Result<(MeterCapture, Box<dyn Meter>)> {
    let resolution = meter.resolution();
    let read = |m: &mut Box<dyn Meter>| match m.reading() {
        Ok((v, a)) => Ok(Reading::Value(v, a)),
        // An off-scale reading is a reading, judged where it is used; not a fault.
        Err(InstrumentError::OverRange { what, above_a }) => {
            Ok(Reading::OffScale { what, above_a })
        }
        Err(e) => Err(e),
    };
    let every = resolution.every.max(MIN_PAUSE);
    let (capture, taker) = Capture::start("meter capture", meter, read, every, clock, timeout)?;
    Ok((capture, Box::new(CapturedMeter { taker, resolution })))
}

/// Starts reading the input `lines` of one instrument (role, line number, the role's
/// input) in the background every [`INPUT_EVERY`], all lines in one exchange where the
/// instrument can, and returns the capture and, for each role in order, the input the
/// bench uses in its place.
pub fn start_inputs(
    lines: Vec<(String, u8, Box<dyn Input>)>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
) -> std::io::Result<(InputCapture, Vec<Box<dyn Input>>)> {
    let channels: Vec<u8> = lines.iter().map(|(_, ch, _)| *ch).collect();
    let read = |lines: &mut Vec<(String, u8, Box<dyn Input>)>| {
        if let Some((_, _, first)) = lines.first_mut() {
            if let Some(mask) = first.read_lines()? {
                return Ok(mask);
            }
        }
        let mut mask = 0u32;
        for (_, ch, input) in lines.iter_mut() {
            if input.read()? {
                mask |= 1 << *ch;
            }
        }
        Ok(mask)
    };
    let (capture, taker) =
        Capture::start("input capture", lines, read, INPUT_EVERY, clock, timeout)?;
    let proxies = channels
        .into_iter()
        .map(|channel| {
            Box::new(CapturedInput {
                taker: taker.clone(),
                channel,
            }) as Box<dyn Input>
        })
        .collect();
    Ok((capture, proxies))
}

/// The capture loop: a reading every `every`, due from when the last one began.
fn capture<D, R>(
    mut dev: D,
    mut read: impl FnMut(&mut D) -> Result<R>,
    shared: &Shared<R>,
    clock: &dyn Clock,
    every: Duration,
) -> D {
    while !shared.stop.load(Ordering::Relaxed) {
        let at = clock.now();
        let result = read(&mut dev);
        let took = clock.now().saturating_sub(at);
        let reading = match result {
            Ok(r) => r,
            Err(e) => {
                let mut t = shared.lock();
                t.fault = Some(e);
                t.ended = true;
                shared.arrived.notify_all();
                return dev;
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
        let next = (at + every).saturating_sub(clock.now());
        if !next.is_zero() {
            std::thread::sleep(next);
        }
    }
    let mut t = shared.lock();
    t.ended = true;
    shared.arrived.notify_all();
    dev
}

/// Where the executor takes a capture's readings.
struct Taker<R> {
    shared: Arc<Shared<R>>,
    clock: Arc<dyn Clock>,
    every: Duration,
    timeout: Duration,
}

impl<R> Clone for Taker<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            clock: self.clock.clone(),
            every: self.every,
            timeout: self.timeout,
        }
    }
}

impl<R: Clone> Taker<R> {
    /// Waits until `ready` holds for what the capture has taken; the capture's own
    /// error first, then its end. The driver's timeout bounds each exchange, so an
    /// instrument that stops answering ends the capture with the driver's error; a
    /// capture that is only late (a loaded machine) is waited for, and its gap is the
    /// evidence's. A capture that neither reads nor fails for two exchanges' timeouts
    /// and a reading period (its thread is stuck) is a timeout named `what`.
    fn wait_until(
        &self,
        what: &str,
        ready: impl Fn(&Taken<R>) -> bool,
    ) -> Result<std::sync::MutexGuard<'_, Taken<R>>> {
        let mut t = self.shared.lock();
        let deadline = std::time::Instant::now() + 2 * self.timeout + self.every;
        loop {
            if let Some(e) = t.fault.take() {
                return Err(e);
            }
            if ready(&t) {
                return Ok(t);
            }
            if t.ended {
                return Err(ended());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(InstrumentError::Timeout {
                    command: what.into(),
                    after: 2 * self.timeout + self.every,
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

    /// The first reading the capture began after this call: as fresh as asking.
    fn fresh(&self, what: &str) -> Result<R> {
        let asked = self.clock.now();
        let t = self.wait_until(what, |t| t.samples.iter().any(|s| s.at >= asked))?;
        let fresh = t
            .samples
            .iter()
            .find(|s| s.at >= asked)
            .expect("waited for");
        Ok(fresh.reading.clone())
    }

    /// The readings that began at `since` or later, up to one that began at `through`
    /// or later if asked, so nothing before it is missing: a capture stalled in its
    /// driver is a timeout, never a short window.
    fn since(
        &self,
        what: &str,
        since: Duration,
        through: Option<Duration>,
    ) -> Result<Vec<Sample<R>>> {
        let covered =
            |t: &Taken<R>| through.is_none_or(|end| t.samples.back().is_some_and(|s| s.at >= end));
        let t = self.wait_until(what, covered)?;
        if t.ended && t.samples.back().is_none_or(|s| s.at < since) {
            return Err(ended());
        }
        Ok(t.samples
            .iter()
            .filter(|s| s.at >= since)
            .cloned()
            .collect())
    }
}

fn ended() -> InstrumentError {
    InstrumentError::Io {
        command: "(background capture)".into(),
        source: std::io::Error::other("the instrument's background capture has stopped"),
    }
}

/// A meter as the bench sees it while it is captured.
struct CapturedMeter {
    taker: Taker<Reading>,
    resolution: Resolution,
}

impl Meter for CapturedMeter {
    fn voltage(&mut self) -> Result<Volts> {
        self.reading().map(|(v, _)| v)
    }

    fn current(&mut self) -> Result<Amps> {
        self.reading().map(|(_, a)| a)
    }

    /// The first reading the capture began after this call: as fresh as asking.
    fn reading(&mut self) -> Result<(Volts, Amps)> {
        let reading = self.taker.fresh("(meter capture)")?;
        Sample {
            at: Duration::ZERO,
            took: Duration::ZERO,
            reading,
        }
        .result()
    }

    fn resolution(&self) -> Resolution {
        self.resolution
    }

    fn captured(
        &mut self,
        since: Duration,
        through: Option<Duration>,
    ) -> Option<Result<Vec<Sample>>> {
        Some(self.taker.since(
            "(meter capture: a reading to the window's end)",
            since,
            through,
        ))
    }
}

/// One input line as the bench sees it while its instrument is captured.
struct CapturedInput {
    taker: Taker<u32>,
    channel: u8,
}

impl Input for CapturedInput {
    /// The line in the first reading the capture began after this call.
    fn read(&mut self) -> Result<bool> {
        let mask = self.taker.fresh("(input capture)")?;
        Ok(mask >> self.channel & 1 == 1)
    }

    fn read_lines(&mut self) -> Result<Option<u32>> {
        self.taker.fresh("(input capture)").map(Some)
    }

    fn captured(
        &mut self,
        since: Duration,
        through: Option<Duration>,
    ) -> Option<Result<Vec<Sample<bool>>>> {
        let taken = self
            .taker
            .since("(input capture: a reading to now)", since, through);
        Some(taken.map(|samples| {
            samples
                .into_iter()
                .map(|s| Sample {
                    at: s.at,
                    took: s.took,
                    reading: s.reading >> self.channel & 1 == 1,
                })
                .collect()
        }))
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

    fn start(fail_at: Option<u32>) -> (MeterCapture, Box<dyn Meter>, Arc<dyn Clock>) {
        let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
        let (c, m) = start_meter(
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

    /// Lines that count their readings: line 0 toggles every 5th reading, line 2
    /// always reads high; one exchange reads both (`read_lines`) unless `per_line`.
    struct Lines {
        n: Arc<Mutex<u32>>,
        channel: u8,
        per_line: bool,
    }

    impl Input for Lines {
        fn read(&mut self) -> Result<bool> {
            let mut n = self.n.lock().unwrap();
            *n += 1;
            Ok(self.channel == 2 || (*n / 5) % 2 == 1)
        }

        fn read_lines(&mut self) -> Result<Option<u32>> {
            if self.per_line {
                return Ok(None);
            }
            let mut n = self.n.lock().unwrap();
            *n += 1;
            Ok(Some(0b100 | u32::from((*n / 5) % 2 == 1)))
        }
    }

    #[test]
    fn an_input_instruments_lines_are_read_together_about_every_millisecond() {
        for per_line in [false, true] {
            let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
            let n = Arc::new(Mutex::new(0));
            let line = |channel| {
                let l: Box<dyn Input> = Box::new(Lines {
                    n: n.clone(),
                    channel,
                    per_line,
                });
                l
            };
            let lines = vec![
                ("door".to_string(), 0, line(0)),
                ("latch".to_string(), 2, line(2)),
            ];
            let (capture, mut proxies) =
                start_inputs(lines, clock.clone(), Duration::from_millis(200)).unwrap();
            let since = clock.now();
            std::thread::sleep(Duration::from_millis(40));
            let end = clock.now();
            let door = proxies[0].captured(since, Some(end)).unwrap().unwrap();
            let latch = proxies[1].captured(since, Some(end)).unwrap().unwrap();
            // Both lines from the same readings, every millisecond or so, through the
            // moment asked for; the door's line changed, the latch's never did.
            assert!(door.len() >= 15, "{}", door.len());
            assert_eq!(door.len(), latch.len());
            assert!(door.iter().zip(&latch).all(|(d, l)| d.at == l.at));
            assert!(door.last().unwrap().at >= end);
            assert!(door.iter().any(|s| s.reading) && door.iter().any(|s| !s.reading));
            assert!(latch.iter().all(|s| s.reading));
            let gaps = door.windows(2).map(|p| p[1].at - p[0].at);
            assert!(gaps.min().unwrap() >= Duration::from_micros(900));
            // A read asked for is a fresh one; stopping hands every line back in order.
            assert!(proxies[1].read().unwrap());
            let (back, fault) = capture.stop();
            assert!(fault.is_none());
            let back = back.expect("the lines back");
            assert_eq!(
                back.iter()
                    .map(|(r, ch, _)| (r.as_str(), *ch))
                    .collect::<Vec<_>>(),
                [("door", 0), ("latch", 2)]
            );
            assert!(proxies[0].read().is_err(), "the proxy is done");
        }
    }
}
