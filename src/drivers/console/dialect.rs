//! Console dialects: how one firmware's console says what lockrig's line protocol says.
//!
//! Suites speak lockrig's protocol (the table in the module above): `STATE?`, `UNLOCK
//! <credential>`, events such as `LOWBAT 1` or `BOOT BOR`. A real board prints its own
//! strings (`Bolt: thrown`, `[00:00:01.234,000] <inf> lock: bolt retracted`). A dialect
//! maps between the two:
//! - **commands**: lockrig's command (`STATE?`, or a first word such as `UNLOCK` whose
//!   rest is `{arg}`) to the board's; a command the dialect does not name is sent as
//!   written, so a person can still type the board's own commands;
//! - **replies** and **events**: patterns (regular expressions) over the board's lines,
//!   each with the lockrig text it means, built from the pattern's named captures
//!   (`STATE {state}`), optionally through a table of values (`thrown` = `LOCKED`).
//!   Captures named `uptime_h`, `uptime_m`, `uptime_s` (decimals allowed), `uptime_ms`
//!   and `uptime_us` add up to the event's uptime, which places it on the rig's clock.
//!
//! A line that matches no pattern is the board's text (banners, logs, echoes): kept in
//! the timeline, never an error and never taken for a reply or an event. The first
//! matching pattern wins, events before replies.
//!
//! lockrig's own protocol is the dialect [`Dialect::lockrig`]; others are data files
//! (`fixtures/dialects/*.toml`, read by `config::dialect`).

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};

use super::ConsoleEvent;

/// The most a compiled pattern may take (bounds what a rig file can make lockrig build).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Captures that carry the board's uptime, and what one unit of each is in ms.
const UPTIME_CAPTURES: &[(&str, f64)] = &[
    ("uptime_h", 3_600_000.0),
    ("uptime_m", 60_000.0),
    ("uptime_s", 1000.0),
    ("uptime_ms", 1.0),
    ("uptime_us", 0.001),
];

/// A pattern over the board's lines and the lockrig text it means.
#[derive(Debug, Clone)]
pub struct Rule {
    pattern: Regex,
    template: String,
    values: BTreeMap<String, BTreeMap<String, String>>,
}

/// What a board's line is, in lockrig's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A reply, as lockrig's protocol words it (`STATE LOCKED`, `OK`).
    Reply(String),
    /// An event, with the uptime the line carried.
    Event(ConsoleEvent),
    /// Anything else: the board's own text.
    Text,
}

/// Why a rule cannot be built; the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// `match`, `as` or `values`.
    pub field: &'static str,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl Rule {
    /// Compiles `pattern` and checks that `template` and `values` name its captures.
    pub fn new(
        pattern: &str,
        template: &str,
        values: BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Self, RuleError> {
        let pattern = RegexBuilder::new(pattern)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError {
                field: "match",
                message: format!("not a valid regular expression: {e}"),
            })?;
        let names: Vec<&str> = pattern.capture_names().flatten().collect();
        if template.trim().is_empty() {
            return Err(RuleError {
                field: "as",
                message: "expected the lockrig text this line means, found nothing".into(),
            });
        }
        for name in placeholders(template) {
            if !names.contains(&name) {
                return Err(RuleError {
                    field: "as",
                    message: format!(
                        "`{{{name}}}` is not a named capture of the pattern (its captures: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
        }
        if let Some(name) = values.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(RuleError {
                field: "values",
                message: format!("`{name}` is not a named capture of the pattern"),
            });
        }
        Ok(Self {
            pattern,
            template: template.to_string(),
            values,
        })
    }

    /// The lockrig text and uptime of `line`, if the pattern matches it.
    fn apply(&self, line: &str) -> Option<(String, Option<u64>)> {
        let caps = self.pattern.captures(line)?;
        let mut text = String::with_capacity(self.template.len());
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let value = caps.name(name).map_or("", |m| m.as_str());
            let mapped = self.values.get(name).and_then(|t| t.get(value));
            text.push_str(mapped.map_or(value, String::as_str));
            rest = &rest[open + close + 1..];
        }
        text.push_str(rest);
        let mut uptime = None;
        for (name, ms) in UPTIME_CAPTURES {
            if let Some(v) = caps.name(name).and_then(|m| m.as_str().parse::<f64>().ok()) {
                *uptime.get_or_insert(0.0) += v * ms;
            }
        }
        let uptime = uptime.filter(|u: &f64| u.is_finite() && *u >= 0.0 && *u < 1e15);
        Some((text.trim().to_string(), uptime.map(|u| u.round() as u64)))
    }
}

/// The `{name}`s of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
}

/// A console dialect: command translations and line patterns.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// The dialect's name (`lockrig`, `acme-sl200`).
    pub name: String,
    /// What ends a command line sent to the board (`\n`, `\r\n`, `\r`).
    pub line_ending: String,
    commands: Vec<(String, String)>,
    replies: Vec<Rule>,
    events: Vec<Rule>,
}

impl Dialect {
    /// A dialect from its parts. `commands` maps lockrig's commands to the board's
    /// (`{arg}` is the rest of a command named by its first word).
    pub fn new(
        name: &str,
        line_ending: &str,
        commands: Vec<(String, String)>,
        replies: Vec<Rule>,
        events: Vec<Rule>,
    ) -> Self {
        Self {
            name: name.to_string(),
            line_ending: line_ending.to_string(),
            commands,
            replies,
            events,
        }
    }

    /// lockrig's own line protocol: commands as written, replies by their first word,
    /// events after `EVT ` with an optional uptime in ms.
    pub fn lockrig() -> Self {
        let rule =
            |p: &str, t: &str| Rule::new(p, t, BTreeMap::new()).expect("a valid built-in rule");
        let words = super::REPLY_WORDS.join("|");
        Self::new(
            "lockrig",
            "\n",
            Vec::new(),
            vec![rule(
                &format!(r"^\s*(?P<reply>(?:{words})(?:\s.*)?)$"),
                "{reply}",
            )],
            vec![rule(
                r"^EVT (?:(?P<uptime_ms>[0-9]+) )?(?P<event>.*)$",
                "{event}",
            )],
        )
    }

    /// The board's command for lockrig's `command`.
    pub fn command(&self, command: &str) -> String {
        let command = command.trim();
        if let Some((_, board)) = self.commands.iter().find(|(ours, _)| ours == command) {
            return board.clone();
        }
        // A command named by its first word: `UNLOCK 1234` with `UNLOCK` = `open {arg}`.
        if let Some((first, arg)) = command.split_once(' ') {
            if let Some((_, board)) = self.commands.iter().find(|(ours, _)| ours == first) {
                return board.replace("{arg}", arg.trim());
            }
        }
        command.to_string()
    }

    /// What a line the board printed is.
    pub fn hear(&self, line: &str) -> Heard {
        for rule in &self.events {
            if let Some((text, uptime_ms)) = rule.apply(line) {
                return Heard::Event(ConsoleEvent {
                    uptime_ms,
                    text,
                    event: true,
                });
            }
        }
        for rule in &self.replies {
            if let Some((text, _)) = rule.apply(line) {
                return Heard::Reply(text);
            }
        }
        Heard::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(capture: &str, pairs: &[(&str, &str)]) -> BTreeMap<String, BTreeMap<String, String>> {
        let table = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        BTreeMap::from([(capture.to_string(), table)])
    }

    #[test]
    fn lockrig_is_a_dialect_like_any_other() {
        let d = Dialect::lockrig();
        assert_eq!(d.command("STATE?"), "STATE?");
        assert_eq!(d.hear("STATE LOCKED"), Heard::Reply("STATE LOCKED".into()));
        assert_eq!(d.hear("OK"), Heard::Reply("OK".into()));
        assert_eq!(
            d.hear("EVT 1200 BOOT BOR"),
            Heard::Event(ConsoleEvent {
                uptime_ms: Some(1200),
                text: "BOOT BOR".into(),
                event: true
            })
        );
        assert_eq!(
            d.hear("EVT LOCKED"),
            Heard::Event(ConsoleEvent {
                uptime_ms: None,
                text: "LOCKED".into(),
                event: true
            })
        );
        assert_eq!(d.hear("OKAY then"), Heard::Text);
        assert_eq!(d.hear("booting..."), Heard::Text);
    }

    #[test]
    fn a_dialect_translates_commands_replies_and_timestamped_events() {
        let state = Rule::new(
            r"^Bolt: (?P<state>\w+)$",
            "STATE {state}",
            values("state", &[("thrown", "LOCKED"), ("retracted", "UNLOCKED")]),
        )
        .unwrap();
        let event = Rule::new(
            r"^\[(?P<uptime_h>\d+):(?P<uptime_m>\d+):(?P<uptime_s>\d+\.\d+),(?P<uptime_us>\d+)\] <\w+> main: reset cause (?P<cause>\w+)$",
            "BOOT {cause}",
            values("cause", &[("brownout", "BOR")]),
        )
        .unwrap();
        let commands = vec![
            ("STATE?".to_string(), "lock state".to_string()),
            ("UNLOCK".to_string(), "lock open {arg}".to_string()),
        ];
        let d = Dialect::new("acme", "\r\n", commands, vec![state], vec![event]);
        assert_eq!(d.command("STATE?"), "lock state");
        assert_eq!(d.command("UNLOCK 1234"), "lock open 1234");
        assert_eq!(
            d.command("kernel reboot"),
            "kernel reboot",
            "the board's own"
        );
        assert_eq!(d.hear("Bolt: thrown"), Heard::Reply("STATE LOCKED".into()));
        assert_eq!(
            d.hear("Bolt: jammed"),
            Heard::Reply("STATE jammed".into()),
            "unmapped values stay as printed"
        );
        assert_eq!(
            d.hear("[01:02:03.456,789] <inf> main: reset cause brownout"),
            Heard::Event(ConsoleEvent {
                uptime_ms: Some(3_723_457),
                text: "BOOT BOR".into(),
                event: true
            })
        );
        assert_eq!(d.hear("*** Booting Acme ***"), Heard::Text);
    }

    #[test]
    fn rules_name_only_their_own_captures() {
        let err =
            Rule::new(r"^Bolt: (?P<state>\w+)$", "STATE {bolt}", BTreeMap::new()).unwrap_err();
        assert_eq!(err.field, "as");
        assert!(
            err.message
                .contains("`{bolt}` is not a named capture of the pattern (its captures: state)"),
            "{}",
            err.message
        );
        let err = Rule::new(r"^Bolt: (\w+$", "STATE", BTreeMap::new()).unwrap_err();
        assert_eq!(err.field, "match");
        let err = Rule::new(r"^Bolt$", "STATE", values("bolt", &[])).unwrap_err();
        assert_eq!(err.field, "values");
        let err = Rule::new(r"^Bolt$", " ", BTreeMap::new()).unwrap_err();
        assert_eq!(err.field, "as");
        // A pattern too big to compile within the limit is refused, not built.
        assert!(Rule::new(r"\w{1000}\w{1000}\w{1000}", "X", BTreeMap::new()).is_err());
    }
}
