//! The simulated board's firmware: the console commands of lockrig's lock-console
//! protocol (see `drivers::console`), the event lines, and the timers a lock's
//! controller runs (auto-relock, REX, delayed egress, emergency session, update).
//!
//! The firmware decides what the mechanism should do; [`Board`] does it, with physics.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Board, Bolt, Mechanism, Power, Source};
use crate::config::device::Egress;
use crate::sim::defects::Defect;

/// Bolt movements after which a worn end stop lets the bolt stop short (`wears-out`).
pub(super) const WEAR_LIMIT: u32 = 10;
/// How long the push bar of a delayed-egress lock must be held before its switch
/// counts it as an egress attempt (nuisance filter).
const BAR_SWITCH: Duration = Duration::from_millis(500);
/// The firmware re-arms its low-battery warnings this far above the first threshold
/// (fresh cells fitted).
const REARM_ABOVE: f64 = 0.2;

/// Firmware state that survives between steps (not across a reset, unless noted).
#[derive(Debug, Clone, Default)]
pub(super) struct Firmware {
    /// Updates applied since manufacture (survives resets: it is in flash).
    updates: u32,
    /// The last boot fell back to the previous image.
    rolled_back: bool,
    /// An update was being written when power went (survives: it is in flash).
    update_interrupted: bool,
    /// How much of the image an interrupted update had written.
    cut_written: Duration,
    updating: Option<Duration>,
    emergency: Option<Duration>,
    lowbat_printed: usize,
    relock_left: Option<Duration>,
    rex_left: Option<Duration>,
    alarm_for: Option<Duration>,
    /// The `relocks-during-alarm` defect has re-energised the lock.
    pub(super) relocked_during_alarm: bool,
    push_for: Duration,
    delay_left: Option<Duration>,
    /// Delayed egress released; only a power-on reset rearms it.
    delayed_released: bool,
    late_unlock_left: Option<Duration>,
    pub(super) glitch_left: Option<Duration>,
    low_for: Duration,
    /// The door opened during the present fire alarm (`fire-relocks-on-door-close`).
    alarm_door_opened: bool,
    /// A delayed-egress release relocking by itself (`delayed-egress-auto-relock`).
    de_relock_left: Option<Duration>,
    /// A release a defective firmware scheduled after relocking
    /// (`fire-restore-re-releases`, `re-releases-after-relock`).
    rerelease_left: Option<Duration>,
    /// The motor's image was lost to an update cut (`update-cut-kills-motor`).
    pub(super) motor_dead: bool,
    /// Time asleep after a cutoff (`unlocks-after-cutoff`).
    pub(super) cutoff_for: Option<Duration>,
    /// How long the electronics have been off in this outage.
    pub(super) off_for: Duration,
    /// Dips under the minimum operating voltage since the last power-on reset, whether
    /// the supply is under it now, and how long it has been back
    /// (`rehomes-after-noise`).
    noise_dips: u32,
    under_min: bool,
    back_for: Duration,
}

impl Firmware {
    /// The electronics lost power: timers stop, an update in progress is cut.
    pub(super) fn power_lost(&mut self) {
        if let Some(written) = self.updating.take() {
            self.update_interrupted = true;
            self.cut_written = written;
        }
        self.rerelease_left = None;
        self.emergency = None;
        self.relock_left = None;
        self.rex_left = None;
        self.late_unlock_left = None;
        self.glitch_left = None;
        self.delay_left = None;
        self.low_for = Duration::ZERO;
        self.de_relock_left = None;
        self.rerelease_left = None;
    }
}

/// Prints an event line with the board's uptime, if the board has a console.
pub(super) fn event(b: &Board, out: &mut VecDeque<String>, text: &str) {
    if b.spec.console {
        out.push_back(format!("EVT {} {text}", b.uptime_ms()));
    }
}

/// Counts `left` down by `dt`; true once when it reaches zero.
fn expired(timer: &mut Option<Duration>, dt: Duration) -> bool {
    match timer {
        Some(left) if *left <= dt => {
            *timer = None;
            true
        }
        Some(left) => {
            *left -= dt;
            false
        }
        None => false,
    }
}

/// The fire alarm holds the lock released now.
fn fire_holds_open(b: &Board) -> bool {
    b.spec.fire.1
        && b.inputs.fire_alarm
        && !b.has(Defect::IgnoresFireAlarm)
        && !b.fw.relocked_during_alarm
}

/// Unlocks: the bolt withdraws, or the coil's drive changes for a release.
fn release(b: &mut Board, out: &mut VecDeque<String>) {
    match b.spec.mechanism {
        Mechanism::MotorBolt { .. } => b.move_bolt(false),
        Mechanism::Strike { fail_safe } => set_drive(b, !fail_safe, out),
        Mechanism::Magnet => set_drive(b, false, out),
    }
}

/// Drives the coil; the firmware reports the change of state at once (a motorised
/// bolt reports when it reaches its end stop).
fn set_drive(b: &mut Board, on: bool, out: &mut VecDeque<String>) {
    if b.drive != on {
        b.drive = on;
        event(b, out, b.reported_state());
    }
}

/// Returns to the declared idle state (locked), unless the fire alarm holds it open
/// or delayed egress has released it.
fn relock(b: &mut Board, out: &mut VecDeque<String>) {
    if fire_holds_open(b) || b.fw.delayed_released {
        return;
    }
    match b.spec.mechanism {
        Mechanism::MotorBolt { .. } => b.move_bolt(true),
        Mechanism::Strike { fail_safe } => set_drive(b, fail_safe, out),
        Mechanism::Magnet => set_drive(b, true, out),
    }
}

/// The electronics came out of reset.
pub(super) fn booted(b: &mut Board, cause: &'static str, out: &mut VecDeque<String>) {
    event(b, out, &format!("BOOT {cause}"));
    if b.fw.update_interrupted {
        b.fw.update_interrupted = false;
        if b.has(Defect::UpdateCutKillsMotor) {
            b.fw.motor_dead = true;
        }
        // The image's trailer (its length, hash and the "confirmed" flag the
        // bootloader swaps on) is written last, in the final tenth.
        let in_trailer = b
            .spec
            .update_time
            .is_some_and(|total| b.fw.cut_written >= total.mul_f64(0.9));
        if b.has(Defect::BricksOnUpdateCut) || (in_trailer && b.has(Defect::BricksOnTrailerCut)) {
            b.power = Power::Bricked;
            return;
        }
        if b.has(Defect::UpdateCutClaimsNew) {
            b.fw.updates += 1;
            b.fw.rolled_back = false;
        } else {
            b.fw.rolled_back = true;
            event(b, out, "IMAGE ROLLBACK");
        }
    }
    // The controller comes up armed: a restart is how a delayed-egress release is
    // rearmed (by the key switch that cuts its power).
    b.fw.delayed_released = false;
    b.fw.push_for = Duration::ZERO;
    b.fw.relocked_during_alarm = false;
    b.fw.alarm_for = b.inputs.fire_alarm.then_some(Duration::ZERO);
    b.fw.alarm_door_opened = false;
    if b.inputs.fire_alarm
        && b.has(Defect::FireReleaseLostOnReboot)
        && matches!(b.spec.mechanism, Mechanism::MotorBolt { .. })
    {
        // The firmware acts on the loop's edge only: it comes up in its idle state.
        b.fw.relocked_during_alarm = true;
    }
    if b.spec.fire.0 && b.inputs.fire_alarm {
        event(b, out, "FIRE ALARM");
    }
    b.fw.lowbat_printed = 0;
    if cause == "POR" {
        b.fw.noise_dips = 0;
        b.fw.under_min = false;
        b.fw.back_for = Duration::ZERO;
    }
    b.fw.emergency = None;
    if let Some((_, cutoff)) = &b.spec.battery {
        if b.source == Source::Port && b.inputs.main_v < *cutoff {
            b.fw.emergency = Some(b.spec.auth_window);
            event(b, out, "EMERGENCY");
        }
    }
    // The declared idle state: locked, unless the fire alarm holds it open.
    if fire_holds_open(b) {
        release(b, out);
    } else {
        relock(b, out);
    }
    if cause == "BOR" && b.has(Defect::OpensOnBrownout) {
        release(b, out);
    }
    let fail_safe = matches!(
        b.spec.mechanism,
        Mechanism::Magnet | Mechanism::Strike { fail_safe: true }
    );
    let short = b.fw.off_for < Duration::from_secs(2);
    if cause == "BOR"
        && fail_safe
        && (b.has(Defect::ReleasedAfterBrownout)
            || (short && b.has(Defect::ReleasedAfterShortBrownout)))
    {
        release(b, out);
    }
    if cause == "BOR" && b.has(Defect::LateUnlockAfterRecovery) {
        b.fw.late_unlock_left = Some(Duration::from_millis(1200));
    }
    if b.boots > 1
        && b.has(Defect::BriefUnlatchOnRecovery)
        && matches!(b.spec.mechanism, Mechanism::MotorBolt { .. })
    {
        b.bolt = Bolt::Retracted;
        b.fw.glitch_left = Some(Duration::from_millis(40));
    }
}

/// The `rehomes-after-noise` defect: a dip under the minimum operating voltage makes
/// the firmware unsure of its bolt; after five, 4 s after the supply is back, it re-homes
/// the bolt: withdraws it for 600 ms and throws it again.
fn rehome_after_noise(b: &mut Board, dt: Duration, out: &mut VecDeque<String>) {
    const DIPS: u32 = 5;
    const AFTER: Duration = Duration::from_secs(4);
    if b.electronics_v() < b.spec.min_operating {
        if !b.fw.under_min {
            b.fw.noise_dips += 1;
        }
        b.fw.under_min = true;
        b.fw.back_for = Duration::ZERO;
        return;
    }
    b.fw.under_min = false;
    if b.fw.noise_dips < DIPS {
        return;
    }
    b.fw.back_for += dt;
    if b.fw.back_for >= AFTER && b.bolt == Bolt::Extended {
        b.fw.noise_dips = 0;
        b.bolt = Bolt::Retracted;
        b.fw.glitch_left = Some(Duration::from_millis(600));
        event(b, out, "UNLOCKED");
    }
}

/// One step of the running firmware. `before` is what the inputs were a step ago.
pub(super) fn run(b: &mut Board, before: super::Inputs, dt: Duration, out: &mut VecDeque<String>) {
    let now = b.inputs;
    if b.has(Defect::LatchesOffInSagBand)
        && now.main_v < b.spec.min_operating
        && now.main_v >= b.spec.min_operating - 2.0
        && matches!(
            b.spec.mechanism,
            Mechanism::Magnet | Mechanism::Strike { fail_safe: true }
        )
    {
        release(b, out);
    }
    if b.spec.fire.0 {
        if now.fire_alarm && !before.fire_alarm {
            event(b, out, "FIRE ALARM");
            b.fw.alarm_for = Some(Duration::ZERO);
            if fire_holds_open(b) {
                release(b, out);
            }
        } else if !now.fire_alarm && before.fire_alarm {
            event(b, out, "FIRE NORMAL");
            b.fw.alarm_for = None;
            b.fw.relocked_during_alarm = false;
            if b.spec.fire.2 && b.spec.fire.1 {
                relock(b, out);
                if b.has(Defect::FireRestoreReReleases) {
                    b.fw.rerelease_left = Some(Duration::from_secs(3));
                }
            }
        }
        if now.fire_alarm && b.has(Defect::FireRelocksOnDoorClose) && b.spec.fire.1 {
            if now.door_open {
                b.fw.alarm_door_opened = true;
            } else if b.fw.alarm_door_opened && !b.fw.relocked_during_alarm {
                // "Relock on door close", with the alarm still on.
                b.fw.relocked_during_alarm = true;
                relock(b, out);
            }
        }
        if !now.fire_alarm {
            b.fw.alarm_door_opened = false;
        }
        if let Some(t) = &mut b.fw.alarm_for {
            *t += dt;
            if *t >= Duration::from_secs(3)
                && b.has(Defect::RelocksDuringAlarm)
                && !b.fw.relocked_during_alarm
                && b.spec.fire.1
            {
                b.fw.relocked_during_alarm = true;
                relock(b, out);
            }
        }
    }
    if let Some(hold) = b.spec.rex_hold {
        if now.rex && !before.rex {
            event(b, out, "REX");
            let hold = if b.has(Defect::RexTooShort) {
                Duration::from_secs(10).min(hold)
            } else {
                hold
            };
            b.fw.rex_left = Some(hold);
            b.fw.relock_left = None;
            release(b, out);
        }
        if b.has(Defect::RexRelocksOnDoorClose)
            && b.fw.rex_left.is_some()
            && before.door_open
            && !now.door_open
        {
            b.fw.rex_left = None;
            relock(b, out);
        }
        if expired(&mut b.fw.rex_left, dt) {
            relock(b, out);
        }
    }
    if b.spec.egress == Egress::PowerInterrupt && b.has(Defect::EgressViaController) {
        if now.handle && !before.handle {
            release(b, out);
        } else if !now.handle && before.handle && b.fw.rex_left.is_none() {
            relock(b, out);
        }
    }
    if b.spec.egress == Egress::Delayed {
        b.fw.push_for = if now.handle {
            b.fw.push_for + dt
        } else {
            Duration::ZERO
        };
        let (bar, delay) = if b.has(Defect::DelayedEgressLongPush) {
            (
                Duration::from_millis(3005),
                b.spec.egress_delay.saturating_sub(Duration::from_secs(3)),
            )
        } else {
            (BAR_SWITCH, b.spec.egress_delay)
        };
        if b.fw.push_for >= bar && b.fw.delay_left.is_none() && !b.fw.delayed_released {
            // Irreversible from here: letting go of the bar does not stop it.
            b.fw.delay_left = Some(delay);
        }
        if !now.handle && b.has(Defect::DelayedEgressReversible) {
            b.fw.delay_left = None;
        }
        if expired(&mut b.fw.delay_left, dt) {
            b.fw.delayed_released = true;
            release(b, out);
            if b.has(Defect::DelayedEgressAutoRelock) {
                b.fw.de_relock_left = Some(Duration::from_secs(8));
            }
        }
        if expired(&mut b.fw.de_relock_left, dt) {
            b.fw.delayed_released = false;
            relock(b, out);
        }
    }
    if expired(&mut b.fw.relock_left, dt) {
        relock(b, out);
        if b.has(Defect::ReReleasesAfterRelock) {
            b.fw.rerelease_left = Some(Duration::from_secs(3));
        }
    }
    if expired(&mut b.fw.rerelease_left, dt) {
        release(b, out);
    }
    if expired(&mut b.fw.late_unlock_left, dt) {
        release(b, out);
    }
    if expired(&mut b.fw.glitch_left, dt) {
        b.bolt = Bolt::Extended;
    }
    if b.has(Defect::ReleasesAboveMinOperating) {
        if b.electronics_v() < b.spec.min_operating - 0.1 {
            b.fw.low_for += dt;
            if b.fw.low_for >= Duration::from_millis(200)
                && b.fw.low_for < Duration::from_millis(200) + dt
            {
                release(b, out);
            }
        } else {
            b.fw.low_for = Duration::ZERO;
        }
    }
    if b.has(Defect::RehomesAfterNoise) {
        rehome_after_noise(b, dt, out);
    }
    if let Some((warnings, cutoff)) = b.spec.battery.clone() {
        if b.source == Source::Main {
            let v = now.main_v;
            let (late, cut_late) = if b.has(Defect::LateLowbatSlowClock) {
                (0.15, 0.2)
            } else {
                (0.0, 0.0)
            };
            while b.fw.lowbat_printed < warnings.len() && v < warnings[b.fw.lowbat_printed] - late {
                let crossed = b.fw.lowbat_printed;
                b.fw.lowbat_printed += 1;
                // Stage numbers as printed: swapped by the out-of-order defect.
                let stage = if b.has(Defect::LowbatWarningsOutOfOrder) {
                    warnings.len() - crossed
                } else {
                    crossed + 1
                };
                if stage == 1 && b.has(Defect::SpuriousLastWarningFirst) {
                    event(b, out, &format!("LOWBAT {}", warnings.len()));
                }
                if !(stage == 1 && b.has(Defect::NoLowbatWarning)) {
                    event(b, out, &format!("LOWBAT {stage}"));
                }
            }
            if v >= warnings[0] + REARM_ABOVE {
                b.fw.lowbat_printed = 0;
            }
            if v < cutoff - cut_late {
                event(b, out, "CUTOFF");
                b.sleep();
                if b.has(Defect::UnlocksAfterCutoff) {
                    b.fw.cutoff_for = Some(Duration::ZERO);
                }
                return;
            }
        }
    }
    if expired(&mut b.fw.emergency, dt) {
        event(b, out, "SLEEP");
        b.sleep();
        return;
    }
    if let (Some(written), Some(total)) = (&mut b.fw.updating, b.spec.update_time) {
        let quarter = |d: Duration| (d.as_secs_f64() / total.as_secs_f64() * 4.0) as u32;
        let before_q = quarter(*written);
        *written += dt;
        let after_q = quarter(*written);
        if *written >= total {
            b.fw.updating = None;
            b.fw.updates += 1;
            b.fw.rolled_back = false;
            event(b, out, "UPDATE DONE");
            b.power = Power::Booting {
                left: b.spec.boot_time,
                cause: "SWR",
            };
            b.uptime = Duration::ZERO;
        } else if after_q > before_q {
            event(b, out, &format!("UPDATE {}%", after_q * 25));
        }
    }
}

/// Answers one console line of lockrig's lock-console protocol.
pub(super) fn command(b: &mut Board, line: &str, out: &mut VecDeque<String>) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let version = format!("1.{}", b.fw.updates);
    match words.as_slice() {
        ["VER?"] => format!("VER lockboard-sim {version} ({})", b.spec.profile),
        ["STATE?"] => format!("STATE {}", b.reported_state()),
        ["UPTIME?"] => format!("UPTIME {}", b.uptime_ms()),
        ["IMAGE?"] => format!(
            "IMAGE {version} {}",
            if b.fw.rolled_back {
                "ROLLBACK"
            } else {
                "VALID"
            }
        ),
        ["UNLOCK", code] => {
            let emergency = b.fw.emergency.is_some();
            let accepted = *code == b.credential
                || (emergency && b.has(Defect::EmergencyAcceptsAnyCredential));
            if accepted {
                release(b, out);
                b.fw.relock_left = Some(b.spec.auto_relock);
                "OK".into()
            } else {
                "DENIED".into()
            }
        }
        ["LOCK"] => {
            b.fw.relock_left = None;
            relock(b, out);
            "OK".into()
        }
        ["UPDATE", "START"] if b.spec.update_time.is_some() && b.fw.emergency.is_none() => {
            b.fw.updating = Some(Duration::ZERO);
            event(b, out, "UPDATE START");
            "OK".into()
        }
        ["UPDATE", "START"] => "ERR UNSUPPORTED".into(),
        _ => format!("ERR UNKNOWN {}", words.first().copied().unwrap_or_default()),
    }
}
