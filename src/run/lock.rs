//! One run per rig: an exclusive advisory lock (`flock`) per instrument the rig reaches,
//! on a file named after the instrument's canonical link (a serial path with its
//! symlinks resolved, a TCP address, an I2C bus and address). Two rig files that reach
//! the same instrument, under any name or path, contend for the same lock. The holder
//! records who it is so a refused run can say.
//!
//! `flock` locks die with their process, so a crashed run never blocks the bench; a run
//! that ends clears its record, so the next run that finds one knows its holder died,
//! and says it is taking over a stale lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::rig::{Link, Rig};

/// Who holds a rig.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// Process id.
    pub pid: i32,
    /// User name.
    pub user: String,
    /// The command line.
    pub command: String,
    /// When it took the lock (UTC, RFC 3339).
    pub since: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} (user {}, since {}): `{}`",
            self.pid, self.user, self.since, self.command
        )
    }
}

/// Why the rig could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds it.
    #[error("rig `{rig}`: {instrument} is in use by {}{}; wait for it with --wait", holder.as_ref().map_or("another process".to_string(), |h| h.to_string()), if *waited { " (gave up waiting)" } else { "" })]
    Held {
        /// The rig name.
        rig: String,
        /// The instrument link that is held.
        instrument: String,
        /// The holder, if it recorded itself.
        holder: Option<Box<Holder>>,
        /// True if --wait ran out.
        waited: bool,
    },
    /// A signal arrived while waiting for the rig.
    #[error("interrupted by {0} while waiting for the rig; nothing was touched")]
    Interrupted(nix::sys::signal::Signal),
    /// The lock file could not be used.
    #[error("cannot use the rig lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A held rig: every instrument's lock. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RigLock {
    locks: Vec<Flock<File>>,
    /// Dead holders whose records were found, if any.
    pub stale: Vec<Holder>,
}

impl Drop for RigLock {
    /// Clears each holder record before its lock goes: a record left behind means a
    /// run that died holding the rig, not one that finished.
    fn drop(&mut self) {
        for lock in &self.locks {
            let _ = lock.set_len(0);
        }
    }
}

/// FNV-1a, 64 bit: a hash that is the same in every lockrig build, so two versions
/// on one bench agree on the lock file, and a trial draws the same random profiles
/// (std's hasher makes no such promise).
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The directory for lock files: `$LOCKRIG_LOCK_DIR`, else `/run/lock/lockrig`, else
/// the temporary directory.
pub fn lock_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LOCKRIG_LOCK_DIR") {
        return PathBuf::from(d);
    }
    let run = PathBuf::from("/run/lock/lockrig");
    if create_lock_dir(&run).is_ok() {
        return run;
    }
    std::env::temp_dir().join("lockrig-locks")
}

/// Lock files are shared by the bench's users (its group), never writable by others.
const LOCK_MODE: u32 = 0o664;

/// Creates the lock directory (and parents) group-writable, not world-writable.
fn create_lock_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o775)
        .create(dir)
}

/// The canonical links of a rig's real instruments, sorted: what identifies the bench.
pub fn instrument_links(rig: &Rig) -> Vec<String> {
    let canonical = |p: &str| {
        std::fs::canonicalize(p)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| p.to_string())
    };
    let mut links: Vec<String> = rig
        .file
        .instruments
        .values()
        .filter_map(|i| i.get_ref().link().ok())
        .filter(|l| !l.is_simulated())
        .map(|l| match l {
            Link::Serial { path, .. } | Link::I2cDriver { port: path, .. } => {
                format!("serial {}", canonical(&path))
            }
            Link::Tcp(addr) => format!("tcp {}", addr.to_ascii_lowercase()),
            Link::I2c { bus, address } => format!("i2c {} {address:#04x}", canonical(&bus)),
            Link::GpioChip(chip) => format!("gpio {}", canonical(&chip)),
            Link::DebugProbe { selector, chip, .. } => {
                format!(
                    "probe {} {chip}",
                    selector.unwrap_or_default().to_ascii_lowercase()
                )
            }
            Link::Sim(name) => format!("sim {name}"),
        })
        .collect();
    links.sort();
    links.dedup();
    links
}

/// The lock file of one instrument link.
fn lock_path(link: &str) -> PathBuf {
    let short: String = link
        .rsplit(['/', ' '])
        .next()
        .unwrap_or("instrument")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    lock_dir().join(format!("{short}-{:016x}.lock", fnv1a(link)))
}

/// The file that records a broken mark for the bench these instruments make up.
pub fn health_path(rig: &Rig) -> PathBuf {
    lock_dir().join(format!(
        "rig-{:016x}.health",
        fnv1a(&instrument_links(rig).join("\n"))
    ))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists under another user.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

fn me() -> Holder {
    Holder {
        pid: std::process::id() as i32,
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid())),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        since: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    }
}

/// Takes every instrument of the rig, in a fixed order, waiting up to `wait` for
/// holders to finish. All or nothing: a refused run holds no lock.
pub fn acquire(rig: &Rig, wait: Option<Duration>) -> Result<RigLock, LockError> {
    // A wait too long to represent is a wait without end.
    let deadline = wait.map(|w| Instant::now().checked_add(w));
    let mut held = RigLock {
        locks: Vec::new(),
        stale: Vec::new(),
    };
    for link in instrument_links(rig) {
        let path = lock_path(&link);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            create_lock_dir(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(LOCK_MODE)
            .open(&path)
            .map_err(io)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut lock) => {
                    if let Some(dead) = read_holder(&mut lock)
                        .filter(|h| h.pid != std::process::id() as i32 && !alive(h.pid))
                    {
                        held.stale.push(dead);
                    }
                    let record = serde_json::to_string(&me()).unwrap_or_default();
                    lock.set_len(0).map_err(io)?;
                    lock.rewind().map_err(io)?;
                    lock.write_all(record.as_bytes()).map_err(io)?;
                    lock.sync_data().map_err(io)?;
                    held.locks.push(lock);
                    break;
                }
                Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if let Some(sig) = crate::signals::received() {
                        return Err(LockError::Interrupted(sig));
                    }
                    match deadline {
                        Some(d) if d.is_none_or(|d| Instant::now() < d) => {
                            std::thread::sleep(Duration::from_millis(100));
                            file = f;
                        }
                        _ => {
                            return Err(LockError::Held {
                                rig: rig.file.rig.name.clone(),
                                instrument: link,
                                holder: read_holder(&mut f).map(Box::new),
                                waited: wait.is_some(),
                            })
                        }
                    }
                }
                Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
            }
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    fn real_rig(name: &str, psu_path: &str) -> Rig {
        let text = crate::config::rig::SIM_RIG
            .replace("name = \"sim\"", &format!("name = \"{name}\""))
            .replace(
                "sim = \"psu\"",
                &format!("serial = \"{psu_path}\"\nbaud = 9600"),
            )
            .replace("sim = \"relays\"", "serial = \"/dev/ttyACM7\"\nbaud = 9600")
            .replace("sim = \"gpio\"", "serial = \"/dev/ttyACM8\"\nbaud = 9600")
            .replace(
                "sim = \"console\"",
                "serial = \"/dev/ttyACM9\"\nbaud = 115200",
            )
            .replace("sim = \"i2cdriver\"", "i2c = \"/dev/i2c-1\"")
            .replace("sim = \"swd\"", "probe = \"0483:374b\"")
            .replace(", default = \"246810\"", "");
        Rig::from_source(crate::config::Source::builtin("r.toml", &text)).unwrap()
    }

    #[test]
    fn the_same_instruments_under_another_name_or_path_share_the_locks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("ttyUSB0");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("usb-1a86_USB_Serial-if00-port0");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let a = real_rig("bench-3", target.to_str().unwrap());
        let b = real_rig("bench-3-copy", link.to_str().unwrap());
        assert_eq!(instrument_links(&a), instrument_links(&b));
        assert_eq!(health_path(&a), health_path(&b));
        let paths: Vec<_> = instrument_links(&a).iter().map(|l| lock_path(l)).collect();
        // The supply, relays, GPIO, console, the two INA219s (one lock per chip on a
        // native bus) and the debug probe.
        assert_eq!(paths.len(), 7);
        assert!(paths.iter().any(|p| p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("ttyUSB0-")));
    }
}
