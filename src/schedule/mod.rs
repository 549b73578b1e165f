//! Door hardware schedules (`fixtures/schedules/*.toml`): one `[[opening]]` per door of
//! a building, with its use, lock class, power-loss mode and release devices, and the
//! device profile to test it with.
//!
//! [`Schedule::load`] validates a schedule, [`rules`] flags the openings whose lock mode
//! breaks a code rule, and [`Schedule::plan`] turns it into a test plan: for each
//! opening, the checks of a suite that apply to its device profile.
//!
//! This sits beside `run`: it reads config and suite data and never touches a rig.
//! Loading does no I/O beyond reading the schedule and the device profiles it names;
//! every error names the file, line and column, the field, and what was expected.

pub mod rules;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use rules::{Finding, Rule, Severity};

use crate::config::device::{DeviceClass, DeviceProfile, PowerLossMode};
use crate::config::{ConfigError, Location, Source};
use crate::scenario::suite::Suite;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    schedule: Spanned<Header>,
    #[serde(default)]
    opening: Vec<OpeningFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    building: String,
    edition: Edition,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpeningFile {
    tag: Spanned<String>,
    location: String,
    #[serde(rename = "use")]
    usage: Use,
    hardware: String,
    class: DeviceClass,
    power_loss: Spanned<PowerLossMode>,
    mechanical_egress: bool,
    rex: bool,
    fire_release: bool,
    #[serde(default)]
    profile: Option<Spanned<String>>,
    #[serde(default)]
    basis: Vec<String>,
}

/// The code edition whose section numbers the rules cite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Edition {
    /// The 2021 International Building Code.
    #[serde(rename = "IBC 2021")]
    Ibc2021,
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&name_of(self))
    }
}

/// What an opening is for; decides which rules apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Use {
    /// In the means of egress: people leave the building or the space through it.
    Egress,
    /// On the building or suite boundary, and not in the means of egress.
    Perimeter,
    /// A room whose contents must stay secured (a server room, a pharmacy store).
    HighSecurity,
    /// An interior door off the egress path (an office, cross-corridor doors).
    Circulation,
    /// Into or out of an exit stair: in the means of egress, and released by the fire
    /// alarm so people can leave the stair.
    Stair,
}

impl Use {
    /// True for doors in the means of egress (`egress`, `stair`).
    pub fn is_egress(self) -> bool {
        matches!(self, Use::Egress | Use::Stair)
    }
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&name_of(self))
    }
}

/// One opening (door) of a schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Opening {
    /// The door's mark on the drawings (`E-101`), unique in the schedule.
    pub tag: String,
    /// Where the door is, in words.
    pub location: String,
    /// What the door is for (`use` in the file).
    #[serde(rename = "use")]
    pub usage: Use,
    /// The schedule's hardware description, as written.
    pub hardware: String,
    /// The lock's device class.
    pub class: DeviceClass,
    /// What the lock does when it loses power.
    pub power_loss: PowerLossMode,
    /// The inside lever or push bar opens the door without power, key or special
    /// knowledge.
    pub mechanical_egress: bool,
    /// A request-to-exit (push-to-exit) device cuts the lock's power.
    pub rex: bool,
    /// The fire-alarm system releases the lock.
    pub fire_release: bool,
    /// The device profile to test it with, if the schedule names one.
    #[serde(serialize_with = "profile_name")]
    pub profile: Option<DeviceProfile>,
    /// The code basis the designer cites for this opening.
    pub basis: Vec<String>,
    /// Where the opening's tag is in the file.
    #[serde(serialize_with = "display")]
    pub at: Location,
}

fn profile_name<S: serde::Serializer>(p: &Option<DeviceProfile>, s: S) -> Result<S::Ok, S::Error> {
    p.as_ref().map(|p| &p.name).serialize(s)
}

fn display<S: serde::Serializer>(v: &impl fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The name a schedule file uses for an enum value (`fail_secure`).
fn name_of(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A loaded, validated door hardware schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The building (or part of it) the schedule covers.
    pub building: String,
    /// The code edition the schedule follows.
    pub edition: Edition,
    /// The openings in file order.
    pub openings: Vec<Opening>,
    /// The source, for error positions.
    pub source: Source,
}

impl Schedule {
    /// Loads and validates a schedule file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::from_source(Source::read(path)?)
    }

    /// Parses and validates, loading each profile named as `DeviceProfile::load` does,
    /// except that a relative `.toml` path found in the schedule's folder is taken from
    /// there (as a rig file's `dut` is).
    pub fn from_source(source: Source) -> Result<Self, ConfigError> {
        let folder: Option<PathBuf> = source
            .file
            .parent()
            .filter(|_| !source.file.starts_with("<built-in>"))
            .map(Path::to_path_buf);
        Self::from_source_with(source, |name| {
            let path = Path::new(name);
            match &folder {
                Some(dir)
                    if path.is_relative() && name.ends_with(".toml") && dir.join(path).exists() =>
                {
                    DeviceProfile::load(&dir.join(path).to_string_lossy())
                }
                _ => DeviceProfile::load(name),
            }
        })
    }

    /// Parses and validates, loading each profile named with `load_profile`.
    pub fn from_source_with(
        source: Source,
        mut load_profile: impl FnMut(&str) -> Result<DeviceProfile, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let file: ScheduleFile = source.parse()?;
        if file.opening.is_empty() {
            return Err(source.error(
                file.schedule.span(),
                "no openings: list each door as an [[opening]] table",
            ));
        }
        let mut openings: Vec<Opening> = Vec::with_capacity(file.opening.len());
        for o in file.opening {
            let tag = o.tag.get_ref();
            if tag.trim().is_empty() {
                return Err(source.error(
                    o.tag.span(),
                    "field `tag`: expected the door's mark on the drawings, found an empty string",
                ));
            }
            if let Some(first) = openings.iter().find(|p| &p.tag == tag) {
                return Err(source.error(
                    o.tag.span(),
                    format!(
                        "field `tag`: duplicate opening `{tag}` (first at line {})",
                        first.at.line
                    ),
                ));
            }
            if o.class == DeviceClass::Maglock
                && *o.power_loss.get_ref() == PowerLossMode::FailSecure
            {
                return Err(source.error(
                    o.power_loss.span(),
                    "field `power_loss`: a maglock holds only while powered, expected `fail_safe`, found `fail_secure`",
                ));
            }
            let profile = match &o.profile {
                Some(p) => Some(
                    load_profile(p.get_ref())
                        .map_err(|e| source.error(p.span(), format!("field `profile`: {e}")))?,
                ),
                None => None,
            };
            openings.push(Opening {
                at: source.locate(o.tag.span().start),
                tag: o.tag.into_inner(),
                location: o.location,
                usage: o.usage,
                hardware: o.hardware,
                class: o.class,
                power_loss: o.power_loss.into_inner(),
                mechanical_egress: o.mechanical_egress,
                rex: o.rex,
                fire_release: o.fire_release,
                profile,
                basis: o.basis,
            });
        }
        let header = file.schedule.into_inner();
        Ok(Self {
            building: header.building,
            edition: header.edition,
            openings,
            source,
        })
    }

    /// The test plan with `suite`: each opening's checks (those whose `applies_to`
    /// covers its profile) and the rules it breaks.
    pub fn plan<'a>(&'a self, suite: &'a Suite) -> TestPlan<'a> {
        let openings = self
            .openings
            .iter()
            .map(|opening| OpeningPlan {
                opening,
                suite: &suite.name,
                checks: opening.profile.as_ref().map_or_else(Vec::new, |p| {
                    suite
                        .checks
                        .iter()
                        .filter(|c| c.applies_to.covers(p))
                        .map(|c| c.name.as_str())
                        .collect()
                }),
                findings: rules::findings(opening),
            })
            .collect();
        TestPlan {
            schedule: self,
            suite: &suite.name,
            openings,
        }
    }
}

/// A schedule turned into a test plan. `Display` prints it for a person: one block per
/// opening, then a summary line.
#[derive(Debug)]
pub struct TestPlan<'a> {
    /// The schedule.
    pub schedule: &'a Schedule,
    /// The suite the checks come from.
    pub suite: &'a str,
    /// One entry per opening, in schedule order.
    pub openings: Vec<OpeningPlan<'a>>,
}

impl TestPlan<'_> {
    /// The number of rules broken, over all openings.
    pub fn findings(&self) -> usize {
        self.openings.iter().map(|o| o.findings.len()).sum()
    }
}

/// One opening's part of the plan; serializes as one JSON object.
#[derive(Debug, Serialize)]
pub struct OpeningPlan<'a> {
    /// The opening.
    #[serde(flatten)]
    pub opening: &'a Opening,
    /// The suite the checks come from.
    pub suite: &'a str,
    /// The suite's checks that apply to the opening's profile; none without a profile.
    pub checks: Vec<&'a str>,
    /// The rules the opening breaks.
    pub findings: Vec<Finding>,
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for TestPlan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.schedule;
        writeln!(
            f,
            "{} ({}): {}",
            s.building,
            s.edition,
            s.source.file.display()
        )?;
        writeln!(f, "checks from suite `{}`", self.suite)?;
        for o in &self.openings {
            writeln!(f)?;
            write!(f, "{o}")?;
        }
        let untested = self
            .openings
            .iter()
            .filter(|o| o.opening.profile.is_none())
            .count();
        writeln!(f)?;
        write!(
            f,
            "{}, {}",
            count(self.openings.len(), "opening"),
            count(self.findings(), "finding")
        )?;
        if untested > 0 {
            write!(f, "; {untested} without a device profile, not tested")?;
        }
        writeln!(f)
    }
}

impl fmt::Display for OpeningPlan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.opening;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        writeln!(f, "{}  {} (line {})", o.tag, o.location, o.at.line)?;
        writeln!(f, "  use       {}", o.usage)?;
        writeln!(f, "  hardware  {}", o.hardware)?;
        writeln!(
            f,
            "  mode      {} {}; mechanical egress {}, REX {}, fire release {}",
            name_of(&o.class),
            name_of(&o.power_loss),
            yes_no(o.mechanical_egress),
            yes_no(o.rex),
            yes_no(o.fire_release)
        )?;
        for (i, b) in o.basis.iter().enumerate() {
            writeln!(f, "  {:<9} {b}", if i == 0 { "basis" } else { "" })?;
        }
        match &o.profile {
            None => writeln!(
                f,
                "  profile   none named; add `profile = \"...\"` to test this opening"
            )?,
            Some(p) => {
                writeln!(
                    f,
                    "  profile   {} ({} {})",
                    p.name,
                    name_of(&p.class),
                    name_of(&p.power_loss)
                )?;
                if self.checks.is_empty() {
                    writeln!(f, "  checks    none of suite `{}` applies", self.suite)?;
                }
                for (i, c) in self.checks.iter().enumerate() {
                    writeln!(f, "  {:<9} {c}", if i == 0 { "checks" } else { "" })?;
                }
            }
        }
        for finding in &self.findings {
            let kind = match finding.severity {
                Severity::Requirement => "",
                Severity::Recommendation => " (recommendation)",
            };
            writeln!(
                f,
                "  FINDING   {}{kind}: {}",
                finding.rule.id(),
                finding.message
            )?;
            for (i, b) in finding.basis.iter().enumerate() {
                writeln!(
                    f,
                    "            {:<6} {b}",
                    if i == 0 { "basis" } else { "" }
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-opening schedule that breaks no rule: a fail-secure strike on an office.
    const BASE: &str = r#"[schedule]
building = "Test building"
edition = "IBC 2021"

[[opening]]
tag = "T-1"
location = "Office"
use = "circulation"
hardware = "Electric strike, fail-secure, free lever inside"
class = "electric_strike"
power_loss = "fail_secure"
mechanical_egress = true
rex = false
fire_release = false
"#;

    /// The base schedule with each `from` replaced (once) by its `to`; every edit must
    /// apply.
    pub(crate) fn schedule_with(edits: &[(&str, &str)]) -> Result<Schedule, ConfigError> {
        Schedule::from_source(Source::builtin("s.toml", &edited(edits)))
    }

    fn edited(edits: &[(&str, &str)]) -> String {
        let mut text = BASE.to_string();
        for (from, to) in edits {
            assert!(text.contains(from), "the base schedule lacks {from}");
            text = text.replacen(from, to, 1);
        }
        text
    }

    /// The error's message and (line, column).
    fn error(edits: &[(&str, &str)]) -> (String, (usize, usize)) {
        match schedule_with(edits).unwrap_err() {
            ConfigError::Invalid { at, message } => (message, (at.line, at.column)),
            e => panic!("not a located error: {e}"),
        }
    }

    const EXAMPLE: &str = include_str!("../../fixtures/schedules/example.toml");

    #[test]
    fn the_example_has_one_wrong_opening() {
        let schedule = Schedule::from_source(Source::builtin("example.toml", EXAMPLE)).unwrap();
        let suite = Suite::load(crate::scenario::suite::DEFAULT).unwrap();
        let plan = schedule.plan(&suite);
        assert!((6..=10).contains(&plan.openings.len()));
        let wrong: Vec<_> = plan
            .openings
            .iter()
            .filter(|o| !o.findings.is_empty())
            .collect();
        assert_eq!(wrong.len(), 1);
        assert_eq!(wrong[0].opening.tag, "S2-2");
        let rules: Vec<_> = wrong[0].findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules, [Rule::MaglockRelease, Rule::StairFireRelease]);
    }

    #[test]
    fn the_plan_runs_the_suites_checks_that_cover_each_profile() {
        let text = BASE
            .replace("class = \"electric_strike\"", "class = \"maglock\"")
            .replace("\"fail_secure\"", "\"fail_safe\"")
            .replace("rex = false", "rex = true")
            .replace(
                "fire_release = false",
                "fire_release = true\nprofile = \"maglock_12v\"",
            );
        let schedule = Schedule::from_source(Source::builtin("s.toml", &text)).unwrap();
        // The plan follows each check's `applies_to`, whatever the checks are called.
        let check = |name: &str, applies_to: &str| {
            format!(
                "[[check]]\nname = \"{name}\"\ntitle = \"t\"\napplies_to = [\"{applies_to}\"]\nbasis = [\"b\"]\nsteps = [\"relay door_push on\", \"expect door_position open within 2s\"]\n"
            )
        };
        let suite = Suite::from_source(Source::builtin(
            "suite.toml",
            &format!(
                "name = \"t\"\ndescription = \"t\"\n{}{}{}",
                check("power_loss::releases", "fail_safe"),
                check("emergency::usb_c", "battery_smart_lock"),
                check("fire_alarm::releases", "maglock"),
            ),
        ))
        .unwrap();
        let plan = schedule.plan(&suite);
        assert_eq!(
            plan.openings[0].checks,
            ["power_loss::releases", "fire_alarm::releases"]
        );
        assert_eq!(plan.findings(), 0);
        let text = plan.to_string();
        assert!(
            text.contains("  checks    power_loss::releases\n            fire_alarm::releases\n"),
            "{text}"
        );
        assert!(text.ends_with("1 opening, 0 findings\n"), "{text}");
    }

    #[test]
    fn an_opening_without_a_profile_has_no_checks_and_says_so() {
        let schedule = schedule_with(&[]).unwrap();
        let suite = Suite::load(crate::scenario::suite::DEFAULT).unwrap();
        let plan = schedule.plan(&suite);
        assert!(plan.openings[0].checks.is_empty());
        let text = plan.to_string();
        assert!(text.contains("profile   none named"), "{text}");
        assert!(
            text.ends_with("1 opening, 0 findings; 1 without a device profile, not tested\n"),
            "{text}"
        );
    }

    #[test]
    fn an_opening_serializes_as_one_flat_object() {
        let schedule = schedule_with(&[(
            "fire_release = false",
            "fire_release = false\nprofile = \"smartlock_4aa\"",
        )])
        .unwrap();
        let suite = Suite::load(crate::scenario::suite::DEFAULT).unwrap();
        let plan = schedule.plan(&suite);
        let json = serde_json::to_value(&plan.openings[0]).unwrap();
        assert_eq!(json["tag"], "T-1");
        assert_eq!(json["use"], "circulation");
        assert_eq!(json["power_loss"], "fail_secure");
        assert_eq!(json["profile"], "smartlock_4aa");
        assert_eq!(json["at"], "<built-in>/s.toml:6:7");
        assert_eq!(json["suite"], crate::scenario::suite::DEFAULT);
        assert_eq!(json["findings"][0]["rule"], "profile-mismatch");
    }

    #[test]
    fn an_unknown_field_is_located() {
        let (msg, at) = error(&[("rex = false", "rex = false\nfire_relase = true")]);
        assert!(msg.contains("unknown field `fire_relase`"), "{msg}");
        assert_eq!(at, (14, 1));
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let (msg, at) = error(&[("rex = false", "rex = \"no\"")]);
        assert!(msg.contains("rex"), "{msg}");
        assert_eq!(at, (13, 7));
    }

    #[test]
    fn an_unknown_use_lists_the_uses() {
        let (msg, at) = error(&[("use = \"circulation\"", "use = \"exit\"")]);
        assert!(msg.contains("unknown variant `exit`"), "{msg}");
        assert!(msg.contains("high_security"), "{msg}");
        assert_eq!(at, (8, 7));
    }

    #[test]
    fn a_missing_field_is_named() {
        let (msg, _) = error(&[("mechanical_egress = true\n", "")]);
        assert!(msg.contains("missing field `mechanical_egress`"), "{msg}");
    }

    #[test]
    fn only_the_edition_the_rules_cite_is_accepted() {
        let (msg, at) = error(&[("\"IBC 2021\"", "\"IBC 2018\"")]);
        assert!(msg.contains("expected `IBC 2021`"), "{msg}");
        assert_eq!(at, (3, 11));
    }

    #[test]
    fn tags_are_unique_and_not_empty() {
        let text = format!("{BASE}\n{}", &BASE[BASE.find("[[opening]]").unwrap()..]);
        let msg = Schedule::from_source(Source::builtin("s.toml", &text))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "<built-in>/s.toml:17:7: field `tag`: duplicate opening `T-1` (first at line 6)"
        );
        let (msg, at) = error(&[("tag = \"T-1\"", "tag = \" \"")]);
        assert!(
            msg.contains("field `tag`: expected the door's mark"),
            "{msg}"
        );
        assert_eq!(at, (6, 7));
    }

    #[test]
    fn a_schedule_without_openings_is_refused() {
        let text = &BASE[..BASE.find("[[opening]]").unwrap()];
        let msg = Schedule::from_source(Source::builtin("s.toml", text))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("s.toml:1:1: no openings"), "{msg}");
    }

    #[test]
    fn a_fail_secure_maglock_is_refused() {
        let (msg, at) = error(&[("class = \"electric_strike\"", "class = \"maglock\"")]);
        assert!(
            msg.contains("field `power_loss`: a maglock holds only while powered"),
            "{msg}"
        );
        assert_eq!(at, (11, 14));
    }

    #[test]
    fn an_unknown_profile_is_located() {
        let (msg, at) = error(&[(
            "fire_release = false",
            "fire_release = false\nprofile = \"strike_12v\"",
        )]);
        assert!(
            msg.starts_with("field `profile`: no device profile named `strike_12v`"),
            "{msg}"
        );
        assert!(msg.contains("smartlock_4aa"), "{msg}");
        assert_eq!(at, (15, 11));
        let (msg, at) = error(&[(
            "fire_release = false",
            "fire_release = false\nprofile = \"no/such/profile.toml\"",
        )]);
        assert!(
            msg.contains("field `profile`: no/such/profile.toml: cannot read"),
            "{msg}"
        );
        assert_eq!(at, (15, 11));
    }

    #[test]
    fn a_relative_profile_path_is_taken_from_the_schedules_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("devices")).unwrap();
        let (_, profile) = crate::config::device::BUILTIN
            .iter()
            .find(|(name, _)| *name == "smartlock_4aa")
            .unwrap();
        std::fs::write(dir.path().join("devices/lock.toml"), profile).unwrap();
        let text = edited(&[
            (
                "class = \"electric_strike\"",
                "class = \"battery_smart_lock\"",
            ),
            (
                "fire_release = false",
                "fire_release = false\nprofile = \"devices/lock.toml\"",
            ),
        ]);
        std::fs::write(dir.path().join("schedule.toml"), &text).unwrap();
        let schedule = Schedule::load(&dir.path().join("schedule.toml")).unwrap();
        assert_eq!(
            schedule.openings[0].profile.as_ref().unwrap().name,
            "smartlock_4aa"
        );

        // An invalid profile is reported at the schedule's `profile`, with its own place.
        std::fs::write(dir.path().join("devices/lock.toml"), "name = 1").unwrap();
        let msg = Schedule::load(&dir.path().join("schedule.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("schedule.toml:15:11: field `profile`: "),
            "{msg}"
        );
        assert!(msg.contains("lock.toml:1:8"), "{msg}");
    }
}
