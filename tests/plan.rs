//! `lockrig plan` as a user runs it: the shipped example schedule and a corrected copy,
//! every rule made to fire, located errors, another suite, and the JSON output.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fixture_variant, run, text};

const EXAMPLE: &str = "fixtures/schedules/example.toml";

/// The line of the shipped example that makes it wrong.
const WRONG_LINE: &str =
    "fire_release = false            # DELIBERATELY WRONG: no fire-alarm relay in the lock's supply";

fn plan(schedule: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["plan", schedule.to_str().unwrap()];
    args.extend(extra);
    run(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The block the text output prints for the opening `tag`.
fn block<'a>(stdout: &'a str, tag: &str) -> &'a str {
    stdout
        .split("\n\n")
        .find(|b| b.starts_with(&format!("{tag}  ")))
        .unwrap_or_else(|| panic!("no block for {tag} in:\n{stdout}"))
}

/// The 1-based line of `file` that starts with `start`.
fn line_of(file: &Path, start: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in {}", file.display()))
        + 1
}

/// A schedule with one opening, written into `dir`: `use`, `class` and `power_loss`,
/// then `mechanical_egress`, `rex` and `fire_release`, and the profile if any.
fn one_opening(
    dir: &Path,
    (usage, class, power_loss): (&str, &str, &str),
    [mechanical_egress, rex, fire_release]: [bool; 3],
    profile: Option<&str>,
) -> PathBuf {
    let profile = profile.map_or(String::new(), |p| format!("profile = \"{p}\"\n"));
    let path = dir.join("one.toml");
    std::fs::write(
        &path,
        format!(
            "[schedule]
building = \"Test\"
edition = \"IBC 2021\"

[[opening]]
tag = \"T-1\"
location = \"test\"
use = \"{usage}\"
hardware = \"test\"
class = \"{class}\"
power_loss = \"{power_loss}\"
mechanical_egress = {mechanical_egress}
rex = {rex}
fire_release = {fire_release}
{profile}"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_example_names_its_one_wrong_opening_and_exits_1() {
    let o = plan(Path::new(EXAMPLE), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.ends_with("\n8 openings, 2 findings\n"), "{out}");
    let wrong = block(&out, "S2-2");
    assert!(
        wrong.contains(
            "FINDING   maglock-release: maglock without a fire-alarm release: a fire alarm leaves it locked"
        ),
        "{wrong}"
    );
    assert!(
        wrong.contains("basis  IBC 2021 1010.2.12 Sensor release"),
        "{wrong}"
    );
    assert!(wrong.contains("FINDING   stair-fire-release"), "{wrong}");
    assert!(wrong.contains("NFPA 101 7.2.1.5.7"), "{wrong}");
    assert_eq!(out.matches("FINDING").count(), 2, "{out}");
    // Each opening with a profile gets the default suite's checks for it.
    assert!(block(&out, "S1-2").contains("power_loss::fail_safe_releases"));
    assert!(block(&out, "D-220").contains("brownout::sag_resets_safely"));
    assert!(block(&out, "E-101").contains("profile   strike_fail_secure_12v"));
    assert!(block(&out, "E-101").contains("fire::perimeter_stays_locked"));
}

#[test]
fn the_corrected_example_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let fixed = fixture_variant(
        dir.path(),
        "fixed.toml",
        EXAMPLE,
        &[(WRONG_LINE, "fire_release = true")],
    );
    let o = plan(&fixed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert!(!out.contains("FINDING"), "{out}");
    assert!(out.ends_with("\n8 openings, 0 findings\n"));
}

#[test]
fn every_rule_fires() {
    let dir = tempfile::tempdir().unwrap();
    let smart_lock = ("battery_smart_lock", "fail_secure");
    let maglock = ("maglock", "fail_safe");
    let secure_strike = ("electric_strike", "fail_secure");
    let safe_strike = ("electric_strike", "fail_safe");
    for (rule, (usage, (class, mode)), releases, profile) in [
        // [mechanical_egress, rex, fire_release]
        (
            "fail-secure-egress",
            ("egress", smart_lock),
            [false, false, false],
            Some("smartlock_4aa"),
        ),
        (
            "maglock-release",
            ("circulation", maglock),
            [false, false, true],
            Some("maglock_12v"),
        ),
        (
            "fail-safe-high-security",
            ("high_security", safe_strike),
            [true, false, true],
            None,
        ),
        (
            "stair-fire-release",
            ("stair", secure_strike),
            [true, false, false],
            None,
        ),
        (
            "profile-mismatch",
            ("circulation", secure_strike),
            [true, false, false],
            Some("maglock_12v"),
        ),
    ] {
        let schedule = one_opening(dir.path(), (usage, class, mode), releases, profile);
        let o = plan(&schedule, &[]);
        assert_eq!(o.status.code(), Some(1), "{rule}: {}", text(&o));
        let out = stdout(&o);
        let finding = out
            .lines()
            .find(|l| l.starts_with(&format!("  FINDING   {rule}")))
            .unwrap_or_else(|| panic!("{rule}:\n{out}"));
        // The high-security rule is advice, and says so; it still fails the plan.
        assert_eq!(
            finding.contains("(recommendation)"),
            rule == "fail-safe-high-security",
            "{finding}"
        );
        assert!(out.contains("basis  "), "{rule}:\n{out}");
        let untested = match profile {
            Some(_) => "",
            None => "; 1 without a device profile, not tested",
        };
        assert!(
            out.ends_with(&format!("\n1 opening, 1 finding{untested}\n")),
            "{rule}:\n{out}"
        );
    }
}

#[test]
fn a_bad_field_is_located_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = fixture_variant(
        dir.path(),
        "bad.toml",
        EXAMPLE,
        &[(
            "rex = true                      # lever request-to-exit switch",
            "rex = \"yes\"",
        )],
    );
    let o = plan(&bad, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let at = format!(
        "{}:{}:7: field `rex`",
        bad.display(),
        line_of(&bad, "rex = \"yes\"")
    );
    assert!(stderr.contains(&at), "expected {at} in {stderr}");
    assert!(stderr.contains("expected a boolean"), "{stderr}");

    let typo = fixture_variant(
        dir.path(),
        "typo.toml",
        EXAMPLE,
        &[(WRONG_LINE, "fire_relase = true")],
    );
    let o = plan(&typo, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let at = format!(
        "{}:{}:1: unknown field `fire_relase`",
        typo.display(),
        line_of(&typo, "fire_relase")
    );
    assert!(stderr.contains(&at), "expected {at} in {stderr}");
}

#[test]
fn an_unknown_profile_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = fixture_variant(
        dir.path(),
        "bad.toml",
        EXAMPLE,
        &[("profile = \"smartlock_4aa\"", "profile = \"strike_99v\"")],
    );
    let o = plan(&bad, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let at = format!(
        "{}:{}:11: field `profile`: no device profile named `strike_99v` (built-in: ",
        bad.display(),
        line_of(&bad, "profile = \"strike_99v\"")
    );
    assert!(stderr.contains(&at), "expected {at} in {stderr}");
}

#[test]
fn the_checks_come_from_the_suite_given() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, applies_to: &str| {
        format!(
            "[[check]]
name = \"{name}\"
title = \"t\"
applies_to = [\"{applies_to}\"]
basis = [\"b\"]
steps = [\"relay door_push on\", \"expect door_position open within 2s\"]
"
        )
    };
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "name = \"lab\"\ndescription = \"t\"\n{}{}",
            check("fire_alarm::releases", "fail_safe"),
            check("emergency::usb_c", "battery_smart_lock"),
        ),
    )
    .unwrap();
    let o = plan(Path::new(EXAMPLE), &["--suite", suite.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = stdout(&o);
    assert!(out.contains("checks from suite `lab`"), "{out}");
    assert!(
        block(&out, "S1-2").ends_with("  checks    fire_alarm::releases"),
        "{out}"
    );
    assert!(
        block(&out, "D-220").ends_with("  checks    emergency::usb_c"),
        "{out}"
    );
    assert!(
        block(&out, "E-101").ends_with("  checks    none of suite `lab` applies"),
        "{out}"
    );
}

#[test]
fn json_prints_one_object_per_opening() {
    let o = plan(Path::new(EXAMPLE), &["--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let openings: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(openings.len(), 8);
    let wrong = openings.iter().find(|o| o["tag"] == "S2-2").unwrap();
    assert_eq!(wrong["use"], "stair");
    assert_eq!(wrong["profile"], "maglock_12v");
    assert!(wrong["checks"]
        .as_array()
        .unwrap()
        .contains(&"power_loss::fail_safe_releases".into()));
    assert_eq!(wrong["findings"][0]["rule"], "maglock-release");
    assert_eq!(wrong["findings"][1]["rule"], "stair-fire-release");
    assert!(wrong["at"].as_str().unwrap().starts_with(EXAMPLE));
    let with_findings = openings
        .iter()
        .filter(|o| !o["findings"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(with_findings, 1);
}
