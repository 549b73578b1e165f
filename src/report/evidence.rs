//! `evidence.json`: what an auditor needs to trust a run directory. It is written when
//! the run starts and rewritten (atomically) when it ends, and records:
//!
//! - lockrig's version and the command line;
//! - the rig, suite, device and console-dialect files, each with its SHA-256 and a copy under `config/`
//!   (built-in files: the embedded text's digest; copies are redacted, so no secret
//!   value is ever written, while the digest is the original's);
//! - each instrument's link, identity (as it answered at bring-up) and calibration due
//!   date, and whether a run past that date was accepted;
//! - the firmware image's digest (`[rig] firmware`), or that none was declared;
//! - operator, host, start and end times, and the result counts and exit code.
//!
//! When the run ends, `MANIFEST.sha256` is written over every file of the directory
//! (see [`super::manifest`]), so `lockrig verify DIR` can tell whether anything changed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::manifest::{self, hex, ManifestError};
use crate::config::rig::{CalendarDate, DriverKind, Rig};
use crate::config::secrets::Secrets;
use crate::config::{ConfigError, Source};
use crate::run::calibration::{Calibration, Status};
use crate::run::{Event, Summary, Trial, TrialResult};
use crate::scenario::suite::Suite;

/// The evidence file's name, at the top of the run directory.
pub const EVIDENCE: &str = "evidence.json";

/// Where copies of the rig, suite and device files go in the run directory.
pub const CONFIG_DIR: &str = "config";

/// A configuration file the run used.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigFile {
    /// The rig's, suite's or device's name.
    pub name: String,
    /// The file as given (`<built-in>/...` for one embedded in lockrig).
    pub path: String,
    /// Embedded in lockrig rather than read from disk.
    pub builtin: bool,
    /// SHA-256 of the file's bytes (of the embedded text for a built-in).
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// The copy in the run directory.
    pub copy: String,
    /// The copy has secret values replaced by markers, so its digest differs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}

/// The firmware on the mounted board.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status")]
pub enum Firmware {
    /// The rig file names the image: its digest.
    #[serde(rename = "digested from the image file")]
    File {
        /// The image file.
        path: String,
        /// SHA-256 of the image.
        sha256: String,
        /// Its size in bytes.
        bytes: u64,
    },
    /// Nothing names the image.
    #[serde(rename = "not declared")]
    NotDeclared,
}

/// One instrument of the rig.
#[derive(Debug, Clone, Serialize)]
pub struct Instrument {
    /// Its name in the rig file.
    pub name: String,
    /// The driver.
    pub driver: DriverKind,
    /// How it is reached.
    pub link: String,
    /// What it said it was at bring-up (empty when no trial opened the bench).
    pub identity: Vec<String>,
    /// The calibration due date from the rig file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_due: Option<CalendarDate>,
    /// Where the calibration stood when the run started.
    pub calibration: Status,
}

/// Where the run's reports are.
#[derive(Debug, Clone, Serialize)]
pub struct Reports {
    /// The JUnit report (relative to the run directory when inside it).
    pub junit: String,
    /// SHA-256 of a JUnit report written outside the run directory (which the manifest
    /// cannot cover), when the run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub junit_sha256: Option<String>,
    /// The manifest, written when the run ends.
    pub manifest: &'static str,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Trials passed.
    pub passed: usize,
    /// Trials failed.
    pub failed: usize,
    /// Trials ended by a rig error.
    pub rig_errors: usize,
    /// Trials skipped.
    pub skipped: usize,
    /// The process exit code.
    pub exit_code: i32,
    /// The signal that stopped the run, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
}

/// The content of `evidence.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The lockrig version that ran.
    pub lockrig_version: &'static str,
    /// The command line (secret values redacted).
    pub command: Vec<String>,
    /// Who ran it (`--operator`, else `$USER` or `$LOGNAME`).
    pub operator: String,
    /// The host it ran on.
    pub host: String,
    /// When the run started (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// When it ended; absent while it runs (or if lockrig died).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended: Option<OffsetDateTime>,
    /// The rig file.
    pub rig: ConfigFile,
    /// The suite file.
    pub suite: ConfigFile,
    /// The device profiles the run's trials use.
    pub devices: Vec<ConfigFile>,
    /// The console dialects the rig's consoles speak (lockrig's own has no file).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dialects: Vec<ConfigFile>,
    /// The firmware image.
    pub firmware: Firmware,
    /// The instruments, their identities and calibration.
    pub instruments: Vec<Instrument>,
    /// An instrument was past its calibration date and the operator accepted it
    /// (`--allow-expired-calibration`).
    pub expired_calibration_accepted: bool,
    /// Where the reports are.
    pub reports: Reports,
    /// Each time the run was resumed after an interruption (`run --resume`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<Resumption>,
    /// How the run ended; absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

/// One resumption of an interrupted run.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Resumption {
    /// When it resumed (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The command line that resumed it.
    pub command: Vec<String>,
    /// Who resumed it.
    pub operator: String,
    /// The host it resumed on.
    pub host: String,
    /// Results kept from before.
    pub kept: usize,
    /// Trials the interruption cut short, run again.
    pub rerun: usize,
    /// How the interrupted part had ended (its signal), or that lockrig died with it.
    pub interrupted: String,
}

/// Why the evidence could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file of the bundle could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The manifest could not be written.
    #[error("writing MANIFEST.sha256: {0}")]
    Manifest(#[from] ManifestError),
}

/// The evidence of one run: prepared before anything is touched, begun in the run
/// directory, finished (and the directory sealed with its manifest) at the end.
pub struct Evidence {
    record: Record,
    /// Copies to write under the run directory: relative path and text.
    copies: Vec<(String, String)>,
    calibration: Vec<Calibration>,
    /// Instrument name -> identities seen at bring-up, filled as results arrive.
    identities: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
    dir: PathBuf,
    junit: PathBuf,
}

/// Adds a result's instrument identities to `seen`.
fn note_identities(seen: &Mutex<BTreeMap<String, BTreeSet<String>>>, result: &TrialResult) {
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    for i in &result.instruments {
        seen.entry(i.instrument.clone())
            .or_default()
            .insert(i.identity.clone());
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A file name made of the characters every file system takes.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "unnamed".into(),
        s => s.to_string(),
    }
}

fn config_file(name: &str, source: &Source, copy: &str, text: &str) -> ConfigFile {
    ConfigFile {
        name: name.to_string(),
        path: source.file.display().to_string(),
        builtin: source.is_builtin(),
        sha256: sha256(source.text.as_bytes()),
        bytes: source.text.len(),
        copy: copy.to_string(),
        redacted: text != source.text,
    }
}

/// The operator: `given`, else `$USER`, else `$LOGNAME`.
pub fn operator_name(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("unknown (uid {})", nix::unistd::getuid()))
}

fn digest_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0;
    loop {
        match file.read(&mut buf)? {
            0 => return Ok((hex(&hasher.finalize()), bytes)),
            n => {
                hasher.update(&buf[..n]);
                bytes += n as u64;
            }
        }
    }
}

impl Evidence {
    /// Everything known before the run: the files and their digests, the firmware's
    /// digest, the instruments and their calibration. Fails (before anything is
    /// touched) if the declared firmware image cannot be read.
    pub fn prepare(
        rig: &Rig,
        suite: &Suite,
        trials: &[Trial],
        calibration: Vec<Calibration>,
        operator: String,
    ) -> Result<Self, ConfigError> {
        let secrets = Secrets::resolve(&rig.secret_specs());
        let mut copies = Vec::new();
        let rig_copy = format!("{CONFIG_DIR}/rig.toml");
        let rig_text = secrets.redact_with_defaults(&rig.source.text, &rig.secret_specs());
        let rig_file = config_file(&rig.file.rig.name, &rig.source, &rig_copy, &rig_text);
        copies.push((rig_copy, rig_text));
        // Suites and profiles name secrets (`$credential`); should one hold a value, its
        // copy is redacted like everything else lockrig writes.
        let suite_copy = format!("{CONFIG_DIR}/suite.toml");
        let suite_text = secrets.redact(&suite.source.text);
        let suite_file = config_file(&suite.name, &suite.source, &suite_copy, &suite_text);
        copies.push((suite_copy, suite_text));
        let mut devices: Vec<ConfigFile> = Vec::new();
        for t in trials {
            let d = &t.device;
            if devices.iter().any(|f| f.name == d.name) {
                continue;
            }
            let mut copy = format!("{CONFIG_DIR}/devices/{}.toml", file_stem(&d.name));
            if copies.iter().any(|(c, _)| *c == copy) {
                copy = format!(
                    "{CONFIG_DIR}/devices/{}-{}.toml",
                    file_stem(&d.name),
                    devices.len()
                );
            }
            let text = secrets.redact(&d.source.text);
            devices.push(config_file(&d.name, &d.source, &copy, &text));
            copies.push((copy, text));
        }
        let mut dialects: Vec<ConfigFile> = Vec::new();
        for loaded in rig.dialects.values() {
            let (Some(source), name) = (&loaded.source, &loaded.dialect.name) else {
                continue;
            };
            if dialects.iter().any(|f| f.name == *name) {
                continue;
            }
            let copy = format!("{CONFIG_DIR}/dialects/{}.toml", file_stem(name));
            let text = secrets.redact(&source.text);
            dialects.push(config_file(name, source, &copy, &text));
            copies.push((copy, text));
        }
        let firmware = match rig.firmware() {
            None => Firmware::NotDeclared,
            Some((path, span)) => {
                let (sha256, bytes) = digest_file(&path).map_err(|e| {
                    rig.source.error(
                        span,
                        format!(
                            "field `firmware`: cannot read the image {}: {e}",
                            path.display()
                        ),
                    )
                })?;
                Firmware::File {
                    path: path.display().to_string(),
                    sha256,
                    bytes,
                }
            }
        };
        let instruments = rig
            .file
            .instruments
            .iter()
            .map(|(name, spec)| {
                let spec = spec.get_ref();
                let cal = calibration.iter().find(|c| c.instrument == *name);
                Instrument {
                    name: name.clone(),
                    driver: spec.driver,
                    link: spec.link().map(|l| l.to_string()).unwrap_or_default(),
                    identity: Vec::new(),
                    calibration_due: cal.and_then(|c| c.due),
                    calibration: cal.map_or(Status::NotDeclared, |c| c.status),
                }
            })
            .collect();
        let record = Record {
            lockrig_version: env!("CARGO_PKG_VERSION"),
            command: std::env::args().map(|a| secrets.redact(&a)).collect(),
            operator,
            host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|e| format!("unknown ({e})")),
            started: OffsetDateTime::now_utc(),
            ended: None,
            rig: rig_file,
            suite: suite_file,
            devices,
            dialects,
            firmware,
            instruments,
            expired_calibration_accepted: calibration.iter().any(|c| c.status == Status::Expired),
            resumed: Vec::new(),
            reports: Reports {
                junit: String::new(),
                junit_sha256: None,
                manifest: manifest::MANIFEST,
            },
            outcome: None,
        };
        Ok(Self {
            record,
            copies,
            calibration,
            identities: Default::default(),
            dir: PathBuf::new(),
            junit: PathBuf::new(),
        })
    }

    /// The record as it stands.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The instruments past their calibration date that the run accepted.
    pub fn expired(&self) -> impl Iterator<Item = &Calibration> {
        self.calibration
            .iter()
            .filter(|c| c.status == Status::Expired)
    }

    /// Writes the copies and `evidence.json` into the run directory `dir`; `junit` is
    /// where the JUnit report goes.
    pub fn begin(&mut self, dir: &Path, junit: &Path) -> Result<(), EvidenceError> {
        self.dir = dir.to_path_buf();
        self.junit = junit.to_path_buf();
        self.record.reports.junit = match junit.strip_prefix(dir) {
            Ok(inside) => inside.display().to_string(),
            Err(_) => junit.display().to_string(),
        };
        for (rel, text) in &self.copies {
            let path = dir.join(rel);
            let io = |source| EvidenceError::Io {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                crate::files::create_dirs(parent).map_err(io)?;
            }
            crate::files::write_atomic(&path, text.as_bytes()).map_err(io)?;
        }
        self.write()
    }

    /// Properties for the JUnit report's testsuites: where the evidence is, who ran
    /// the run, the firmware, and any instrument run past its calibration date.
    pub fn junit_properties(&self) -> Vec<(String, String)> {
        let r = &self.record;
        let mut p = vec![
            (
                "evidence".to_string(),
                format!(
                    "{EVIDENCE} and {} in {} (check with `lockrig verify`)",
                    manifest::MANIFEST,
                    self.dir.display()
                ),
            ),
            ("operator".to_string(), r.operator.clone()),
            (
                "firmware".to_string(),
                match &r.firmware {
                    Firmware::File { path, sha256, .. } => format!("{path} sha256 {sha256}"),
                    Firmware::NotDeclared => "not declared".to_string(),
                },
            ),
        ];
        let expired: Vec<String> = self.expired().map(ToString::to_string).collect();
        if !expired.is_empty() {
            p.push((
                "calibration.expired".to_string(),
                format!(
                    "{}; run accepted with --allow-expired-calibration",
                    expired.join("; ")
                ),
            ));
        }
        p
    }

    /// Wraps a runner sink so the instruments' identities are recorded from each
    /// result before it goes on to the other reporters.
    pub fn observe(&self, mut sink: Box<dyn FnMut(Event) + Send>) -> Box<dyn FnMut(Event) + Send> {
        let seen = self.identities.clone();
        Box::new(move |event: Event| {
            let Event::Finished(result) = &event;
            note_identities(&seen, result);
            sink(event);
        })
    }

    /// Records in this resumption how many results were kept and how many trials run
    /// again.
    pub fn kept(&mut self, kept: usize, rerun: usize) {
        if let Some(r) = self.record.resumed.last_mut() {
            r.kept = kept;
            r.rerun = rerun;
        }
    }

    /// Records the identities of a result from before the run was resumed.
    pub fn saw(&self, result: &TrialResult) {
        note_identities(&self.identities, result);
    }

    /// Takes over the evidence of the interrupted run being resumed (its `evidence.json`
    /// as `earlier`): its command line and start stay the run's, and this resumption is
    /// added. Refused when the rig, suite, device or dialect files or lockrig itself are
    /// not the ones it ran with, since one result set must come from one configuration.
    pub fn resume(&mut self, earlier: &serde_json::Value) -> Result<(), String> {
        let was = |v: &serde_json::Value| v.as_str().unwrap_or("unrecorded").to_string();
        if was(&earlier["lockrig_version"]) != self.record.lockrig_version {
            return Err(format!(
                "it was run by lockrig {}, this is {}",
                was(&earlier["lockrig_version"]),
                self.record.lockrig_version
            ));
        }
        let r = &self.record;
        let mut now: Vec<(&str, &ConfigFile)> = vec![("rig", &r.rig), ("suite", &r.suite)];
        now.extend(r.devices.iter().map(|d| ("device", d)));
        now.extend(r.dialects.iter().map(|d| ("dialect", d)));
        let mut then: Vec<&serde_json::Value> = vec![&earlier["rig"], &earlier["suite"]];
        for list in ["devices", "dialects"] {
            then.extend(earlier[list].as_array().into_iter().flatten());
        }
        for (what, file) in &now {
            let before = then.iter().find(|t| t["name"] == file.name.as_str());
            match before {
                None => {
                    return Err(format!(
                        "it did not use the {what} `{}` ({})",
                        file.name, file.path
                    ))
                }
                Some(t) if t["sha256"] != file.sha256.as_str() => {
                    return Err(format!(
                        "the {what} file {} has changed since (sha256 {} then, {} now)",
                        file.path,
                        was(&t["sha256"]),
                        file.sha256
                    ))
                }
                Some(_) => {}
            }
        }
        if then.len() != now.len() {
            return Err(format!(
                "it used {} configuration files, this run would use {}",
                then.len(),
                now.len()
            ));
        }
        let started = earlier["started"]
            .as_str()
            .and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or("its evidence.json has no start time")?;
        let command: Vec<String> = earlier["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let interrupted = match earlier["outcome"]["interrupted_by"].as_str() {
            Some(sig) => format!("stopped by {sig}"),
            None => "lockrig ended without recording how (killed, or the host went down)".into(),
        };
        let mut resumed: Vec<Resumption> = Vec::new();
        for earlier in earlier["resumed"].as_array().into_iter().flatten() {
            if let Ok(r) = serde_json::from_value::<Resumption>(earlier.clone()) {
                resumed.push(r);
            }
        }
        resumed.push(Resumption {
            at: OffsetDateTime::now_utc(),
            command: std::mem::replace(&mut self.record.command, command),
            operator: self.record.operator.clone(),
            host: self.record.host.clone(),
            kept: 0,
            rerun: 0,
            interrupted,
        });
        self.record.started = started;
        self.record.resumed = resumed;
        Ok(())
    }

    /// Records the end of the run, rewrites `evidence.json` and seals the directory
    /// with `MANIFEST.sha256`. Returns how many files the manifest lists.
    pub fn finish(&mut self, summary: &Summary) -> Result<usize, EvidenceError> {
        {
            let seen = self.identities.lock().unwrap_or_else(|p| p.into_inner());
            for i in &mut self.record.instruments {
                i.identity = seen
                    .get(&i.name)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
            }
        }
        if self.junit.strip_prefix(&self.dir).is_err() {
            self.record.reports.junit_sha256 = std::fs::read(&self.junit).ok().map(|b| sha256(&b));
        }
        self.record.ended = Some(OffsetDateTime::now_utc());
        self.record.outcome = Some(Outcome {
            passed: summary.passed,
            failed: summary.failed,
            rig_errors: summary.errors,
            skipped: summary.skipped,
            exit_code: summary.exit_code(),
            interrupted_by: crate::signals::received().map(|s| s.to_string()),
        });
        self.write()?;
        Ok(manifest::write(&self.dir)?)
    }

    fn write(&self) -> Result<(), EvidenceError> {
        let path = self.dir.join(EVIDENCE);
        let mut json = serde_json::to_vec_pretty(&self.record).map_err(|e| EvidenceError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        json.push(b'\n');
        crate::files::write_atomic(&path, &json)
            .map_err(|source| EvidenceError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::device::DeviceProfile;
    use crate::run::calibration;

    fn prepared(rig: &Rig) -> Evidence {
        let suite = Suite::load(crate::scenario::suite::DEFAULT).unwrap();
        let devices = vec![Arc::new(DeviceProfile::load("maglock_12v").unwrap())];
        let trials =
            crate::run::plan::plan(&suite, &devices, 1, rig, &crate::run::plan::everything)
                .unwrap();
        let cal = calibration::statuses(rig, time::macros::date!(2026 - 01 - 01));
        Evidence::prepare(rig, &suite, &trials, cal, "ana".into()).unwrap()
    }

    #[test]
    fn a_console_dialect_is_evidence_like_the_rig() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("rigs/sim-acme.toml");
        let e = prepared(&Rig::load(&path).unwrap());
        let d = &e.record().dialects;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "acme-sl200");
        assert_eq!(d[0].copy, "config/dialects/acme-sl200.toml");
        let text = crate::config::dialect::BUILTIN[0].1;
        assert_eq!(d[0].sha256, sha256(text.as_bytes()));
        assert!(e.copies.iter().any(|(c, t)| c == &d[0].copy && t == text));
        assert!(prepared(&Rig::builtin_sim().unwrap())
            .record()
            .dialects
            .is_empty());
    }

    #[test]
    fn the_rig_copy_is_redacted_and_the_digests_are_the_originals() {
        let rig = Rig::builtin_sim().unwrap();
        let e = prepared(&rig);
        let r = e.record();
        assert_eq!(r.rig.sha256, sha256(crate::config::rig::SIM_RIG.as_bytes()));
        assert!(r.rig.builtin && r.rig.redacted);
        let (_, copy) = e
            .copies
            .iter()
            .find(|(p, _)| p == "config/rig.toml")
            .unwrap();
        assert!(!copy.contains("246810"), "{copy}");
        assert!(copy.contains("<secret credential #"), "{copy}");
        assert_eq!(r.devices.len(), 1);
        assert_eq!(r.devices[0].copy, "config/devices/maglock_12v.toml");
        assert!(!r.devices[0].redacted);
        assert!(matches!(r.firmware, Firmware::NotDeclared));
        assert!(r
            .instruments
            .iter()
            .all(|i| i.calibration == Status::Simulated));
        assert!(!r.expired_calibration_accepted);
    }

    #[test]
    fn a_declared_firmware_image_is_digested_and_a_missing_one_is_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lock.bin"), b"\x7fELF image").unwrap();
        let text = crate::config::rig::SIM_RIG
            .replace("name = \"sim\"", "name = \"b\"\nfirmware = \"lock.bin\"");
        std::fs::write(dir.path().join("bench.toml"), &text).unwrap();
        let rig = Rig::load(&dir.path().join("bench.toml")).unwrap();
        let Firmware::File {
            sha256: digest,
            bytes,
            ..
        } = prepared(&rig).record().firmware.clone()
        else {
            panic!("firmware declared")
        };
        assert_eq!(
            (digest.as_str(), bytes),
            (sha256(b"\x7fELF image").as_str(), 10)
        );
        std::fs::remove_file(dir.path().join("lock.bin")).unwrap();
        let suite = Suite::load(crate::scenario::suite::DEFAULT).unwrap();
        let err = Evidence::prepare(&rig, &suite, &[], Vec::new(), "ana".into())
            .err()
            .unwrap()
            .to_string();
        let line = text
            .lines()
            .position(|l| l.starts_with("firmware"))
            .unwrap()
            + 1;
        assert!(
            err.contains(&format!(
                "bench.toml:{line}:12: field `firmware`: cannot read the image"
            )),
            "{err}"
        );
    }

    #[test]
    fn file_stems_stay_inside_their_folder() {
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem(".."), "unnamed");
        assert_eq!(file_stem("maglock_12v"), "maglock_12v");
    }
}
