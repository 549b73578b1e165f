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

pub use line::{Cut, LineIo, MAX_LINE};

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

/// Opens a serial port (or pty) as 8N1 with no flow control.
pub fn open_serial(path: &str, baud: u32, timeout: Duration) -> io::Result<Box<dyn Transport>> {
    let port = serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(timeout)
        .open()
        .map_err(io::Error::from)?;
    Ok(Box::new(port))
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
