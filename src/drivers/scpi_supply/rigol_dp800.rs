//! Rigol DP800-series programmable DC supplies (DP821A, DP831A, DP832/DP832A).
//!
//! Commands from the DP800 Programming Guide (PGH03109-1110), LF-terminated, over
//! USB-TMC/serial or the raw LAN socket on port 5555:
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `RIGOL TECHNOLOGIES,DP832,<serial>,<fw>` |
//! | clear status and error queue | `*CLS` | - |
//! | set voltage | `:SOUR<n>:VOLT <V>` | - |
//! | set current limit | `:SOUR<n>:CURR <A>` | - |
//! | output on/off | `:OUTP CH<n>,ON` / `:OUTP CH<n>,OFF` | - |
//! | output state | `:OUTP? CH<n>` | `ON` / `OFF` |
//! | measure | `:MEAS:VOLT? CH<n>`, `:MEAS:CURR? CH<n>` | number |
//! | over-voltage protection | `:OUTP:OVP:VAL CH<n>,<V>`, `:OUTP:OVP CH<n>,ON` | - |
//! | over-current protection | `:OUTP:OCP:VAL CH<n>,<A>`, `:OUTP:OCP CH<n>,ON` | - |
//! | protection tripped? | `:OUTP:OVP:QUES? CH<n>`, `:OUTP:OCP:QUES? CH<n>` | `YES` / `NO` |
//! | clear a trip (latched until then) | `:OUTP:OVP:CLE CH<n>`, `:OUTP:OCP:CLE CH<n>` | - |
//! | error queue | `:SYST:ERR?` | `0,"No error"` |
//!
//! Every setting is followed by `:SYST:ERR?`. The supply settles in tens of
//! milliseconds (command processing < 118 ms, fall up to 800 ms unloaded): millisecond
//! brownouts need a `dip` switch, not this instrument.

use std::time::Duration;

use crate::transport::Framing;

use super::{Confirm, Dialect, OutputQuery, Protection};

/// The DP800 dialect.
pub static DIALECT: Dialect = Dialect {
    key: "rigol-dp800",
    identities: &["RIGOL TECHNOLOGIES,DP8"],
    expected_identity: "a Rigol DP800 identity (`RIGOL TECHNOLOGIES,DP8...`)",
    channels: 3,
    // Errors queued before this session (front panel, an earlier program) are not
    // ours: clear them, so the queue speaks only of our commands.
    open: &["*CLS"],
    gap: Duration::ZERO,
    set_voltage: |n, v| format!(":SOUR{n}:VOLT {v:.3}"),
    set_current: |n, a| format!(":SOUR{n}:CURR {a:.3}"),
    set_output: |n, on| format!(":OUTP CH{n},{}", super::on_off(on)),
    output: OutputQuery::State(|n| format!(":OUTP? CH{n}")),
    measure_voltage: |n| format!(":MEAS:VOLT? CH{n}"),
    measure_current: |n| format!(":MEAS:CURR? CH{n}"),
    confirm: Confirm::ErrorQueue,
    protection: Some(Protection {
        arm: |n, v, a| {
            vec![
                format!(":OUTP:OVP:VAL CH{n},{v:.3}"),
                format!(":OUTP:OVP CH{n},ON"),
                format!(":OUTP:OCP:VAL CH{n},{a:.3}"),
                format!(":OUTP:OCP CH{n},ON"),
            ]
        },
        ovp_tripped: |n| format!(":OUTP:OVP:QUES? CH{n}"),
        ocp_tripped: |n| format!(":OUTP:OCP:QUES? CH{n}"),
        clear: |n| {
            vec![
                format!(":OUTP:OVP:CLE CH{n}"),
                format!(":OUTP:OCP:CLE CH{n}"),
            ]
        },
    }),
    outputs_together: false,
    framing: Framing::PLAIN,
};
