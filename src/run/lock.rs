//! One run per rig: an exclusive advisory lock (`flock`) on a file named after the
//! rig's identity, i.e. the instruments it reaches. Two rig files that point at the same
//! instruments share one lock. The holder records who it is so a refused run can say.
//!
//! `flock` locks die with their process, so a crashed run never blocks the bench; the
//! next run notices the dead holder's record and says it is taking over a stale lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::rig::Rig;

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
    #[error("rig `{rig}` is in use by {}{}; wait for it with --wait", holder.as_ref().map_or("another process".to_string(), |h| h.to_string()), if *waited { " (gave up waiting)" } else { "" })]
    Held {
        /// The rig name.
        rig: String,
        /// The holder, if it recorded itself.
        holder: Option<Holder>,
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

/// A held rig. Released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RigLock {
    _lock: Flock<File>,
    path: PathBuf,
    /// A dead holder whose record was found, if any.
    pub stale: Option<Holder>,
}

impl RigLock {
    /// The lock file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// FNV-1a, 64 bit: a hash that is the same in every lockrig build, so two versions
/// on one bench agree on the lock file (std's hasher makes no such promise).
fn fnv1a(text: &str) -> u64 {
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
    if std::fs::create_dir_all(&run).is_ok() {
        return run;
    }
    std::env::temp_dir().join("lockrig-locks")
}

/// The lock file for a rig: its name plus a hash of every instrument link.
pub fn lock_path(rig: &Rig) -> PathBuf {
    let mut links: Vec<String> = rig
        .file
        .instruments
        .values()
        .filter_map(|i| i.get_ref().link().ok())
        .map(|l| l.to_string())
        .collect();
    links.sort();
    let name: String = rig
        .file
        .rig
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    lock_dir().join(format!("{name}-{:016x}.lock", fnv1a(&links.join("\n"))))
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

/// Takes the rig, waiting up to `wait` for a holder to finish.
pub fn acquire(rig: &Rig, wait: Option<Duration>) -> Result<RigLock, LockError> {
    let path = lock_path(rig);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A wait too long to represent is a wait without end.
    let deadline = wait.map(|w| Instant::now().checked_add(w));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let stale = read_holder(&mut lock)
                    .filter(|h| h.pid != std::process::id() as i32 && !alive(h.pid));
                let me = Holder {
                    pid: std::process::id() as i32,
                    user: std::env::var("USER")
                        .or_else(|_| std::env::var("LOGNAME"))
                        .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid())),
                    command: std::env::args().collect::<Vec<_>>().join(" "),
                    since: time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                };
                let record = serde_json::to_string(&me).unwrap_or_default();
                lock.set_len(0).map_err(io)?;
                lock.rewind().map_err(io)?;
                lock.write_all(record.as_bytes()).map_err(io)?;
                lock.sync_data().map_err(io)?;
                return Ok(RigLock {
                    _lock: lock,
                    path,
                    stale,
                });
            }
            Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                let holder = read_holder(&mut f);
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
                            holder,
                            waited: wait.is_some(),
                        })
                    }
                }
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
