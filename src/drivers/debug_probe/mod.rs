//! A debug probe on the lock board's SWD or JTAG port, through probe-rs: ST-Link,
//! J-Link, CMSIS-DAP (v2, bulk), FTDI, ESP-JTAG and the other probes probe-rs drives
//! over USB (no system library: its USB access is pure Rust).
//!
//! | what | how |
//! |---|---|
//! | pick the probe | `probe = "VID:PID"` or `"VID:PID:SERIAL"` in the rig file (the first probe found when absent) |
//! | pick the chip | `chip = "nRF52840_xxAA"` (a probe-rs target name: `probe-rs chip list`) |
//! | flash | an ELF, Intel HEX or raw binary image, erased, programmed and verified, with progress |
//! | reset | `reset` (run) or `reset and halt` |
//! | read a register | one 32-bit word, e.g. the chip's reset-cause register |
//! | RTT | the target's up channel 0, read as lines ([`RttLines`]) |
//!
//! Every call that fails is an [`InstrumentError`], as for any instrument.

use std::path::Path;
use std::time::Duration;

use probe_rs::flashing::{self, DownloadOptions, FlashProgress, ProgressEvent};
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeSelector, Probe};
use probe_rs::rtt::Rtt;
use probe_rs::{CoreStatus, MemoryInterface, Permissions, Session};

use crate::drivers::{InstrumentError, Result};

/// How long a reset and halt may take.
const HALT_TIMEOUT: Duration = Duration::from_millis(500);

/// The image formats lockrig flashes, by file extension.
pub fn image_format(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "elf" | "axf" | "out" => Some("elf"),
        "hex" | "ihex" => Some("hex"),
        "bin" => Some("bin"),
        _ => None,
    }
}

/// An instrument error for `what`, saying every cause in probe-rs's chain (its outer
/// errors alone, "An ARM specific error occurred", do not say what happened).
fn error(
    what: &str,
    e: impl std::fmt::Display + Into<Box<dyn std::error::Error>>,
) -> InstrumentError {
    let mut text = e.to_string();
    let boxed: Box<dyn std::error::Error> = e.into();
    let mut cause = boxed.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    if text.contains("did not respond") || text.contains("find or attach to the target") {
        text.push_str(" (a chip answers its debug port only while it is powered)");
    }
    InstrumentError::Io {
        command: what.to_string(),
        source: std::io::Error::other(text),
    }
}

/// Opens the probe afresh (the USB probe by its selector, or the simulator's).
type Opener = Box<dyn FnMut() -> Result<Probe> + Send>;

/// The chip behind a debug probe, as far as the probe can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreState {
    /// Executing instructions (or asleep waiting for an interrupt).
    Running,
    /// Halted (by a debugger, a breakpoint instruction or a vector catch).
    Halted,
    /// Locked up: a fault within a fault handler, or no valid image to run.
    LockedUp,
}

/// A debug probe and the chip behind it. The probe is opened when this is made (its
/// identity proves it is there); the chip is attached when first needed, because it
/// answers only while the lock board is powered. A failed call drops the attachment,
/// so the next one attaches afresh (after the board lost power, its debug port must
/// be powered up again).
pub struct DebugProbe {
    open: Opener,
    idle: Option<Probe>,
    chip: String,
    name: String,
    attached: Option<Attached>,
    lines: RttLines,
}

struct Attached {
    session: Session,
    rtt: Option<Rtt>,
}

impl Attached {
    /// The chip's core 0, and its RTT control block (found on first use: a reset or a
    /// new firmware moves it).
    fn core_and_rtt(&mut self) -> Result<(probe_rs::Core<'_>, &mut Rtt)> {
        let mut core = self
            .session
            .core(0)
            .map_err(|e| error("select core 0", e))?;
        if self.rtt.is_none() {
            self.rtt =
                Some(Rtt::attach(&mut core).map_err(|e| error("find the RTT control block", e))?);
        }
        Ok((core, self.rtt.as_mut().expect("attached above")))
    }
}

impl DebugProbe {
    /// Opens the probe `selector` (`VID:PID[:SERIAL]`; the first one found when `None`)
    /// for `chip`.
    pub fn open(selector: Option<&str>, chip: &str) -> Result<Self> {
        let selector = selector.map(str::to_string);
        Self::with_opener(Box::new(move || open_usb(selector.as_deref())), chip)
    }

    /// A probe that `open` opens (a fresh one each time it is called) for `chip`.
    pub fn with_opener(mut open: Opener, chip: &str) -> Result<Self> {
        known_chip(chip)?;
        let probe = open()?;
        Ok(Self {
            name: probe.get_name(),
            idle: Some(probe),
            open,
            chip: chip.to_string(),
            attached: None,
            lines: RttLines::default(),
        })
    }

    /// The probe and the chip.
    pub fn identity(&self) -> String {
        format!("{} for {}", self.name, self.chip)
    }

    /// Runs `f` on the attached session, attaching first if needed; an error drops the
    /// attachment.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Attached) -> std::result::Result<T, InstrumentError>,
    ) -> Result<T> {
        if self.attached.is_none() {
            let probe = match self.idle.take() {
                Some(p) => p,
                None => (self.open)()?,
            };
            let session = probe
                .attach(self.chip.as_str(), Permissions::default())
                .map_err(|e| error(&format!("attach to {}", self.chip), e))?;
            self.attached = Some(Attached { session, rtt: None });
        }
        let attached = self.attached.as_mut().expect("attached above");
        let result = f(attached);
        if result.is_err() {
            self.attached = None;
        }
        result
    }

    /// Resets the chip, and halts it at its reset vector when `halt`.
    pub fn reset(&mut self, halt: bool) -> Result<()> {
        self.with(|a| {
            let mut core = a.session.core(0).map_err(|e| error("select core 0", e))?;
            if halt {
                core.reset_and_halt(HALT_TIMEOUT)
                    .map(|_| ())
                    .map_err(|e| error("reset and halt", e))
            } else {
                core.reset().map_err(|e| error("reset", e))
            }?;
            // A reset loses the RTT control block's address.
            a.rtt = None;
            Ok(())
        })?;
        self.lines = RttLines::default();
        Ok(())
    }

    /// Reads one 32-bit word of the chip's memory (a peripheral register).
    pub fn read_word(&mut self, address: u64) -> Result<u32> {
        self.with(|a| {
            let mut core = a.session.core(0).map_err(|e| error("select core 0", e))?;
            core.read_word_32(address)
                .map_err(|e| error(&format!("read {address:#010x}"), e))
        })
    }

    /// What the core is doing (its debug halting status register, read without
    /// stopping it).
    pub fn core_state(&mut self) -> Result<CoreState> {
        self.with(|a| {
            let mut core = a.session.core(0).map_err(|e| error("select core 0", e))?;
            let status = core
                .status()
                .map_err(|e| error("read the core's status", e))?;
            Ok(match status {
                CoreStatus::LockedUp => CoreState::LockedUp,
                CoreStatus::Halted(_) => CoreState::Halted,
                CoreStatus::Running | CoreStatus::Sleeping | CoreStatus::Unknown => {
                    CoreState::Running
                }
            })
        })
    }

    /// Erases, programs and verifies `image`, reporting each step to `progress`, then
    /// resets the chip to run it.
    pub fn flash(&mut self, image: &Path, progress: impl FnMut(ProgressEvent)) -> Result<()> {
        let format = image_format(image)
            .and_then(flashing::image_format)
            .ok_or_else(|| {
                error(
                    &format!("flash {}", image.display()),
                    "expected an .elf, .hex or .bin image",
                )
            })?;
        self.with(|a| {
            let mut options = DownloadOptions::default();
            options.progress = FlashProgress::new(progress);
            options.verify = true;
            flashing::download_file_with_options(
                &mut a.session,
                image,
                format.create_loader(None),
                options,
            )
            .map_err(|e| error(&format!("flash {}", image.display()), e))
        })?;
        self.reset(false)
    }

    /// Lines the target printed on RTT up channel 0 since the last call.
    pub fn rtt_lines(&mut self) -> Result<Vec<String>> {
        let mut got = Vec::new();
        self.with(|a| {
            let (mut core, rtt) = a.core_and_rtt()?;
            let Some(channel) = rtt.up_channel(0) else {
                return Ok(());
            };
            let mut buf = [0u8; 1024];
            loop {
                let n = channel
                    .read(&mut core, &mut buf)
                    .map_err(|e| error("read RTT up channel 0", e))?;
                if n == 0 {
                    return Ok(());
                }
                got.extend_from_slice(&buf[..n]);
            }
        })?;
        self.lines.push(&got);
        Ok(self.lines.take())
    }

    /// Writes `line` and a line feed to RTT down channel 0 (a shell's input).
    pub fn rtt_send(&mut self, line: &str) -> Result<()> {
        self.with(|a| {
            let (mut core, rtt) = a.core_and_rtt()?;
            let channel = rtt.down_channel(0).ok_or_else(|| {
                error(
                    "write RTT down channel 0",
                    "the firmware has no down channel",
                )
            })?;
            let bytes: Vec<u8> = line.bytes().chain([b'\n']).collect();
            let mut sent = 0;
            while sent < bytes.len() {
                let n = channel
                    .write(&mut core, &bytes[sent..])
                    .map_err(|e| error("write RTT down channel 0", e))?;
                if n == 0 {
                    return Err(error(
                        "write RTT down channel 0",
                        "the channel is full: the firmware does not read it",
                    ));
                }
                sent += n;
            }
            Ok(())
        })
    }
}

/// Refuses a chip probe-rs does not know now, not at the first step that needs the
/// chip. The lookup copies probe-rs's whole target list, so chips found are kept.
fn known_chip(chip: &str) -> Result<()> {
    static KNOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if !known.iter().any(|c| c == chip) {
        probe_rs::config::Registry::from_builtin_families()
            .get_target_by_name(chip)
            .map_err(|e| error(&format!("look up chip `{chip}`"), e))?;
        known.push(chip.to_string());
    }
    Ok(())
}

/// Opens a USB probe by its selector, or the first one found.
fn open_usb(selector: Option<&str>) -> Result<Probe> {
    let lister = Lister::new();
    match selector {
        Some(s) => {
            let sel: DebugProbeSelector = s
                .parse()
                .map_err(|e| error(&format!("select probe `{s}`"), e))?;
            lister
                .open(sel)
                .map_err(|e| error(&format!("open probe `{s}`"), e))
        }
        None => {
            let found = lister.list_all();
            let first = found.first().ok_or_else(|| InstrumentError::Open {
                what: "a debug probe".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no debug probe is connected (or this user may not open it: check the udev rules)",
                ),
            })?;
            first.open().map_err(|e| error("open the debug probe", e))
        }
    }
}

/// Cuts an RTT byte stream into lines: LF ends a line, a CR before it is dropped, a
/// line longer than [`crate::transport::MAX_LINE`] is cut. The target is untrusted
/// like any board output: invalid bytes and control characters are escaped as in the
/// console's lines ([`crate::transport::board_line`]).
#[derive(Debug, Default)]
pub struct RttLines {
    partial: Vec<u8>,
    done: Vec<String>,
}

impl RttLines {
    /// Bytes from the channel.
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.done.push(crate::transport::board_line(&line));
            } else if self.partial.len() < crate::transport::MAX_LINE {
                self.partial.push(b);
            }
        }
    }

    /// The complete lines so far.
    pub fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_bytes_become_lines_across_reads() {
        let mut l = RttLines::default();
        l.push(b"[INFO] boot\r\n[WARN] low ba");
        assert_eq!(l.take(), ["[INFO] boot"]);
        l.push(b"ttery\n\xff\x1b[2J\n");
        assert_eq!(l.take(), ["[WARN] low battery", "\\xff\\x1b[2J"]);
        let long = vec![b'x'; crate::transport::MAX_LINE + 10];
        l.push(&long);
        l.push(b"\n");
        assert_eq!(l.take()[0].len(), crate::transport::MAX_LINE);
    }

    #[test]
    fn images_are_known_by_their_extension() {
        assert_eq!(image_format(Path::new("fw/lock.elf")), Some("elf"));
        assert_eq!(image_format(Path::new("LOCK.HEX")), Some("hex"));
        assert_eq!(image_format(Path::new("lock.bin")), Some("bin"));
        assert_eq!(image_format(Path::new("lock.zip")), None);
        for f in ["elf", "hex", "bin"] {
            assert!(flashing::image_format(f).is_some(), "{f}");
        }
    }

    #[test]
    fn no_probe_is_an_instrument_error_naming_what_to_check() {
        // This machine has no debug probe; a bench without one says so.
        match DebugProbe::open(Some("1366:1015:000000000000"), "nRF52840_xxAA") {
            Err(e) => assert!(e.to_string().contains("1366:1015"), "{e}"),
            Ok(p) => panic!("a probe is attached here: {}", p.identity()),
        }
    }

    #[test]
    fn the_fake_probe_reaches_the_chip_lookup() {
        // A misspelt chip is refused by name before the probe is touched (probe-rs's
        // own fake probe stands in for it).
        let open: Opener =
            Box::new(
                || Ok(probe_rs::probe::fake_probe::FakeProbe::with_mocked_core().into_probe()),
            );
        let err = DebugProbe::with_opener(open, "nRF52840_xxAX")
            .err()
            .expect("no such chip");
        assert!(err.to_string().contains("nRF52840_xxAX"), "{err}");
    }
}
