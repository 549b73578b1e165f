//! Keysight (formerly Agilent and Hewlett-Packard) E3631A triple-output DC supply:
//! P6V (0-6 V, 5 A), P25V (0-25 V, 1 A), N25V (0 to -25 V, 1 A).
//!
//! Commands from the E3631A User's Guide (SCPI-1995), LF-terminated, over GPIB or
//! RS-232. On RS-232 the frame is 8 data bits, no parity and **two stop bits (fixed)**
//! at up to 9600 baud, with DTR/DSR handshaking: the supply drops its DTR (lockrig's
//! DSR) while its input buffer is full or it holds a reply, so lockrig writes only while
//! DSR is true, and reads each reply before sending more.
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `HEWLETT-PACKARD,E3631A,0,<fw>` (Agilent or Keysight on later units) |
//! | clear status and error queue | `*CLS` | - |
//! | remote operation over RS-232 (front panel locked but for Local) | `SYST:REM` | - |
//! | select an output | `INST:NSEL {1\|2\|3}` (P6V, P25V, N25V) | - |
//! | set voltage, current limit | `INST:NSEL <n>;:VOLT <V>`, `INST:NSEL <n>;:CURR <A>` | - |
//! | **every** output on/off | `OUTP ON` / `OUTP OFF` | - |
//! | output state | `OUTP?` | `1` / `0` |
//! | measure | `MEAS:VOLT? P25V`, `MEAS:CURR? P25V` | NR3 |
//! | error queue | `SYST:ERR?` | `+0,"No error"` |
//!
//! One `OUTP` switches all three outputs: a rig may give an E3631A one supply role
//! only (the rig file is refused otherwise), or `main` and `emergency` would go on and
//! off together. It has no programmable OVP or OCP: the envelope is lockrig's alone.

use std::time::Duration;

use crate::transport::Framing;

use super::{Confirm, Dialect, OutputQuery};

/// The output names, by channel number.
const OUTPUTS: [&str; 3] = ["P6V", "P25V", "N25V"];

fn output_name(n: u8) -> &'static str {
    OUTPUTS[usize::from(n.clamp(1, 3)) - 1]
}

/// The E3631A dialect.
pub static DIALECT: Dialect = Dialect {
    key: "keysight-e3631a",
    identities: &[
        "HEWLETT-PACKARD,E3631A",
        "Agilent Technologies,E3631A",
        "Keysight Technologies,E3631A",
    ],
    expected_identity: "an E3631A identity (`HEWLETT-PACKARD,E3631A,...`, or Agilent or Keysight)",
    channels: 3,
    // Errors queued before this session are not ours; remote mode locks the panel.
    open: &["*CLS", "SYST:REM"],
    gap: Duration::ZERO,
    set_voltage: |n, v| format!("INST:NSEL {n};:VOLT {v:.3}"),
    set_current: |n, a| format!("INST:NSEL {n};:CURR {a:.3}"),
    set_output: |_, on| format!("OUTP {}", super::on_off(on)),
    output: OutputQuery::State(|_| "OUTP?".to_string()),
    measure_voltage: |n| format!("MEAS:VOLT? {}", output_name(n)),
    measure_current: |n| format!("MEAS:CURR? {}", output_name(n)),
    confirm: Confirm::ErrorQueue,
    protection: None,
    outputs_together: true,
    framing: Framing {
        two_stop_bits: true,
        dtr_dsr: true,
    },
    sequencer: None,
};
