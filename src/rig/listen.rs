//! Background listening to a lock board's console on a bench that runs in real time.
//!
//! A thread looks at the console every [`LISTEN_EVERY`] while no command holds it, and
//! stamps each line it takes with the span in which the board printed it: no earlier
//! than the listener's look before (less the line's own time on the wire), no later
//! than when it was read. A line read while a command waited for its reply carries the
//! command's time in its span. The step executor takes the lines with their spans when
//! it polls the console (every 250 ms of scenario time, and after each step), so where
//! a line lands on the timeline no longer depends on when the executor got round to it,
//! nor on the board's clock alone: a board whose clock cannot place its lines is placed
//! to a few milliseconds anyway.
//!
//! The simulator's virtual clock has no background: its time moves only when the
//! executor waits, and the executor reads the console as it waits, so a run stays
//! deterministic. The two meet at [`Console::arrivals`]: a listened console hands over
//! its lines with their spans; any other says it cannot, and its lines are stamped when
//! the bench reads them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Console;
use crate::clock::Clock;
use crate::drivers::console::{Batch, ConsoleEvent, Lost, POLL_LINES};
use crate::drivers::{InstrumentError, Result};

/// How often the listener looks at the console: a line is stamped to this, plus the
/// time a command holds the console, plus its time on the wire.
pub const LISTEN_EVERY: Duration = Duration::from_millis(1);

/// The lock board's UART rate (the console is 115200 8N1: 10 bits a character).
const BAUD: u64 = 115_200;

/// How long `bytes` characters and their line ending take on the board's UART: the
/// board began printing a line that long before its last character came in.
pub fn on_wire(bytes: usize) -> Duration {
    Duration::from_micros((bytes as u64 + 2) * 10 * 1_000_000 / BAUD)
}

/// A line the board printed, and the span in which it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The earliest it can have been printed, on the rig's clock.
    pub from: Duration,
    /// When it was read: it was printed no later.
    pub to: Duration,
    /// The line.
    pub line: ConsoleEvent,
}

/// The lines heard since the last take, and what could not be kept of them.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    /// Oldest first.
    pub lines: Vec<Arrival>,
    /// What was dropped (by the driver, or here).
    pub lost: Lost,
}

#[derive(Default)]
struct Heard {
    lines: VecDeque<Arrival>,
    lost: Lost,
    /// The error that stopped the listener, until a caller takes it.
    fault: Option<InstrumentError>,
    ended: bool,
}

impl Heard {
    /// Keeps a line, as the driver keeps them: the newest
    /// [`MAX_EVENTS`](crate::drivers::console::MAX_EVENTS) between two
    /// takes, the rest counted.
    fn keep(&mut self, arrival: Arrival) {
        self.lost
            .keep_newest(&mut self.lines, arrival, |a| a.line.text.len());
    }

    fn take(&mut self) -> Arrivals {
        Arrivals {
            lines: std::mem::take(&mut self.lines).into(),
            lost: std::mem::take(&mut self.lost),
        }
    }
}

struct Shared {
    console: Mutex<Box<dyn Console>>,
    heard: Mutex<Heard>,
    stop: AtomicBool,
}

/// A lock that a panic elsewhere did not spoil for the data it guards (the lines and
/// the console are whole between calls).
fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running listener: stopping it hands the console back.
pub struct Listener {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What a stopped listener hands back.
pub struct Stopped {
    /// The console (`None` if the listener's thread died in the driver, which leaves
    /// the console unusable).
    pub console: Option<Box<dyn Console>>,
    /// The error that stopped the listener early, if nobody took it.
    pub fault: Option<InstrumentError>,
    /// Lines heard that nobody took yet.
    pub left: Arrivals,
}

impl Listener {
    /// Starts listening to `console` in the background, stamped on `clock` (real time);
    /// lines already waiting were printed after `since`. Returns the listener and the
    /// console the bench uses in its place.
    pub fn start(
        console: Box<dyn Console>,
        clock: Arc<dyn Clock>,
        since: Duration,
    ) -> std::io::Result<(Self, Box<dyn Console>)> {
        let shared = Arc::new(Shared {
            console: Mutex::new(console),
            heard: Mutex::new(Heard::default()),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name("console listener".into())
            .spawn({
                let shared = shared.clone();
                move || listen(&shared, clock.as_ref(), since)
            })?;
        Ok((
            Self {
                shared: shared.clone(),
                thread: Some(thread),
            },
            Box::new(Listened { shared }),
        ))
    }

    /// Stops listening and hands back the console, the error that stopped it early,
    /// and the lines nobody took.
    pub fn stop(mut self) -> Stopped {
        let alive = self.halt();
        let console = std::mem::replace(&mut *lock(&self.shared.console), Box::new(Gone));
        let mut heard = lock(&self.shared.heard);
        Stopped {
            console: alive.then_some(console),
            fault: heard.fault.take(),
            left: heard.take(),
        }
    }

    /// Stops the thread; false if it had died in the driver.
    fn halt(&mut self) -> bool {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.thread.take().is_none_or(|t| t.join().is_ok())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The listening loop.
fn listen(shared: &Shared, clock: &dyn Clock, mut since: Duration) {
    while !shared.stop.load(Ordering::Relaxed) {
        let began = clock.now();
        let batch = lock(&shared.console).take_events();
        let read = clock.now();
        let mut heard = lock(&shared.heard);
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                heard.fault = Some(e);
                heard.ended = true;
                return;
            }
        };
        heard.lost.add(batch.lost);
        let full = batch.lines.len() >= POLL_LINES;
        for line in batch.lines {
            heard.keep(Arrival {
                from: since.saturating_sub(on_wire(line.text.len())),
                to: read,
                line,
            });
        }
        drop(heard);
        // A line complete before this look began was read by it, unless the look
        // stopped at its line cap: then lines may still wait from before it.
        if !full {
            since = began;
        }
        std::thread::sleep(LISTEN_EVERY);
    }
    lock(&shared.heard).ended = true;
}

/// The console as the bench sees it while it is listened to.
struct Listened {
    shared: Arc<Shared>,
}

impl Listened {
    /// Calls the console, unless the listener stopped on its error (handed on once,
    /// then the listener's end).
    fn with<R>(&mut self, f: impl FnOnce(&mut dyn Console) -> Result<R>) -> Result<R> {
        {
            let mut heard = lock(&self.shared.heard);
            if let Some(e) = heard.fault.take() {
                return Err(e);
            }
            if heard.ended {
                return Err(Gone::error());
            }
        }
        f(lock(&self.shared.console).as_mut())
    }
}

impl Console for Listened {
    fn lock_state(&mut self) -> Result<String> {
        self.with(|c| c.lock_state())
    }

    fn uptime_ms(&mut self, timeout: Duration) -> Result<u64> {
        self.with(|c| c.uptime_ms(timeout))
    }

    fn command(&mut self, line: &str) -> Result<String> {
        self.with(|c| c.command(line))
    }

    fn take_events(&mut self) -> Result<Batch> {
        let a = self.arrivals().expect("a listened console has arrivals")?;
        Ok(Batch {
            lines: a.lines.into_iter().map(|a| a.line).collect(),
            lost: a.lost,
        })
    }

    fn arrivals(&mut self) -> Option<Result<Arrivals>> {
        let mut heard = lock(&self.shared.heard);
        // Lines heard before a fault are handed over first; the fault comes next time.
        if heard.lines.is_empty() && heard.lost.is_none() {
            if let Some(e) = heard.fault.take() {
                return Some(Err(e));
            }
            if heard.ended {
                return Some(Err(Gone::error()));
            }
        }
        Some(Ok(heard.take()))
    }
}

/// The place of a console a listener has taken, or whose listener died in its driver:
/// every call is an error.
pub struct Gone;

impl Gone {
    fn error() -> InstrumentError {
        InstrumentError::Io {
            command: "(console)".into(),
            source: std::io::Error::other("the console's background listener has stopped"),
        }
    }
}

impl Console for Gone {
    fn lock_state(&mut self) -> Result<String> {
        Err(Self::error())
    }

    fn uptime_ms(&mut self, _: Duration) -> Result<u64> {
        Err(Self::error())
    }

    fn command(&mut self, _: &str) -> Result<String> {
        Err(Self::error())
    }

    fn take_events(&mut self) -> Result<Batch> {
        Err(Self::error())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::time::Instant;

    use super::*;
    use crate::clock::WallClock;
    use crate::drivers::console::LockConsole;
    use crate::transport::{LineIo, Transport};

    /// A board on a link: prints `EVT <uptime> TICK` every 20 ms on its own clock
    /// (started with the link), answers `UPTIME?` after 30 ms, and breaks the link
    /// after `dies_after`.
    struct Board {
        start: Instant,
        next_tick: Duration,
        out: Vec<u8>,
        reply_at: Option<(Instant, Vec<u8>)>,
        dies_after: Duration,
    }

    impl Board {
        fn new(dies_after: Duration) -> Self {
            Self {
                start: Instant::now(),
                next_tick: Duration::from_millis(20),
                out: Vec::new(),
                reply_at: None,
                dies_after,
            }
        }

        fn run(&mut self) -> io::Result<()> {
            let now = self.start.elapsed();
            if now > self.dies_after {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "unplugged"));
            }
            while self.next_tick <= now {
                let line = format!("EVT {} TICK\n", self.next_tick.as_millis());
                self.out.extend_from_slice(line.as_bytes());
                self.next_tick += Duration::from_millis(20);
            }
            if self
                .reply_at
                .as_ref()
                .is_some_and(|(t, _)| *t <= Instant::now())
            {
                let (_, r) = self.reply_at.take().expect("checked");
                self.out.extend_from_slice(&r);
            }
            Ok(())
        }
    }

    impl Read for Board {
        /// Waits for the board's next bytes, as a port with a timeout does.
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.read_available(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_micros(200))
                    }
                    other => return other,
                }
            }
        }
    }

    impl Write for Board {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.starts_with(b"UPTIME?") {
                let up = self.start.elapsed() + Duration::from_millis(30);
                self.reply_at = Some((
                    Instant::now() + Duration::from_millis(30),
                    format!("UPTIME {}\n", up.as_millis()).into_bytes(),
                ));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Board {
        fn set_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
        fn discard_input(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.run()?;
            let n = self.out.len().min(buf.len());
            buf[..n].copy_from_slice(&self.out[..n]);
            self.out.drain(..n);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }
    }

    fn listening(dies_after: Duration) -> (Listener, Box<dyn Console>, Arc<dyn Clock>) {
        let clock: Arc<dyn Clock> = Arc::new(WallClock::new());
        let console = LockConsole::open(LineIo::new(
            Box::new(Board::new(dies_after)),
            Duration::from_millis(200),
        ));
        let (l, c) = Listener::start(Box::new(console), clock.clone(), Duration::ZERO).unwrap();
        (l, c, clock)
    }

    #[test]
    fn lines_are_stamped_as_they_arrive_even_while_a_command_waits() {
        let (listener, mut console, _clock) = listening(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(110));
        // A command holds the console 30 ms; ticks printed meanwhile carry its time.
        let up = console.uptime_ms(Duration::from_millis(200)).unwrap();
        assert!(up >= 140, "{up}");
        std::thread::sleep(Duration::from_millis(60));
        let heard = console.arrivals().unwrap().unwrap();
        assert!(heard.lost.is_none());
        let ticks: Vec<_> = heard
            .lines
            .iter()
            .filter(|a| a.line.text == "TICK")
            .collect();
        assert!(ticks.len() >= 8, "{}", ticks.len());
        // The board's clock started with the link, as the rig's did (within the
        // microseconds between): its stamp lies in every tick's span, give or take
        // the millisecond of the stamp.
        let ms = Duration::from_millis(1);
        for a in &ticks {
            let printed = Duration::from_millis(a.line.uptime_ms.unwrap());
            assert!(a.from <= printed + ms && printed <= a.to + ms, "{a:?}");
        }
        // Spans are a few milliseconds, except across the command's 30 ms.
        let narrow = ticks.iter().filter(|a| a.to - a.from <= 5 * ms).count();
        assert!(narrow + 2 >= ticks.len(), "{ticks:#?}");
        let (_, _, left) = {
            let s = listener.stop();
            (s.console.is_some(), s.fault.is_none(), s.left)
        };
        assert!(left.lines.len() <= 2, "{left:?}");
        assert!(console.lock_state().is_err(), "the proxy is done");
    }

    #[test]
    fn an_unplugged_console_hands_over_what_it_heard_then_its_error() {
        let (listener, mut console, _clock) = listening(Duration::from_millis(70));
        std::thread::sleep(Duration::from_millis(120));
        let heard = console.arrivals().unwrap().unwrap();
        assert!(heard.lines.len() >= 2, "{heard:?}");
        let err = console.arrivals().unwrap().unwrap_err();
        assert!(err.to_string().contains("unplugged"), "{err}");
        let err = console.command("LOCK").unwrap_err();
        assert!(err.to_string().contains("listener has stopped"), "{err}");
        let stopped = listener.stop();
        assert!(stopped.console.is_some() && stopped.fault.is_none());
    }

    #[test]
    fn a_line_began_on_the_wire_before_its_last_character_came() {
        assert_eq!(on_wire(0), Duration::from_micros(173));
        assert_eq!(on_wire(4094), Duration::from_micros(355_555));
    }
}
