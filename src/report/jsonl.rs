//! `results.jsonl`: one JSON object per trial result, appended as each trial ends with
//! a single `write` to a file opened for appending, so a crash of lockrig never leaves
//! a torn line. The file is also synced to disk, at most every [`SYNC_EVERY`] so that
//! thousands of fast simulated trials do not wait on the disk; a power cut can lose at
//! most that window, a killed process nothing.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::run::TrialResult;

/// The version of a line's layout, first in every line; raised when a field changes
/// meaning or goes away.
pub const SCHEMA: u32 = 2;

/// A result as a line records it: the schema version first, and a trial that never
/// started has the verdict `skipped` with its reason (not an error with no message).
fn record(result: &TrialResult) -> io::Result<serde_json::Value> {
    let mut line = serde_json::Map::new();
    line.insert("schema".into(), SCHEMA.into());
    let serde_json::Value::Object(fields) =
        serde_json::to_value(result).map_err(io::Error::other)?
    else {
        return Err(io::Error::other("a result is not a JSON object"));
    };
    line.extend(fields);
    if let (Some(reason), Some(outcome)) = (
        &result.skipped,
        line.get_mut("outcome").and_then(|o| o.as_object_mut()),
    ) {
        outcome.insert("verdict".into(), "skipped".into());
        outcome.insert("message".into(), reason.clone().into());
    }
    Ok(serde_json::Value::Object(line))
}

/// The longest a written result waits to be synced to disk.
pub const SYNC_EVERY: Duration = Duration::from_millis(250);

/// Appends results to a JSON-lines file.
pub struct JsonLines {
    file: File,
    synced: Instant,
}

impl JsonLines {
    /// Creates (or appends to) the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = crate::files::open_append(path)?;
        Ok(Self {
            file,
            synced: Instant::now(),
        })
    }

    /// Writes one result as one line with a single write call.
    pub fn write(&mut self, result: &TrialResult) -> io::Result<()> {
        let mut line = serde_json::to_vec(&record(result)?).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if self.synced.elapsed() >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs everything written so far to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        self.synced = Instant::now();
        self.file.sync_data()
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}
