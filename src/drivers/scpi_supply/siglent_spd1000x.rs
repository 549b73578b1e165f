//! Siglent SPD1000X programmable DC supplies: SPD1168X (0-16 V, 0-8 A) and SPD1305X
//! (0-30 V, 0-5 A), one channel, addressed as `CH1`.
//!
//! The SPD1000X speaks the SPD3000X command set with its one channel (Siglent's
//! SPD1000X programming guide; the same spellings in independent drivers of the
//! family), LF-terminated, over USB-TMC or the raw LAN socket on port 5025:
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `Siglent Technologies,SPD1168X,<serial>,<fw>,<hw>` |
//! | set voltage, current limit | `CH1:VOLTage <V>`, `CH1:CURRent <A>` | - |
//! | programmed values | `CH1:VOLTage?`, `CH1:CURRent?` | number |
//! | output on/off | `OUTPut CH1,ON` / `OUTPut CH1,OFF` | - |
//! | measure | `MEASure:VOLTage? CH1`, `MEASure:CURRent? CH1` | number |
//! | status | `SYSTem:STATus?` | hex word: bit 0 constant current, bit 4 output on, bit 5 4-wire sense, bit 6 timer |
//!
//! As on the SPD3303X, a refused command is dropped without a word, so every setting
//! is read back, and there is no OVP or OCP a program can arm. Commands sent back to
//! back are dropped: 100 ms between commands, as for the SPD3303X.

use super::siglent_spd3303x::SPD3000X;
use super::{Confirm, Dialect};

/// The SPD1000X dialect: the SPD3000X commands, one channel, finer steps.
pub static DIALECT: Dialect = Dialect {
    key: "siglent-spd1000x",
    identities: &[
        "Siglent Technologies,SPD1168X",
        "Siglent Technologies,SPD1305X",
    ],
    expected_identity:
        "a Siglent SPD1000X identity (`Siglent Technologies,SPD1168X...` or `...,SPD1305X...`)",
    channels: 1,
    // Both models program in 1 mV / 1 mA steps.
    confirm: Confirm::ReadBack {
        voltage: |n| format!("CH{n}:VOLTage?"),
        current: |n| format!("CH{n}:CURRent?"),
        resolution: 0.001,
    },
    ..SPD3000X
};
