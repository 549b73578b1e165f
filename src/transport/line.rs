//! Line framing over a [`Transport`]: write a command with its terminator, read a
//! reply up to a terminator, within a deadline.
//!
//! What comes back is untrusted input (a board under test, an instrument on the lab
//! network): a line is at most [`MAX_LINE`] bytes, the rest of a longer one is dropped
//! and counted, and every line is decoded by [`decode`], so invalid UTF-8 and control
//! characters arrive as visible `\xNN` escapes and a terminated line never holds a
//! line break (a reply framed by a prompt keeps its own).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::Transport;

/// The longest line kept, in bytes. The longest line of any protocol lockrig speaks
/// (an SCPI identity or error string, a console event) is under 256 bytes; 4 KiB keeps
/// a board's longest log line whole while a line that never ends cannot grow the
/// buffer without bound.
pub const MAX_LINE: usize = 4096;

/// What the per-line cap cut off since it was last taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cut {
    /// Lines longer than [`MAX_LINE`].
    pub lines: u64,
    /// Bytes dropped from them.
    pub bytes: u64,
}

/// The marker appended to a line cut at [`MAX_LINE`].
const CUT_MARK: &str = " [line cut: longer than 4096 bytes]";

/// Decodes received bytes as text that shows exactly what came: valid UTF-8 is kept,
/// each invalid byte becomes `\xNN`, control characters (C0, DEL, C1, which includes
/// CR, LF and ESC) become `\xNN` or `\u{NN}`, and a backslash is doubled so no escape
/// can be forged. With `breaks`, line breaks are kept as they came: a reply framed by
/// a prompt rather than a terminator may span lines.
fn decode(bytes: &[u8], breaks: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\r' | '\n' if breaks => out.push(c),
                '\u{0}'..='\u{1f}' | '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                '\u{80}'..='\u{9f}' => {
                    let _ = write!(out, "\\u{{{:02x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A line of board output (its bytes, without the terminator) as text that shows
/// exactly what came, as the console's lines are: invalid bytes and control
/// characters escaped (`\xNN`), `\r` and `\n` ends trimmed.
pub fn board_line(bytes: &[u8]) -> String {
    decode_trimmed(bytes, false)
}

/// Decodes a line with its `\r` and `\n` ends trimmed.
fn decode_trimmed(bytes: &[u8], breaks: bool) -> String {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(start, |i| i + 1);
    decode(&bytes[start..end], breaks)
}

/// A line-oriented exchange over a byte transport.
pub struct LineIo {
    port: Box<dyn Transport>,
    buf: Vec<u8>,
    timeout: Duration,
    /// Dropping the tail of an over-long line until its terminator comes.
    skipping: bool,
    cut: Cut,
    /// A reply was waited for and did not come in time: it may still come, and would
    /// be read as the next command's reply.
    unanswered: bool,
    /// The link carries lines nobody asked for (a board's console), among which a late
    /// reply cannot be told apart: nothing is drained before a command.
    unsolicited: bool,
    /// No command has been sent yet: what is already waiting on the link (a late reply
    /// to whoever used it before) is dropped before the first.
    fresh: bool,
}

impl LineIo {
    /// Wraps a transport; `timeout` bounds each whole reply.
    pub fn new(port: Box<dyn Transport>, timeout: Duration) -> Self {
        Self {
            port,
            buf: Vec::with_capacity(256),
            timeout,
            skipping: false,
            cut: Cut::default(),
            unanswered: false,
            unsolicited: false,
            fresh: true,
        }
    }

    /// Declares that the instrument sends lines nobody asked for (a board's console):
    /// its driver sorts replies from them itself.
    pub fn set_unsolicited(&mut self) {
        self.unsolicited = true;
    }

    /// Before a command: on a link just opened, drops what is already waiting on it (a
    /// reply, late for whoever had the link before). When the last reply never came,
    /// waits until the link has been
    /// quiet for a whole reply timeout and drops what came meanwhile, so a reply that
    /// comes late is not read as this command's. (A reply read-back of `OFF` that was
    /// really the answer to the query before could confirm a safe state that is not.)
    fn settle(&mut self) -> io::Result<()> {
        if self.unsolicited {
            return Ok(());
        }
        if std::mem::take(&mut self.fresh) {
            self.buf.clear();
            self.port.discard_input()?;
        }
        if !self.unanswered {
            return Ok(());
        }
        self.unanswered = false;
        let give_up = Instant::now() + 10 * self.timeout;
        loop {
            match self.fill_by(Instant::now() + self.timeout) {
                Ok(()) if Instant::now() < give_up => self.buf.clear(),
                Ok(()) => {
                    return Err(io::Error::other(
                        "the instrument kept sending after a reply it was late with",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        self.skipping = false;
        Ok(())
    }

    /// Notes a wait for a reply that timed out (see [`settle`](Self::settle)).
    fn awaited<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        if r.as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            self.unanswered = true;
        }
        r
    }

    /// Now, on the time the instrument lives in (see [`Transport::now`]).
    pub fn now(&self) -> Duration {
        self.port.now()
    }

    /// Leaves at least `gap` between `last` (a [`LineIo::now`] reading) and now, on the
    /// instrument's time (see [`Transport::pause`]).
    pub fn pace(&mut self, last: Option<Duration>, gap: Duration) {
        if let Some(last) = last {
            let wait = (last + gap).saturating_sub(self.port.now());
            if !wait.is_zero() {
                self.port.pause(wait);
            }
        }
    }

    /// What the per-line cap has cut off since the last call.
    pub fn take_cut(&mut self) -> Cut {
        std::mem::take(&mut self.cut)
    }

    /// Applies the per-line cap to what has arrived, before a search for the end of
    /// a line. While skipping the tail of a cut line, bytes up to and including the
    /// next `terminator` are dropped. A line whose end is not within [`MAX_LINE`]
    /// bytes is returned cut and marked, and the rest of it is dropped and counted.
    fn cap(
        &mut self,
        terminator: Option<u8>,
        find: &mut impl FnMut(&[u8]) -> Option<(usize, usize)>,
    ) -> Option<String> {
        let line_end = |buf: &[u8]| terminator.and_then(|t| buf.iter().position(|b| *b == t));
        if self.skipping {
            let end = line_end(&self.buf);
            self.cut.bytes += end.unwrap_or(self.buf.len()) as u64;
            self.buf.drain(..end.map_or(self.buf.len(), |i| i + 1));
            self.skipping = end.is_none();
            if self.skipping {
                return None;
            }
        }
        if self.buf.len() <= MAX_LINE || find(&self.buf).is_some_and(|(end, _)| end <= MAX_LINE) {
            return None;
        }
        let mut line = decode_trimmed(&self.buf[..MAX_LINE], terminator.is_none());
        line.push_str(CUT_MARK);
        self.cut.lines += 1;
        // Drop the rest of the line: to its terminator if it has come, else all that
        // came, and what follows until the terminator (a framing without one, such as
        // a prompt, starts afresh).
        let end = line_end(&self.buf);
        self.cut.bytes += (end.unwrap_or(self.buf.len()) - MAX_LINE) as u64;
        self.buf.drain(..end.map_or(self.buf.len(), |i| i + 1));
        self.skipping = end.is_none() && terminator.is_some();
        Some(line)
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
        self.settle()?;
        let mut frame = Vec::with_capacity(text.len() + terminator.len());
        frame.extend_from_slice(text.as_bytes());
        frame.extend_from_slice(terminator);
        self.port.write_all(&frame)
    }

    /// Writes raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.settle()?;
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
        let line = self.read_until_by(deadline, Some(terminator), |buf| {
            buf.iter()
                .position(|b| *b == terminator)
                .map(|i| (i, i + 1))
        });
        self.awaited(line)
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
        if let Some(cut) = self.cap(Some(terminator), &mut |buf| find(buf).map(|i| (i, i + 1))) {
            return Ok(Some(cut));
        }
        if self.skipping {
            return Ok(None);
        }
        Ok(find(&self.buf).map(|i| {
            let line = decode_trimmed(&self.buf[..i], false);
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
        let reply = self.read_until_by(Instant::now() + self.timeout, None, find);
        self.awaited(reply)
    }

    fn read_until_by(
        &mut self,
        deadline: Instant,
        terminator: Option<u8>,
        mut find: impl FnMut(&[u8]) -> Option<(usize, usize)>,
    ) -> io::Result<String> {
        loop {
            if let Some(cut) = self.cap(terminator, &mut find) {
                return Ok(cut);
            }
            if let Some((end, consumed)) = find(&self.buf).filter(|_| !self.skipping) {
                let line = decode_trimmed(&self.buf[..end], terminator.is_none());
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
            let filled = self.fill_by(deadline);
            self.awaited(filled)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads a reply of unknown length: its first byte within the timeout, then
    /// everything until the link has been quiet for `quiet`.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            let first = self.fill_by(Instant::now() + self.timeout);
            self.awaited(first)?;
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
        self.skipping = false;
        self.port.discard_input()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read, Write};
    use std::time::Duration;

    use super::*;

    /// A port that has received `bytes`, handed out in reads of at most 1000.
    struct Received(Vec<u8>);

    impl Read for Received {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "nothing"));
            }
            let n = buf.len().min(self.0.len()).min(1000);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    impl Write for Received {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Received {
        fn set_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
        fn discard_input(&mut self) -> io::Result<()> {
            self.0.clear();
            Ok(())
        }
        fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "nothing"));
            }
            self.read(buf)
        }
    }

    fn io(bytes: &[u8]) -> LineIo {
        LineIo::new(
            Box::new(Received(bytes.to_vec())),
            Duration::from_millis(10),
        )
    }

    #[test]
    fn shows_invalid_utf8_and_control_characters_escaped() {
        let mut io = io(b"a\xff\xfe\x1b[2J\x00\x07 \\x41 \xc2\x85 \xc2\xb5A\r\n");
        assert_eq!(
            io.read_line(b'\n').unwrap(),
            r"a\xff\xfe\x1b[2J\x00\x07 \\x41 \u{85} µA"
        );
        // A carriage return inside a line cannot rewrite it on a terminal.
        let mut io = self::io(b"ok\r[ 0.000 ms] forged\n");
        assert_eq!(io.read_line(b'\n').unwrap(), r"ok\x0d[ 0.000 ms] forged");
        // A reply framed by a prompt keeps its line breaks.
        let mut io = self::io(b"ver\n\r00000008\n\r>");
        let reply = io
            .read_until(|b| b.iter().position(|c| *c == b'>').map(|i| (i, i + 1)))
            .unwrap();
        assert_eq!(reply, "ver\n\r00000008");
    }

    #[test]
    fn a_line_longer_than_the_cap_is_cut_marked_and_counted() {
        let mut bytes = vec![b'#'; MAX_LINE + 5000];
        bytes.extend_from_slice(b"\nnext\n");
        let mut io = io(&bytes);
        let cut = io.read_line(b'\n').unwrap();
        assert_eq!(cut.len(), MAX_LINE + CUT_MARK.len());
        assert!(cut.ends_with(CUT_MARK));
        assert_eq!(io.read_line(b'\n').unwrap(), "next");
        assert_eq!(
            io.take_cut(),
            Cut {
                lines: 1,
                bytes: 5000
            }
        );
        assert_eq!(io.take_cut(), Cut::default());
    }

    #[test]
    fn a_line_that_never_ends_cannot_grow_the_buffer() {
        let mut bytes = vec![b'x'; 10 * MAX_LINE];
        bytes.extend_from_slice(b"tail\nnext\n");
        let mut io = io(&bytes);
        let mut lines = Vec::new();
        for _ in 0..100 {
            if let Some(line) = io.poll_line(b'\n').unwrap() {
                lines.push(line);
            }
            assert!(io.buf.len() <= MAX_LINE + 1024, "{}", io.buf.len());
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with(CUT_MARK));
        assert_eq!(lines[1], "next");
        let cut = io.take_cut();
        assert_eq!(cut.lines, 1);
        assert_eq!(cut.bytes, (9 * MAX_LINE + 4) as u64);
    }

    #[test]
    fn a_reply_that_comes_late_is_not_read_as_the_next_commands() {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut io = LineIo::new(Box::new(ours), Duration::from_millis(50));
        io.send(":OUTP? CH1", b"\n").unwrap();
        let err = io.read_line(b'\n').unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The instrument answers the first query after the timeout, then the second.
        theirs.write_all(b"ON\n").unwrap();
        io.send(":OUTP? CH3", b"\n").unwrap();
        theirs.write_all(b"OFF\n").unwrap();
        assert_eq!(io.read_line(b'\n').unwrap(), "OFF");
        let mut sent = vec![0u8; 64];
        let n = theirs.read(&mut sent).unwrap();
        assert_eq!(&sent[..n], b":OUTP? CH1\n:OUTP? CH3\n");

        // A link just opened drops a reply left on it by whoever had it before.
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        theirs.write_all(b"gpio readall\n\r00\n\r>").unwrap();
        let mut io = LineIo::new(Box::new(ours), Duration::from_millis(50));
        io.send("ver", b"\r").unwrap();
        theirs.write_all(b"ver\n\r00000008\n\r>").unwrap();
        assert!(io.read_line(b'>').unwrap().ends_with("00000008"));

        // A console's lines come unasked: nothing is drained there.
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut io = LineIo::new(Box::new(ours), Duration::from_millis(50));
        io.set_unsolicited();
        io.send("STATE?", b"\n").unwrap();
        assert!(io.read_line(b'\n').is_err());
        theirs.write_all(b"EVT LOWBAT 1\n").unwrap();
        io.send("UPTIME?", b"\n").unwrap();
        assert_eq!(io.read_line(b'\n').unwrap(), "EVT LOWBAT 1");
    }
}
