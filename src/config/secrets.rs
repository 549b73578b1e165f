//! Secrets (credentials, PINs, update keys) named in a rig file and never written
//! anywhere: suites refer to them as `$NAME`, and every text lockrig records passes
//! through [`Secrets::redact`], which shows a secret as `<secret NAME #3f9a>` (the
//! first four hex digits of its SHA-256), so an auditor can tell which one was used.
//!
//! ```toml
//! [secrets]
//! credential = { env = "LOCKRIG_SECRET_CREDENTIAL" }     # from the environment
//! update_key = { file = "/etc/lockrig/update.key" }      # a file only its owner can read
//! ```
//!
//! A simulated rig may give a `default` used when the variable is unset; a real rig may
//! not. `wrong_credential` is always available: a value derived from `credential` that
//! differs from it in every digit, for checks that a wrong code is refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where a secret comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// An environment variable.
    #[serde(default)]
    pub env: Option<String>,
    /// A file readable by its owner only (mode 0600 or stricter).
    #[serde(default)]
    pub file: Option<String>,
    /// The value when `env` is unset (simulated rigs only).
    #[serde(default)]
    pub default: Option<String>,
}

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the variable nor a default.
    #[error("secret `{name}`: environment variable {var} is not set")]
    Unset {
        /// Secret name.
        name: String,
        /// Variable.
        var: String,
    },
    /// The file could not be read, or others may read it.
    #[error("secret `{name}`: {file}: {why}")]
    File {
        /// Secret name.
        name: String,
        /// The file.
        file: String,
        /// What is wrong.
        why: String,
    },
    /// Empty value.
    #[error("secret `{name}` is empty")]
    Empty {
        /// Secret name.
        name: String,
    },
}

/// The secrets of a run, resolved.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    /// Secrets that could not be had, and why: an error only for a run that uses them.
    missing: BTreeMap<String, String>,
}

/// The name of the generated wrong credential.
pub const WRONG_CREDENTIAL: &str = "wrong_credential";

impl Secrets {
    /// Resolves every secret of a rig file. A secret that cannot be had is noted, not
    /// an error: [`Secrets::require`] makes it one for the runs that use it.
    pub fn resolve(specs: &BTreeMap<String, SecretSpec>) -> Self {
        let mut values = BTreeMap::new();
        let mut missing = BTreeMap::new();
        for (name, spec) in specs {
            match Self::one(name, spec) {
                Ok(v) => {
                    values.insert(name.clone(), v);
                }
                Err(e) => {
                    missing.insert(name.clone(), e.to_string());
                }
            }
        }
        if let Some(c) = values.get("credential") {
            values.insert(WRONG_CREDENTIAL.into(), wrong(c));
        }
        Self { values, missing }
    }

    /// Fails, naming the secret and why, if any of `names` could not be had.
    pub fn require<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        for name in names {
            if self.values.contains_key(name) {
                continue;
            }
            return Err(match self.missing.get(name) {
                Some(why) => why.clone(),
                None => format!(
                    "the suite sends secret `{name}`, which the rig file's [secrets] does not define"
                ),
            });
        }
        Ok(())
    }

    fn one(name: &str, spec: &SecretSpec) -> Result<String, SecretError> {
        let name = &name.to_string();
        {
            let value = if let Some(var) = &spec.env {
                match std::env::var(var) {
                    Ok(v) => v,
                    Err(_) => spec.default.clone().ok_or_else(|| SecretError::Unset {
                        name: name.clone(),
                        var: var.clone(),
                    })?,
                }
            } else if let Some(file) = &spec.file {
                read_private(name, file)?
            } else {
                spec.default.clone().unwrap_or_default()
            };
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(SecretError::Empty { name: name.clone() });
            }
            Ok(value)
        }
    }

    /// A secret's value, to send to the device; never to be printed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// How a secret is shown: `<secret NAME #abcd>`.
    pub fn marker(&self, name: &str) -> String {
        let print = self
            .values
            .get(name)
            .map(|v| fingerprint(v))
            .unwrap_or_else(|| "????".into());
        format!("<secret {name} #{print}>")
    }

    /// `text` with every secret value replaced by its marker. Longer values first, so
    /// a secret that contains another is replaced whole.
    pub fn redact(&self, text: &str) -> String {
        self.redacted(text).into_owned()
    }

    /// [`Secrets::redact`], borrowing `text` when it carries no secret (the usual case).
    pub fn redacted<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if !self.values.values().any(|v| text.contains(v.as_str())) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut by_len: Vec<(&String, &String)> = self.values.iter().collect();
        by_len.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut out = text.to_string();
        for (name, value) in by_len {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &self.marker(name));
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// `text` (a rig file) redacted as [`Secrets::redact`] does, and also every
    /// `default` the specs give (a simulated rig's), whether or not it is the value in
    /// use: a copy of the file must not carry the simulator's credential either.
    pub fn redact_with_defaults(&self, text: &str, specs: &BTreeMap<String, SecretSpec>) -> String {
        let mut all = self.clone();
        for (name, spec) in specs {
            let Some(value) = spec.default.as_deref().map(str::trim) else {
                continue;
            };
            if !value.is_empty() && !all.values.values().any(|v| v == value) {
                all.values
                    .insert(format!("{name} default"), value.to_string());
            }
        }
        all.redact(text)
    }

    /// The secrets' names, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

/// The first four hex digits of the value's SHA-256.
fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("{:02x}{:02x}", digest[0], digest[1])
}

/// A value that differs from `c` in every character: digits shift by five, other
/// characters are replaced by `0`... or `1` where `c` has `0`.
fn wrong(c: &str) -> String {
    c.chars()
        .map(|ch| match ch.to_digit(10) {
            Some(d) => char::from_digit((d + 5) % 10, 10).unwrap_or('0'),
            None if ch == '0' => '1',
            None => '0',
        })
        .collect()
}

fn read_private(name: &str, file: &str) -> Result<String, SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |why: String| SecretError::File {
        name: name.into(),
        file: file.into(),
        why,
    };
    let meta = std::fs::metadata(file).map_err(|e| err(format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "mode {mode:04o} lets others read it; `chmod 600 {file}` (a secret file must be readable by its owner only)"
        )));
    }
    std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(value: &str) -> Secrets {
        let mut specs = BTreeMap::new();
        specs.insert(
            "credential".to_string(),
            SecretSpec {
                env: Some("LOCKRIG_TEST_UNSET_VARIABLE".into()),
                file: None,
                default: Some(value.into()),
            },
        );
        Secrets::resolve(&specs)
    }

    #[test]
    fn values_are_redacted_with_a_fingerprint() {
        let s = secrets("731946");
        let text = s.redact("sent UNLOCK 731946, board echoed 731946");
        assert!(!text.contains("731946"), "{text}");
        assert!(text.contains("<secret credential #"), "{text}");
        let wrong = s.get(WRONG_CREDENTIAL).unwrap();
        assert_eq!(wrong.len(), 6);
        assert!(wrong.chars().zip("731946".chars()).all(|(a, b)| a != b));
        assert!(!s.redact(&format!("UNLOCK {wrong}")).contains(wrong));
    }

    #[test]
    fn a_default_not_in_use_is_redacted_too() {
        let mut specs = BTreeMap::new();
        specs.insert(
            "credential".to_string(),
            SecretSpec {
                env: Some("LOCKRIG_TEST_UNSET_VARIABLE".into()),
                file: None,
                default: Some("246810".into()),
            },
        );
        let text = "credential = { env = \"X\", default = \"246810\" } # 731946";
        let in_use = secrets("731946").redact_with_defaults(text, &specs);
        assert!(
            !in_use.contains("246810") && !in_use.contains("731946"),
            "{in_use}"
        );
        assert!(in_use.contains("<secret credential default #"), "{in_use}");
        let default = Secrets::resolve(&specs).redact_with_defaults(text, &specs);
        assert!(!default.contains("246810"), "{default}");
        assert!(default.contains("<secret credential #"), "{default}");
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cret").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private("key", path.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_private("key", path.to_str().unwrap()).unwrap(),
            "s3cret"
        );
    }
}
