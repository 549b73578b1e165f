//! `lockrig flash IMAGE`: programs the lock board through the rig's debug probe.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use probe_rs::flashing::{ProgressEvent, ProgressOperation};
use sha2::{Digest, Sha256};

use crate::config::rig::{choose_probe, Link, Rig};
use crate::drivers::debug_probe::{image_format, DebugProbe};

/// `lockrig flash`'s arguments.
#[derive(Args, Debug)]
pub struct FlashArgs {
    /// The firmware image: `.elf`, `.hex` or `.bin`.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// The rig file whose `probe-rs` instrument reaches the board.
    #[arg(long, value_name = "FILE")]
    rig: PathBuf,
    /// Which `probe-rs` instrument, when the rig has more than one.
    #[arg(long, value_name = "NAME")]
    probe: Option<String>,
    /// If another run holds the rig, wait for it (up to TIMEOUT, default 24h) instead
    /// of refusing.
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "24h", value_parser = super::parse_duration)]
    wait: Option<Duration>,
}

/// Exit 0 flashed and verified; 2 bad input (image, rig, probe name); 3 the probe or
/// the chip failed.
pub fn flash(args: &FlashArgs) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.image)
        .with_context(|| format!("reading the image {}", args.image.display()))?;
    if image_format(&args.image).is_none() {
        anyhow::bail!(
            "{}: expected an .elf, .hex or .bin image",
            args.image.display()
        );
    }
    let digest = crate::report::manifest::hex(&Sha256::digest(&bytes));
    let rig = Rig::load(&args.rig)?;
    let (name, link) =
        choose_probe(&rig.debug_probes(), args.probe.as_deref()).map_err(anyhow::Error::msg)?;
    let Link::DebugProbe {
        selector,
        chip,
        sim,
    } = link
    else {
        unreachable!("a probe-rs instrument's link")
    };
    if sim.is_some() {
        anyhow::bail!(
            "instrument `{name}` is the simulator's debug probe: the simulated chip has no flash to program (flash a real board's probe)"
        );
    }
    let _lock = crate::run::lock::acquire(&rig, args.wait)?;
    let started = Instant::now();
    let mut probe = match DebugProbe::open(selector.as_deref(), &chip) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lockrig: instrument `{name}`: {e}");
            return Ok(3);
        }
    };
    println!(
        "flashing {} ({} bytes, sha256 {digest}) with {}",
        args.image.display(),
        bytes.len(),
        probe.identity()
    );
    let mut report = Progress::new(std::io::stderr().is_terminal());
    match probe.flash(&args.image, |e| report.event(e)) {
        Ok(()) => {
            report.finish();
            println!(
                "flashed and verified in {:.1} s; the chip was reset to run it",
                started.elapsed().as_secs_f64()
            );
            Ok(0)
        }
        Err(e) => {
            report.finish();
            eprintln!("lockrig: instrument `{name}`: {e}");
            Ok(3)
        }
    }
}

/// Shows the probe's progress: a bar per operation on a terminal, a line per
/// operation otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    tty: bool,
}

fn operation_name(op: ProgressOperation) -> &'static str {
    match op {
        ProgressOperation::Fill => "reading back",
        ProgressOperation::Erase => "erasing",
        ProgressOperation::Program => "programming",
        ProgressOperation::Verify => "verifying",
    }
}

impl Progress {
    fn new(tty: bool) -> Self {
        Self { bar: None, tty }
    }

    fn event(&mut self, e: ProgressEvent) {
        match e {
            ProgressEvent::AddProgressBar { operation, total } if self.tty => {
                let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
                bar.set_message(operation_name(operation));
                self.bar = Some(bar);
            }
            ProgressEvent::Started(op) if !self.tty => eprintln!("{}...", operation_name(op)),
            ProgressEvent::Progress { size, .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc(size);
                }
            }
            ProgressEvent::Finished(op) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                if !self.tty {
                    eprintln!("{} done", operation_name(op));
                }
            }
            ProgressEvent::Failed(op) => eprintln!("{} failed", operation_name(op)),
            _ => {}
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
