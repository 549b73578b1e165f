//! Byte transports to instruments: serial ports (and ptys), TCP sockets; and GPIO
//! lines ([`gpio`]), which are not byte streams.
//!
//! A transport is `Read + Write` with a read timeout; drivers never see which kind
//! they have (a simulated bench inside lockrig's own process is reached over Unix
//! socket pairs carrying the same bytes). [`LineIo`] adds line framing for the text protocols (SCPI, Numato, the
//! lock console). I2C buses are not byte streams and are handed to drivers as
//! `embedded_hal::i2c::I2c` implementations instead.

pub mod gpio;
mod line;
#[cfg(test)]
pub(crate) mod scripted;

pub use line::{board_line, Cut, LineIo, MAX_LINE};

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A byte stream to an instrument.
pub trait Transport: Read + Write + Send {
    /// Sets how long a read may wait for the first byte.
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()>;
    /// Drops any bytes already received and not yet read.
    fn discard_input(&mut self) -> io::Result<()>;
    /// Reads what has already arrived without waiting; `WouldBlock` when nothing has.
    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Now, on the time the instrument lives in: for pacing commands the instrument
    /// needs spaced out. A real link runs on the host's monotonic clock.
    fn now(&self) -> Duration {
        wall_now()
    }
    /// Lets `d` pass for the instrument before the next command. A real link sleeps;
    /// an in-process simulated one lets the simulated instrument's time pass instead,
    /// so a paced driver costs a virtual-time run what it costs a bench.
    fn pause(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// The host's monotonic time since the first call: the time base of real links.
pub fn wall_now() -> Duration {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed()
}

/// A non-blocking read on a socket (a socket's shortest read timeout is a scheduler
/// tick, milliseconds, so a timeout cannot stand in for "do not wait").
fn read_socket_now<S: Read>(
    sock: &mut S,
    set_nonblocking: impl Fn(&S, bool) -> io::Result<()>,
    buf: &mut [u8],
) -> io::Result<usize> {
    set_nonblocking(sock, true)?;
    let r = sock.read(buf);
    set_nonblocking(sock, false)?;
    r
}

impl Transport for Box<dyn serialport::SerialPort> {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        serialport::SerialPort::set_timeout(self.as_mut(), timeout).map_err(io::Error::from)
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.clear(serialport::ClearBuffer::Input)
            .map_err(io::Error::from)
    }

    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A zero timeout makes the port poll once without waiting.
        serialport::SerialPort::set_timeout(self.as_mut(), Duration::ZERO)
            .map_err(io::Error::from)?;
        self.read(buf)
    }
}

impl Transport for UnixStream {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.set_nonblocking(true)?;
        let mut buf = [0u8; 256];
        let result = loop {
            match self.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.set_nonblocking(false)?;
        result
    }

    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_socket_now(self, UnixStream::set_nonblocking, buf)
    }
}

impl Transport for TcpStream {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.set_nonblocking(true)?;
        let mut buf = [0u8; 256];
        let result = loop {
            match self.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.set_nonblocking(false)?;
        result
    }

    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_socket_now(self, TcpStream::set_nonblocking, buf)
    }
}

/// How an instrument frames characters on a serial line and says it is ready, where it
/// differs from 8N1 without handshaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Two stop bits (fixed on the Keysight E3631A), else one.
    pub two_stop_bits: bool,
    /// DTR/DSR handshaking: lockrig asserts DTR and writes only while the instrument
    /// holds DSR (which it drops while its input buffer is full or it has a reply to
    /// send).
    pub dtr_dsr: bool,
}

impl Framing {
    /// 8N1, no handshaking: most instruments.
    pub const PLAIN: Self = Self {
        two_stop_bits: false,
        dtr_dsr: false,
    };
}

/// Opens a serial port (or pty): 8 data bits, no parity, the stop bits and handshake
/// of `framing`.
pub fn open_serial(
    path: &str,
    baud: u32,
    timeout: Duration,
    framing: Framing,
) -> io::Result<Box<dyn Transport>> {
    let mut port = serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(if framing.two_stop_bits {
            serialport::StopBits::Two
        } else {
            serialport::StopBits::One
        })
        .flow_control(serialport::FlowControl::None)
        .timeout(timeout)
        .open()
        .map_err(io::Error::from)?;
    // serialport's hardware flow control is RTS/CTS; DTR/DSR is done here. A line
    // without modem-control lines (a pty, the simulator's) has nothing to hand-shake.
    if framing.dtr_dsr && port.write_data_terminal_ready(true).is_ok() {
        return Ok(Box::new(DsrPaced { port }));
    }
    Ok(Box::new(port))
}

/// A serial port written only while the instrument holds DSR.
struct DsrPaced {
    port: Box<dyn serialport::SerialPort>,
}

impl Read for DsrPaced {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.port.read(buf)
    }
}

impl Write for DsrPaced {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let deadline = std::time::Instant::now() + self.port.timeout();
        while !self.port.read_data_set_ready().map_err(io::Error::from)? {
            if std::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the instrument holds DSR false (busy, or the cable lacks the DTR/DSR lines)",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.port.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.port.flush()
    }
}

impl Transport for DsrPaced {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        Transport::set_timeout(&mut self.port, timeout)
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.port.discard_input()
    }

    fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.port.read_available(buf)
    }
}

/// Opens a TCP connection (a raw SCPI socket, e.g. port 5555 on a Rigol DP800).
pub fn open_tcp(addr: &str, timeout: Duration) -> io::Result<Box<dyn Transport>> {
    use std::net::ToSocketAddrs;
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {addr}")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)?;
    stream.set_nodelay(true)?;
    Transport::set_timeout(&mut stream, timeout)?;
    Ok(Box::new(stream))
}
