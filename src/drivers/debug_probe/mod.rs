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
use probe_rs::{MemoryInterface, Permissions, Session};

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

fn error(what: &str, e: impl std::fmt::Display) -> InstrumentError {
    InstrumentError::Io {
        command: what.to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A session with the chip behind a debug probe.
pub struct DebugProbe {
    session: Session,
    identity: String,
    rtt: Option<Rtt>,
    lines: RttLines,
}

impl DebugProbe {
    /// Opens the probe `selector` (`VID:PID[:SERIAL]`; the first one found when `None`)
    /// and attaches to `chip`.
    pub fn open(selector: Option<&str>, chip: &str) -> Result<Self> {
        let lister = Lister::new();
        let probe = match selector {
            Some(s) => {
                let sel: DebugProbeSelector = s
                    .parse()
                    .map_err(|e| error(&format!("select probe `{s}`"), e))?;
                lister
                    .open(sel)
                    .map_err(|e| error(&format!("open probe `{s}`"), e))?
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
                first.open().map_err(|e| error("open the debug probe", e))?
            }
        };
        Self::attach(probe, chip)
    }

    /// Attaches an opened probe to `chip`.
    pub fn attach(probe: Probe, chip: &str) -> Result<Self> {
        let name = probe.get_name();
        let session = probe
            .attach(chip, Permissions::default())
            .map_err(|e| error(&format!("attach to {chip}"), e))?;
        Ok(Self {
            session,
            identity: format!("{name} attached to {chip}"),
            rtt: None,
            lines: RttLines::default(),
        })
    }

    /// The probe and the chip.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Resets the chip, and halts it at its reset vector when `halt`.
    pub fn reset(&mut self, halt: bool) -> Result<()> {
        let mut core = self
            .session
            .core(0)
            .map_err(|e| error("select core 0", e))?;
        if halt {
            core.reset_and_halt(HALT_TIMEOUT)
                .map(|_| ())
                .map_err(|e| error("reset and halt", e))
        } else {
            core.reset().map_err(|e| error("reset", e))
        }?;
        // A reset loses the RTT control block's address.
        self.rtt = None;
        Ok(())
    }

    /// Reads one 32-bit word of the chip's memory (a peripheral register).
    pub fn read_word(&mut self, address: u64) -> Result<u32> {
        let mut core = self
            .session
            .core(0)
            .map_err(|e| error("select core 0", e))?;
        core.read_word_32(address)
            .map_err(|e| error(&format!("read {address:#010x}"), e))
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
        let mut options = DownloadOptions::default();
        options.progress = FlashProgress::new(progress);
        options.verify = true;
        flashing::download_file_with_options(
            &mut self.session,
            image,
            format.create_loader(None),
            options,
        )
        .map_err(|e| error(&format!("flash {}", image.display()), e))?;
        self.reset(false)
    }

    /// Lines the target printed on RTT up channel 0 since the last call.
    pub fn rtt_lines(&mut self) -> Result<Vec<String>> {
        let mut core = self
            .session
            .core(0)
            .map_err(|e| error("select core 0", e))?;
        if self.rtt.is_none() {
            self.rtt =
                Some(Rtt::attach(&mut core).map_err(|e| error("find the RTT control block", e))?);
        }
        let rtt = self.rtt.as_mut().expect("attached above");
        let Some(channel) = rtt.up_channel(0) else {
            return Ok(Vec::new());
        };
        let mut buf = [0u8; 1024];
        loop {
            let n = channel
                .read(&mut core, &mut buf)
                .map_err(|e| error("read RTT channel 0", e))?;
            if n == 0 {
                break;
            }
            self.lines.push(&buf[..n]);
        }
        Ok(self.lines.take())
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
        // probe-rs's own fake probe: attaching looks the chip up in the built-in target
        // list before it touches the probe, so a misspelt chip is refused by name.
        let probe = probe_rs::probe::fake_probe::FakeProbe::with_mocked_core().into_probe();
        let err = DebugProbe::attach(probe, "nRF52840_xxAX")
            .err()
            .expect("no such chip");
        assert!(err.to_string().contains("nRF52840_xxAX"), "{err}");
    }
}
