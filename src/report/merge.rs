//! `lockrig merge`: the runs of one firmware build on several benches as one summary.
//!
//! Each source run directory is untrusted input: it must be intact against its own
//! `MANIFEST.sha256` (else it is refused, named), its files are opened without
//! following links, and its lines are read with the report's bounds. The merged
//! directory holds:
//!
//! - `results.jsonl`: every source's results, streamed, each with `bench` (the source's
//!   rig name) and `source` (its directory); a trace stays in its source directory and
//!   is named there (`source_trace`);
//! - `junit.xml`: every source's testsuites, streamed through, each renamed
//!   `BENCH/NAME` and given `source` and `source_manifest_sha256` properties;
//! - `stats.json` and `report.html` over all of them;
//! - `merged.json`: the sources (directory, bench, lockrig version, firmware digest,
//!   start and end, the SHA-256 of the manifest that seals them) and any mismatch;
//! - its own `MANIFEST.sha256`, written last.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::html::{self, read};
use super::manifest::{self, MANIFEST};
use super::stats::Stats;

/// One merged run.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The run directory, as given.
    pub dir: String,
    /// Its bench: the rig's name (`NAME#2` for a second run of one rig).
    pub bench: String,
    /// The lockrig that made it.
    pub lockrig_version: Option<String>,
    /// The firmware image digest its evidence records, if declared.
    pub firmware_sha256: Option<String>,
    /// When it started and ended.
    pub started: Option<String>,
    /// When it ended.
    pub ended: Option<String>,
    /// The SHA-256 of its `MANIFEST.sha256`: the seal of everything it holds.
    pub manifest_sha256: String,
    /// Results it held.
    pub results: u64,
}

/// What a merge found.
#[derive(Debug, Default, Serialize)]
pub struct Merged {
    /// The runs, in the order given.
    pub sources: Vec<Source>,
    /// Differences a fleet run should not have (firmware, lockrig version).
    pub warnings: Vec<String>,
    /// Passed, failed, rig errors, skipped, over every source.
    #[serde(skip)]
    pub counts: [u64; 4],
    /// Lines of the sources that were not results (skipped, counted).
    pub unreadable_lines: u64,
}

/// Why a merge could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A source is not intact against its manifest, or cannot be checked.
    #[error("{dir}: refused: {why}")]
    Refused {
        /// The source.
        dir: String,
        /// What is wrong with it.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> MergeError + '_ {
    move |source| MergeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Merges `dirs` into the new run directory `out`.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    let mut merged = Merged::default();
    let mut stats = Stats::default();
    let results_path = out.join("results.jsonl");
    let mut results =
        BufWriter::new(crate::files::create_file(&results_path).map_err(io_at(&results_path))?);
    let junit_path = out.join("junit.xml");
    let mut suites = super::junit::spool(&junit_path).map_err(io_at(out))?;
    let mut totals = [0u64; 4];
    for dir in dirs {
        let shown = dir.display().to_string();
        let refused = |why: String| MergeError::Refused {
            dir: shown.clone(),
            why,
        };
        let checked = manifest::verify(dir).map_err(|e| refused(e.to_string()))?;
        if let Some(p) = checked.problems.first() {
            return Err(refused(format!(
                "not intact against its {MANIFEST} ({p}{})",
                if checked.problems.len() > 1 {
                    format!(" and {} more", checked.problems.len() - 1)
                } else {
                    String::new()
                }
            )));
        }
        let root = read::open_dir(dir).map_err(|e| refused(e.to_string()))?;
        let small = |name: &str| read::read_small(&root, name).map_err(|e| refused(e.to_string()));
        let seal = small(MANIFEST)?.unwrap_or_default();
        let evidence: serde_json::Value = small(super::evidence::EVIDENCE)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let rig = text(&evidence["rig"]["name"]).unwrap_or_else(|| "unnamed rig".into());
        let twins = merged
            .sources
            .iter()
            .filter(|s| s.bench.split('#').next() == Some(rig.as_str()))
            .count();
        let bench = if twins == 0 {
            rig
        } else {
            format!("{rig}#{}", twins + 1)
        };
        let mut source = Source {
            dir: shown.clone(),
            bench: bench.clone(),
            lockrig_version: text(&evidence["lockrig_version"]),
            firmware_sha256: text(&evidence["firmware"]["sha256"]),
            started: text(&evidence["started"]),
            ended: text(&evidence["ended"]),
            manifest_sha256: manifest::hex(&Sha256::digest(&seal)),
            results: 0,
        };
        // results.jsonl, line by line, each marked with where it came from.
        let lines = read::open_in(&root, "results.jsonl")
            .map_err(|e| refused(e.to_string()))?
            .ok_or_else(|| refused("no results.jsonl".into()))?;
        let mut written: io::Result<()> = Ok(());
        read::each_line(BufReader::new(lines), read::MAX_LINE, |_, line| {
            let value = line
                .ok()
                .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok());
            let Some(mut value) = value.filter(|v| stats.add_line(v)) else {
                merged.unreadable_lines += 1;
                return;
            };
            source.results += 1;
            let slot = match (
                value["skipped"].is_string(),
                value["outcome"]["verdict"].as_str(),
            ) {
                (true, _) | (_, Some("skipped")) => 3,
                (_, Some("pass")) => 0,
                (_, Some("fail")) => 1,
                _ => 2,
            };
            merged.counts[slot] += 1;
            if let Some(map) = value.as_object_mut() {
                if let Some(trace) = map.remove("trace") {
                    let at = trace.as_str().map(|t| format!("{shown}/{t}"));
                    map.insert("source_trace".into(), at.into());
                }
                map.insert("bench".into(), bench.clone().into());
                map.insert("source".into(), shown.clone().into());
            }
            if written.is_ok() {
                written = serde_json::to_writer(&mut results, &value)
                    .map_err(io::Error::other)
                    .and_then(|()| results.write_all(b"\n"));
            }
        })
        .map_err(|e| refused(e.to_string()))?;
        written.map_err(io_at(&results_path))?;
        // junit.xml: its testsuites, renamed for the bench, streamed through.
        let junit = read::open_in(&root, "junit.xml")
            .map_err(|e| refused(e.to_string()))?
            .ok_or_else(|| refused("no junit.xml".into()))?;
        copy_suites(junit, &mut suites, &source, &mut totals)
            .map_err(|e| refused(format!("junit.xml: {e}")))?;
        merged.sources.push(source);
    }
    results.flush().map_err(io_at(&results_path))?;
    drop(results);
    // One firmware build, one lockrig: say where the sources differ.
    for (what, pick) in [
        (
            "firmware",
            (|s: &Source| s.firmware_sha256.clone()) as fn(&Source) -> Option<String>,
        ),
        ("lockrig version", |s: &Source| s.lockrig_version.clone()),
    ] {
        let mut seen: Vec<Option<String>> = merged.sources.iter().map(pick).collect();
        seen.sort();
        seen.dedup();
        if seen.len() > 1 {
            merged.warnings.push(format!(
                "the runs differ in {what}: {}",
                merged
                    .sources
                    .iter()
                    .map(|s| format!(
                        "{} {}",
                        s.bench,
                        pick(s).unwrap_or_else(|| "not declared".into())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    write_junit(&junit_path, &mut suites, &totals)?;
    let stats_path = out.join("stats.json");
    stats.write(&stats_path).map_err(io_at(&stats_path))?;
    let merged_path = out.join("merged.json");
    let json = serde_json::to_vec_pretty(&merged)
        .map_err(io::Error::other)
        .map_err(io_at(&merged_path))?;
    crate::files::write_atomic(&merged_path, &json).map_err(io_at(&merged_path))?;
    html::write_for_run(out, &html::Facts::default()).map_err(|e| MergeError::Io {
        path: out.join(html::REPORT).display().to_string(),
        source: io::Error::other(e.to_string()),
    })?;
    manifest::write(out).map_err(|e| MergeError::Io {
        path: out.join(MANIFEST).display().to_string(),
        source: io::Error::other(e.to_string()),
    })?;
    Ok(merged)
}

/// Copies the `<testsuite>` elements of a source's JUnit document into `out`, each
/// renamed `BENCH/NAME` with the source's properties added, and adds up their counts
/// (tests, failures, errors, skipped).
fn copy_suites(
    junit: File,
    out: &mut File,
    source: &Source,
    totals: &mut [u64; 4],
) -> Result<(), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(junit));
    let mut writer = quick_xml::Writer::new(BufWriter::new(out));
    let mut buf = Vec::new();
    let mut depth = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf)?;
        match event {
            Event::Eof => break,
            Event::Decl(_) | Event::DocType(_) | Event::PI(_) => {}
            Event::Start(e) if e.name().as_ref() == "testsuites" => {}
            Event::End(e) if e.name().as_ref() == "testsuites" => {}
            Event::Start(e) if e.name().as_ref() == "testsuite" => {
                depth += 1;
                let mut renamed = BytesStart::new("testsuite");
                for a in e.attributes().with_checks(false).flatten() {
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)?
                        .into_owned();
                    let key = a.key.as_ref();
                    let count = |i: usize, totals: &mut [u64; 4]| {
                        totals[i] += value.parse::<u64>().unwrap_or(0);
                    };
                    match key {
                        "name" => {
                            renamed.push_attribute((
                                "name",
                                format!("{}/{value}", source.bench).as_str(),
                            ));
                            continue;
                        }
                        "tests" => count(0, totals),
                        "failures" => count(1, totals),
                        "errors" => count(2, totals),
                        "skipped" => count(3, totals),
                        _ => {}
                    }
                    renamed.push_attribute((key, value.as_str()));
                }
                writer.write_event(Event::Start(renamed))?;
            }
            Event::Start(e) if depth == 1 && e.name().as_ref() == "properties" => {
                writer.write_event(Event::Start(e))?;
                for (name, value) in [
                    ("source", source.dir.as_str()),
                    ("source_manifest_sha256", source.manifest_sha256.as_str()),
                ] {
                    let mut p = BytesStart::new("property");
                    p.push_attribute(("name", name));
                    p.push_attribute(("value", value));
                    writer.write_event(Event::Empty(p))?;
                }
            }
            Event::End(e) if e.name().as_ref() == "testsuite" => {
                depth = depth.saturating_sub(1);
                writer.write_event(Event::End(e))?;
            }
            Event::Text(_) if depth == 0 => {}
            other if depth > 0 => writer.write_event(other)?,
            _ => {}
        }
        buf.clear();
    }
    writer.into_inner().flush()?;
    Ok(())
}

/// Writes the merged JUnit document: the counted totals (skipped ones are counted on
/// each testsuite; the schema has no `skipped` on `testsuites`), then the copied suites.
fn write_junit(path: &Path, suites: &mut File, totals: &[u64; 4]) -> Result<(), MergeError> {
    use std::io::{Seek, SeekFrom};
    let tmp = path.with_extension("xml.tmp");
    let mut out = BufWriter::new(crate::files::create_file(&tmp).map_err(io_at(&tmp))?);
    let copied = (|| -> io::Result<()> {
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"lockrig.merge\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            totals[0], totals[1], totals[2]
        )?;
        suites.seek(SeekFrom::Start(0))?;
        io::copy(suites, &mut out)?;
        writeln!(out, "\n</testsuites>")?;
        out.flush()?;
        out.get_ref().sync_all()
    })();
    copied.map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_at(path))
}
