//! Console dialect files (`fixtures/dialects/*.toml`): how a firmware's console words
//! lockrig's commands, replies and events (see `drivers::console::dialect` for what
//! each part means). A rig's console names one: `dialect = "acme-sl200"` (built-in) or
//! a path relative to the rig file. Every pattern is compiled when the rig is loaded,
//! so a bad one is refused with its file, line and column before anything is opened.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};
use crate::drivers::console::dialect::{Dialect, Rule};

/// The dialects shipped with lockrig, by name.
pub const BUILTIN: &[(&str, &str)] = &[(
    "acme-sl200",
    include_str!("../../fixtures/dialects/acme-sl200.toml"),
)];

/// The name of lockrig's own protocol, always available.
pub const LOCKRIG: &str = "lockrig";

/// A dialect file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DialectFile {
    dialect: Header,
    #[serde(default)]
    commands: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    reply: Vec<RuleSpec>,
    #[serde(default)]
    event: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Spanned<String>,
    /// For people reading the file.
    #[serde(default, rename = "description")]
    _description: Option<String>,
    #[serde(default = "default_line_ending")]
    line_ending: Spanned<String>,
}

fn default_line_ending() -> Spanned<String> {
    Spanned::new(0..0, "\n".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    #[serde(rename = "as")]
    template: Spanned<String>,
    #[serde(default)]
    values: Option<Spanned<BTreeMap<String, BTreeMap<String, String>>>>,
}

/// A loaded dialect and the file it came from (for the evidence).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The compiled dialect.
    pub dialect: Arc<Dialect>,
    /// Its file; `None` for lockrig's own protocol, which has none.
    pub source: Option<Source>,
}

/// Loads the dialect `name_or_path`: `lockrig`, a built-in name, or a `.toml` path.
pub fn load(name_or_path: &str) -> Result<Loaded, ConfigError> {
    if name_or_path == LOCKRIG {
        return Ok(Loaded {
            dialect: Arc::new(Dialect::lockrig()),
            source: None,
        });
    }
    let source = Source::named(
        name_or_path,
        "console dialect",
        "fixtures/dialects",
        BUILTIN,
    )
    .map_err(|e| match e {
        ConfigError::UnknownName { kind, known, .. } => ConfigError::UnknownName {
            kind,
            name: name_or_path.to_string(),
            known: format!("{LOCKRIG}, {known}"),
        },
        other => other,
    })?;
    let dialect = parse(&source)?;
    Ok(Loaded {
        dialect: Arc::new(dialect),
        source: Some(source),
    })
}

/// Parses and compiles a dialect file.
pub fn parse(source: &Source) -> Result<Dialect, ConfigError> {
    let file: DialectFile = source.parse()?;
    let h = &file.dialect;
    if h.name.get_ref().trim().is_empty() {
        return Err(source.error(h.name.span(), "field `name`: expected the dialect's name"));
    }
    let ending = h.line_ending.get_ref();
    if !matches!(ending.as_str(), "\n" | "\r\n" | "\r") {
        return Err(source.error(
            h.line_ending.span(),
            format!(
                "field `line_ending`: expected \"\\n\", \"\\r\\n\" or \"\\r\", found {ending:?}"
            ),
        ));
    }
    let mut commands = Vec::new();
    for (ours, theirs) in &file.commands {
        let text = theirs.get_ref();
        if text.trim().is_empty() || text.contains(['\n', '\r']) {
            return Err(source.error(
                theirs.span(),
                format!("field `{ours}`: expected the board's command on one line"),
            ));
        }
        commands.push((ours.clone(), text.clone()));
    }
    let compile = |rules: &[RuleSpec], table: &str| -> Result<Vec<Rule>, ConfigError> {
        rules
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let values = r
                    .values
                    .as_ref()
                    .map(|v| v.get_ref().clone())
                    .unwrap_or_default();
                Rule::new(r.pattern.get_ref(), r.template.get_ref(), values).map_err(|e| {
                    let span = match e.field {
                        "match" => r.pattern.span(),
                        "as" => r.template.span(),
                        _ => r.values.as_ref().map_or(r.pattern.span(), |v| v.span()),
                    };
                    source.error(
                        span,
                        format!("[[{table}]] #{}: field `{}`: {}", n + 1, e.field, e.message),
                    )
                })
            })
            .collect()
    };
    Ok(Dialect::new(
        h.name.get_ref(),
        ending,
        commands,
        compile(&file.reply, "reply")?,
        compile(&file.event, "event")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::console::{ConsoleEvent, Heard};

    #[test]
    fn the_built_in_dialects_load() {
        for (name, _) in BUILTIN {
            let d = load(name).unwrap();
            assert_eq!(d.dialect.name, *name);
        }
        assert!(load(LOCKRIG).unwrap().source.is_none());
        let msg = load("acme").unwrap_err().to_string();
        assert!(
            msg.contains("no console dialect named `acme` (built-in: lockrig, acme-sl200)"),
            "{msg}"
        );
    }

    #[test]
    fn acme_speaks_zephyr() {
        let d = load("acme-sl200").unwrap().dialect;
        assert_eq!(d.line_ending, "\r\n");
        assert_eq!(d.command("UNLOCK 246810"), "lock open 246810");
        assert_eq!(
            d.hear("Bolt: retracted"),
            Heard::Reply("STATE UNLOCKED".into())
        );
        assert_eq!(
            d.hear("slot0: 1.0 reverted"),
            Heard::Reply("IMAGE 1.0 ROLLBACK".into())
        );
        assert_eq!(
            d.hear("frob: command not found"),
            Heard::Reply("ERR UNKNOWN frob".into())
        );
        let event = |text: &str, ms: u64| {
            Heard::Event(ConsoleEvent {
                uptime_ms: Some(ms),
                text: text.into(),
                event: true,
            })
        };
        assert_eq!(
            d.hear("[00:00:01.234,000] <inf> main: reset cause brownout"),
            event("BOOT BOR", 1234)
        );
        assert_eq!(
            d.hear("[00:01:00.000,500] <wrn> power: battery low (stage 2)"),
            event("LOWBAT 2", 60_001)
        );
        assert_eq!(
            d.hear("[00:00:02.000,000] <inf> dfu: progress 50%"),
            event("UPDATE 50%", 2000)
        );
        assert_eq!(
            d.hear("[00:00:02.000,000] <inf> dfu: receiving image"),
            event("UPDATE START", 2000)
        );
        assert_eq!(
            d.hear("[00:00:02.000,000] <wrn> fire: alarm input active"),
            event("FIRE ALARM", 2000)
        );
        assert_eq!(
            d.hear("uart:~$ lock state"),
            Heard::Text,
            "the shell's echo"
        );
        assert_eq!(d.hear("*** Booting Acme SL-200 v2.4.1 ***"), Heard::Text);
    }

    #[test]
    fn a_bad_pattern_is_located_in_its_file() {
        let text =
            "[dialect]\nname = \"x\"\n\n[[reply]]\nmatch = '^Bolt: (\\w+$'\nas = \"STATE\"\n";
        let msg = parse(&Source::builtin("d.toml", text))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("<built-in>/d.toml:5:9: [[reply]] #1: field `match`: not a valid regular expression"), "{msg}");
        let text = "[dialect]\nname = \"x\"\n\n[[event]]\nmatch = '^(?P<a>x)$'\nas = \"{b}\"\n";
        let msg = parse(&Source::builtin("d.toml", text))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("d.toml:6:6: [[event]] #1: field `as`: `{b}` is not a named capture"),
            "{msg}"
        );
        let text = "[dialect]\nname = \"x\"\nline_ending = \";\"\n";
        let msg = parse(&Source::builtin("d.toml", text))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("d.toml:3:15: field `line_ending`: expected"),
            "{msg}"
        );
        let text = "[dialect]\nname = \"x\"\n[commands]\n\"LOCK\" = \"\"\n";
        let msg = parse(&Source::builtin("d.toml", text))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("d.toml:4:10: field `LOCK`: expected the board's command"),
            "{msg}"
        );
    }
}
