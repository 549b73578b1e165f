//! Named defects a simulated board can be built with. Each exists to prove that a
//! check catches it.

use std::fmt;
use std::str::FromStr;

/// A defect of the simulated lock board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Firmware drives the bolt open when it boots after a brown-out reset.
    OpensOnBrownout,
    /// The maglock armature stays held with the coil unpowered (residual magnetism).
    HoldsWithoutPower,
}

impl Defect {
    /// Every defect.
    pub const ALL: &'static [Defect] = &[Defect::OpensOnBrownout, Defect::HoldsWithoutPower];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpensOnBrownout => "opens-on-brownout",
            Self::HoldsWithoutPower => "holds-without-power",
        }
    }

    /// What the defect breaks.
    pub fn description(self) -> &'static str {
        match self {
            Self::OpensOnBrownout => {
                "fail-secure smart lock retracts its bolt when it boots after a brown-out reset"
            }
            Self::HoldsWithoutPower => {
                "fail-safe maglock keeps holding the door after its power is cut (residual magnetism)"
            }
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Defect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown simulator defect `{s}`, expected one of: {}",
                    Self::ALL
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}
