//! The simulated lock board's console: answers `VER?` and `STATE?` and prints event
//! lines, but only while the board's electronics are running.

use super::pty::{take_lines, Protocol};
use super::world::World;

/// The console emulator.
pub struct ConsoleSim {
    pending: Vec<u8>,
    firmware: String,
}

impl ConsoleSim {
    /// A console reporting `firmware` to `VER?`.
    pub fn new(firmware: String) -> Self {
        Self {
            pending: Vec::new(),
            firmware,
        }
    }
}

impl Protocol for ConsoleSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let lines = take_lines(&mut self.pending, bytes, b"\n");
        if !world.board.console_alive() {
            // An unpowered UART hears nothing.
            return Vec::new();
        }
        let mut out = self.idle(world);
        for line in lines {
            let reply = match line.as_str() {
                "VER?" => format!("VER {}", self.firmware),
                "STATE?" => format!("STATE {}", world.board.reported_state()),
                "UPTIME?" => format!("UPTIME {}", world.board.uptime_ms()),
                other => format!("ERR UNKNOWN {other}"),
            };
            out.extend_from_slice(reply.as_bytes());
            out.push(b'\n');
        }
        out
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        for line in world.take_console_output() {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}
