//! The simulated lock board's UART: carries the firmware's replies and event lines
//! (see `board::firmware`), but only while the board's electronics are running.

use super::pty::{take_lines, Protocol};
use super::world::World;

/// The console emulator.
#[derive(Default)]
pub struct ConsoleSim {
    pending: Vec<u8>,
    /// Where it is in what the board printed.
    heard: Option<u64>,
}

impl Protocol for ConsoleSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let lines = take_lines(&mut self.pending, bytes, b"\n");
        if self.heard.is_none() {
            // Attached now: what the board printed before is not on this wire.
            world.console_output(&mut self.heard);
        }
        if !world.board.console_alive() {
            // An unpowered UART hears nothing.
            return Vec::new();
        }
        let mut out = self.idle(world);
        for line in lines {
            let Some(reply) = world.console_command(&line) else {
                continue;
            };
            // Event lines the command caused come before its reply, as the firmware
            // prints them from the same loop.
            out.extend(self.idle(world));
            out.extend_from_slice(reply.as_bytes());
            out.push(b'\n');
        }
        out
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        for line in world.console_output(&mut self.heard) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}
