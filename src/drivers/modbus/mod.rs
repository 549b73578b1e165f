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
use tokio_modbus::client::{Client as _, Context as Client};
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

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
        match self.call(Request::ReadHoldingRegisters(addr, count), &what)? {
            Response::ReadHoldingRegisters(words) if words.len() == usize::from(count) => Ok(words),
            other => Err(unexpected(&what, &other, "as many registers as asked for")),
        }
    }

    /// `06 Write Single Register`; the answer must echo the request.
    pub fn write_register(&mut self, addr: u16, value: u16) -> Result<()> {
        let what = describe(0x06, addr, format_args!("= {value}"));
        match self.call(Request::WriteSingleRegister(addr, value), &what)? {
            Response::WriteSingleRegister(a, v) if (a, v) == (addr, value) => Ok(()),
            other => Err(unexpected(&what, &other, "an echo of the request")),
        }
    }

    /// `01 Read Coils`: `count` coils from `addr`.
    pub fn read_coils(&mut self, addr: u16, count: u16) -> Result<Vec<bool>> {
        let what = describe(0x01, addr, format_args!("x{count}"));
        match self.call(Request::ReadCoils(addr, count), &what)? {
            // The response carries whole bytes of coils; the padding bits are not coils.
            Response::ReadCoils(mut coils) if coils.len() >= usize::from(count) => {
                coils.truncate(usize::from(count));
                Ok(coils)
            }
            other => Err(unexpected(&what, &other, "as many coils as asked for")),
        }
    }

    /// `05 Write Single Coil`: `FF00` on, `0000` off; the answer must echo the request.
    pub fn write_coil(&mut self, addr: u16, on: bool) -> Result<()> {
        let what = describe(0x05, addr, if on { "= ON" } else { "= OFF" });
        match self.call(Request::WriteSingleCoil(addr, on), &what)? {
            Response::WriteSingleCoil(a, v) if (a, v) == (addr, on) => Ok(()),
            other => Err(unexpected(&what, &other, "an echo of the request")),
        }
    }

    /// Runs one request to its end. The client's typed helpers are not used: they
    /// assert (in debug builds) that a response is as long as asked, and a device's
    /// answer is checked here instead, where a wrong one is an error, not a panic.
    fn call(&mut self, request: Request<'_>, what: &str) -> Result<Response> {
        let result = match self.runtime.block_on(self.client.call(request)) {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(exception)) => Err(exception_error(what, exception)),
            // The framing gave up on bytes that make no frame with a valid CRC.
            Err(tokio_modbus::Error::Transport(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Err(InstrumentError::garbage(
                    what,
                    &e.to_string(),
                    "an RTU frame with a valid CRC",
                ))
            }
            Err(tokio_modbus::Error::Transport(e)) => {
                Err(InstrumentError::io(what, self.timeout, e))
            }
            Err(tokio_modbus::Error::Protocol(e)) => Err(InstrumentError::garbage(
                what,
                &e.to_string(),
                "a response from the same slave to the same function",
            )),
        };
        self.recover(result)
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

/// A response of the right function whose contents are not what was asked for.
fn unexpected(what: &str, response: &Response, expected: &'static str) -> InstrumentError {
    InstrumentError::garbage(what, &format!("{response:?}"), expected)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::scripted::Scripted;

    /// A frame from slave 1, with its CRC-16/MODBUS (low byte first).
    fn frame(pdu: &[u8]) -> Vec<u8> {
        let mut f = [&[1u8][..], pdu].concat();
        let crc = crc::Crc::<u16>::new(&crc::CRC_16_MODBUS).checksum(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    fn bus(answer: Vec<u8>) -> ModbusRtu {
        ModbusRtu::new(
            Box::new(Scripted::once(answer)),
            1,
            Duration::from_millis(20),
        )
        .unwrap()
    }

    #[test]
    fn a_short_or_wrong_answer_is_garbage_never_a_panic() {
        // Zero registers for four asked (found by fuzzing: the client's typed helper
        // asserts on it in debug builds).
        let err = bus(frame(&[0x03, 0x00])).read_registers(0, 4).unwrap_err();
        assert!(matches!(err, InstrumentError::Garbage { .. }), "{err}");
        // An echo of another value is not a confirmation.
        let err = bus(frame(&[0x06, 0x00, 0x08, 0x00, 0x01]))
            .write_register(8, 2)
            .unwrap_err();
        assert!(matches!(err, InstrumentError::Garbage { .. }), "{err}");
        let err = bus(frame(&[0x01, 0x00])).read_coils(0, 8).unwrap_err();
        assert!(matches!(err, InstrumentError::Garbage { .. }), "{err}");
        // An exception carries its code; silence is a timeout.
        let err = bus(frame(&[0x83, 0x02])).read_registers(0, 4).unwrap_err();
        assert!(
            matches!(err, InstrumentError::Device { code: 2, .. }),
            "{err}"
        );
        let err = bus(Vec::new()).read_registers(0, 4).unwrap_err();
        assert!(matches!(err, InstrumentError::Timeout { .. }), "{err}");
    }
}
