//! Serves one emulated LAN instrument on a TCP socket, as the instrument serves raw
//! SCPI on its own port (a DP800 on 5555, Keysight and Siglent on 5025): one client at
//! a time, the instrument's state kept between connections.
//!
//! The socket binds to the address it is given: lockrig passes loopback unless the
//! user asks for another with `lockrig sim serve --listen ADDR`, so a served bench is
//! not reachable from the lab network by default. The port is the system's choice.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::pty::{serve, Protocol};
use super::world::World;

/// A running emulator on a TCP port. Stops when dropped.
pub struct TcpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Writing a byte here wakes the serving thread at once (a self-pipe).
    wake: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Listens on `ip` (a port of the system's choosing) and serves `protocol` to one
    /// client at a time from a thread.
    pub fn spawn(
        world: Arc<Mutex<World>>,
        mut protocol: Box<dyn Protocol>,
        ip: IpAddr,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (wake_rx, wake) = nix::unistd::pipe().map_err(io::Error::from)?;
        let thread = std::thread::Builder::new()
            .name(format!("sim tcp {addr}"))
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let mut fds = [
                        PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                        PollFd::new(wake_rx.as_fd(), PollFlags::POLLIN),
                    ];
                    match poll(&mut fds, PollTimeout::from(50u8)) {
                        Ok(n) if n > 0 => {}
                        Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                        Err(_) => return,
                    }
                    if flag.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok((stream, _)) = listener.accept() else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let stream = OwnedFd::from(stream);
                    serve(&stream, &wake_rx, &world, protocol.as_mut(), &flag, true);
                    if protocol.closed() {
                        return;
                    }
                }
            })?;
        Ok(Self {
            addr,
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = nix::unistd::write(&self.wake, &[1]);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
