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
//! | select the channel the timer works on | `:INST:NSEL <n>` | - |
//! | timer group: volts, amperes, seconds (1-99999 s) | `:TIMEr:PARAmeter <g>,<V>,<A>,<s>` | - |
//! | groups run, cycles, what the output does after the last | `:TIMEr:GROUPs <n>`, `:TIMEr:CYCLEs N,1`, `:TIMEr:ENDState LAST` | - |
//! | start or stop the timer (its output on) | `:TIMEr ON` / `:TIMEr OFF` | - |
//!
//! The timer runs groups of whole seconds (1 s to 99999 s): a sag held for whole
//! seconds is programmed into it, so the instrument times the sag.
//!
//! Every setting is followed by `:SYST:ERR?`. The supply settles in tens of
//! milliseconds (command processing < 118 ms, fall up to 800 ms unloaded): millisecond
//! brownouts need a `dip` switch, not this instrument.

use std::time::Duration;

use crate::transport::Framing;

use super::{Confirm, Dialect, OutputQuery, Protection, Sequencer};

/// The DP800 dialect.
pub static DIALECT: Dialect =
    Dialect {
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
        sequencer: Some(Sequencer {
            name: "timer",
            step: Duration::from_secs(1),
            longest: Duration::from_secs(99_999),
            program: |n, steps| {
                let mut commands = vec![format!(":INST:NSEL {n}")];
                commands.extend(steps.iter().enumerate().map(|(g, (v, a, secs))| {
                    format!(":TIMEr:PARAmeter {g},{v:.3},{a:.3},{secs:.0}")
                }));
                commands.push(format!(":TIMEr:GROUPs {}", steps.len()));
                commands.push(":TIMEr:CYCLEs N,1".into());
                commands.push(":TIMEr:ENDState LAST".into());
                commands
            },
            run: |n, on| {
                vec![
                    format!(":INST:NSEL {n}"),
                    format!(":TIMEr {}", super::on_off(on)),
                ]
            },
        }),
    };
