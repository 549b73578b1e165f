use super::*;

fn board(name: &str, defects: &[Defect]) -> Board {
    Board::new(&DeviceProfile::load(name).unwrap(), defects, 1, "246810").unwrap()
}

/// Runs `ms` milliseconds at constant inputs; returns what the console printed.
fn run(b: &mut Board, inputs: Inputs, ms: u64) -> Vec<String> {
    let mut out = VecDeque::new();
    for _ in 0..ms {
        b.step(inputs, Duration::from_millis(1), &mut out);
    }
    out.into_iter().collect()
}

fn powered(v: f64) -> Inputs {
    Inputs {
        main_v: v,
        ..Inputs::default()
    }
}

/// The event texts of console lines, without their uptime.
fn events(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_board_s_thresholds_are_its_own_not_the_profile_s() {
    let profile = DeviceProfile::load("smartlock_4aa").unwrap();
    let reset_below = profile.supply.reset_below.get_ref().0;
    let bors: Vec<f64> = (0..20)
        .map(|seed| Board::new(&profile, &[], seed, "1").unwrap().spec().bor)
        .collect();
    assert!(bors
        .iter()
        .all(|b| *b < reset_below && *b >= 2.55 && *b <= 2.85));
    assert!(
        bors.windows(2).any(|p| p[0] != p[1]),
        "seeds pick different boards: {bors:?}"
    );
    let again: Vec<f64> = (0..20)
        .map(|seed| Board::new(&profile, &[], seed, "1").unwrap().spec().bor)
        .collect();
    assert_eq!(bors, again, "the same seed builds the same board");
}

#[test]
fn smart_lock_boots_and_stays_locked_through_a_brownout() {
    let mut b = board("smartlock_4aa", &[]);
    assert_eq!(events(&run(&mut b, powered(6.0), 500)), ["BOOT POR"]);
    assert!(b.console_alive());
    run(&mut b, powered(2.0), 300);
    assert!(!b.console_alive());
    assert_eq!(events(&run(&mut b, powered(6.0), 1500)), ["BOOT BOR"]);
    assert!(b.engaged());
    assert_eq!(b.reported_state(), "LOCKED");
}

#[test]
fn defective_smart_lock_opens_after_a_brownout() {
    let mut b = board("smartlock_4aa", &[Defect::OpensOnBrownout]);
    run(&mut b, powered(6.0), 500);
    run(&mut b, powered(2.0), 300);
    let out = events(&run(&mut b, powered(6.0), 1500));
    assert_eq!(out, ["BOOT BOR", "UNLOCKED"]);
    assert!(!b.engaged());
}

#[test]
fn a_valid_credential_unlocks_and_the_lock_relocks_by_itself() {
    let mut b = board("smartlock_4aa", &[]);
    run(&mut b, powered(6.0), 500);
    let mut out = VecDeque::new();
    assert_eq!(
        b.command("UNLOCK 000000", &mut out).as_deref(),
        Some("DENIED")
    );
    assert_eq!(b.command("UNLOCK 246810", &mut out).as_deref(), Some("OK"));
    assert_eq!(events(&run(&mut b, powered(6.0), 1000)), ["UNLOCKED"]);
    assert!(!b.engaged());
    assert_eq!(events(&run(&mut b, powered(6.0), 6000)), ["LOCKED"]);
    assert!(b.engaged());
}

#[test]
fn low_battery_warnings_come_in_order_then_cutoff() {
    let mut b = board("smartlock_4aa", &[]);
    run(&mut b, powered(6.0), 500);
    let mut printed = Vec::new();
    let mut v = 6.0;
    while v > 3.8 {
        printed.extend(events(&run(&mut b, powered(v), 10)));
        v -= 0.001;
    }
    assert_eq!(printed, ["LOWBAT 1", "LOWBAT 2", "CUTOFF"]);
    assert!(!b.console_alive(), "asleep after cutoff");
    assert!(b.engaged(), "and still locked");
}

#[test]
fn emergency_power_wakes_a_dead_lock_for_one_session() {
    let mut b = board("smartlock_4aa", &[]);
    run(&mut b, powered(6.0), 500);
    run(&mut b, powered(3.9), 100);
    assert!(!b.console_alive(), "flat battery");
    let port = Inputs {
        main_v: 3.9,
        vbus_v: 5.0,
        ..Inputs::default()
    };
    assert_eq!(events(&run(&mut b, port, 1000)), ["BOOT WAKE", "EMERGENCY"]);
    assert!(b.port_current() > 0.0 && b.main_current() == 0.0);
    let mut out = VecDeque::new();
    assert_eq!(b.command("UNLOCK 246810", &mut out).as_deref(), Some("OK"));
    run(&mut b, port, 1000);
    assert!(!b.engaged());
    let mut dead = board("smartlock_4aa", &[Defect::DeadEmergencyPort]);
    run(&mut dead, powered(3.9), 500);
    assert!(run(&mut dead, port, 2000).is_empty());
    assert!(!dead.console_alive());
}

#[test]
fn a_maglock_holds_only_while_powered_and_the_fire_loop_and_push_bar_cut_it() {
    let mut b = board("maglock_12v", &[]);
    run(&mut b, powered(12.0), 500);
    assert!(b.engaged() && b.holds_door(false, false));
    assert!(
        (b.main_current() - 0.25).abs() < 0.02,
        "{}",
        b.main_current()
    );
    run(&mut b, powered(0.0), 500);
    assert!(!b.engaged());
    run(&mut b, powered(12.0), 500);
    let alarm = Inputs {
        fire_alarm: true,
        ..powered(12.0)
    };
    run(&mut b, alarm, 500);
    assert!(!b.engaged(), "the fire loop cuts the magnet");
    run(&mut b, powered(12.0), 500);
    let bar = Inputs {
        handle: true,
        ..powered(12.0)
    };
    run(&mut b, bar, 500);
    assert!(!b.engaged(), "the push bar cuts the magnet");
}

#[test]
fn a_delayed_egress_maglock_releases_after_its_delay_and_rearms_on_restart() {
    let mut b = board("maglock_delayed_egress_24v", &[]);
    run(&mut b, powered(24.0), 1000);
    assert!(b.engaged());
    let push = Inputs {
        handle: true,
        ..powered(24.0)
    };
    run(&mut b, push, 3000);
    run(&mut b, powered(24.0), 5000);
    assert!(b.engaged(), "still within the delay");
    run(&mut b, powered(24.0), 10_000);
    assert!(
        !b.engaged(),
        "released after the delay, though the bar was let go"
    );
    run(&mut b, powered(0.0), 1000);
    run(&mut b, powered(24.0), 1000);
    assert!(b.engaged(), "rearmed by the restart");
}

#[test]
fn a_power_cut_mid_update_rolls_back_or_bricks() {
    for (defects, bricked) in [(vec![], false), (vec![Defect::BricksOnUpdateCut], true)] {
        let mut b = board("smartlock_4aa", &defects);
        run(&mut b, powered(6.0), 500);
        let mut out = VecDeque::new();
        assert_eq!(b.command("UPDATE START", &mut out).as_deref(), Some("OK"));
        run(&mut b, powered(6.0), 5000);
        run(&mut b, powered(0.0), 500);
        let boot = events(&run(&mut b, powered(6.0), 1000));
        assert_eq!(b.console_alive(), !bricked);
        if !bricked {
            assert_eq!(boot, ["BOOT POR", "IMAGE ROLLBACK"]);
            assert_eq!(
                b.command("IMAGE?", &mut out).as_deref(),
                Some("IMAGE 1.0 ROLLBACK")
            );
        }
    }
}
