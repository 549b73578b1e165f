//! Keysight DAQ970A emulator with a DAQM903A 20-channel actuator module in slot 1,
//! from the DAQ970A Programming Guide: the command tree below, parsed as SCPI-99 (long
//! or short forms, any case), channel lists `(@101)`, `(@101,103)`, `(@101:105)`, and a
//! 20-entry error queue.
//!
//! | command | notes |
//! |---|---|
//! | `*IDN?`, `*CLS`, `*RST` | `*RST` opens every relay |
//! | `SYSTem:ERRor[:NEXT]?` | `+0,"No error"` when empty |
//! | `ROUTe:CLOSe <list>`, `ROUTe:OPEN <list>` | -222 for a channel that is not installed (slots 2 and 3 are empty) |
//! | `ROUTe:CLOSe? <list>`, `ROUTe:OPEN? <list>` | `1`/`0` per channel, comma-separated, in list order |
//! | `ROUTe:CLOSe:EXCLusive <list>` | closes the list and opens every other relay of the module |
//!
//! Wiring on the simulated bench: channels 101-108 drive the bench's relays 1-8 (door
//! push, egress handle, fire-alarm loop, REX button, key, ...); 109-120 are free.

use scpi::error::{Error, ErrorCode};
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::tree::prelude::*;
use scpi::{cmd_both, cmd_nquery, Branch, Leaf, Root};

use super::pty::Protocol;
use super::scpi::{
    channels_where, no_more, respond, run_lines, Cls, Common, ErrorQueue, Idn, SystErr,
};
use super::world::{World, RELAYS};

/// The identity the emulator reports.
pub const IDN: &str =
    "Keysight Technologies,DAQ970A,MY58SIM0001,A.03.02-01.00-03.02-00.02-02.00-03-03";

/// The module's relays.
const MODULE_CHANNELS: usize = 20;

/// The emulator: pending input and the instrument's own state.
pub struct Daq970aSim {
    pending: Vec<u8>,
    front: Front,
}

impl Default for Daq970aSim {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            front: Front {
                errors: ErrorQueue::with_capacity(20),
                closed: [false; MODULE_CHANNELS],
            },
        }
    }
}

/// What the command handlers see.
struct Front {
    errors: ErrorQueue,
    /// Relays 101..=120.
    closed: [bool; MODULE_CHANNELS],
}

impl Common for Front {
    fn idn(&self) -> &str {
        IDN
    }

    fn errors(&mut self) -> &mut ErrorQueue {
        &mut self.errors
    }
}

impl Device for Front {
    fn handle_error(&mut self, err: Error) {
        self.errors.push(&err);
    }
}

/// The relay index of an installed channel (slot 1, channels 1-20).
fn index(channel: usize) -> Option<usize> {
    (101..=100 + MODULE_CHANNELS)
        .contains(&channel)
        .then(|| channel - 101)
}

impl Front {
    /// The one channel list a ROUTe command takes, and nothing after it.
    fn list(p: &mut Parameters<'_, '_>) -> Result<Vec<usize>, Error> {
        let list = channels_where(
            p.next_token()?,
            |n| index(n).is_some(),
            ErrorCode::DataOutOfRange,
        )?;
        no_more(p)?;
        Ok(list.into_iter().filter_map(index).collect())
    }
}

type R = Result<(), Error>;

struct Rst;
impl Command<Front> for Rst {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, _: Parameters) -> R {
        d.closed = [false; MODULE_CHANNELS];
        Ok(())
    }
}

/// `ROUTe:CLOSe` (`close`) or `ROUTe:OPEN`, and their queries.
struct Route {
    close: bool,
}
impl Command<Front> for Route {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        for i in Front::list(&mut p)? {
            d.closed[i] = self.close;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let answers: Vec<&str> = Front::list(&mut p)?
            .into_iter()
            .map(|i| if d.closed[i] == self.close { "1" } else { "0" })
            .collect();
        respond(resp, &answers.join(","))
    }
}

struct CloseExclusive;
impl Command<Front> for CloseExclusive {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let list = Front::list(&mut p)?;
        for (i, c) in d.closed.iter_mut().enumerate() {
            *c = list.contains(&i);
        }
        Ok(())
    }
}

const TREE: Node<Front> = Root![
    Leaf!(b"*IDN" => &Idn),
    Leaf!(b"*CLS" => &Cls),
    Leaf!(b"*RST" => &Rst),
    Branch![b"SYSTem"; Branch![b"ERRor"; Leaf!(default b"NEXT" => &SystErr { signed: true })]],
    Branch![b"ROUTe";
        Branch![b"CLOSe";
            // `ROUTe:CLOSe` itself: the branch's default leaf (the guide names no node).
            Leaf!(default b"STATe" => &Route { close: true }),
            Leaf!(b"EXCLusive" => &CloseExclusive)],
        Leaf!(b"OPEN" => &Route { close: false })]
];

impl Protocol for Daq970aSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let before = self.front.closed;
        let out = run_lines(&TREE, &mut self.front, &mut self.pending, bytes);
        // Only the relays this exchange moved: another instrument may drive the rest.
        for (relay, (now, was)) in self.front.closed.iter().zip(before).enumerate() {
            if relay < RELAYS && *now != was {
                world.set_relay(relay + 1, *now);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scpi::say;

    #[test]
    fn closes_opens_and_reads_back_by_channel_list_in_long_and_short_forms() {
        let (mut sim, mut w) = (Daq970aSim::default(), World::unpowered("maglock_12v"));
        say(&mut sim, &mut w, "ROUTe:CLOSe (@101,103)");
        assert!(w.relays[0] && !w.relays[1] && w.relays[2]);
        assert_eq!(say(&mut sim, &mut w, "rout:clos? (@101:104)"), "1,0,1,0");
        assert_eq!(say(&mut sim, &mut w, "ROUT:OPEN? (@102)"), "1");
        say(&mut sim, &mut w, "ROUT:OPEN (@101)");
        assert!(!w.relays[0]);
        say(&mut sim, &mut w, "ROUT:CLOS:EXCL (@105)");
        assert_eq!(
            say(&mut sim, &mut w, "ROUT:CLOS? (@101:108)"),
            "0,0,0,0,1,0,0,0"
        );
        say(&mut sim, &mut w, "*RST");
        assert!(w.relays.iter().all(|r| !r));
        assert_eq!(say(&mut sim, &mut w, "SYST:ERR?"), "+0,\"No error\"");
    }

    #[test]
    fn a_channel_not_installed_and_a_bad_header_are_queued_errors() {
        let (mut sim, mut w) = (Daq970aSim::default(), World::unpowered("maglock_12v"));
        say(&mut sim, &mut w, "ROUT:CLOS (@201)");
        assert_eq!(
            say(&mut sim, &mut w, "SYST:ERR?"),
            "-222,\"Data out of range\""
        );
        say(&mut sim, &mut w, "ROUT:SHUT (@101)");
        assert_eq!(
            say(&mut sim, &mut w, "SYST:ERR?"),
            "-113,\"Undefined header\""
        );
        say(&mut sim, &mut w, "ROUT:CLOS 101");
        assert!(say(&mut sim, &mut w, "SYST:ERR?").starts_with("-104,"));
        assert!(w.relays.iter().all(|r| !r));
    }
}
