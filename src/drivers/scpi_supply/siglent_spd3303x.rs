//! Siglent SPD3303X and SPD3303X-E programmable DC supplies (CH1, CH2: 0-32 V,
//! 0-3.2 A; CH3 fixed at 2.5/3.3/5 V by a front-panel switch, so not programmed here).
//!
//! Commands from the SPD3000X QuickStart's remote-control chapter (QS0503X-E01B /
//! E02A), LF-terminated, over USB-TMC or the raw LAN socket on port 5025:
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `Siglent Technologies,SPD3303X,<serial>,<fw>,<hw>` |
//! | set voltage | `CH<n>:VOLTage <V>` | - |
//! | programmed voltage | `CH<n>:VOLTage?` | number |
//! | set current limit | `CH<n>:CURRent <A>` | - |
//! | programmed current limit | `CH<n>:CURRent?` | number |
//! | output on/off | `OUTPut CH<n>,ON` / `OUTPut CH<n>,OFF` | - |
//! | measure | `MEASure:VOLTage? CH<n>`, `MEASure:CURRent? CH<n>` | number |
//! | status | `SYSTem:STATus?` | hex word: bit 4 CH1 output on, bit 5 CH2 output on |
//!
//! The status word (QuickStart, `SYSTem:STATus?` table): bits 0/1 CH1/CH2 in constant
//! current, bits 2-3 independent/parallel/series, bits 4/5 CH1/CH2 output on, bits 6/7
//! the timers, bits 8/9 waveform display; the manual's example is `0x0224`.
//!
//! The firmware keeps no error queue a program can rely on (an unknown header or an
//! out-of-range value is dropped without a word), so every setting is read back:
//! `CH<n>:VOLTage?`, `CH<n>:CURRent?` and the status word. There is no OVP or OCP:
//! the rig's envelope is lockrig's alone on this instrument, and a rig that needs
//! hardware protection says `require_hardware_protection = true` and is refused.
//!
//! Commands sent back to back are dropped: drivers for it leave about 100 ms between
//! commands (the fixate test framework's SPD3303X driver sets a 100 ms query delay,
//! noting forum reports that 300 ms is more robust; the QuickStart gives no figure).

use std::time::Duration;

use crate::transport::Framing;

use super::{Confirm, Dialect, OutputQuery};

/// The SPD3303X dialect.
pub static DIALECT: Dialect = SPD3000X;

/// The SPD3000X command set, which the one-channel SPD1000X shares.
pub(super) const SPD3000X: Dialect = Dialect {
    key: "siglent-spd3303x",
    identities: &["Siglent Technologies,SPD3303X"],
    expected_identity: "a Siglent SPD3303X identity (`Siglent Technologies,SPD3303X...`)",
    channels: 2,
    open: &[],
    gap: Duration::from_millis(100),
    set_voltage: |n, v| format!("CH{n}:VOLTage {v:.3}"),
    set_current: |n, a| format!("CH{n}:CURRent {a:.3}"),
    set_output: |n, on| format!("OUTPut CH{n},{}", super::on_off(on)),
    output: OutputQuery::StatusWord {
        query: "SYSTem:STATus?",
        first_bit: 4,
    },
    measure_voltage: |n| format!("MEASure:VOLTage? CH{n}"),
    measure_current: |n| format!("MEASure:CURRent? CH{n}"),
    // The SPD3303X-E programs in 10 mV / 10 mA steps, the SPD3303X in 1 mV / 1 mA.
    confirm: Confirm::ReadBack {
        voltage: |n| format!("CH{n}:VOLTage?"),
        current: |n| format!("CH{n}:CURRent?"),
        resolution: 0.01,
    },
    protection: None,
    outputs_together: false,
    framing: Framing::PLAIN,
    sequencer: None,
};
