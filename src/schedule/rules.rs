//! The mode rules an opening's lock must keep, each with the code basis that decides
//! it. A [`Finding`] is one rule broken at one opening.

use serde::Serialize;

use super::{Opening, Use};
use crate::config::device::{DeviceClass, PowerLossMode};

/// A rule the schedule is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A fail-secure lock on an egress path (`egress`, `stair`) must leave mechanical
    /// egress from the inside.
    FailSecureEgress,
    /// A maglock needs a request-to-exit that cuts its power and a fire-alarm release.
    MaglockRelease,
    /// A high-security room should not have a fail-safe lock (a recommendation).
    FailSafeHighSecurity,
    /// A stair door must be released by the fire alarm.
    StairFireRelease,
    /// The device profile named must have the opening's class and power-loss mode.
    ProfileMismatch,
}

impl Rule {
    /// The rule's identifier in output (`maglock-release`).
    pub fn id(self) -> &'static str {
        match self {
            Rule::FailSecureEgress => "fail-secure-egress",
            Rule::MaglockRelease => "maglock-release",
            Rule::FailSafeHighSecurity => "fail-safe-high-security",
            Rule::StairFireRelease => "stair-fire-release",
            Rule::ProfileMismatch => "profile-mismatch",
        }
    }

    /// Whether a code requires it or the lab recommends it.
    pub fn severity(self) -> Severity {
        match self {
            Rule::FailSafeHighSecurity => Severity::Recommendation,
            _ => Severity::Requirement,
        }
    }

    /// The code sections (or, for the lab's own rules, the reason) behind the rule.
    pub fn basis(self) -> &'static [&'static str] {
        match self {
            Rule::FailSecureEgress => &[
                "IBC 2021 1010.2 Door operations: readily openable from the egress side without a key, special knowledge or effort",
                "NFPA 101 7.2.1.5 Locks, latches and alarm devices",
            ],
            Rule::MaglockRelease => &[
                "IBC 2021 1010.2.12 Sensor release: PUSH TO EXIT cuts lock power directly, unlocked >= 30 s",
                "IBC 2021 1010.2.11 Door hardware release: loss of power unlocks",
                "NFPA 101 7.2.1.6.2 Sensor release",
                "NFPA 72 21.9.1: the fire alarm unlocks the egress doors it is required to unlock",
            ],
            Rule::FailSafeHighSecurity => &[
                "Recommendation, not a code requirement: a fail-safe lock unlocks on every power cut; fit a fail-secure lock that keeps mechanical egress",
            ],
            Rule::StairFireRelease => &[
                "IBC 2021 Stairway doors (2018: 1010.1.9.11): doors locked on the stair side unlock on a fire command center signal",
                "NFPA 101 7.2.1.5.7 Stair re-entry: doors unlocked remotely",
                "NFPA 72 21.9.1: the fire alarm unlocks the egress doors it is required to unlock",
            ],
            Rule::ProfileMismatch => &[
                "Test plan: the checks follow the profile's class and mode, so another kind of lock proves nothing about this opening",
            ],
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// How binding a rule is. Either kind is a finding and makes `lockrig plan` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A code requires it.
    Requirement,
    /// The lab recommends it; no code requires it.
    Recommendation,
}

/// One rule broken at one opening.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Whether a code requires it.
    pub severity: Severity,
    /// What is wrong at this opening.
    pub message: String,
    /// The rule's code basis.
    pub basis: &'static [&'static str],
}

impl Finding {
    fn new(rule: Rule, message: String) -> Self {
        Self {
            rule,
            severity: rule.severity(),
            message,
            basis: rule.basis(),
        }
    }
}

/// Every rule the opening breaks, in the order of [`Rule`].
pub fn findings(o: &Opening) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut flag = |rule, message: String| found.push(Finding::new(rule, message));
    if o.power_loss == PowerLossMode::FailSecure && o.usage.is_egress() && !o.mechanical_egress {
        flag(
            Rule::FailSecureEgress,
            format!(
                "fail_secure lock on an egress path (use `{}`) without mechanical egress: with the power off, nobody inside can open it without a key",
                o.usage
            ),
        );
    }
    if o.class == DeviceClass::Maglock && !(o.rex && o.fire_release) {
        let locked_in = "nobody inside can open it while it is powered";
        let alarm = "a fire alarm leaves it locked";
        let (missing, why) = match (o.rex, o.fire_release) {
            (false, false) => (
                "a request-to-exit and a fire-alarm release",
                format!("{locked_in}, and {alarm}"),
            ),
            (false, true) => ("a request-to-exit that cuts its power", locked_in.into()),
            _ => ("a fire-alarm release", alarm.into()),
        };
        flag(
            Rule::MaglockRelease,
            format!("maglock without {missing}: {why}"),
        );
    }
    if o.power_loss == PowerLossMode::FailSafe && o.usage == Use::HighSecurity {
        flag(
            Rule::FailSafeHighSecurity,
            "fail_safe lock on a high-security room: it unlocks on every power cut".into(),
        );
    }
    if o.usage == Use::Stair && !o.fire_release {
        flag(
            Rule::StairFireRelease,
            "stair door without fire-alarm release: in a fire, people in the stair cannot re-enter the floor".into(),
        );
    }
    if let Some(p) = &o.profile {
        if p.class != o.class || p.power_loss != o.power_loss {
            flag(
                Rule::ProfileMismatch,
                format!(
                    "the opening is {} {}, but profile `{}` is {} {}: its checks would test another kind of lock",
                    super::name_of(&o.class),
                    super::name_of(&o.power_loss),
                    p.name,
                    super::name_of(&p.class),
                    super::name_of(&p.power_loss),
                ),
            );
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::tests::schedule_with;
    use super::*;

    /// The rules the test schedule's one opening breaks after `edits`.
    fn broken(edits: &[(&str, &str)]) -> Vec<Rule> {
        let schedule = schedule_with(edits).unwrap();
        findings(&schedule.openings[0])
            .iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn the_base_opening_breaks_no_rule() {
        assert_eq!(broken(&[]), []);
    }

    #[test]
    fn fail_secure_without_mechanical_egress_on_an_egress_path() {
        let locked_in = ("mechanical_egress = true", "mechanical_egress = false");
        assert_eq!(
            broken(&[("use = \"circulation\"", "use = \"egress\""), locked_in]),
            [Rule::FailSecureEgress]
        );
        assert_eq!(
            broken(&[
                ("use = \"circulation\"", "use = \"stair\""),
                ("fire_release = false", "fire_release = true"),
                locked_in
            ]),
            [Rule::FailSecureEgress]
        );
        // Off the egress path, or with a free inside lever, or fail-safe: no finding.
        assert_eq!(broken(&[locked_in]), []);
        assert_eq!(broken(&[("use = \"circulation\"", "use = \"egress\"")]), []);
        assert_eq!(
            broken(&[
                ("use = \"circulation\"", "use = \"egress\""),
                ("power_loss = \"fail_secure\"", "power_loss = \"fail_safe\""),
                locked_in
            ]),
            []
        );
    }

    #[test]
    fn a_maglock_needs_rex_and_fire_release() {
        let maglock = [
            ("class = \"electric_strike\"", "class = \"maglock\""),
            ("power_loss = \"fail_secure\"", "power_loss = \"fail_safe\""),
        ];
        let rex = ("rex = false", "rex = true");
        let fire = ("fire_release = false", "fire_release = true");
        assert_eq!(broken(&[maglock[0], maglock[1], rex, fire]), []);
        for (edits, missing) in [
            (vec![rex], "without a fire-alarm release"),
            (vec![fire], "without a request-to-exit that cuts its power"),
            (vec![], "without a request-to-exit and a fire-alarm release"),
        ] {
            let schedule = schedule_with(&[maglock.as_slice(), &edits].concat()).unwrap();
            let found = findings(&schedule.openings[0]);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].rule, Rule::MaglockRelease);
            assert!(found[0].message.contains(missing), "{}", found[0].message);
            assert!(found[0].basis.iter().any(|b| b.contains("1010.2.12")));
        }
    }

    #[test]
    fn fail_safe_on_a_high_security_room_is_a_recommendation() {
        let high = ("use = \"circulation\"", "use = \"high_security\"");
        let fail_safe = ("power_loss = \"fail_secure\"", "power_loss = \"fail_safe\"");
        assert_eq!(broken(&[high]), []);
        let schedule = schedule_with(&[high, fail_safe]).unwrap();
        let found = findings(&schedule.openings[0]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, Rule::FailSafeHighSecurity);
        assert_eq!(found[0].severity, Severity::Recommendation);
    }

    #[test]
    fn a_stair_door_needs_fire_release() {
        let stair = ("use = \"circulation\"", "use = \"stair\"");
        assert_eq!(broken(&[stair]), [Rule::StairFireRelease]);
        assert_eq!(
            broken(&[stair, ("fire_release = false", "fire_release = true")]),
            []
        );
    }

    #[test]
    fn the_profile_must_match_the_openings_class_and_mode() {
        // The base opening is a fail-secure strike; smartlock_4aa is a fail-secure smart
        // lock, maglock_12v a fail-safe maglock.
        let named = |p: &str| {
            (
                "fire_release = false",
                format!("fire_release = false\nprofile = \"{p}\""),
            )
        };
        let (from, to) = named("smartlock_4aa");
        assert_eq!(broken(&[(from, &to)]), [Rule::ProfileMismatch]);
        let smart_lock = (
            "class = \"electric_strike\"",
            "class = \"battery_smart_lock\"",
        );
        assert_eq!(broken(&[smart_lock, (from, &to)]), []);
        let (from, to) = named("maglock_12v");
        let schedule = schedule_with(&[smart_lock, (from, &to)]).unwrap();
        let found = findings(&schedule.openings[0]);
        assert_eq!(found[0].rule, Rule::ProfileMismatch);
        assert_eq!(
            found[0].message,
            "the opening is battery_smart_lock fail_secure, but profile `maglock_12v` is maglock fail_safe: its checks would test another kind of lock"
        );
    }

    #[test]
    fn findings_serialize_with_the_rule_id() {
        let schedule = schedule_with(&[("use = \"circulation\"", "use = \"stair\"")]).unwrap();
        let json = serde_json::to_value(findings(&schedule.openings[0])).unwrap();
        assert_eq!(json[0]["rule"], "stair-fire-release");
        assert_eq!(json[0]["severity"], "requirement");
        assert!(json[0]["basis"][1].as_str().unwrap().contains("7.2.1.5.7"));
    }
}
