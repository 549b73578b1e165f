//! LCUS-4 relay board emulator: `A0 ch op sum` frames, `FF` state query. Frames
//! with a bad checksum or channel are ignored, as the board ignores them. The state
//! query reports what the board drives its coils to.
//!
//! The contacts follow the coils after the relay's own times. The listings of LCUS
//! boards say only "5V 10A"; the relay assumed is the Songle SRD-05VDC-SL-C such
//! boards commonly carry: operate time 10 ms max, release time 5 ms max (SRD
//! datasheet, 8. Performance). The emulator takes the maxima, the least kind case for
//! a check's timing.

use std::time::Duration;

use super::pty::Protocol;
use super::world::{World, RELAYS};

/// Coil energised to contacts closed.
pub const OPERATE: Duration = Duration::from_millis(10);
/// Coil released to contacts open.
pub const RELEASE: Duration = Duration::from_millis(5);

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
                    for relay in 1..=RELAYS {
                        let on = world.relay_driven(relay);
                        out.extend_from_slice(
                            format!("CH{relay}:{}\r\n", if on { "ON" } else { "OFF" }).as_bytes(),
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
                        world.drive_relay(usize::from(ch), op == 1, OPERATE, RELEASE);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ch: u8, on: bool) -> [u8; 4] {
        let op = u8::from(on);
        [0xA0, ch, op, 0xA0u8.wrapping_add(ch).wrapping_add(op)]
    }

    #[test]
    fn contacts_follow_the_coil_after_the_relays_operate_and_release_times() {
        let (mut sim, mut w) = (LcusSim::default(), World::unpowered("maglock_12v"));
        sim.input(&frame(2, true), &mut w);
        let state = String::from_utf8(sim.input(&[0xFF], &mut w)).unwrap();
        assert!(
            state.contains("CH2:ON"),
            "the board reports its coil: {state}"
        );
        assert!(!w.relays[1], "contacts still open");
        w.advance(OPERATE - Duration::from_millis(1));
        assert!(!w.relays[1]);
        w.advance(Duration::from_millis(1));
        assert!(w.relays[1], "closed after the operate time");
        sim.input(&frame(2, false), &mut w);
        assert!(
            w.relays[1] && w.is_safe(),
            "released coil: safe, contacts opening"
        );
        w.advance(RELEASE);
        assert!(!w.relays[1], "open after the release time");
        // A command that reverses one still under way replaces it.
        sim.input(&frame(3, true), &mut w);
        w.advance(Duration::from_millis(4));
        sim.input(&frame(3, false), &mut w);
        w.advance(OPERATE * 2);
        assert!(!w.relays[2]);
        let log: Vec<_> = w.output_log().iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            log,
            ["relay 2 ON", "relay 2 OFF", "relay 3 ON", "relay 3 OFF"],
            "the drives, as the rig gave them"
        );
    }
}
