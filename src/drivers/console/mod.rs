//! The lock board's line console (UART, 115200 8N1, LF-terminated lines).
//!
//! lockrig's console protocol for lock boards under test. Commands and their replies:
//!
//! | command | reply |
//! |---|---|
//! | `VER?` | `VER <firmware id>` |
//! | `STATE?` | `STATE LOCKED` or `STATE UNLOCKED` |
//! | `UPTIME?` | `UPTIME <ms since the electronics came out of reset>` |
//! | `IMAGE?` | `IMAGE <version> VALID` or `IMAGE <version> ROLLBACK` |
//! | `UNLOCK <credential>` | `OK` (the lock releases, then relocks by itself) or `DENIED` |
//! | `LOCK` | `OK` |
//! | `UPDATE START` | `OK` (an update is being written) or `ERR UNSUPPORTED` |
//!
//! Anything else is answered `ERR UNKNOWN <word>`. The board also prints unsolicited
//! event lines at any time, each starting with `EVT` and its uptime in milliseconds:
//! `BOOT <POR|BOR|WAKE|SWR>`, `LOCKED`, `UNLOCKED`, `LOWBAT <stage>`, `CUTOFF`,
//! `EMERGENCY`, `SLEEP`, `FIRE ALARM`, `FIRE NORMAL`, `REX`, `UPDATE <n>%`,
//! `UPDATE DONE`, `IMAGE ROLLBACK`. The driver collects them while it waits for
//! replies and when polled; other lines (boot banners, logs) are kept as board text.
//! A reply starts with one of [`REPLY_WORDS`]; any other line that arrives while a
//! reply is awaited is board text too, so a chatty board still answers.
//! The rig places events on its own clock by asking `UPTIME?`.
//!
//! That is the `lockrig` dialect. A board whose firmware words things its own way is
//! reached through a [`Dialect`] (see [`dialect`]): lockrig's commands are translated
//! to the board's, and the board's lines to lockrig's replies and events, so suites and
//! checks never see the difference.
//!
//! The board is untrusted: lines are capped and escaped by the transport, at most
//! [`MAX_EVENTS`] are kept between two reads, and what is dropped is counted
//! ([`Lost`]) and handed on with the lines, never silently forgotten.

pub mod dialect;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use dialect::{Dialect, Heard};

use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// The first words of the protocol's reply lines (see the table above).
pub const REPLY_WORDS: &[&str] = &["VER", "STATE", "UPTIME", "IMAGE", "OK", "DENIED", "ERR"];

/// Console output lockrig did not keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    /// Whole lines dropped (the board printed faster than lockrig read).
    pub lines: u64,
    /// Bytes dropped: those lines, and the tails of lines cut at the line cap.
    pub bytes: u64,
    /// Lines cut at the transport's line cap.
    pub cut: u64,
}

impl Lost {
    /// True when nothing was lost.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Adds what `other` lost.
    pub fn add(&mut self, other: Lost) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.cut += other.cut;
    }

    /// Queues `line`, keeping at most [`MAX_EVENTS`]: beyond that the oldest is dropped
    /// and counted here (`bytes` says how long a line's text is). A board flooding its
    /// console keeps its newest lines, and cannot grow the queue without bound.
    pub fn keep_newest<T>(
        &mut self,
        queue: &mut VecDeque<T>,
        line: T,
        bytes: impl Fn(&T) -> usize,
    ) {
        if queue.len() >= MAX_EVENTS {
            if let Some(old) = queue.pop_front() {
                self.lines += 1;
                self.bytes += bytes(&old) as u64;
            }
        }
        queue.push_back(line);
    }
}

/// The lines received since the last read, and what could not be kept of them.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Lines, oldest first.
    pub lines: Vec<ConsoleEvent>,
    /// What was dropped before them.
    pub lost: Lost,
}

/// A line the board printed on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEvent {
    /// The board's uptime when it printed the event, if the line carried one.
    pub uptime_ms: Option<u64>,
    /// The event itself (`BOOT BOR`), or the whole line for board text.
    pub text: String,
    /// False for a line that is not an event line (a banner, a log line): kept as
    /// the board's text, never taken for an event.
    pub event: bool,
}

impl ConsoleEvent {
    /// True for the line a board prints when it comes out of reset (its clock restarts).
    pub fn is_boot(&self) -> bool {
        self.event && self.text.starts_with("BOOT")
    }

    /// True for the lines a board prints as its firmware shuts itself down (`CUTOFF`,
    /// `SLEEP`): it answers nothing after them.
    pub fn is_shutdown(&self) -> bool {
        self.event && (self.text == "CUTOFF" || self.text == "SLEEP")
    }
}

/// Lines one [`LockConsole::poll`] reads at most.
pub const POLL_LINES: usize = 64;

/// Lines kept between two [`LockConsole::take_events`] calls. The executor reads
/// them at least every 250 ms of scenario time, in which a healthy board prints a few
/// event lines; 1000 lines of at most 4 KiB bound this queue at 4 MiB.
pub const MAX_EVENTS: usize = 1000;

/// A connected lock-board console.
pub struct LockConsole {
    io: LineIo,
    dialect: Arc<Dialect>,
    events: VecDeque<ConsoleEvent>,
    lost: Lost,
}

impl LockConsole {
    /// Opens a console that speaks lockrig's own protocol. The board may be unpowered,
    /// so nothing is sent yet.
    pub fn open(io: LineIo) -> Self {
        Self::with_dialect(io, Arc::new(Dialect::lockrig()))
    }

    /// Opens a console that speaks `dialect`.
    pub fn with_dialect(mut io: LineIo, dialect: Arc<Dialect>) -> Self {
        // A board prints events between replies: its replies are sorted from them here.
        io.set_unsolicited();
        Self {
            io,
            dialect,
            events: VecDeque::new(),
            lost: Lost::default(),
        }
    }

    /// The exchange timeout.
    pub fn timeout(&self) -> Duration {
        self.io.timeout()
    }

    /// `VER?`
    pub fn version(&mut self) -> Result<String> {
        self.query("VER?", "VER ", self.timeout())
    }

    /// `STATE?` -> `LOCKED` or `UNLOCKED`.
    pub fn state(&mut self) -> Result<String> {
        let state = self.query("STATE?", "STATE ", self.timeout())?;
        match state.as_str() {
            "LOCKED" | "UNLOCKED" => Ok(state),
            other => Err(InstrumentError::garbage(
                "STATE?",
                other,
                "`LOCKED` or `UNLOCKED`",
            )),
        }
    }

    /// `UPTIME?`: milliseconds since the board's electronics came out of reset, with
    /// `timeout` for the reply.
    pub fn uptime(&mut self, timeout: Duration) -> Result<u64> {
        let reply = self.query("UPTIME?", "UPTIME ", timeout)?;
        reply.parse().map_err(|_| {
            InstrumentError::garbage("UPTIME?", &reply, "a whole number of milliseconds")
        })
    }

    /// Sends any command and returns its reply line.
    pub fn command(&mut self, command: &str) -> Result<String> {
        self.query(command, "", self.timeout())
    }

    /// Reads the lines that have arrived, without waiting: at most [`POLL_LINES`] of
    /// them, so a flooding board cannot hold the caller.
    pub fn poll(&mut self) -> Result<()> {
        let timeout = self.timeout();
        for _ in 0..POLL_LINES {
            match self
                .io
                .poll_line(b'\n')
                .map_err(|e| InstrumentError::io("(reading the console)", timeout, e))?
            {
                Some(line) => self.keep(&line),
                None => break,
            }
        }
        Ok(())
    }

    /// Lines received so far, oldest first, and what was lost since the last call.
    pub fn take_events(&mut self) -> Batch {
        let mut lost = std::mem::take(&mut self.lost);
        let cut = self.io.take_cut();
        lost.cut += cut.lines;
        lost.bytes += cut.bytes;
        Batch {
            lines: std::mem::take(&mut self.events).into(),
            lost,
        }
    }

    /// Keeps an unsolicited line: an event, or board text.
    fn keep(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        let heard = match self.dialect.hear(line) {
            Heard::Event(event) => event,
            Heard::Reply(_) | Heard::Text => ConsoleEvent {
                uptime_ms: None,
                text: line.to_string(),
                event: false,
            },
        };
        self.lost
            .keep_newest(&mut self.events, heard, |e| e.text.len());
    }

    /// Sends `command` (in the board's dialect) and returns the text after `prefix` on
    /// the reply (in lockrig's words), keeping the lines that arrive first as the
    /// board's. With an empty prefix, any reply will do. A board that printed only other
    /// lines until the timeout answered garbage (the last of them).
    fn query(&mut self, command: &str, prefix: &str, timeout: Duration) -> Result<String> {
        // Lines that arrived before the command are the board's, not the reply.
        self.poll()?;
        let sent = self.dialect.command(command);
        self.io
            .send(&sent, self.dialect.line_ending.as_bytes())
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        // One deadline for the reply, however many event lines come first.
        let deadline = Instant::now() + timeout;
        let mut stray: Option<String> = None;
        loop {
            let line = match self.io.read_line_by(b'\n', deadline) {
                Ok(line) => line,
                Err(e) => {
                    return Err(match stray {
                        Some(last) if e.kind() == std::io::ErrorKind::TimedOut => {
                            InstrumentError::garbage(command, &last, "a reply or an `EVT` line")
                        }
                        _ => InstrumentError::io(command, timeout, e),
                    })
                }
            };
            match self.dialect.hear(&line) {
                Heard::Reply(reply) if reply.starts_with(prefix) => {
                    return Ok(reply[prefix.len()..].trim().to_string());
                }
                Heard::Event(_) => self.keep(&line),
                Heard::Reply(_) | Heard::Text if !line.is_empty() => {
                    self.keep(&line);
                    stray = Some(line);
                }
                Heard::Reply(_) | Heard::Text => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::transport::scripted::Scripted;
    use crate::transport::Transport;

    /// A board that prints an event line every millisecond and never answers.
    struct Chatty;

    impl Read for Chatty {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_millis(1));
            let line = b"EVT LOWBAT 1\n";
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line[..n]);
            Ok(n)
        }
    }

    impl Write for Chatty {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Chatty {
        fn set_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
        fn discard_input(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.read(buf)
        }
    }

    #[test]
    fn a_chattering_board_cannot_hold_a_query_past_its_timeout() {
        let mut console =
            LockConsole::open(LineIo::new(Box::new(Chatty), Duration::from_millis(100)));
        let start = Instant::now();
        let err = console.state().unwrap_err();
        assert!(matches!(err, InstrumentError::Timeout { .. }), "{err}");
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        let batch = console.take_events();
        assert!(!batch.lines.is_empty() && batch.lines.len() <= MAX_EVENTS);
        assert!(batch.lines.iter().all(|e| e.event && e.text == "LOWBAT 1"));
        assert_eq!(batch.lost.bytes, batch.lost.lines * "LOWBAT 1".len() as u64);
    }

    fn scripted(answer: &[u8]) -> LockConsole {
        LockConsole::open(LineIo::new(
            Box::new({
                let answer = answer.to_vec();
                Scripted::new(move |_| answer.clone())
            }),
            Duration::from_millis(50),
        ))
    }

    #[test]
    fn board_text_before_a_reply_is_kept_as_the_boards() {
        let mut console = scripted(b"booting\xff\nEVT 12 LOCKED\nOK done\n");
        assert!(console.state().unwrap_err().to_string().contains("OK done"));
        let mut console = scripted(b"booting\xff\nEVT 12 LOCKED\nOK\n");
        assert_eq!(console.command("LOCK").unwrap(), "OK");
        let batch = console.take_events();
        let texts: Vec<_> = batch
            .lines
            .iter()
            .map(|e| (e.event, e.text.as_str()))
            .collect();
        assert_eq!(texts, [(false, r"booting\xff"), (true, "LOCKED")]);
        assert!(batch.lost.is_none());
    }

    #[test]
    fn a_board_that_prints_only_text_answered_garbage() {
        let mut console = scripted(b"[     0.000 ms] ok   latch_sensor\n");
        let err = console.command("LOCK").unwrap_err();
        assert!(matches!(err, InstrumentError::Garbage { .. }), "{err}");
        assert!(err.to_string().contains("ok   latch_sensor"), "{err}");
    }

    #[test]
    fn cut_lines_are_counted_with_the_lines() {
        let mut long = vec![b'#'; crate::transport::MAX_LINE + 100];
        long.extend_from_slice(b"\nOK\n");
        let mut console = scripted(&long);
        assert_eq!(console.command("LOCK").unwrap(), "OK");
        let batch = console.take_events();
        assert_eq!(batch.lines.len(), 1);
        assert_eq!(
            batch.lost,
            Lost {
                lines: 0,
                bytes: 100,
                cut: 1
            }
        );
    }
}
