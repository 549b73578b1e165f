//! Rig health: when the safe state cannot be confirmed (an instrument stopped
//! answering), the bench is marked broken. The rest of the run reports errors without
//! touching it, instead of a cascade of false failures; on a real bench the mark is kept
//! in a file beside the rig's lock until `lockrig rig check` confirms the safe state.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::lock::health_path;
use crate::config::rig::Rig;

/// Why a rig is marked broken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Broken {
    /// What could not be confirmed.
    pub reason: String,
    /// The trial that found it.
    pub trial: String,
    /// When (UTC, RFC 3339).
    pub since: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "since {} (found by {}): {}",
            self.since, self.trial, self.reason
        )
    }
}

fn unreadable(path: &std::path::Path, why: &str) -> Broken {
    Broken {
        reason: format!("the broken mark {} cannot be read ({why})", path.display()),
        trial: "unknown".into(),
        since: "unknown".into(),
    }
}

/// The health record of a rig.
#[derive(Debug)]
pub struct Health {
    /// Where the mark persists; `None` for a simulated bench, private to its run.
    path: Option<PathBuf>,
    /// The mark, if the rig is broken.
    pub broken: Option<Broken>,
}

impl Health {
    /// Loads the persisted mark of a real rig; a simulated rig starts healthy.
    pub fn load(rig: &Rig) -> Self {
        if rig.is_simulated() {
            return Self {
                path: None,
                broken: None,
            };
        }
        let path = health_path(rig);
        // A mark that exists but cannot be read still marks the rig broken.
        let broken = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(unreadable(&path, &e.to_string())),
            Ok(text) => Some(
                serde_json::from_str(&text).unwrap_or_else(|e| unreadable(&path, &e.to_string())),
            ),
        };
        Self {
            path: Some(path),
            broken,
        }
    }

    /// Where the mark is kept (`None` for a simulated bench).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Marks the rig broken (persisting it for a real rig).
    pub fn mark(&mut self, trial: &str, reason: &str) {
        let broken = Broken {
            reason: reason.to_string(),
            trial: trial.to_string(),
            since: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        if let Some(path) = &self.path {
            let text = serde_json::to_vec_pretty(&broken).unwrap_or_default();
            if let Err(e) = crate::files::write_atomic(path, &text) {
                tracing::error!("cannot record the rig as broken in {}: {e}", path.display());
            }
        }
        self.broken = Some(broken);
    }

    /// Clears the mark.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.broken = None;
        match &self.path {
            Some(p) if p.exists() => std::fs::remove_file(p),
            _ => Ok(()),
        }
    }
}
