//! Numato USB GPIO emulator: CR-terminated commands, echoed, reply, `>` prompt.

use super::pty::{take_lines, Protocol};
use super::world::World;

/// The Numato GPIO emulator.
#[derive(Default)]
pub struct NumatoSim {
    pending: Vec<u8>,
}

fn gpio_index(c: &str) -> Option<u8> {
    let mut chars = c.chars();
    let ch = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match ch {
        '0'..='9' => Some(ch as u8 - b'0'),
        'A'..='V' => Some(ch as u8 - b'A' + 10),
        _ => None,
    }
}

impl Protocol for NumatoSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        for line in take_lines(&mut self.pending, bytes, b"\r") {
            let words: Vec<&str> = line.split_whitespace().collect();
            let reply = match words.as_slice() {
                ["ver"] => Some("00000008".to_string()),
                ["id", "get"] => Some("00000000".to_string()),
                ["gpio", "read", n] => gpio_index(n).map(|i| u8::from(world.gpio(i)).to_string()),
                // The 8-channel module answers two hex digits.
                ["gpio", "readall"] => Some(format!(
                    "{:02x}",
                    (0..8u8).fold(0u8, |m, i| m | (u8::from(world.gpio(i)) << i))
                )),
                _ => None,
            };
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\n\r");
            if let Some(r) = reply {
                out.extend_from_slice(r.as_bytes());
                out.extend_from_slice(b"\n\r");
            }
            out.push(b'>');
        }
        out
    }
}
