//! `results.jsonl`: one JSON object per trial result, appended and flushed as each
//! trial ends, so a crash never leaves a torn line behind a complete one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::run::TrialResult;

/// Appends results to a JSON-lines file.
pub struct JsonLines {
    file: File,
}

impl JsonLines {
    /// Creates (or appends to) the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file })
    }

    /// Writes one result as one line, with a single write call, and syncs it.
    pub fn write(&mut self, result: &TrialResult) -> io::Result<()> {
        let mut line = serde_json::to_vec(result).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}
