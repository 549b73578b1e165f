//! Standard output that may close under us: `lockrig run ... | head` must neither stop
//! the run nor lose a result.
//!
//! The test-harness printer unwraps its writes to stdout, so a reader that goes away
//! (a closed pipe) would panic it between two trials, and the rest of the run would be
//! neither executed nor recorded. Rather than patch every writer, [`Detached`] puts a
//! pipe of lockrig's own on file descriptor 1 and forwards it to the real stdout from a
//! thread. When the real reader goes away the thread keeps draining the pipe and drops
//! the text, and the run goes on writing its reports to the run directory.
//!
//! A terminal is left alone: a closed terminal is a hang-up, which the signal handler
//! already turns into an orderly stop.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::fcntl::OFlag;

/// File descriptor 1 redirected through a forwarding thread; restored (after the
/// thread has forwarded everything) when dropped.
pub struct Detached {
    /// The real stdout, kept to be put back.
    real: OwnedFd,
    forwarder: Option<JoinHandle<()>>,
}

/// Set once the real stdout's reader has gone away.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away (`| head` has read its fill): what is printed now
/// is dropped, so anything a person must see goes to stderr as well.
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

/// Interposes the forwarding pipe when stdout is not a terminal. `None` when stdout
/// is a terminal (nothing to guard against) or cannot be duplicated (it stays as it is).
pub fn detach() -> Option<Detached> {
    if io::stdout().is_terminal() {
        return None;
    }
    let real = nix::unistd::dup(io::stdout()).ok()?;
    let forward_to = nix::unistd::dup(&real).ok()?;
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ok()?;
    let forwarder = std::thread::Builder::new()
        .name("stdout".into())
        .spawn(move || forward(File::from(read_end), File::from(forward_to)))
        .ok()?;
    let _ = io::stdout().flush();
    if nix::unistd::dup2_stdout(&write_end).is_err() {
        // Dropping the write end ends the forwarder.
        return None;
    }
    drop(write_end);
    Some(Detached {
        real,
        forwarder: Some(forwarder),
    })
}

/// Copies the pipe to the real stdout until the pipe's last writer closes; after the
/// real stdout fails (its reader went away) it only drains.
fn forward(mut from: File, mut to: File) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if !reader_gone() && to.write_all(&buf[..n]).is_err() {
                    READER_GONE.store(true, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

impl Detached {
    /// Puts the real stdout back once everything written so far has been forwarded.
    fn restore(&mut self) {
        let Some(forwarder) = self.forwarder.take() else {
            return;
        };
        let _ = io::stdout().flush();
        // Replacing fd 1 closes the pipe's last write end: the forwarder reads to the
        // end and stops.
        if nix::unistd::dup2_stdout(&self.real).is_ok() {
            let _ = forwarder.join();
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        self.restore();
    }
}
