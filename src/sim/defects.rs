//! Named defects a simulated board can be built with. Each exists to prove that a
//! check catches it: [`Defect::profiles`] says which boards it is built into for that
//! proof and [`Defect::targets`] which checks of the certification suite must then
//! fail (every other applicable check must still pass). `tests/defects.rs` holds the
//! table to the simulator, and `lockrig sim defects --matrix` prints it as measured.

use std::fmt;
use std::str::FromStr;

/// A defect of the simulated lock board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Firmware drives the bolt open when it boots after a brown-out reset.
    OpensOnBrownout,
    /// The armature or keeper stays held with the coil unpowered (residual magnetism).
    HoldsWithoutPower,
    /// After a brown-out reset the firmware withdraws the bolt 1.2 s after booting.
    LateUnlockAfterRecovery,
    /// On every reboot the motor driver glitches the bolt open for 40 ms.
    BriefUnlatchOnRecovery,
    /// Firmware withdraws the bolt after 200 ms a little below its minimum operating
    /// voltage.
    ReleasesAboveMinOperating,
    /// The lock does not release when the fire-alarm loop opens.
    IgnoresFireAlarm,
    /// The lock releases on fire alarm, then locks again after 3 s with the loop still open.
    RelocksDuringAlarm,
    /// The interior handle is blocked while the board is unpowered.
    EgressBlockedUnpowered,
    /// The interior handle is blocked while the supply sags below minimum operating.
    EgressBlockedInBrownout,
    /// The first low-battery warning is never printed.
    NoLowbatWarning,
    /// The low-battery warnings come with their stage numbers swapped.
    LowbatWarningsOutOfOrder,
    /// At the first warning's threshold the board prints the last stage's warning
    /// ("replace now") just before the first's, and the last again at its own.
    SpuriousLastWarningFirst,
    /// The emergency port is not connected to the electronics.
    DeadEmergencyPort,
    /// In an emergency-power session any credential unlocks.
    EmergencyAcceptsAnyCredential,
    /// On the emergency port the motor runs from a boost stage that draws four times its
    /// current from VBUS.
    EmergencyOverdraw,
    /// On the emergency port the motor's start draws four times its running current
    /// for 8 ms, an inrush a 10 ms poll misses.
    EmergencyInrush,
    /// On the emergency port the motor draws four times its current while it throws
    /// the bolt (the relock), not while it withdraws it.
    EmergencyRelockOverdraw,
    /// On emergency power the motor still runs from the battery terminal; the port
    /// feeds the electronics and a 25 mA keypad backlight.
    EmergencyMotorOnBattery,
    /// The armature or keeper takes three times its release time plus 2 s to let go.
    SlowRelease,
    /// The REX timer holds the lock released for 10 s only.
    RexTooShort,
    /// The electronics draw 3 mA more than they should.
    StandbyCurrentHigh,
    /// A power cut while an update is written leaves no bootable image.
    BricksOnUpdateCut,
    /// A power cut in the last tenth of an update's write, while the image's trailer
    /// is written, leaves no bootable image (earlier cuts roll back).
    BricksOnTrailerCut,
    /// After 10 bolt movements a worn end stop lets the bolt stop short of the strike.
    WearsOut,
    /// The motor stalls within 0.1 V of the minimum operating voltage.
    MinVoltageStall,
    /// Letting go of the push bar cancels a delayed-egress release.
    DelayedEgressReversible,
    /// The key cylinder's cam is jammed: turning the key does not withdraw the latch.
    KeyOverrideJammed,
    /// During a fire alarm the firmware relocks once the door has opened and shut
    /// ("relock on door close" left active in alarm).
    FireRelocksOnDoorClose,
    /// The fire release acts on the loop's edge only: after a restart during an alarm
    /// the board comes up locked.
    FireReleaseLostOnReboot,
    /// A delayed-egress release relocks by itself 8 s after it released.
    DelayedEgressAutoRelock,
    /// The key cylinder drives an electronic clutch: no key override without power.
    KeyOverrideNeedsPower,
    /// The key's electronic clutch is kept up by a hold-up capacitor: the override works
    /// for 30 s after the power goes, then no more.
    KeyOverrideHeldByCapacitor,
    /// The push bar and REX of a maglock are inputs to the controller's firmware, not
    /// contacts in series with the magnet: with the controller in reset, no egress.
    EgressViaController,
    /// The REX button of a maglock is an input to the controller's firmware only: it
    /// starts the REX timer, but no contact of it interrupts the magnet's power.
    RexViaController,
    /// The REX contact of a maglock is bridged by a resistor (a suppression network
    /// fitted across it): pressed, it leaves 40 % of the supply on the magnet.
    RexPartialCut,
    /// After the fire loop restores and the lock relocks, it releases again 3 s later.
    FireRestoreReReleases,
    /// The REX release is cut short when the door shuts.
    RexRelocksOnDoorClose,
    /// The push bar's switch needs 3.005 s of push, more than the 3 s allowed.
    DelayedEgressLongPush,
    /// 100 mA for 2 ms every 100 ms of uptime while idle (2 mA more on average).
    StandbyPulses,
    /// 3 s after every auto-relock the firmware withdraws the bolt again.
    ReReleasesAfterRelock,
    /// After an update cut the board boots half an image: its console answers, its
    /// motor never moves.
    UpdateCutKillsMotor,
    /// A dip under the minimum operating voltage makes the firmware unsure of its bolt;
    /// after five, 4 s after the supply is back, it re-homes it (600 ms withdrawn).
    RehomesAfterNoise,
    /// After an update cut the board boots the half-written image and reports it as
    /// the new version, valid (its version header was written first).
    UpdateCutClaimsNew,
    /// A fail-safe lock re-engages from 1 s to 3 s into a power loss (a slow backup
    /// changeover).
    FailSafeRelatches,
    /// 25 s after its cutoff the sleeping board wakes and withdraws the bolt.
    UnlocksAfterCutoff,
    /// A fail-safe lock's controller comes up released after a brown-out reset (the
    /// rail dipped below its reset, not to nothing) and stays so until power is cut.
    ReleasedAfterBrownout,
    /// The same, only after a brown-out reset shorter than 2 s (a glitch).
    ReleasedAfterShortBrownout,
    /// A fail-safe controller's undervoltage lockout drops the coil for good when the
    /// rail dips into the 2 V just below minimum operating, without a reset.
    LatchesOffInSagBand,
    /// Low-battery warnings 0.15 V and the cutoff 0.2 V late, hidden by a board clock
    /// that runs 12 % slow (its stamps place the late events back on time).
    LateLowbatSlowClock,
}

/// Name, description, the built-in profiles it is proven on, and the checks that must
/// not pass there (`check@profile` on that profile only): each fails, or, where a
/// positive control relies on what the defect breaks, ends in a rig error.
type Row = (
    Defect,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const TABLE: &[Row] = &[
    (
        Defect::OpensOnBrownout,
        "opens-on-brownout",
        "fail-secure lock withdraws its bolt when it boots after a brown-out reset",
        &["smartlock_4aa", "hybrid_12v"],
        &[
            "brownout::sag_resets_safely",
            "brownout::random_sags",
            "brownout::boundary",
            "update::power_cut",
        ],
    ),
    (
        Defect::HoldsWithoutPower,
        "holds-without-power",
        "fail-safe lock keeps holding the door with its coil unpowered (residual magnetism)",
        &["maglock_12v", "strike_fail_safe_24v"],
        &[
            "brownout::fail_safe_follows_supply",
            "power_loss::fail_safe_releases",
            "relock::fail_safe_after_restore",
            "min_voltage::operates",
            "min_voltage::holds",
            "noise::near_min_operating",
            "fire::releases",
            "fire::relocks_on_restore",
            "egress::powered@maglock_12v",
            "egress::unpowered@maglock_12v",
            "egress::brownout@maglock_12v",
            "egress::fire_alarm@maglock_12v",
            "rex::hold_time",
            "rex::interrupts_power",
            "current::holding",
            "relock::after_unlock_cycles@strike_fail_safe_24v",
        ],
    ),
    (
        Defect::LateUnlockAfterRecovery,
        "late-unlock-after-recovery",
        "after a brown-out reset the firmware withdraws the bolt 1.2 s after booting, past a window of ready_within alone",
        &["smartlock_4aa", "hybrid_12v"],
        &[
            "brownout::sag_resets_safely",
            "brownout::random_sags",
            "brownout::boundary",
            "update::power_cut",
        ],
    ),
    (
        Defect::BriefUnlatchOnRecovery,
        "brief-unlatch-on-recovery",
        "on every reboot the motor driver glitches the bolt open for 40 ms",
        &["smartlock_4aa", "hybrid_12v"],
        &[
            // The power-loss and battery checks hear the board again once power is
            // back.
            "power_loss::fail_secure_holds",
            "battery::decay_warnings",
            "relock::fail_secure_after_restore",
            "brownout::sag_resets_safely",
            "brownout::random_sags",
            "brownout::shallow_sag@smartlock_4aa",
            "brownout::boundary",
            "noise::near_min_operating@smartlock_4aa",
            // Waking on the port glitches the bolt open just as the credential comes.
            "emergency::valid_credential_unlocks",
            "emergency::invalid_credential_refused",
            "emergency::secure_after_removal",
            "emergency::port_current",
            "update::power_cut",
            // Restarted during a fire alarm, the glitch throws the bolt for a moment.
            "fire::releases@hybrid_12v",
        ],
    ),
    (
        Defect::ReleasesAboveMinOperating,
        "releases-above-min-operating",
        "fail-secure lock withdraws its bolt after 200 ms just below its minimum operating voltage, well above reset",
        &["smartlock_4aa", "hybrid_12v"],
        &[
            "brownout::shallow_sag",
            "brownout::random_sags@hybrid_12v",
            "brownout::boundary",
            "battery::decay_warnings",
            "noise::near_min_operating",
            // The dying battery passes through that band before the emergency session.
            "emergency::valid_credential_unlocks",
            "emergency::invalid_credential_refused",
            "emergency::secure_after_removal",
            "emergency::port_current",
            "egress::brownout@hybrid_12v",
        ],
    ),
    (
        Defect::IgnoresFireAlarm,
        "ignores-fire-alarm",
        "the lock stays locked when the fire-alarm loop opens",
        &["maglock_12v", "strike_fail_safe_24v", "hybrid_12v"],
        &["fire::releases", "fire::relocks_on_restore"],
    ),
    (
        Defect::RelocksDuringAlarm,
        "relocks-during-alarm",
        "the lock releases on fire alarm, then locks again 3 s later with the loop still open",
        &["maglock_12v", "strike_fail_safe_24v", "hybrid_12v"],
        &["fire::releases"],
    ),
    (
        Defect::EgressBlockedUnpowered,
        "egress-blocked-unpowered",
        "the interior handle is blocked while the board is unpowered",
        &["smartlock_4aa", "strike_fail_secure_12v", "hybrid_12v"],
        // Below reset the electronics are as good as unpowered.
        &["egress::unpowered", "egress::brownout"],
    ),
    (
        Defect::EgressBlockedInBrownout,
        "egress-blocked-in-brownout",
        "the interior handle is blocked while the supply sags between reset and minimum operating",
        &["smartlock_4aa", "strike_fail_secure_12v", "hybrid_12v"],
        &["egress::brownout"],
    ),
    (
        Defect::NoLowbatWarning,
        "no-lowbat-warning",
        "the first low-battery warning is never printed",
        &["smartlock_4aa"],
        &["battery::decay_warnings"],
    ),
    (
        Defect::LowbatWarningsOutOfOrder,
        "lowbat-warnings-out-of-order",
        "the low-battery warnings come with their stage numbers swapped",
        &["smartlock_4aa"],
        &["battery::decay_warnings"],
    ),
    (
        Defect::SpuriousLastWarningFirst,
        "spurious-last-warning-first",
        "at the first warning's threshold the board prints the last stage's warning just before the first's (and the last again at its own)",
        &["smartlock_4aa"],
        &["battery::decay_warnings"],
    ),
    (
        Defect::DeadEmergencyPort,
        "dead-emergency-port",
        "the emergency port is not connected to the electronics",
        &["smartlock_4aa"],
        &[
            "emergency::valid_credential_unlocks",
            "emergency::invalid_credential_refused",
            "emergency::secure_after_removal",
            "emergency::port_current",
        ],
    ),
    (
        Defect::EmergencyOverdraw,
        "emergency-overdraw",
        "on the emergency port the motor runs from a boost stage that draws 4x its current from VBUS (about 600 mA, past a USB 2.0 port's 500 mA)",
        &["smartlock_4aa"],
        &["emergency::port_current"],
    ),
    (
        Defect::EmergencyInrush,
        "emergency-inrush",
        "on the emergency port the motor's start draws 4x its running current for 8 ms (about 600 mA, past a USB 2.0 port's 500 mA), shorter than a 10 ms poll",
        &["smartlock_4aa"],
        &["emergency::port_current"],
    ),
    (
        Defect::EmergencyRelockOverdraw,
        "emergency-relock-overdraw",
        "on the emergency port the motor draws 4x its current while it throws the bolt to relock (not while it withdraws it)",
        &["smartlock_4aa"],
        &["emergency::port_current"],
    ),
    (
        Defect::EmergencyMotorOnBattery,
        "emergency-motor-on-battery",
        "on emergency power the motor still runs from the battery terminal; the port feeds only the electronics and a 25 mA keypad backlight",
        &["smartlock_4aa"],
        &["emergency::port_current"],
    ),
    (
        Defect::EmergencyAcceptsAnyCredential,
        "emergency-accepts-any-credential",
        "in an emergency-power session any credential unlocks",
        &["smartlock_4aa"],
        &["emergency::invalid_credential_refused"],
    ),
    (
        Defect::SlowRelease,
        "slow-release",
        "the armature or keeper takes 3x its release time plus 2 s to let go",
        &["maglock_12v", "strike_fail_safe_24v"],
        &[
            "brownout::fail_safe_follows_supply@maglock_12v",
            "power_loss::fail_safe_releases",
            "relock::fail_safe_after_restore",
            "min_voltage::operates",
            "fire::releases",
            "fire::relocks_on_restore",
            "egress::powered@maglock_12v",
            "egress::brownout@maglock_12v",
            "rex::hold_time",
            "rex::interrupts_power",
            "relock::after_unlock_cycles@strike_fail_safe_24v",
        ],
    ),
    (
        Defect::RexTooShort,
        "rex-too-short",
        "the REX timer holds the lock released for 10 s only",
        &["maglock_12v"],
        &["rex::hold_time"],
    ),
    (
        Defect::StandbyCurrentHigh,
        "standby-current-high",
        "the electronics draw 3 mA more than they should",
        &["smartlock_4aa"],
        &["relock::fail_secure_after_restore", "current::standby", "current::actuation"],
    ),
    (
        Defect::BricksOnUpdateCut,
        "bricks-on-update-cut",
        "a power cut while an update is written leaves no bootable image",
        &["smartlock_4aa", "hybrid_12v"],
        &["update::power_cut"],
    ),
    (
        Defect::BricksOnTrailerCut,
        "bricks-on-trailer-cut",
        "a power cut in the last tenth of an update's write, while the image's trailer is written, leaves no bootable image; cuts before it roll back",
        &["smartlock_4aa", "hybrid_12v"],
        &["update::power_cut"],
    ),
    (
        Defect::WearsOut,
        "wears-out",
        "after 10 bolt movements a worn end stop lets the bolt stop short of the strike while the firmware reports locked",
        &["smartlock_4aa"],
        &["relock::after_unlock_cycles", "update::power_cut"],
    ),
    (
        Defect::MinVoltageStall,
        "min-voltage-stall",
        "the bolt motor stalls within 0.1 V of the minimum operating voltage",
        &["smartlock_4aa", "hybrid_12v"],
        &["min_voltage::operates"],
    ),
    (
        Defect::DelayedEgressReversible,
        "delayed-egress-reversible",
        "letting go of the push bar cancels a delayed-egress release that must be irreversible",
        &["maglock_delayed_egress_24v"],
        &["delayed_egress::releases_after_delay"],
    ),
    (
        Defect::KeyOverrideJammed,
        "key-override-jammed",
        "the key cylinder's cam is jammed: turning the key does not withdraw the latch",
        &["smartlock_4aa", "hybrid_12v"],
        &["key::override_opens"],
    ),
    (
        Defect::FireRelocksOnDoorClose,
        "fire-relocks-on-door-close",
        "during a fire alarm the lock relocks once the door has opened and shut",
        &["maglock_12v", "strike_fail_safe_24v", "hybrid_12v", "maglock_delayed_egress_24v"],
        &["fire::releases"],
    ),
    (
        Defect::FireReleaseLostOnReboot,
        "fire-release-lost-on-reboot",
        "the fire release acts on the loop's edge only: a restart during the alarm comes up locked",
        &["hybrid_12v"],
        &["fire::releases"],
    ),
    (
        Defect::DelayedEgressAutoRelock,
        "delayed-egress-auto-relock",
        "a delayed-egress release relocks by itself 8 s later, where only a manual reset may",
        &["maglock_delayed_egress_24v"],
        &["delayed_egress::releases_after_delay"],
    ),
    (
        Defect::KeyOverrideHeldByCapacitor,
        "key-override-held-by-capacitor",
        "the key drives an electronic clutch kept up by a hold-up capacitor: the override works for 30 s after power is lost, then no more",
        &["smartlock_4aa", "hybrid_12v"],
        &["key::override_opens"],
    ),
    (
        Defect::KeyOverrideNeedsPower,
        "key-override-needs-power",
        "the key drives an electronic clutch: no mechanical override without power",
        &["smartlock_4aa", "hybrid_12v"],
        &["key::override_opens"],
    ),
    (
        Defect::EgressViaController,
        "egress-via-controller",
        "the push bar and REX are firmware inputs, not contacts in the magnet's supply: no egress while the controller is in reset",
        &["maglock_12v"],
        &["egress::brownout", "rex::interrupts_power"],
    ),
    (
        Defect::RexViaController,
        "rex-via-controller",
        "the REX button only tells the firmware, which runs the REX timer: no contact of it cuts the magnet's power, so with the controller in reset it does nothing",
        &["maglock_12v"],
        &["rex::interrupts_power"],
    ),
    (
        Defect::RexPartialCut,
        "rex-partial-cut",
        "a resistor across the REX contact leaves 40 % of the supply on the magnet while the button is held: enough to hold the door at 12 V, only the firmware's release opens it",
        &["maglock_12v"],
        &["rex::interrupts_power"],
    ),
    (
        Defect::FireRestoreReReleases,
        "fire-restore-re-releases",
        "after the fire loop restores and the lock relocks, it releases again 3 s later",
        &["maglock_12v", "strike_fail_safe_24v", "hybrid_12v", "maglock_delayed_egress_24v"],
        &["fire::relocks_on_restore"],
    ),
    (
        Defect::RexRelocksOnDoorClose,
        "rex-relocks-on-door-close",
        "a REX release ends when the door shuts, before its hold time",
        &["maglock_12v", "strike_fail_safe_24v", "strike_fail_secure_12v"],
        &["rex::hold_time"],
    ),
    (
        Defect::DelayedEgressLongPush,
        "delayed-egress-long-push",
        "the push bar's switch needs 3.005 s of push, more than the 3 s of effort allowed",
        &["maglock_delayed_egress_24v"],
        &["delayed_egress::releases_after_delay"],
    ),
    (
        Defect::StandbyPulses,
        "standby-pulses",
        "100 mA for 2 ms every 100 ms while idle: 2 mA more on average, between any two polls",
        &["smartlock_4aa"],
        &["current::standby", "current::actuation"],
    ),
    (
        Defect::ReReleasesAfterRelock,
        "re-releases-after-relock",
        "3 s after every auto-relock the firmware withdraws the bolt again",
        &["smartlock_4aa", "hybrid_12v"],
        &["emergency::port_current", "relock::after_unlock_cycles"],
    ),
    (
        Defect::UpdateCutKillsMotor,
        "update-cut-kills-motor",
        "after an update cut the board boots half an image: the console answers, the motor never moves",
        &["smartlock_4aa", "hybrid_12v"],
        &["update::power_cut"],
    ),
    (
        Defect::RehomesAfterNoise,
        "rehomes-after-noise",
        "after five dips under its minimum operating voltage the firmware re-homes the bolt 4 s after the supply is back: withdrawn for 600 ms",
        &["hybrid_12v"],
        &[
            "noise::near_min_operating",
            "brownout::random_sags",
            "brownout::boundary",
        ],
    ),
    (
        Defect::UpdateCutClaimsNew,
        "update-cut-claims-new",
        "after an update cut the board boots the half-written image and reports it as 1.1, valid",
        &["smartlock_4aa", "hybrid_12v"],
        &["update::power_cut"],
    ),
    (
        Defect::FailSafeRelatches,
        "fail-safe-relatches",
        "a fail-safe lock holds again from 1 s to 3 s into a power loss",
        &["maglock_12v", "strike_fail_safe_24v"],
        &[
            "brownout::fail_safe_follows_supply",
            "power_loss::fail_safe_releases",
            // The button held cuts the magnet's power for more than a second.
            "rex::interrupts_power",
        ],
    ),
    (
        Defect::ReleasedAfterBrownout,
        "released-after-brownout",
        "a fail-safe lock's controller comes up released after a brown-out reset and stays released until its power is cut fully",
        &["maglock_12v", "strike_fail_safe_24v"],
        &["relock::fail_safe_after_restore@strike_fail_safe_24v", "brownout::fail_safe_follows_supply"],
    ),
    (
        Defect::ReleasedAfterShortBrownout,
        "released-after-short-brownout",
        "a fail-safe lock's controller comes up released after a brown-out reset shorter than 2 s",
        &["maglock_12v", "strike_fail_safe_24v"],
        &[
            "brownout::fail_safe_follows_supply",
            "relock::fail_safe_after_restore@strike_fail_safe_24v",
        ],
    ),
    (
        Defect::LatchesOffInSagBand,
        "latches-off-in-sag-band",
        "a fail-safe controller drops its coil for good when the rail dips into the 2 V just below minimum operating",
        &["maglock_12v", "strike_fail_safe_24v"],
        &[
            "brownout::fail_safe_follows_supply",
            "power_loss::fail_safe_releases@maglock_12v",
            "relock::fail_safe_after_restore",
            "min_voltage::operates@strike_fail_safe_24v",
            "min_voltage::holds",
            "noise::near_min_operating",
        ],
    ),
    (
        Defect::UnlocksAfterCutoff,
        "unlocks-after-cutoff",
        "25 s after its low-battery cutoff the board wakes and withdraws the bolt",
        &["smartlock_4aa"],
        &["battery::decay_warnings", "emergency::secure_after_removal"],
    ),
    (
        Defect::LateLowbatSlowClock,
        "late-lowbat-slow-clock",
        "low-battery warnings 0.15 V and the cutoff 0.2 V late, hidden by a board clock running 12 % slow",
        &["smartlock_4aa"],
        &["battery::decay_warnings"],
    ),
];

impl Defect {
    /// Every defect.
    pub fn all() -> impl Iterator<Item = Defect> {
        TABLE.iter().map(|r| r.0)
    }

    fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.0 == self)
            .expect("every defect has a row")
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// What the defect breaks.
    pub fn description(self) -> &'static str {
        self.row().2
    }

    /// The built-in profiles this defect is proven on.
    pub fn profiles(self) -> &'static [&'static str] {
        self.row().3
    }

    /// The checks of the certification suite that must not pass on those profiles
    /// (`check@profile`: on that profile only).
    pub fn targets(self) -> &'static [&'static str] {
        self.row().4
    }

    /// True when `check` on `device` is one this defect must stop passing.
    pub fn targets_trial(self, check: &str, device: &str) -> bool {
        self.targets().iter().any(|t| match t.split_once('@') {
            Some((c, d)) => c == check && d == device,
            None => *t == check,
        })
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
        Self::all().find(|d| d.name() == s).ok_or_else(|| {
            format!(
                "unknown simulator defect `{s}`, expected one of: {}",
                Self::all().map(|d| d.name()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}
