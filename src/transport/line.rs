//! Line framing over a [`Transport`]: write a command with its terminator, read a
//! reply up to a terminator, within a deadline.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::Transport;

/// A line-oriented exchange over a byte transport.
pub struct LineIo {
    port: Box<dyn Transport>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl LineIo {
    /// Wraps a transport; `timeout` bounds each whole reply.
    pub fn new(port: Box<dyn Transport>, timeout: Duration) -> Self {
        Self {
            port,
            buf: Vec::with_capacity(256),
            timeout,
        }
    }

    /// The reply timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Writes `text` followed by `terminator`, in one write.
    ///
    /// No flush: on a serial port that is `tcdrain`, which waits for the UART to empty;
    /// the reply cannot come before the command has gone anyway, and waiting for the
    /// reply is what every exchange does next.
    pub fn send(&mut self, text: &str, terminator: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(text.len() + terminator.len());
        frame.extend_from_slice(text.as_bytes());
        frame.extend_from_slice(terminator);
        self.port.write_all(&frame)
    }

    /// Writes raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.write_all(bytes)
    }

    /// Reads up to and excluding the next `terminator` byte; `\r` and `\n` around the
    /// line are trimmed. Fails with `TimedOut` if no full line arrives in time.
    pub fn read_line(&mut self, terminator: u8) -> io::Result<String> {
        self.read_line_by(terminator, Instant::now() + self.timeout)
    }

    /// Like [`read_line`](Self::read_line), with a deadline shared by several reads
    /// (a reply that may follow unsolicited lines must still come in time).
    pub fn read_line_by(&mut self, terminator: u8, deadline: Instant) -> io::Result<String> {
        self.read_until_by(deadline, |buf| {
            buf.iter()
                .position(|b| *b == terminator)
                .map(|i| (i, i + 1))
        })
    }

    /// A complete line that has already arrived, if any, without waiting for one.
    pub fn poll_line(&mut self, terminator: u8) -> io::Result<Option<String>> {
        let find = |buf: &[u8]| buf.iter().position(|b| *b == terminator);
        if find(&self.buf).is_none() {
            let mut chunk = [0u8; 1024];
            match self.port.read_available(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the instrument closed the connection",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(find(&self.buf).map(|i| {
            let line = String::from_utf8_lossy(&self.buf[..i])
                .trim_matches(|c| c == '\r' || c == '\n')
                .to_string();
            self.buf.drain(..=i);
            line
        }))
    }

    /// Reads until `find` locates the end of a reply in the buffer: it returns
    /// `(end_of_reply, end_of_consumed)`. The reply is returned trimmed.
    pub fn read_until(
        &mut self,
        find: impl FnMut(&[u8]) -> Option<(usize, usize)>,
    ) -> io::Result<String> {
        self.read_until_by(Instant::now() + self.timeout, find)
    }

    fn read_until_by(
        &mut self,
        deadline: Instant,
        mut find: impl FnMut(&[u8]) -> Option<(usize, usize)>,
    ) -> io::Result<String> {
        loop {
            if let Some((end, consumed)) = find(&self.buf) {
                let line = String::from_utf8_lossy(&self.buf[..end])
                    .trim_matches(|c| c == '\r' || c == '\n')
                    .to_string();
                self.buf.drain(..consumed);
                return Ok(line);
            }
            self.fill_by(deadline)?;
        }
    }

    /// Reads whatever arrives next into the buffer, waiting until `deadline` at most
    /// (`TimedOut` when nothing came).
    fn fill_by(&mut self, deadline: Instant) -> io::Result<()> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "no complete reply");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            self.port.set_timeout(left)?;
            let mut chunk = [0u8; 256];
            return match self.port.read(&mut chunk) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the instrument closed the connection",
                )),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    Err(timed_out())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    // Unterminated protocols (the Korad KA3005P family answers `12.00` or one status
    // byte with nothing after it) are framed by length or by silence instead of a
    // terminator, and their replies are bytes, not text: a status byte may be `\r` or
    // above 0x7F, which the line readers above would trim or mangle.

    /// Reads a reply of exactly `n` bytes, raw, within the timeout.
    pub fn read_exact_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        while self.buf.len() < n {
            self.fill_by(deadline)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads a reply of unknown length: its first byte within the timeout, then
    /// everything until the link has been quiet for `quiet`.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill_by(Instant::now() + self.timeout)?;
        }
        loop {
            match self.fill_by(Instant::now() + quiet) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e),
            }
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Bytes that have arrived unasked (the tail of a reply longer than it should be),
    /// taken without waiting.
    pub fn take_unread(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = [0u8; 256];
        loop {
            match self.port.read_available(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the instrument closed the connection",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    // A serial port polls with a zero timeout, which would also apply
                    // to the next write: give it the exchange timeout back.
                    self.port.set_timeout(self.timeout)?;
                    return Ok(std::mem::take(&mut self.buf));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops buffered and pending input (stale replies).
    pub fn discard_input(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.port.discard_input()
    }
}
