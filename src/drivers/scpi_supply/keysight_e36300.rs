//! Keysight E36300-series programmable DC supplies: E36311A, E36312A (CH1 6 V / 5 A,
//! CH2 and CH3 25 V / 1 A), E36313A.
//!
//! Commands from the E36300 Series Programming Guide (SCPI-99, channel lists
//! `(@1)`, `(@1,2)`, `(@1:3)`), LF-terminated, over USB-TMC, GPIB or the raw LAN
//! socket on port 5025:
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `Keysight Technologies,E36312A,<serial>,<fw>` |
//! | clear status and error queue | `*CLS` | - |
//! | set voltage | `VOLT <V>,(@<n>)` | - |
//! | set current limit | `CURR <A>,(@<n>)` | - |
//! | output on/off | `OUTP ON,(@<n>)` / `OUTP OFF,(@<n>)` | - |
//! | output state | `OUTP? (@<n>)` | `1` / `0` |
//! | measure | `MEAS:VOLT? (@<n>)`, `MEAS:CURR? (@<n>)` | number (`+1.20000000E+01`) |
//! | over-voltage protection | `VOLT:PROT <V>,(@<n>)` (always armed) | - |
//! | over-current protection | `CURR:PROT:STAT ON,(@<n>)` | - |
//! | protection tripped? | `VOLT:PROT:TRIP? (@<n>)`, `CURR:PROT:TRIP? (@<n>)` | `1` / `0` |
//! | clear a trip (latched until then) | `OUTP:PROT:CLE (@<n>)` | - |
//! | error queue | `:SYST:ERR?` | `+0,"No error"` |
//!
//! Every setting is followed by `:SYST:ERR?`. OCP has no level of its own: armed, it
//! trips when the output goes into constant current, i.e. at the current limit, which
//! the bench sets to the envelope's `max_amps` before arming it.

use std::time::Duration;

use crate::transport::Framing;

use super::{Confirm, Dialect, OutputQuery, Protection};

/// The E36300 dialect.
pub static DIALECT: Dialect = Dialect {
    key: "keysight-e36300",
    identities: &[
        "Keysight Technologies,E36311A",
        "Keysight Technologies,E36312A",
        "Keysight Technologies,E36313A",
    ],
    expected_identity: "a Keysight E36300 identity (`Keysight Technologies,E3631[123]A...`)",
    channels: 3,
    // Errors queued before this session are not ours.
    open: &["*CLS"],
    gap: Duration::ZERO,
    set_voltage: |n, v| format!("VOLT {v:.3},(@{n})"),
    set_current: |n, a| format!("CURR {a:.3},(@{n})"),
    set_output: |n, on| format!("OUTP {},(@{n})", super::on_off(on)),
    output: OutputQuery::State(|n| format!("OUTP? (@{n})")),
    measure_voltage: |n| format!("MEAS:VOLT? (@{n})"),
    measure_current: |n| format!("MEAS:CURR? (@{n})"),
    confirm: Confirm::ErrorQueue,
    protection: Some(Protection {
        arm: |n, v, _| {
            vec![
                format!("VOLT:PROT {v:.3},(@{n})"),
                format!("CURR:PROT:STAT ON,(@{n})"),
            ]
        },
        ovp_tripped: |n| format!("VOLT:PROT:TRIP? (@{n})"),
        ocp_tripped: |n| format!("CURR:PROT:TRIP? (@{n})"),
        clear: |n| vec![format!("OUTP:PROT:CLE (@{n})")],
    }),
    outputs_together: false,
    framing: Framing::PLAIN,
    sequencer: None,
};
