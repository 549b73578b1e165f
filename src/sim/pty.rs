//! Serves one emulated instrument on a pseudo-terminal: the driver opens the slave
//! path like any serial port, the emulator reads and writes the master side.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios::{self, SetArg};

use super::world::World;

/// An instrument's wire protocol, as the instrument implements it.
pub trait Protocol: Send + 'static {
    /// Bytes arrived from the host; returns the bytes to send back.
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8>;
    /// Called between reads; returns unsolicited output (console events).
    fn idle(&mut self, _world: &mut World) -> Vec<u8> {
        Vec::new()
    }
    /// True once the instrument has gone away: the server closes the pty.
    fn closed(&self) -> bool {
        false
    }
    /// When the instrument will next say something on its own in real time (a late
    /// answer), if it will.
    fn next_due(&self) -> Option<std::time::Instant> {
        None
    }
}

/// A running emulator on a pty. Stops when dropped.
pub struct PtyServer {
    path: String,
    stop: Arc<AtomicBool>,
    /// Writing a byte here wakes the serving thread at once (a self-pipe).
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl PtyServer {
    /// Opens a pty and serves `protocol` on it from a thread.
    pub fn spawn(world: Arc<Mutex<World>>, mut protocol: Box<dyn Protocol>) -> io::Result<Self> {
        let pty = openpty(None, None).map_err(io::Error::from)?;
        let path = nix::unistd::ttyname(&pty.slave)
            .map_err(io::Error::from)?
            .to_string_lossy()
            .into_owned();
        // Raw mode on the slave: no echo, no line editing, no CR/LF translation.
        let mut t = termios::tcgetattr(&pty.slave).map_err(io::Error::from)?;
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(&pty.slave, SetArg::TCSANOW, &t).map_err(io::Error::from)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (wake_rx, wake) = nix::unistd::pipe().map_err(io::Error::from)?;
        let master = pty.master;
        // Holding the slave open keeps the master readable between driver sessions.
        let slave: OwnedFd = pty.slave;
        let thread = std::thread::Builder::new()
            .name(format!("sim {path}"))
            .spawn(move || {
                let _slave = slave;
                serve(&master, &wake_rx, &world, protocol.as_mut(), &flag, false);
            })?;
        Ok(Self {
            path,
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// The slave device path the driver opens (`/dev/pts/N`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for PtyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = nix::unistd::write(&self.wake, &[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `protocol` on `master` (a pty's master side, or a connected socket) until
/// `stop`, the instrument goes away, or (`end_at_eof`, a socket) the peer hangs up.
pub(super) fn serve(
    master: &OwnedFd,
    wake: &OwnedFd,
    world: &Mutex<World>,
    protocol: &mut dyn Protocol,
    stop: &AtomicBool,
    end_at_eof: bool,
) {
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        // The timeout paces unsolicited output (console events) when the host is quiet.
        let mut fds = [
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        let ready = match poll(&mut fds, PollTimeout::from(5u8)) {
            Ok(n) => {
                n > 0
                    && fds[0]
                        .revents()
                        .is_some_and(|r| r.contains(PollFlags::POLLIN))
            }
            Err(nix::errno::Errno::EINTR) => false,
            Err(_) => return,
        };
        let reply = {
            let mut w = world.lock().unwrap_or_else(|p| p.into_inner());
            w.sync();
            let mut out = Vec::new();
            if ready {
                match nix::unistd::read(master, &mut buf) {
                    Ok(0) if end_at_eof => return,
                    Ok(0) | Err(nix::errno::Errno::EIO) => {}
                    Ok(n) => out = protocol.input(&buf[..n], &mut w),
                    Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                    Err(_) => return,
                }
            }
            let mut idle = protocol.idle(&mut w);
            if !idle.is_empty() {
                idle.extend_from_slice(&out);
                out = idle;
            }
            out
        };
        if protocol.closed() {
            // Returning drops the master (and the slave this thread holds): the host
            // sees the port hang up, as when an adapter is unplugged.
            return;
        }
        let mut rest = &reply[..];
        while !rest.is_empty() {
            match nix::unistd::write(master, rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {
                    std::thread::yield_now()
                }
                Err(_) => return,
            }
        }
    }
}

/// Splits complete lines off an input buffer (terminated by any byte in `ends`).
pub fn take_lines(pending: &mut Vec<u8>, bytes: &[u8], ends: &[u8]) -> Vec<String> {
    pending.extend_from_slice(bytes);
    let mut lines = Vec::new();
    while let Some(i) = pending.iter().position(|b| ends.contains(b)) {
        let line: Vec<u8> = pending.drain(..=i).collect();
        let text = String::from_utf8_lossy(&line[..i]).trim().to_string();
        if !text.is_empty() {
            lines.push(text);
        }
    }
    lines
}
