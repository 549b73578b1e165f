//! Excamera Labs I2CDriver (and I2CMini): a USB serial adapter that is an I2C bus
//! master, for hosts without an I2C bus of their own. It runs at 1,000,000 baud 8N1
//! and takes single-byte commands (I2CDriver User Guide, section 7.4 "Raw protocol"):
//!
//! | command | answer |
//! |---|---|
//! | `?` | the status line: 80 characters, space padded, `[i2cdriver1 SERIAL UPTIME VOLTS MA TEMP MODE SDA SCL KHZ PULLUPS CRC]` |
//! | `e` byte | the byte (echo) |
//! | `1`, `4` | none; the bus runs at 100 or 400 kHz |
//! | `s` (addr << 1 \| r) | one status byte: bit 0 ACK, bit 1 timeout, bit 2 arbitration lost |
//! | `0xC0 + n-1`, n bytes (n <= 64) | one status byte, as for `s` |
//! | `0x80 + n-1` | n bytes read, the last one NACKed |
//! | `a` n | n bytes read, every one ACKed |
//! | `p` | none; STOP |
//! | `x` | one byte: the SDA (bit 0) and SCL (bit 1) lines after the bus reset |
//! | `i` | none; leave bitbang mode, back to I2C mode |
//!
//! The adapter carries any chip's transactions: [`I2cDriver`] implements
//! `embedded_hal::i2c::I2c`, so the `ina219` crate runs on it unchanged.
//!
//! Hand-written rather than the `i2cdriver` crate: that crate opens the port itself
//! through serialport with its default features, which turn on libudev (a system
//! -dev package lockrig must not need), and it cannot run over lockrig's own transports
//! (a pty opened elsewhere, the simulator's in-process link). The protocol is the ten
//! commands above.

use std::fmt;
use std::io::{Read, Write};
use std::time::Duration;

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

use crate::drivers::{InstrumentError, Result};
use crate::transport::Transport;

/// The adapter's fixed line rate.
pub const BAUD: u32 = 1_000_000;
/// The longest read or write one command carries.
const CHUNK: usize = 64;
/// The status line's length, brackets included.
const STATUS_LEN: usize = 80;

/// Status-byte bits (answers to `s` and to writes).
const ACK: u8 = 0b001;
const TIMEOUT: u8 = 0b010;
const ARBITRATION: u8 = 0b100;

/// The adapter's status line, as `?` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Product identifier (`i2cdriver1`).
    pub product: String,
    /// The adapter's serial code (the FTDI serial, e.g. `DO01JUOO`).
    pub serial: String,
    /// Seconds since the adapter powered up.
    pub uptime_s: u64,
    /// USB bus voltage.
    pub usb_volts: f64,
    /// Current drawn by the attached devices, in mA.
    pub current_ma: f64,
    /// `I` in I2C mode, `B` in bitbang mode.
    pub mode: char,
    /// SDA line state.
    pub sda: bool,
    /// SCL line state.
    pub scl: bool,
    /// Bus speed in kHz.
    pub speed_khz: u32,
}

impl Status {
    /// Parses the 80-character status line.
    pub fn parse(line: &str) -> Option<Self> {
        let inner = line.trim_end().strip_prefix('[')?.strip_suffix(']')?;
        let f: Vec<&str> = inner.split_ascii_whitespace().collect();
        let [product, serial, uptime, volts, ma, _temp, mode, sda, scl, speed, _pullups, _crc] =
            f.as_slice()
        else {
            return None;
        };
        let bit = |s: &str| match s {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        let mut mode_chars = mode.chars();
        let mode = mode_chars.next().filter(|_| mode_chars.next().is_none())?;
        Some(Self {
            product: (*product).to_string(),
            serial: (*serial).to_string(),
            uptime_s: uptime.parse().ok()?,
            usb_volts: volts.parse().ok()?,
            current_ma: ma.parse().ok()?,
            mode,
            sda: bit(sda)?,
            scl: bit(scl)?,
            speed_khz: speed.parse().ok()?,
        })
        .filter(|s| s.product.starts_with("i2cdriver"))
    }
}

/// Bus speeds the adapter offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// 100 kHz (standard mode).
    Standard,
    /// 400 kHz (fast mode).
    Fast,
}

/// An I2CDriver on a byte transport, in I2C mode.
pub struct I2cDriver {
    link: Box<dyn Transport>,
    timeout: Duration,
    status: Status,
    /// The last answer did not come in time: it may still come.
    unanswered: bool,
}

impl I2cDriver {
    /// Takes the adapter into I2C mode, checks that it echoes, reads its status, sets
    /// the bus speed and resets the bus, which must then be free (SDA and SCL high).
    pub fn open(mut link: Box<dyn Transport>, timeout: Duration, speed: Speed) -> Result<Self> {
        link.set_timeout(timeout)
            .map_err(|e| InstrumentError::io("open", timeout, e))?;
        link.discard_input()
            .map_err(|e| InstrumentError::io("open", timeout, e))?;
        let mut dev = Self {
            link,
            timeout,
            unanswered: false,
            status: Status {
                product: String::new(),
                serial: String::new(),
                uptime_s: 0,
                usb_volts: 0.0,
                current_ma: 0.0,
                mode: '?',
                sda: false,
                scl: false,
                speed_khz: 0,
            },
        };
        dev.send("i", b"i")?;
        let mut echo = [0u8; 1];
        dev.exchange("e 0x55", b"e\x55", &mut echo)?;
        if echo != [0x55] {
            return Err(InstrumentError::garbage(
                "e 0x55",
                &String::from_utf8_lossy(&echo),
                "the byte 0x55 echoed (an I2CDriver at 1000000 baud)",
            ));
        }
        dev.status = dev.read_status()?;
        if dev.status.mode != 'I' {
            return Err(InstrumentError::Readback {
                commanded: "I2C mode (`i`)".into(),
                actual: format!("mode {}", dev.status.mode),
            });
        }
        let (cmd, khz) = match speed {
            Speed::Standard => ("1", 100),
            Speed::Fast => ("4", 400),
        };
        dev.send(cmd, cmd.as_bytes())?;
        let mut lines = [0u8; 1];
        dev.exchange("x", b"x", &mut lines)?;
        let lines = lines[0];
        if lines & 0b11 != 0b11 {
            return Err(InstrumentError::Bus(format!(
                "after a bus reset SDA reads {} and SCL {}: a device is holding the bus low",
                lines & 1,
                (lines >> 1) & 1
            )));
        }
        let status = dev.read_status()?;
        if status.speed_khz != khz {
            return Err(InstrumentError::Readback {
                commanded: format!("{khz} kHz"),
                actual: format!("{} kHz", status.speed_khz),
            });
        }
        dev.status = status;
        Ok(dev)
    }

    /// The status line read when the adapter was opened.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// `?`: the adapter's status line.
    pub fn read_status(&mut self) -> Result<Status> {
        let mut raw = [0u8; STATUS_LEN];
        self.exchange("?", b"?", &mut raw)?;
        let line = String::from_utf8_lossy(&raw);
        Status::parse(&line).ok_or_else(|| {
            InstrumentError::garbage(
                "?",
                &line,
                "an 80-character status line `[i2cdriver1 SERIAL UPTIME ...]`",
            )
        })
    }

    fn send(&mut self, command: &str, bytes: &[u8]) -> Result<()> {
        self.settle(command)?;
        self.link
            .write_all(bytes)
            .map_err(|e| InstrumentError::io(command, self.timeout, e))
    }

    /// Sends a command and reads its answer, exactly `answer.len()` bytes.
    fn exchange(&mut self, command: &str, bytes: &[u8], answer: &mut [u8]) -> Result<()> {
        self.send(command, bytes)?;
        let read = self.link.read_exact(answer);
        if read
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            self.unanswered = true;
        }
        read.map_err(|e| InstrumentError::io(command, self.timeout, e))
    }

    /// Before a command, after an answer that did not come in time: reads until the
    /// link has been quiet for a whole timeout and drops what came, so that a late
    /// answer's bytes are never taken for this command's echo or status (a protocol of
    /// bare bytes cannot tell them apart). The line transport does the same for
    /// line-based instruments. An adapter that keeps sending for ten timeouts (on the
    /// link's own clock) is an error.
    fn settle(&mut self, command: &str) -> Result<()> {
        if !std::mem::take(&mut self.unanswered) {
            return Ok(());
        }
        let mut late = [0u8; 64];
        let give_up = self.link.now() + self.timeout * 10;
        while self.link.now() < give_up {
            match self.link.read(&mut late) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(InstrumentError::io(command, self.timeout, e)),
            }
        }
        Err(InstrumentError::io(
            command,
            self.timeout,
            std::io::Error::other("the adapter kept sending after an answer it was late with"),
        ))
    }

    /// Sends a command whose answer is one status byte, and judges it.
    fn status_byte(
        &mut self,
        command: &str,
        bytes: &[u8],
        nack: NoAcknowledgeSource,
    ) -> std::result::Result<(), BusError> {
        let mut status = [0u8; 1];
        self.exchange(command, bytes, &mut status)?;
        Self::check(status[0], nack)
    }

    fn check(status: u8, nack: NoAcknowledgeSource) -> std::result::Result<(), BusError> {
        if status & ARBITRATION != 0 {
            Err(BusError::Arbitration)
        } else if status & TIMEOUT != 0 {
            Err(BusError::Timeout)
        } else if status & ACK == 0 {
            Err(BusError::Nack(nack))
        } else {
            Ok(())
        }
    }

    /// `s`: START (or repeated START) and the address byte.
    fn start(&mut self, address: u8, read: bool) -> std::result::Result<(), BusError> {
        let byte = (address << 1) | u8::from(read);
        self.status_byte("s (START)", &[b's', byte], NoAcknowledgeSource::Address)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> std::result::Result<(), BusError> {
        let mut frame = [0u8; CHUNK + 1];
        for chunk in bytes.chunks(CHUNK) {
            frame[0] = 0xC0 | (chunk.len() - 1) as u8;
            frame[1..=chunk.len()].copy_from_slice(chunk);
            self.status_byte("write", &frame[..=chunk.len()], NoAcknowledgeSource::Data)?;
        }
        Ok(())
    }

    /// Reads into `buf`; the last byte is NACKed when `nack_last` (the read ends).
    fn read_bytes(&mut self, buf: &mut [u8], nack_last: bool) -> std::result::Result<(), BusError> {
        let chunks = buf.len().div_ceil(CHUNK);
        for (i, chunk) in buf.chunks_mut(CHUNK).enumerate() {
            let n = chunk.len();
            if nack_last && i + 1 == chunks {
                self.exchange("read", &[0x80 | (n - 1) as u8], chunk)?;
            } else {
                self.exchange("a (read, ACK)", &[b'a', n as u8], chunk)?;
            }
        }
        Ok(())
    }
}

/// An I2C transaction that failed on the adapter or on the bus.
#[derive(thiserror::Error)]
pub enum BusError {
    /// The addressed device, or a data byte, was not acknowledged.
    #[error("no ACK ({0:?})")]
    Nack(NoAcknowledgeSource),
    /// The adapter timed out on the bus (a device stretching the clock too long).
    #[error("the adapter timed out on the bus")]
    Timeout,
    /// Another master won arbitration, or the lines are disturbed.
    #[error("arbitration lost")]
    Arbitration,
    /// The adapter itself did not answer properly.
    #[error("{0}")]
    Link(#[from] InstrumentError),
}

// The `ina219` crate reports bus errors with `{:?}`: make that the readable text.
impl fmt::Debug for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl embedded_hal::i2c::Error for BusError {
    fn kind(&self) -> ErrorKind {
        match self {
            BusError::Nack(src) => ErrorKind::NoAcknowledge(*src),
            BusError::Arbitration => ErrorKind::ArbitrationLoss,
            BusError::Timeout | BusError::Link(_) => ErrorKind::Other,
        }
    }
}

impl ErrorType for I2cDriver {
    type Error = BusError;
}

impl I2c for I2cDriver {
    /// Adjacent operations of one kind continue without a repeated START; a change of
    /// direction is a repeated START; a read group's last byte is NACKed; STOP ends it.
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> std::result::Result<(), Self::Error> {
        let mut result = Ok(());
        let mut reading: Option<bool> = None;
        let n = operations.len();
        for i in 0..n {
            let is_read = matches!(operations[i], Operation::Read(_));
            let next_is_read = operations
                .get(i + 1)
                .map(|o| matches!(o, Operation::Read(_)));
            if reading != Some(is_read) {
                result = self.start(address, is_read);
                if result.is_err() {
                    break;
                }
                reading = Some(is_read);
            }
            result = match &mut operations[i] {
                Operation::Write(bytes) => self.write_bytes(bytes),
                Operation::Read(buf) => self.read_bytes(buf, next_is_read != Some(true)),
            };
            if result.is_err() {
                break;
            }
        }
        // STOP in every case, so a failed transaction leaves the bus free.
        let stop = self.send("p", b"p").map_err(BusError::from);
        result.and(stop)
    }
}

/// One adapter shared by the chips on its bus (several INA219s at their own
/// addresses): each chip's driver holds a handle, and each transaction has the adapter
/// to itself. Hand-written rather than embedded-hal-bus's `MutexDevice`, which borrows
/// its mutex for a lifetime: a bench owns its instruments, so the handles own the
/// adapter between them.
#[derive(Clone)]
pub struct SharedBus(std::sync::Arc<std::sync::Mutex<I2cDriver>>);

impl SharedBus {
    /// Shares `bus`.
    pub fn new(bus: I2cDriver) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(bus)))
    }

    /// The adapter's status line, as read when it was opened.
    pub fn status(&self) -> Status {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .status()
            .clone()
    }
}

impl ErrorType for SharedBus {
    type Error = BusError;
}

impl I2c for SharedBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> std::result::Result<(), Self::Error> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .transaction(address, operations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// What the host must write, and what the adapter answers to it.
    type Step = (Vec<u8>, Vec<u8>);

    /// A scripted adapter: the steps to come, and the answer bytes not yet read.
    #[derive(Clone, Default)]
    struct Script(Arc<Mutex<(VecDeque<Step>, Vec<u8>)>>);

    impl Script {
        fn new(steps: &[(&[u8], &[u8])]) -> Self {
            let s = Self::default();
            s.0.lock().unwrap().0 = steps
                .iter()
                .map(|(w, r)| (w.to_vec(), r.to_vec()))
                .collect();
            s
        }
        fn done(&self) {
            let g = self.0.lock().unwrap();
            assert!(g.0.is_empty(), "unsent: {:?}", g.0);
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut g = self.0.lock().unwrap();
            if g.1.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            let n = buf.len().min(g.1.len());
            buf[..n].copy_from_slice(&g.1[..n]);
            g.1.drain(..n);
            Ok(n)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut g = self.0.lock().unwrap();
            let (want, answer) = g.0.pop_front().expect("an unexpected write");
            assert_eq!(buf, &want[..], "the host wrote the wrong bytes");
            g.1.extend(answer);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Script {
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

    fn status_line(speed: u32) -> Vec<u8> {
        let mut s = format!("[i2cdriver1 DO01JUOO 000000061 4.971 000 23.8 I 1 1 {speed} 24 ffff");
        while s.len() < STATUS_LEN - 1 {
            s.push(' ');
        }
        s.push(']');
        s.into_bytes()
    }

    fn opening(speed: &'static [u8], khz: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (b"i".to_vec(), vec![]),
            (b"e\x55".to_vec(), vec![0x55]),
            (b"?".to_vec(), status_line(100)),
            (speed.to_vec(), vec![]),
            (b"x".to_vec(), vec![0b11]),
            (b"?".to_vec(), status_line(khz)),
        ]
    }

    fn script(steps: Vec<(Vec<u8>, Vec<u8>)>) -> Script {
        let s = Script::default();
        s.0.lock().unwrap().0 = steps.into();
        s
    }

    const T: Duration = Duration::from_millis(100);

    #[test]
    fn parses_the_manual_s_status_line() {
        let s = Status::parse(
            "[i2cdriver1 DO01JUOO 000000061 4.971 000 23.8 I 1 1 100 24 ffff                ]",
        )
        .unwrap();
        assert_eq!(s.serial, "DO01JUOO");
        assert_eq!(s.uptime_s, 61);
        assert_eq!((s.mode, s.sda, s.scl, s.speed_khz), ('I', true, true, 100));
        assert!((s.usb_volts - 4.971).abs() < 1e-9);
        assert!(Status::parse("[something else 1 2 3]").is_none());
        assert!(Status::parse("[i2cdriver1 X 1 5 0 20 I 2 1 100 24 ffff]").is_none());
    }

    #[test]
    fn an_answer_that_comes_late_is_dropped_not_taken_for_the_next() {
        let mut steps = opening(b"1", 100);
        // The first `?` is answered only after its timeout; the second at once.
        steps.extend([(b"?".to_vec(), vec![]), (b"?".to_vec(), status_line(400))]);
        let s = script(steps);
        let mut dev = I2cDriver::open(Box::new(s.clone()), T, Speed::Standard).unwrap();
        let e = dev.read_status().unwrap_err().to_string();
        assert!(e.contains("no reply"), "{e}");
        // The late status line arrives before the next command.
        s.0.lock().unwrap().1.extend(status_line(100));
        assert_eq!(dev.read_status().unwrap().speed_khz, 400);
        s.done();
    }

    #[test]
    fn opens_and_reads_a_register_with_a_repeated_start() {
        let mut steps = opening(b"4", 400);
        steps.extend([
            (b"s\x80".to_vec(), vec![ACK]),
            (vec![0xC0, 0x02], vec![ACK]),
            (b"s\x81".to_vec(), vec![ACK]),
            (vec![0x81], vec![0x5D, 0xC2]),
            (b"p".to_vec(), vec![]),
        ]);
        let s = script(steps);
        let mut dev = I2cDriver::open(Box::new(s.clone()), T, Speed::Fast).unwrap();
        assert_eq!(dev.status().serial, "DO01JUOO");
        let mut buf = [0u8; 2];
        dev.write_read(0x40, &[0x02], &mut buf).unwrap();
        assert_eq!(buf, [0x5D, 0xC2]);
        s.done();
    }

    #[test]
    fn long_transfers_go_in_64_byte_chunks_and_only_the_last_byte_is_nacked() {
        let mut steps = opening(b"1", 100);
        let data: Vec<u8> = (0..70).collect();
        let mut first = vec![0xC0 | 63];
        first.extend_from_slice(&data[..64]);
        let mut second = vec![0xC0 | 5];
        second.extend_from_slice(&data[64..]);
        steps.extend([
            (b"s\xA0".to_vec(), vec![ACK]),
            (first, vec![ACK]),
            (second, vec![ACK]),
            (b"p".to_vec(), vec![]),
            (b"s\xA1".to_vec(), vec![ACK]),
            (vec![b'a', 64], vec![7; 64]),
            (vec![0x80 | 1], vec![8, 9]),
            (b"p".to_vec(), vec![]),
        ]);
        let s = script(steps);
        let mut dev = I2cDriver::open(Box::new(s.clone()), T, Speed::Standard).unwrap();
        dev.write(0x50, &data).unwrap();
        let mut buf = [0u8; 66];
        dev.read(0x50, &mut buf).unwrap();
        assert_eq!(&buf[62..], &[7, 7, 8, 9]);
        s.done();
    }

    #[test]
    fn a_nack_is_an_error_and_the_bus_is_still_stopped() {
        let mut steps = opening(b"1", 100);
        steps.extend([(b"s\x82".to_vec(), vec![0]), (b"p".to_vec(), vec![])]);
        let s = script(steps);
        let mut dev = I2cDriver::open(Box::new(s.clone()), T, Speed::Standard).unwrap();
        let err = dev.write(0x41, &[0]).unwrap_err();
        assert_eq!(
            embedded_hal::i2c::Error::kind(&err),
            ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        );
        s.done();
    }

    #[test]
    fn a_silent_or_garbled_or_stuck_adapter_is_refused_at_open() {
        // Silent: nothing echoes.
        let s = Script::new(&[(b"i", b""), (b"e\x55", b"")]);
        let err = I2cDriver::open(Box::new(s), T, Speed::Standard)
            .err()
            .unwrap();
        assert!(matches!(err, InstrumentError::Timeout { .. }), "{err}");
        // Another device at that port (or the wrong baud rate): the echo is wrong.
        let s = Script::new(&[(b"i", b""), (b"e\x55", b"\xff")]);
        let err = I2cDriver::open(Box::new(s), T, Speed::Standard)
            .err()
            .unwrap();
        assert!(err.to_string().contains("echoed"), "{err}");
        // A garbled status line.
        let s = Script::new(&[(b"i", b""), (b"e\x55", b"\x55"), (b"?", &[b'#'; 80])]);
        let err = I2cDriver::open(Box::new(s), T, Speed::Standard)
            .err()
            .unwrap();
        assert!(err.to_string().contains("status line"), "{err}");
        // A device holding SDA low.
        let mut steps = opening(b"1", 100);
        steps[4].1 = vec![0b10];
        steps.truncate(5);
        let err = I2cDriver::open(Box::new(script(steps)), T, Speed::Standard)
            .err()
            .unwrap();
        assert!(err.to_string().contains("SDA reads 0"), "{err}");
    }
}
