use super::*;

/// The built-in suite with one edit; the edit must apply.
fn suite_with(from: &str, to: &str) -> Result<Suite, ConfigError> {
    assert!(BUILTIN[0].1.contains(from), "fixture lacks {from}");
    Suite::from_source(Source::builtin(
        "s.toml",
        &BUILTIN[0].1.replacen(from, to, 1),
    ))
}

#[test]
fn the_certification_suite_resolves_for_every_applicable_builtin_device() {
    let suite = Suite::load(DEFAULT).unwrap();
    let devices = DeviceProfile::builtin_all().unwrap();
    let mut trials = 0;
    for c in &suite.checks {
        for d in devices.iter().filter(|d| c.applies_to.covers(d)) {
            suite.resolve(c, d).unwrap();
            trials += 1;
        }
    }
    assert!(trials >= 80, "{trials}");
    // Every device gets checks of the families the brief lists.
    for d in &devices {
        let families: std::collections::BTreeSet<&str> = suite
            .checks
            .iter()
            .filter(|c| c.applies_to.covers(d))
            .map(Check::family)
            .collect();
        for f in ["power_loss", "relock", "noise", "egress"] {
            assert!(families.contains(f), "{}: {families:?}", d.name);
        }
    }
}

#[test]
fn conditional_steps_apply_only_where_the_feature_is() {
    let suite = Suite::load(DEFAULT).unwrap();
    let check = suite
        .checks
        .iter()
        .find(|c| c.name == "noise::near_min_operating")
        .unwrap();
    let with = |name: &str| {
        let d = DeviceProfile::load(name).unwrap();
        suite.resolve(check, &d).unwrap()
    };
    let console = |steps: &[Step<Ready>]| steps.iter().any(|s| s.role() == Some("console"));
    assert!(console(&with("smartlock_4aa")));
    assert!(!console(&with("maglock_12v")));
}

#[test]
fn step_errors_point_into_the_string() {
    let text = BUILTIN[0]
        .1
        .replacen("\"relay door_push on\"", "\"relay door_push maybe\"", 1);
    let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
    let ConfigError::Invalid { at, message } = err else {
        panic!()
    };
    let line = text.lines().nth(at.line - 1).unwrap();
    assert_eq!(&line[at.column - 1..at.column + 4], "maybe", "{message}");
    assert!(message.contains("expected `on` or `off`"));
}

#[test]
fn errors_after_a_condition_point_into_the_step() {
    let text = BUILTIN[0].1.replacen(
        "\"when console: expect console locked\"",
        "\"when console: expect console lockd\"",
        1,
    );
    let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
    assert!(err.to_string().contains("not `lockd`"), "{err}");
    let text = BUILTIN[0].1.replacen(
        "\"when console: expect console locked\"",
        "\"when consol: expect console locked\"",
        1,
    );
    let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
    let ConfigError::Invalid { at, message } = err else {
        panic!()
    };
    let line = text.lines().nth(at.line - 1).unwrap();
    assert!(line[at.column - 1..].starts_with("consol:"), "{message}");
}

#[test]
fn errors_in_escaped_or_multi_line_steps_point_at_the_string() {
    // Offsets within the parsed string used to be mapped into the file as if it were
    // written verbatim; here that lands inside `€`, and locating it panicked.
    for (written, shown) in [
        ("\"\"\"set €\"\"\"", "set €"),
        ("\"set \\u00e9 €\"", "set é €"),
    ] {
        let text = BUILTIN[0].1.replacen("\"output main on\"", written, 1);
        let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
        let ConfigError::Invalid { at, message } = err else {
            panic!()
        };
        let line = text.lines().nth(at.line - 1).unwrap();
        let from: String = line.chars().skip(at.column - 1).collect();
        assert!(from.starts_with(written), "{from} / {message}");
        assert!(message.contains(shown), "{message}");
    }
}

#[test]
fn an_expression_past_the_longest_duration_is_refused() {
    // `Duration + Duration` panics on overflow.
    let suite = suite_with(
        "\"wait ready_within\"",
        "\"wait 18446744073709549568s + 18446744073709549568s\"",
    )
    .unwrap();
    let device = DeviceProfile::load("maglock_12v").unwrap();
    let check = suite
        .checks
        .iter()
        .find(|c| c.applies_to.covers(&device) && c.name == "power_loss::fail_safe_releases")
        .unwrap();
    let msg = suite.resolve(check, &device).unwrap_err().to_string();
    assert!(msg.contains("too long"), "{msg}");
}

#[test]
fn wrong_unit_in_a_step_is_refused() {
    let msg = suite_with("\"wait ready_within\"", "\"wait 5V\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("expected a duration"), "{msg}");
}

#[test]
fn unknown_profile_name_is_refused() {
    let msg = suite_with("\"wait ready_within\"", "\"wait readywithin\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown profile value `readywithin`"), "{msg}");
}

#[test]
fn steps_must_suit_their_roles() {
    let msg = suite_with("\"relay door_push on\"", "\"relay main on\"")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`relay` needs a switch role, but `main` is a supply role"),
        "{msg}"
    );
    let msg = suite_with("\"expect console locked\"", "\"expect console LOCKED\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not `LOCKED`"), "{msg}");
    let msg = suite_with(
        "\"measure main_meter current in holding_current\"",
        "\"measure door_position current in holding_current\"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("needs a meter role, but `door_position` is an input role"),
        "{msg}"
    );
}

#[test]
fn watches_and_kept_measurements_must_exist() {
    let msg = suite_with("\"unwatch latch_sensor\"", "\"unwatch door_position\"")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`door_position` is not watched"), "{msg}");
    let msg = suite_with(
        "\"estimate energy_per_hour from holding\"",
        "\"estimate energy_per_hour from holdnig\"",
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("no earlier `measure ... as holdnig`"), "{msg}");
}

#[test]
fn a_check_without_a_physical_expectation_is_refused() {
    let text = "name = \"s\"\ndescription = \"d\"\n[[check]]\nname = \"a::b\"\ntitle = \"t\"\nbasis = [\"x\"]\nsteps = [\"wait 1s\", \"control door_position open\"]\n";
    let msg = Suite::from_source(Source::builtin("s.toml", text))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("check `a::b` expects nothing of a physical input"),
        "{msg}"
    );
}

#[test]
fn unknown_applies_to_and_requires_are_refused() {
    let msg = suite_with(
        "applies_to = [\"fail_safe\"]",
        "applies_to = [\"failsafe\"]",
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("field `applies_to`"), "{msg}");
    let msg = suite_with("requires = [\"console\"]", "requires = [\"consle\"]")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("field `requires`"), "{msg}");
}
