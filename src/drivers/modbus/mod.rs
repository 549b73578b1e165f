//! Modbus RTU, the client side: one master talking to one slave on a serial line
//! (Modbus over Serial Line V1.02; application protocol V1.1b3). tokio-modbus does the
//! framing (slave address, PDU, CRC-16), matches each response to its request and
//! decodes exception responses; this module runs it over lockrig's own byte
//! [`Transport`]s, so the same driver reaches a USB-serial adapter, a pty served by
//! `lockrig sim serve` and the simulator's in-process links.
//!
//! | function | request | response |
//! |---|---|---|
//! | 01 Read Coils | `addr, count` | bit-packed coil states |
//! | 03 Read Holding Registers | `addr, count` (1-125) | `2 x count` bytes, big-endian words |
//! | 05 Write Single Coil | `addr, FF00 / 0000` | echo of the request |
//! | 06 Write Single Register | `addr, value` | echo of the request |
//! | 0x80 + function | | exception code: 01 illegal function, 02 illegal data address, 03 illegal data value, 04 device failure |
//!
//! **Errors.** No response in time is [`InstrumentError::Timeout`]; an exception
//! response is [`InstrumentError::Device`] with the exception code; a response to
//! another slave or another function, and bytes the framing cannot make a frame with a
//! valid CRC of, are [`InstrumentError::Garbage`].
//!
//! **Concurrency.** tokio-modbus is asynchronous. Each link gets its own current-thread
//! runtime and the step executor calls it synchronously (`block_on`), so the virtual
//! clock stays the only clock scenarios see. The transport underneath blocks for at
//! most its timeout, as every other driver's exchange does: [`Blocking`] is the adapter
//! that lends it to tokio, and nothing else runs on that runtime to be held up.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_modbus::client::{Context as Client, Reader, Writer};
use tokio_modbus::{ExceptionCode, Slave};

use crate::drivers::{InstrumentError, Result};
use crate::transport::Transport;

/// A byte transport shared between the Modbus client and the session that rebuilds it.
type Shared = Arc<Mutex<Box<dyn Transport>>>;

/// Lends a blocking [`Transport`] to tokio: each poll does the transport's own blocking
/// read or write, bounded by its timeout. Only sound on a runtime with nothing else to
/// run, which is how [`ModbusRtu`] uses it.
pub struct Blocking(Shared);

impl Blocking {
    fn with<T>(&self, f: impl FnOnce(&mut dyn Transport) -> io::Result<T>) -> io::Result<T> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(t.as_mut())
    }
}

impl AsyncRead for Blocking {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.with(|t| t.read(buf.initialize_unfilled()));
        Poll::Ready(n.map(|n| buf.advance(n)))
    }
}

impl AsyncWrite for Blocking {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.with(|t| t.write(data)))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.with(|t| t.flush()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A Modbus RTU session with one slave.
pub struct ModbusRtu {
    runtime: tokio::runtime::Runtime,
    transport: Shared,
    client: Client,
    slave: u8,
    timeout: Duration,
}

/// The words of a `03 Read Holding Registers` request, named for errors: `03 @8 x4`.
fn describe(function: u8, addr: u16, what: impl std::fmt::Display) -> String {
    format!("Modbus {function:02X} @{addr} {what}")
}

impl ModbusRtu {
    /// A session with slave `slave` (1-247) over `transport`, whose read timeout bounds
    /// every exchange.
    pub fn new(mut transport: Box<dyn Transport>, slave: u8, timeout: Duration) -> Result<Self> {
        transport
            .set_timeout(timeout)
            .and_then(|_| transport.discard_input())
            .map_err(|source| InstrumentError::Open {
                what: format!("Modbus slave {slave}"),
                source,
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|source| InstrumentError::Open {
                what: "a runtime for the Modbus client".into(),
                source,
            })?;
        let transport: Shared = Arc::new(Mutex::new(transport));
        let client = Self::attach(&transport, slave);
        Ok(Self {
            runtime,
            transport,
            client,
            slave,
            timeout,
        })
    }

    fn attach(transport: &Shared, slave: u8) -> Client {
        tokio_modbus::client::rtu::attach_slave(Blocking(transport.clone()), Slave(slave))
    }

    /// The slave address.
    pub fn slave(&self) -> u8 {
        self.slave
    }

    /// `03 Read Holding Registers`: `count` words from `addr`.
    pub fn read_registers(&mut self, addr: u16, count: u16) -> Result<Vec<u16>> {
        let what = describe(0x03, addr, format_args!("x{count}"));
        let fut = self.client.read_holding_registers(addr, count);
        let words = Self::settle(&self.runtime, fut, &what, self.timeout);
        let words = self.recover(words)?;
        if words.len() != usize::from(count) {
            return Err(InstrumentError::garbage(
                &what,
                &format!("{words:?}"),
                "as many registers as asked for",
            ));
        }
        Ok(words)
    }

    /// `06 Write Single Register`.
    pub fn write_register(&mut self, addr: u16, value: u16) -> Result<()> {
        let what = describe(0x06, addr, format_args!("= {value}"));
        let fut = self.client.write_single_register(addr, value);
        let done = Self::settle(&self.runtime, fut, &what, self.timeout);
        self.recover(done)
    }

    /// `01 Read Coils`: `count` coils from `addr`.
    pub fn read_coils(&mut self, addr: u16, count: u16) -> Result<Vec<bool>> {
        let what = describe(0x01, addr, format_args!("x{count}"));
        let fut = self.client.read_coils(addr, count);
        let coils = Self::settle(&self.runtime, fut, &what, self.timeout);
        let mut coils = self.recover(coils)?;
        // The response carries whole bytes of coils; the padding bits are not coils.
        if coils.len() < usize::from(count) {
            return Err(InstrumentError::garbage(
                &what,
                &format!("{coils:?}"),
                "as many coils as asked for",
            ));
        }
        coils.truncate(usize::from(count));
        Ok(coils)
    }

    /// `05 Write Single Coil`: `FF00` on, `0000` off.
    pub fn write_coil(&mut self, addr: u16, on: bool) -> Result<()> {
        let what = describe(0x05, addr, if on { "= ON" } else { "= OFF" });
        let fut = self.client.write_single_coil(addr, on);
        let done = Self::settle(&self.runtime, fut, &what, self.timeout);
        self.recover(done)
    }

    /// Runs one request to its end and maps the three ways it can fail.
    fn settle<T>(
        runtime: &tokio::runtime::Runtime,
        fut: impl std::future::Future<Output = tokio_modbus::Result<T>>,
        what: &str,
        timeout: Duration,
    ) -> Result<T> {
        match runtime.block_on(fut) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(exception)) => Err(exception_error(what, exception)),
            // The framing gave up on bytes that make no frame with a valid CRC.
            Err(tokio_modbus::Error::Transport(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Err(InstrumentError::garbage(
                    what,
                    &e.to_string(),
                    "an RTU frame with a valid CRC",
                ))
            }
            Err(tokio_modbus::Error::Transport(e)) => Err(InstrumentError::io(what, timeout, e)),
            Err(tokio_modbus::Error::Protocol(e)) => Err(InstrumentError::garbage(
                what,
                &e.to_string(),
                "a response from the same slave to the same function",
            )),
        }
    }

    /// After a failed exchange the framing may hold half a frame and a late answer may
    /// still arrive: start the next exchange on a clean line with a fresh client.
    fn recover<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            let mut t = self.transport.lock().unwrap_or_else(|p| p.into_inner());
            // Best effort: a dead port says so on the next exchange.
            let _ = t.discard_input();
            drop(t);
            self.client = Self::attach(&self.transport, self.slave);
        }
        result
    }
}

/// An exception response as an instrument error, with the code the spec gives it.
fn exception_error(what: &str, exception: ExceptionCode) -> InstrumentError {
    let message = match exception {
        ExceptionCode::IllegalFunction => "illegal function",
        ExceptionCode::IllegalDataAddress => "illegal data address",
        ExceptionCode::IllegalDataValue => "illegal data value",
        ExceptionCode::ServerDeviceFailure => "server device failure",
        ExceptionCode::ServerDeviceBusy => "server device busy",
        _ => "exception",
    };
    InstrumentError::Device {
        command: what.to_string(),
        code: i32::from(u8::from(exception)),
        message: message.to_string(),
    }
}
