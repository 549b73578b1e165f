//! The lock board's SWD debug port, for the `probe-rs` driver (`sim = "swd"`): the
//! probe is emulated at the level a CMSIS-DAP or J-Link probe works, the Arm Debug
//! Interface's register accesses (ARM IHI 0031, ADIv5), and probe-rs's own
//! `ArmCommunicationInterface`, debug sequences and memory interface run on top of it
//! unmodified, as they do on a real probe.
//!
//! | ADIv5 | here |
//! |---|---|
//! | SW-DP (DPv1) | DPIDR `0x2BA01477`; CTRL/STAT power-up handshake (CSYSPWRUPACK and CDBGPWRUPACK follow their requests); SELECT; RDBUFF; a line reset clears SELECT |
//! | AP 0 | AHB-AP (IDR `0x24770011`): CSW (size, auto-increment within 1 KiB), TAR, DRW, the banked data registers, BASE (the ROM table) |
//! | AP 1 | the nRF52's CTRL-AP: APPROTECTSTATUS reads 1 (not protected) |
//! | no supply | the probe finds no target voltage (VTref) when it attaches; a request to a chip that lost its supply since goes unacknowledged (an SWD no-ACK) |
//!
//! The chip behind it is an nRF52840 (nRF52840 Product Specification v1.7) as far as a
//! lock board's debugger reaches it:
//!
//! | address | what |
//! |---|---|
//! | `0x20000000`, its code-bus alias `0x00800000` | 256 KiB of RAM, holding the firmware's SEGGER RTT control block |
//! | `0x40000400` RESETREAS | 0 after a power-on or brown-out reset; bit 2 (SREQ) after a reset requested through the debug port; write 1 to clear |
//! | `0xE000ED00`-`0xE000EDFC` | CPUID (Cortex-M4), AIRCR (SYSRESETREQ), DFSR, DHCSR (C_DEBUGEN, C_HALT, C_STEP, S_HALT, S_LOCKUP, S_RETIRE_ST, S_RESET_ST), DCRSR/DCRDR, DEMCR (VC_CORERESET) |
//! | `0xE00FF000` | a ROM table naming the SCS |
//!
//! RTT: the firmware keeps its control block at `0x20000100` with one up channel
//! ("Terminal", 1 KiB: every line it prints on its UART, stamped the same way) and one
//! down channel (256 bytes: a line written there is taken as a console command and
//! answered on the up channel, as a shell with an RTT backend does). The up channel
//! skips a line that does not fit (SEGGER's default `NO_BLOCK_SKIP`). Every boot sets
//! the block up afresh, its buffers empty. A board that has no firmware console has no
//! microcontroller modelled: its debug port never answers.
//!
//! Accesses take no simulated time (an SWD access at 4 MHz takes about 10 us).

use std::sync::{Arc, Mutex, MutexGuard};

use probe_rs::architecture::arm::sequences::ArmDebugSequence;
use probe_rs::architecture::arm::{
    ArmCommunicationInterface, ArmDebugInterface, ArmError, DapError, DapProbe, RawDapAccess,
    RegisterAddress,
};
use probe_rs::probe::{DebugProbe, DebugProbeError, Probe, WireProtocol};
use probe_rs::CoreStatus;

use super::board::Core;
use super::world::World;

/// The RAM and its code-bus alias (probe-rs's RTT scan reads the alias: the target
/// description marks the system-bus view as an alias).
const RAM: [u32; 2] = [0x2000_0000, 0x0080_0000];
const RAM_SIZE: u32 = 0x4_0000;
/// POWER.RESETREAS.
pub const RESETREAS: u32 = 0x4000_0400;
const RESETREAS_SREQ: u32 = 1 << 2;

const CPUID: u32 = 0xE000_ED00;
const AIRCR: u32 = 0xE000_ED0C;
const DFSR: u32 = 0xE000_ED30;
const DHCSR: u32 = 0xE000_EDF0;
const DCRSR: u32 = 0xE000_EDF4;
const DCRDR: u32 = 0xE000_EDF8;
const DEMCR: u32 = 0xE000_EDFC;
const ROM_TABLE: u32 = 0xE00F_F000;
const SCS: u32 = 0xE000_E000;

/// The RTT control block, its channels' buffers and names.
const RTT_CB: u32 = 0x2000_0100;
const RTT_UP_NAME: u32 = 0x2000_0200;
const RTT_DOWN_NAME: u32 = 0x2000_0210;
const RTT_UP_BUF: u32 = 0x2000_0400;
const RTT_UP_SIZE: u32 = 1024;
const RTT_DOWN_BUF: u32 = 0x2000_0800;
const RTT_DOWN_SIZE: u32 = 256;
/// A channel descriptor: name, buffer, size, WrOff, RdOff, flags.
const RTT_UP: u32 = RTT_CB + 24;
const RTT_DOWN: u32 = RTT_UP + 24;
const WR_OFF: u32 = 12;
const RD_OFF: u32 = 16;

/// The debugger's view of the chip, kept with the board (it outlives any one probe
/// session, as the chip does).
#[derive(Debug)]
pub struct Chip {
    ram: Vec<u8>,
    resetreas: u32,
    /// The board's boot count when the RTT block was last set up.
    booted: Option<u32>,
    /// A reset requested through the debug port, not yet seen to boot.
    requested: bool,
    debugen: bool,
    demcr: u32,
    dfsr: u32,
    dcrdr: u32,
    regs: [u32; 32],
    /// S_RESET_ST: the core was reset since DHCSR was last read.
    reset_seen: bool,
    /// The reader's place in the board's UART output (see [`World::console_output`]).
    cursor: Option<u64>,
    /// A command line written to the down channel, not yet ended.
    partial: Vec<u8>,
}

impl Default for Chip {
    fn default() -> Self {
        Self {
            ram: vec![0; RAM_SIZE as usize],
            resetreas: 0,
            booted: None,
            requested: false,
            debugen: false,
            demcr: 0,
            dfsr: 0,
            dcrdr: 0,
            regs: [0; 32],
            reset_seen: false,
            cursor: None,
            partial: Vec::new(),
        }
    }
}

fn ram_offset(addr: u32) -> Option<usize> {
    RAM.iter()
        .find(|&&base| (base..base + RAM_SIZE).contains(&addr))
        .map(|base| (addr - base) as usize)
}

/// A CoreSight component's ID registers (PIDR4, PIDR0-3, CIDR0-3) at `offset`.
fn id_register(offset: u32, pidr: u64, cidr: u32) -> u32 {
    match offset {
        0xFD0 => ((pidr >> 32) & 0xff) as u32,
        0xFE0..=0xFEC => ((pidr >> (8 * ((offset - 0xFE0) / 4))) & 0xff) as u32,
        0xFF0..=0xFFC => (cidr >> (8 * ((offset - 0xFF0) / 4))) & 0xff,
        _ => 0,
    }
}

impl Chip {
    fn word(&self, addr: u32) -> u32 {
        ram_offset(addr).map_or(0, |o| {
            u32::from_le_bytes(self.ram[o..o + 4].try_into().expect("4 bytes"))
        })
    }

    fn put(&mut self, addr: u32, bytes: &[u8]) {
        if let Some(o) = ram_offset(addr) {
            self.ram[o..o + bytes.len()].copy_from_slice(bytes);
        }
    }

    /// What the firmware's start-up does to the chip's state: the RAM is the new
    /// firmware's, with its RTT block set up; RESETREAS says why it reset.
    fn boot(&mut self) {
        self.ram.fill(0);
        self.put(RTT_CB, b"SEGGER RTT\0\0\0\0\0\0");
        self.put(RTT_CB + 16, &1u32.to_le_bytes());
        self.put(RTT_CB + 20, &1u32.to_le_bytes());
        for (desc, name, buf, size) in [
            (RTT_UP, RTT_UP_NAME, RTT_UP_BUF, RTT_UP_SIZE),
            (RTT_DOWN, RTT_DOWN_NAME, RTT_DOWN_BUF, RTT_DOWN_SIZE),
        ] {
            for (i, w) in [name, buf, size, 0, 0, 0].into_iter().enumerate() {
                self.put(desc + 4 * i as u32, &w.to_le_bytes());
            }
        }
        self.put(RTT_UP_NAME, b"Terminal\0");
        self.put(RTT_DOWN_NAME, b"Terminal\0");
        // A power-on or brown-out reset clears the register; a requested reset set its
        // bit when it was made.
        if !std::mem::take(&mut self.requested) {
            self.resetreas = 0;
        }
        self.partial.clear();
        self.reset_seen = true;
    }

    /// Writes a line to the up channel, or skips it when it does not fit.
    fn print(&mut self, line: &str) {
        let (wr, rd) = (self.word(RTT_UP + WR_OFF), self.word(RTT_UP + RD_OFF));
        let free = (rd + RTT_UP_SIZE - wr - 1) % RTT_UP_SIZE;
        let bytes: Vec<u8> = line.bytes().chain([b'\n']).collect();
        if bytes.len() as u32 > free {
            return;
        }
        let mut at = wr;
        for b in bytes {
            self.put(RTT_UP_BUF + at, &[b]);
            at = (at + 1) % RTT_UP_SIZE;
        }
        self.put(RTT_UP + WR_OFF, &at.to_le_bytes());
    }
}

/// Brings the chip up to date with the board: a new boot sets RTT up afresh and says
/// in RESETREAS why it reset.
fn refresh(w: &mut World) {
    let boots = w.board.boots();
    if boots > 0 && w.chip.booted != Some(boots) && w.board.core() == Core::Running {
        w.chip.booted = Some(boots);
        w.chip.boot();
    }
}

/// What the firmware printed since the last look goes to the up channel.
fn sync(w: &mut World) {
    let mut cursor = w.chip.cursor;
    let lines = w.console_output(&mut cursor);
    w.chip.cursor = cursor;
    if w.board.core() == Core::Running && w.chip.booted.is_some() {
        for line in lines {
            w.chip.print(&line);
        }
    }
}

/// The firmware takes what the debugger wrote to the down channel: each line is a
/// console command, answered on the up channel.
fn take_commands(w: &mut World) {
    let (wr, mut rd) = (
        w.chip.word(RTT_DOWN + WR_OFF),
        w.chip.word(RTT_DOWN + RD_OFF),
    );
    if wr >= RTT_DOWN_SIZE {
        return;
    }
    while rd != wr {
        let b = w.chip.ram[ram_offset(RTT_DOWN_BUF + rd).expect("in RAM")];
        rd = (rd + 1) % RTT_DOWN_SIZE;
        if b == b'\n' {
            let line = String::from_utf8_lossy(&std::mem::take(&mut w.chip.partial))
                .trim_end_matches('\r')
                .to_string();
            if let Some(reply) = w.console_command(&line) {
                sync(w);
                w.chip.print(&reply);
            }
        } else if w.chip.partial.len() < 256 {
            w.chip.partial.push(b);
        }
    }
    w.chip.put(RTT_DOWN + RD_OFF, &rd.to_le_bytes());
}

fn read32(w: &mut World, addr: u32) -> u32 {
    let addr = addr & !3;
    if ram_offset(addr).is_some() {
        if ram_offset(addr) == ram_offset(RTT_UP + WR_OFF) {
            sync(w);
        }
        return w.chip.word(addr);
    }
    let chip = &mut w.chip;
    match addr {
        RESETREAS => chip.resetreas,
        CPUID => 0x410F_C241,
        AIRCR => 0xFA05_0000,
        DFSR => chip.dfsr,
        DCRDR => chip.dcrdr,
        DEMCR => chip.demcr,
        DHCSR => {
            let core = w.board.core();
            let halted = w.board.halted();
            let mut v = u32::from(chip.debugen) | u32::from(halted) << 1 | 1 << 16;
            v |= u32::from(halted) << 17;
            // A halt request takes a locked-up core into Debug state; resumed, it
            // locks up again (its image is still not there).
            if core == Core::LockedUp && !halted {
                v |= 1 << 19;
            }
            if core == Core::Running && !halted {
                // S_RETIRE_ST: instructions retired since the last read.
                v |= 1 << 24;
            }
            if std::mem::take(&mut chip.reset_seen) {
                v |= 1 << 25;
            }
            v
        }
        a if (ROM_TABLE..ROM_TABLE + 0x1000).contains(&a) => match a - ROM_TABLE {
            // One entry, the SCS (an offset from the table, present, 32-bit), then the end.
            0 => SCS.wrapping_sub(ROM_TABLE) | 0b11,
            0xFCC => 1,
            off => id_register(off, 0x04_000B_B4C4, 0xB105_100D),
        },
        a if (SCS + 0xFD0..SCS + 0x1000).contains(&a) => {
            id_register(a - SCS, 0x04_000B_B00C, 0xB105_E00D)
        }
        _ => 0,
    }
}

fn write32(w: &mut World, addr: u32, value: u32) {
    let addr = addr & !3;
    if ram_offset(addr).is_some() {
        w.chip.put(addr, &value.to_le_bytes());
        if ram_offset(addr) == ram_offset(RTT_DOWN + WR_OFF) {
            take_commands(w);
        }
        return;
    }
    match addr {
        RESETREAS => w.chip.resetreas &= !value,
        DHCSR if value >> 16 == 0xA05F => {
            w.chip.debugen = value & 1 != 0;
            let halt = w.chip.debugen && value & 0b110 != 0;
            if halt && !w.board.halted() {
                w.chip.dfsr |= 1;
            }
            w.board.set_halted(halt);
        }
        DCRSR => {
            let r = (value & 0x1f) as usize;
            if value & 1 << 16 != 0 {
                w.chip.regs[r] = w.chip.dcrdr;
            } else {
                w.chip.dcrdr = w.chip.regs[r];
            }
        }
        DCRDR => w.chip.dcrdr = value,
        DEMCR => w.chip.demcr = value,
        DFSR => w.chip.dfsr &= !value,
        AIRCR if value >> 16 == 0x05FA && value & 0b100 != 0 => {
            w.chip.requested = true;
            w.chip.resetreas |= RESETREAS_SREQ;
            w.chip.reset_seen = true;
            w.board.debug_reset();
            w.chip.regs = [0; 32];
            w.chip.regs[16] = 0x0100_0000;
            // Reset vector catch: the core halts at its first instruction.
            let catch = w.chip.debugen && w.chip.demcr & 1 != 0;
            if catch {
                w.chip.dfsr |= 1 << 3;
            }
            w.board.set_halted(catch);
        }
        _ => {}
    }
}

/// The debug port's own registers (the probe's side of the wire).
#[derive(Debug)]
struct Port {
    ctrl_stat: u32,
    select: u32,
    rdbuff: u32,
    csw: u32,
    tar: u32,
}

/// CSW.DeviceEn: the AP may access the bus.
const CSW_DEVICE_EN: u32 = 1 << 6;

impl Port {
    fn new() -> Self {
        Self {
            ctrl_stat: 0,
            select: 0,
            rdbuff: 0,
            csw: 0x2300_0002 | CSW_DEVICE_EN,
            tar: 0,
        }
    }

    fn ap(&self) -> u8 {
        (self.select >> 24) as u8
    }

    /// An AP register: SELECT's bank and the request's address bits.
    fn ap_register(&self, low: u8) -> u8 {
        (((self.select >> 4) & 0xf) as u8) << 4 | (low & 0xc)
    }

    fn size(&self) -> u32 {
        match self.csw & 7 {
            0 => 1,
            1 => 2,
            _ => 4,
        }
    }

    /// Auto-increment, within the 1 KiB block TAR is in.
    fn step_tar(&mut self) {
        if (self.csw >> 4) & 3 == 1 {
            self.tar = (self.tar & !0x3ff) | (self.tar.wrapping_add(self.size()) & 0x3ff);
        }
    }

    fn ap_read(&mut self, w: &mut World, reg: u8) -> u32 {
        match (self.ap(), reg) {
            (0, 0x00) => self.csw,
            (0, 0x04) => self.tar,
            (0, 0x0C) => {
                // A narrow read returns the whole word; the addressed lanes are valid.
                let v = read32(w, self.tar);
                self.step_tar();
                v
            }
            (0, r @ 0x10..=0x1C) => read32(w, (self.tar & !0xf) | u32::from(r & 0xc)),
            (0, 0xF8) => ROM_TABLE | 0b11,
            (0, 0xFC) => 0x2477_0011,
            (1, 0x0C) => 1,
            (1, 0xFC) => 0x0288_0000,
            // An absent AP reads IDR 0, which ends the AP scan.
            _ => 0,
        }
    }

    fn ap_write(&mut self, w: &mut World, reg: u8, value: u32) {
        match (self.ap(), reg) {
            (0, 0x00) => self.csw = (value & 0xFF00_0037) | CSW_DEVICE_EN,
            (0, 0x04) => self.tar = value,
            (0, 0x0C) => {
                let addr = self.tar;
                let value = match self.size() {
                    4 => value,
                    n => {
                        let shift = 8 * (addr & 3);
                        let mask = if n == 2 { 0xffff } else { 0xff } << shift;
                        (read32(w, addr) & !mask) | (value & mask)
                    }
                };
                write32(w, addr, value);
                self.step_tar();
            }
            (0, r @ 0x10..=0x1C) => write32(w, (self.tar & !0xf) | u32::from(r & 0xc), value),
            _ => {}
        }
    }
}

/// The simulated probe on the board's SWD header.
pub struct SwdProbe {
    world: Arc<Mutex<World>>,
    port: Port,
    speed_khz: u32,
}

impl std::fmt::Debug for SwdProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwdProbe")
            .field("port", &self.port)
            .finish()
    }
}

impl SwdProbe {
    /// A probe on the board of `world`, as probe-rs opens one.
    pub fn open(world: Arc<Mutex<World>>) -> Probe {
        Probe::from_specific_probe(Box::new(Self {
            world,
            port: Port::new(),
            speed_khz: 4000,
        }))
    }

    /// The world, if the chip is powered: an unpowered chip does not acknowledge.
    fn powered(world: &Mutex<World>) -> Result<MutexGuard<'_, World>, ArmError> {
        let mut w = world.lock().unwrap_or_else(|p| p.into_inner());
        if w.board.core() == Core::Unpowered {
            return Err(ArmError::Dap(DapError::NoAcknowledge));
        }
        refresh(&mut w);
        Ok(w)
    }
}

impl DebugProbe for SwdProbe {
    fn get_name(&self) -> &str {
        "simulated SWD probe"
    }
    fn speed_khz(&self) -> u32 {
        self.speed_khz
    }
    fn set_speed(&mut self, speed_khz: u32) -> Result<u32, DebugProbeError> {
        self.speed_khz = speed_khz;
        Ok(speed_khz)
    }
    fn attach(&mut self) -> Result<(), DebugProbeError> {
        // A probe senses the target's supply on its VTref pin before it drives SWD.
        let w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        if w.board.core() == Core::Unpowered {
            return Err(DebugProbeError::TargetNotFound);
        }
        Ok(())
    }
    fn detach(&mut self) -> Result<(), probe_rs::Error> {
        Ok(())
    }
    fn target_reset(&mut self) -> Result<(), DebugProbeError> {
        // The nRESET pin: a reset with the supply untouched.
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        w.board.debug_reset();
        Ok(())
    }
    fn target_reset_assert(&mut self) -> Result<(), DebugProbeError> {
        Ok(())
    }
    fn target_reset_deassert(&mut self) -> Result<(), DebugProbeError> {
        self.target_reset()
    }
    fn select_protocol(&mut self, protocol: WireProtocol) -> Result<(), DebugProbeError> {
        match protocol {
            WireProtocol::Swd => Ok(()),
            other => Err(DebugProbeError::UnsupportedProtocol(other)),
        }
    }
    fn active_protocol(&self) -> Option<WireProtocol> {
        Some(WireProtocol::Swd)
    }
    fn has_arm_interface(&self) -> bool {
        true
    }
    fn try_get_arm_debug_interface<'probe>(
        self: Box<Self>,
        sequence: Arc<dyn ArmDebugSequence>,
    ) -> Result<Box<dyn ArmDebugInterface + 'probe>, (Box<dyn DebugProbe>, ArmError)> {
        Ok(ArmCommunicationInterface::create(self, sequence, false))
    }
    fn try_as_dap_probe(&mut self) -> Option<&mut dyn DapProbe> {
        Some(self)
    }
    fn into_probe(self: Box<Self>) -> Box<dyn DebugProbe> {
        self
    }
}

impl RawDapAccess for SwdProbe {
    fn raw_read_register(&mut self, address: RegisterAddress) -> Result<u32, ArmError> {
        let mut w = Self::powered(&self.world)?;
        let port = &mut self.port;
        match address {
            RegisterAddress::DpRegister(r) => Ok(match (r.address & 0xc, port.select & 0xf) {
                (0x0, _) => 0x2BA0_1477,
                // The acknowledgements follow the power-up requests.
                (0x4, 0) => port.ctrl_stat | (port.ctrl_stat & (0b101 << 28)) << 1,
                (0x4, _) => 0,
                _ => port.rdbuff,
            }),
            RegisterAddress::ApRegister(low) => {
                // The probe's firmware hides SWD's posted reads: the request returns
                // its own value, and RDBUFF repeats it.
                let reg = port.ap_register(low);
                let v = port.ap_read(&mut w, reg);
                port.rdbuff = v;
                Ok(v)
            }
        }
    }

    fn raw_write_register(&mut self, address: RegisterAddress, value: u32) -> Result<(), ArmError> {
        let mut w = Self::powered(&self.world)?;
        let port = &mut self.port;
        match address {
            RegisterAddress::DpRegister(r) => match (r.address & 0xc, port.select & 0xf) {
                // ABORT: no sticky error is ever raised here.
                (0x0, _) => {}
                (0x4, 0) => port.ctrl_stat = value & 0x5400_0F01,
                (0x8, _) => port.select = value,
                _ => {}
            },
            RegisterAddress::ApRegister(low) => {
                let reg = port.ap_register(low);
                port.ap_write(&mut w, reg, value);
            }
        }
        Ok(())
    }

    fn jtag_sequence(&mut self, _cycles: u8, _tms: bool, _tdi: u64) -> Result<(), DebugProbeError> {
        Err(DebugProbeError::CommandNotSupportedByProbe {
            command_name: "jtag_sequence",
        })
    }

    fn swj_sequence(&mut self, bit_len: u8, bits: u64) -> Result<(), DebugProbeError> {
        // A line reset (50 or more ones) clears SELECT.
        if bit_len >= 50 && bits.count_ones() >= 50 {
            self.port.select = 0;
        }
        Ok(())
    }

    fn swj_pins(&mut self, _out: u32, _select: u32, _wait: u32) -> Result<u32, DebugProbeError> {
        // nRESET (bit 7) reads high: released.
        Ok(0x80)
    }

    fn into_probe(self: Box<Self>) -> Box<dyn DebugProbe> {
        self
    }

    fn core_status_notification(&mut self, _: CoreStatus) -> Result<(), DebugProbeError> {
        Ok(())
    }
}

impl DapProbe for SwdProbe {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::debug_probe::{CoreState, DebugProbe};
    use std::time::Duration;

    const CHIP: &str = "nRF52840_xxAA";

    /// A smart lock's board, powered and booted, and a probe on it.
    fn powered() -> (Arc<Mutex<World>>, DebugProbe) {
        let mut w = World::unpowered("smartlock_4aa");
        w.psu[0].set_v = 6.0;
        w.psu[0].set_i = 1.0;
        w.set_output(1, true);
        w.advance(Duration::from_secs(2));
        let world = Arc::new(Mutex::new(w));
        let probe = probe_on(&world);
        (world, probe)
    }

    fn probe_on(world: &Arc<Mutex<World>>) -> DebugProbe {
        let world = world.clone();
        DebugProbe::with_opener(Box::new(move || Ok(SwdProbe::open(world.clone()))), CHIP).unwrap()
    }

    #[test]
    fn probe_rs_attaches_reads_the_reset_cause_and_resets_the_board() {
        let (world, mut probe) = powered();
        assert_eq!(probe.identity(), "simulated SWD probe for nRF52840_xxAA");
        // Powered on: no reset cause is flagged.
        assert_eq!(probe.read_word(u64::from(RESETREAS)).unwrap(), 0);
        assert_eq!(probe.core_state().unwrap(), CoreState::Running);
        let boots = world.lock().unwrap().board.boots();
        probe.reset(false).unwrap();
        world.lock().unwrap().advance(Duration::from_secs(2));
        assert_eq!(world.lock().unwrap().board.boots(), boots + 1);
        // A reset requested through the debug port: SREQ, until written back.
        assert_eq!(
            probe.read_word(u64::from(RESETREAS)).unwrap(),
            RESETREAS_SREQ
        );
        // Reset and halt: the firmware stops (its console does not answer).
        probe.reset(true).unwrap();
        assert_eq!(probe.core_state().unwrap(), CoreState::Halted);
        assert_eq!(world.lock().unwrap().console_command("STATE?"), None);
        probe.reset(false).unwrap();
        world.lock().unwrap().advance(Duration::from_secs(2));
        assert!(world.lock().unwrap().console_command("STATE?").is_some());
    }

    #[test]
    fn rtt_carries_the_boards_lines_and_its_shell_answers_on_it() {
        let (world, mut probe) = powered();
        assert!(probe.rtt_lines().unwrap().is_empty());
        probe.rtt_send("STATE?").unwrap();
        assert_eq!(probe.rtt_lines().unwrap(), ["STATE LOCKED"]);
        // What the board prints on its UART comes on RTT too, uptime stamp and all.
        world
            .lock()
            .unwrap()
            .board
            .twitch(Duration::from_millis(40));
        world.lock().unwrap().advance(Duration::from_millis(100));
        let lines = probe.rtt_lines().unwrap();
        assert!(lines.iter().all(|l| l.starts_with("EVT ")), "{lines:?}");
    }

    #[test]
    fn an_unpowered_chip_is_an_error_and_a_bricked_one_is_found_locked_up() {
        let world = Arc::new(Mutex::new(World::unpowered("smartlock_4aa")));
        let mut probe = probe_on(&world);
        let e = probe
            .read_word(u64::from(RESETREAS))
            .unwrap_err()
            .to_string();
        assert!(e.contains("only while it is powered"), "{e}");
        let (world, mut probe) = powered();
        world.lock().unwrap().board.brick();
        assert_eq!(probe.core_state().unwrap(), CoreState::LockedUp);
        // Attached afresh, too.
        let mut again = probe_on(&world);
        assert_eq!(again.core_state().unwrap(), CoreState::LockedUp);
        // Its supply off, it answers no more than any unpowered chip.
        world.lock().unwrap().set_output(1, false);
        world.lock().unwrap().advance(Duration::from_secs(5));
        assert!(again.core_state().is_err());
    }

    #[test]
    fn a_misspelt_chip_is_refused_by_name() {
        let world = Arc::new(Mutex::new(World::unpowered("smartlock_4aa")));
        let open = Box::new(move || Ok(SwdProbe::open(world.clone())));
        let e = DebugProbe::with_opener(open, "nRF52840_xxAX")
            .err()
            .unwrap();
        assert!(e.to_string().contains("nRF52840_xxAX"), "{e}");
    }
}
