//! The data a lab reviews: rig files (`rigs/*.toml`), device profiles
//! (`fixtures/devices/*.toml`), suites (`fixtures/suites/*.toml`) and console dialects
//! (`fixtures/dialects/*.toml`).
//!
//! Loading does no I/O beyond reading the file. Every error names the file, line and
//! column, the field, and what was expected.

pub mod catalogue;
pub mod device;
pub mod dialect;
pub mod rig;
pub mod secrets;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Where a value sits in a file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as given by the user (or `<built-in>/NAME` for embedded files).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("{at}: {message}")]
    Invalid {
        /// Where the problem is.
        at: Location,
        /// What is wrong, naming the field and what was expected.
        message: String,
    },
    /// A name (device profile, suite) that matches no file and no built-in.
    #[error("no {kind} named `{name}` (built-in: {known}); give a path to a .toml file instead")]
    UnknownName {
        /// "device profile" or "suite".
        kind: &'static str,
        /// The name given.
        name: String,
        /// The built-in names.
        known: String,
    },
}

/// The text of a config file together with its name, for locating errors.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The file name shown in errors.
    pub file: PathBuf,
    /// The file's text.
    pub text: String,
}

impl Source {
    /// Reads a file from disk.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            file: path.to_path_buf(),
            text,
        })
    }

    /// A `.toml` path, or the name of one of `builtins` (embedded as `dir/NAME.toml`).
    pub fn named(
        name_or_path: &str,
        kind: &'static str,
        dir: &str,
        builtins: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            return Self::read(path);
        }
        let (name, text) = builtins
            .iter()
            .find(|(n, _)| *n == name_or_path)
            .ok_or_else(|| ConfigError::UnknownName {
                kind,
                name: name_or_path.to_string(),
                known: builtins
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Self::builtin(&format!("{dir}/{name}.toml"), text))
    }

    /// A file embedded in the binary.
    pub fn builtin(name: &str, text: &str) -> Self {
        Self {
            file: PathBuf::from(format!("<built-in>/{name}")),
            text: text.to_string(),
        }
    }

    /// True for a file embedded in the binary.
    pub fn is_builtin(&self) -> bool {
        self.file.starts_with("<built-in>")
    }

    /// The line and column of a byte offset.
    pub fn locate(&self, offset: usize) -> Location {
        // Back off to a character boundary: a location must never panic.
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    /// An error at a span of this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            at: self.locate(span.start),
            message: message.into(),
        }
    }

    /// The key of a `key = value` pair whose value starts at `offset`, if any.
    fn key_before(&self, offset: usize) -> Option<&str> {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let before = &self.text[line_start..offset];
        // Inline tables: the nearest `key =` before the value.
        let (head, _) = before.rsplit_once('=')?;
        let key = head.rsplit([',', '{']).next()?.trim().trim_matches('"');
        (!key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .then_some(key)
    }

    /// Deserializes the whole file, turning TOML and schema errors into located errors.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim();
            let message = match self.key_before(span.start) {
                Some(key) if !message.contains(&format!("`{key}`")) => {
                    format!("field `{key}`: {message}")
                }
                _ => message.to_string(),
            };
            self.error(span, message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets_as_line_and_column() {
        let s = Source::builtin("x.toml", "a = 1\nbb = 2\n");
        let at = s.locate(7);
        assert_eq!((at.line, at.column), (2, 2));
        assert_eq!(at.to_string(), "<built-in>/x.toml:2:2");
        let s = Source::builtin("x.toml", "a = \"€\"");
        assert_eq!(s.locate(6).column, 6, "inside a multi-byte character");
    }
}
