//! LCUS-4 relay board emulator: `A0 ch op sum` frames, `FF` state query. Frames
//! with a bad checksum or channel are ignored, as the board ignores them.

use super::pty::Protocol;
use super::world::{World, RELAYS};

/// The LCUS emulator.
#[derive(Default)]
pub struct LcusSim {
    pending: Vec<u8>,
}

impl Protocol for LcusSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match self.pending.first() {
                None => break,
                Some(0xFF) => {
                    self.pending.remove(0);
                    for (i, on) in world.relays.iter().enumerate() {
                        out.extend_from_slice(
                            format!("CH{}:{}\r\n", i + 1, if *on { "ON" } else { "OFF" })
                                .as_bytes(),
                        );
                    }
                }
                Some(0xA0) if self.pending.len() >= 4 => {
                    let f: Vec<u8> = self.pending.drain(..4).collect();
                    let (ch, op, sum) = (f[1], f[2], f[3]);
                    let valid = sum == 0xA0u8.wrapping_add(ch).wrapping_add(op)
                        && (1..=RELAYS as u8).contains(&ch)
                        && op <= 1;
                    if valid {
                        world.set_relay(usize::from(ch), op == 1);
                    }
                }
                Some(0xA0) => break,
                Some(_) => {
                    self.pending.remove(0);
                }
            }
        }
        out
    }
}
