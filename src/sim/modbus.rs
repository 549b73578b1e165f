//! The slave side of Modbus RTU, from "MODBUS over Serial Line, Specification and
//! Implementation Guide V1.02" and the "MODBUS Application Protocol Specification
//! V1.1b3", for the emulated Riden supply and relay board. Written from the specs, not
//! from the client lockrig uses, so the two can disagree where one is wrong.
//!
//! A request frame is `address, function, data, CRC-16 (low byte first)`. Its length
//! follows from the function (8 bytes for 01, 03, 05, 06; `9 + byte count` for 0F and
//! 10); a frame of any other function ends when the line has been quiet for 3.5
//! characters. A frame with a bad CRC is discarded unanswered (spec 2.5.1.2), and so is
//! anything left over with it. A frame for another address is ignored; one for address
//! 0 (broadcast) is carried out but not answered.
//!
//! | function | served as |
//! |---|---|
//! | 01 Read Coils | 1-2000 coils, bit-packed, low bit first |
//! | 03 Read Holding Registers | 1-125 registers |
//! | 05 Write Single Coil | `FF00` on, `0000` off, anything else exception 03; echoed |
//! | 06 Write Single Register | echoed |
//! | 10 Write Multiple Registers | 1-123 registers; answered with address and count |
//! | other | exception 01 (illegal function) |

use std::time::{Duration, Instant};

use super::world::World;

/// The CRC of an RTU frame: CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF).
pub const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_MODBUS);

/// Exception 01: the function is not supported.
pub const ILLEGAL_FUNCTION: u8 = 0x01;
/// Exception 02: the address (or address + count) is not served.
pub const ILLEGAL_ADDRESS: u8 = 0x02;
/// Exception 03: a value in the request is not allowed.
pub const ILLEGAL_VALUE: u8 = 0x03;

/// Three and a half characters of silence end a frame: at 9600 baud about 4 ms; the
/// spec fixes 1.75 ms above 19200 baud. A pty has no baud rate, so the longer is used.
pub const T35: Duration = Duration::from_millis(4);

/// A device behind the RTU framing: its registers and coils. Each returns an exception
/// code where the spec wants one.
pub trait Device: Send + 'static {
    /// How long the instrument takes over a request before it acts and answers
    /// (declared per emulator from published figures; none where there are none).
    fn latency(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// Function 03.
    fn read_registers(&mut self, _addr: u16, _count: u16, _w: &mut World) -> Result<Vec<u16>, u8> {
        Err(ILLEGAL_FUNCTION)
    }
    /// Function 06 (and each register of function 10).
    fn write_register(&mut self, _addr: u16, _value: u16, _w: &mut World) -> Result<(), u8> {
        Err(ILLEGAL_FUNCTION)
    }
    /// Function 01.
    fn read_coils(&mut self, _addr: u16, _count: u16, _w: &mut World) -> Result<Vec<bool>, u8> {
        Err(ILLEGAL_FUNCTION)
    }
    /// Function 05.
    fn write_coil(&mut self, _addr: u16, _on: bool, _w: &mut World) -> Result<(), u8> {
        Err(ILLEGAL_FUNCTION)
    }
}

/// An RTU slave at one address, serving `D`.
pub struct RtuSlave<D> {
    address: u8,
    pending: Vec<u8>,
    last_byte: Option<Instant>,
    /// The device behind the framing.
    pub device: D,
}

/// Appends the CRC to a frame.
pub fn with_crc(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = CRC.checksum(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// True when the last two bytes are the CRC of the rest.
pub fn crc_ok(frame: &[u8]) -> bool {
    frame.len() >= 4 && {
        let (body, crc) = frame.split_at(frame.len() - 2);
        CRC.checksum(body).to_le_bytes() == crc
    }
}

fn word(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// How long a request of this function is, once enough of it is in to say; `None`
/// when only silence can end it.
fn request_len(frame: &[u8]) -> Option<usize> {
    match *frame.get(1)? {
        0x01..=0x06 => Some(8),
        0x0F | 0x10 => frame.get(6).map(|n| 9 + usize::from(*n)),
        _ => None,
    }
}

impl<D: Device> RtuSlave<D> {
    /// A slave at `address` (1-247).
    pub fn new(address: u8, device: D) -> Self {
        Self {
            address,
            pending: Vec::new(),
            last_byte: None,
            device,
        }
    }

    /// Bytes from the master; returns what the slave answers.
    pub fn input(&mut self, bytes: &[u8], w: &mut World) -> Vec<u8> {
        let now = Instant::now();
        // A silence before these bytes ended whatever came before them.
        if self.last_byte.is_some_and(|t| now - t >= T35) && !self.pending.is_empty() {
            self.end_on_silence(w);
        }
        self.last_byte = Some(now);
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(len) = request_len(&self.pending) {
            if self.pending.len() < len {
                break;
            }
            let frame: Vec<u8> = self.pending.drain(..len).collect();
            if !crc_ok(&frame) {
                // A damaged frame: what follows it on the line is not trusted either.
                self.pending.clear();
                break;
            }
            out.extend(self.serve(&frame, w));
        }
        out
    }

    /// Called between reads: a quiet line ends a frame whose length the function does
    /// not give.
    pub fn idle(&mut self, w: &mut World) -> Vec<u8> {
        let quiet = self.last_byte.is_some_and(|t| t.elapsed() >= T35);
        if quiet && !self.pending.is_empty() {
            return self.end_on_silence(w);
        }
        Vec::new()
    }

    fn end_on_silence(&mut self, w: &mut World) -> Vec<u8> {
        let frame = std::mem::take(&mut self.pending);
        if crc_ok(&frame) {
            self.serve(&frame, w)
        } else {
            Vec::new()
        }
    }

    /// Carries out one frame with a good CRC; the answer, if one is due.
    fn serve(&mut self, frame: &[u8], w: &mut World) -> Vec<u8> {
        let (address, function) = (frame[0], frame[1]);
        if address != self.address && address != 0 {
            return Vec::new();
        }
        w.busy(self.device.latency());
        let answer = self.execute(function, &frame[2..frame.len() - 2], w);
        if address == 0 {
            return Vec::new();
        }
        let pdu = match answer {
            Ok(data) => [vec![function], data].concat(),
            Err(code) => vec![function | 0x80, code],
        };
        with_crc([vec![address], pdu].concat())
    }

    fn execute(&mut self, function: u8, data: &[u8], w: &mut World) -> Result<Vec<u8>, u8> {
        let d = &mut self.device;
        match function {
            0x01 | 0x03 if data.len() == 4 => {
                let (addr, count) = (word(data, 0), word(data, 2));
                if function == 0x01 {
                    if !(1..=2000).contains(&count) {
                        return Err(ILLEGAL_VALUE);
                    }
                    let coils = d.read_coils(addr, count, w)?;
                    let mut bytes = vec![0u8; coils.len().div_ceil(8)];
                    for (i, on) in coils.iter().enumerate() {
                        bytes[i / 8] |= u8::from(*on) << (i % 8);
                    }
                    Ok([vec![bytes.len() as u8], bytes].concat())
                } else {
                    if !(1..=125).contains(&count) {
                        return Err(ILLEGAL_VALUE);
                    }
                    let words = d.read_registers(addr, count, w)?;
                    let mut out = vec![(words.len() * 2) as u8];
                    words.iter().for_each(|v| out.extend(v.to_be_bytes()));
                    Ok(out)
                }
            }
            0x05 if data.len() == 4 => {
                let on = match word(data, 2) {
                    0xFF00 => true,
                    0x0000 => false,
                    _ => return Err(ILLEGAL_VALUE),
                };
                d.write_coil(word(data, 0), on, w)?;
                Ok(data.to_vec())
            }
            0x06 if data.len() == 4 => {
                d.write_register(word(data, 0), word(data, 2), w)?;
                Ok(data.to_vec())
            }
            0x10 if data.len() >= 5 => {
                let (addr, count, bytes) = (word(data, 0), word(data, 2), usize::from(data[4]));
                if !(1..=123).contains(&count)
                    || bytes != usize::from(count) * 2
                    || data.len() != 5 + bytes
                {
                    return Err(ILLEGAL_VALUE);
                }
                for i in 0..count {
                    let value = word(data, 5 + 2 * usize::from(i));
                    d.write_register(addr.wrapping_add(i), value, w)?;
                }
                Ok(data[..4].to_vec())
            }
            _ => Err(ILLEGAL_FUNCTION),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sixteen registers and eight coils that remember what is written.
    #[derive(Default)]
    struct Memory {
        regs: [u16; 16],
        coils: [bool; 8],
    }

    impl Device for Memory {
        fn read_registers(&mut self, addr: u16, count: u16, _: &mut World) -> Result<Vec<u16>, u8> {
            let (a, n) = (usize::from(addr), usize::from(count));
            self.regs
                .get(a..a + n)
                .map(<[u16]>::to_vec)
                .ok_or(ILLEGAL_ADDRESS)
        }
        fn write_register(&mut self, addr: u16, value: u16, _: &mut World) -> Result<(), u8> {
            *self
                .regs
                .get_mut(usize::from(addr))
                .ok_or(ILLEGAL_ADDRESS)? = value;
            Ok(())
        }
        fn read_coils(&mut self, addr: u16, count: u16, _: &mut World) -> Result<Vec<bool>, u8> {
            let (a, n) = (usize::from(addr), usize::from(count));
            self.coils
                .get(a..a + n)
                .map(<[bool]>::to_vec)
                .ok_or(ILLEGAL_ADDRESS)
        }
        fn write_coil(&mut self, addr: u16, on: bool, _: &mut World) -> Result<(), u8> {
            *self
                .coils
                .get_mut(usize::from(addr))
                .ok_or(ILLEGAL_ADDRESS)? = on;
            Ok(())
        }
    }

    fn slave() -> (RtuSlave<Memory>, World) {
        (
            RtuSlave::new(1, Memory::default()),
            World::unpowered("maglock_12v"),
        )
    }

    #[test]
    fn the_frames_in_the_reference_answer_as_the_spec_says() {
        let (mut s, mut w) = slave();
        // Relay board frames quoted in the bench reference, CRCs included.
        assert_eq!(
            s.input(&[0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A], &mut w),
            [0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]
        );
        assert_eq!(
            s.input(&[0x01, 0x01, 0x00, 0x00, 0x00, 0x08, 0x3D, 0xCC], &mut w),
            with_crc(vec![0x01, 0x01, 0x01, 0x01])
        );
        // The Riden's "output on" frame: register 18 is beyond this memory.
        assert_eq!(
            s.input(&[0x01, 0x06, 0x00, 0x12, 0x00, 0x01, 0xE8, 0x0F], &mut w),
            with_crc(vec![0x01, 0x86, ILLEGAL_ADDRESS])
        );
        // Registers 8-11 as the Riden's reference frame reads them.
        s.device.regs[8] = 1200;
        let answer = s.input(&[0x01, 0x03, 0x00, 0x08, 0x00, 0x04, 0xC5, 0xCB], &mut w);
        let words = [0x04, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(answer, with_crc([&[0x01, 0x03, 0x08][..], &words].concat()));
    }

    #[test]
    fn split_frames_bad_crcs_other_addresses_and_broadcasts() {
        let (mut s, mut w) = slave();
        let on = with_crc(vec![0x01, 0x05, 0x00, 0x02, 0xFF, 0x00]);
        assert_eq!(s.input(&on[..3], &mut w), b"");
        assert_eq!(s.input(&on[3..], &mut w), on, "echoed once whole");
        assert!(s.device.coils[2]);
        let mut bad = with_crc(vec![0x01, 0x05, 0x00, 0x03, 0xFF, 0x00]);
        bad[7] ^= 1;
        assert_eq!(s.input(&bad, &mut w), b"", "a bad CRC is not answered");
        assert!(!s.device.coils[3]);
        let other = with_crc(vec![0x02, 0x05, 0x00, 0x03, 0xFF, 0x00]);
        assert_eq!(s.input(&other, &mut w), b"");
        assert!(!s.device.coils[3], "another slave's frame");
        let broadcast = with_crc(vec![0x00, 0x05, 0x00, 0x03, 0xFF, 0x00]);
        assert_eq!(
            s.input(&broadcast, &mut w),
            b"",
            "broadcasts are not answered"
        );
        assert!(s.device.coils[3], "but carried out");
        let odd = with_crc(vec![0x01, 0x05, 0x00, 0x04, 0x12, 0x34]);
        assert_eq!(
            s.input(&odd, &mut w),
            with_crc(vec![0x01, 0x85, ILLEGAL_VALUE])
        );
    }

    #[test]
    fn write_multiple_and_an_unknown_function_ended_by_silence() {
        let (mut s, mut w) = slave();
        let write = with_crc(vec![
            0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02,
        ]);
        assert_eq!(
            s.input(&write, &mut w),
            with_crc(vec![0x01, 0x10, 0x00, 0x01, 0x00, 0x02])
        );
        assert_eq!(&s.device.regs[1..3], &[10, 258]);
        let unknown = with_crc(vec![0x01, 0x2B, 0x0E, 0x01, 0x00]);
        assert_eq!(
            s.input(&unknown, &mut w),
            b"",
            "its length is not known yet"
        );
        std::thread::sleep(T35);
        assert_eq!(s.idle(&mut w), with_crc(vec![0x01, 0xAB, ILLEGAL_FUNCTION]));
        let too_many = with_crc(vec![0x01, 0x03, 0x00, 0x00, 0x00, 0x7E]);
        assert_eq!(
            s.input(&too_many, &mut w),
            with_crc(vec![0x01, 0x83, ILLEGAL_VALUE])
        );
    }
}
