//! Helpers shared by the integration tests: run the binary, read its reports.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use junit_parser::TestSuites;

pub fn lockrig() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockrig"))
}

pub fn run(args: &[&str]) -> Output {
    lockrig().args(args).output().expect("lockrig runs")
}

/// How many trials the default run has (`lockrig list`: every check on every built-in
/// profile it applies to).
pub fn default_trials() -> usize {
    let o = run(&["list"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).lines().count()
}

/// `lockrig run --rig RIG --out DIR/NAME EXTRA...`: the output and the `--out` folder.
pub fn run_rig(dir: &Path, rig: &str, name: &str, extra: &[&str]) -> (Output, PathBuf) {
    let out = dir.join(name);
    let mut args = vec!["run", "--rig", rig, "--out", out.to_str().unwrap()];
    args.extend(extra);
    (run(&args), out)
}

/// Writes a suite of one check, `lab::NAME`, of `steps`, as `DIR/NAME.toml`.
pub fn write_check(dir: &Path, name: &str, steps: &[&str]) -> PathBuf {
    let steps: Vec<String> = steps.iter().map(|s| format!("  {s:?},")).collect();
    let suite = dir.join(format!("{name}.toml"));
    std::fs::write(
        &suite,
        format!(
            "name = \"{name}\"\ndescription = \"a lab's own check\"\n\n[[check]]\nname = \"lab::{name}\"\ntitle = \"t\"\nbasis = [\"lab procedure\"]\nsteps = [\n{}\n]\n",
            steps.join("\n")
        ),
    )
    .unwrap();
    suite
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one run directory created under `out`.
pub fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Every file under `dir`, in its folders too.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(files(&path));
        } else {
            all.push(path);
        }
    }
    all
}

/// The outcome libtest printed for a trial (`ok`, `FAILED`, `ignored`).
pub fn outcome_of<'a>(stdout: &'a str, trial: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(trial) && l.starts_with("test "))
        .and_then(|l| l.rsplit("... ").next())
        .unwrap_or_else(|| panic!("no line for {trial} in:\n{stdout}"))
}

/// The first trial's JUnit case in the run under `out` (its `--out`).
pub fn first_case(out: &Path) -> junit_parser::TestCase {
    junit(&run_dir(out).join("junit.xml")).suites[0].cases[0].clone()
}

/// The message of the first trial's rig error in the run under `out`.
pub fn first_error(out: &Path) -> String {
    first_case(out).status.error_as_ref().message.clone()
}

/// The message of the first trial's failure in the run under `out`.
pub fn first_failure(out: &Path) -> String {
    first_case(out).status.failure_as_ref().message.clone()
}

pub fn junit(path: &Path) -> TestSuites {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    junit_parser::from_reader(std::io::BufReader::new(f)).expect("junit.xml parses")
}

pub fn results(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

/// Validates against the Jenkins xUnit schema with xmllint. CI installs xmllint; on a
/// developer machine without it the schema check is reported and skipped.
pub fn validate_schema(path: &Path) {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-10.xsd");
    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(path)
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "junit.xml fails junit-10.xsd:\n{}",
            text(&o)
        ),
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("xmllint not installed: schema validation skipped (CI runs it)")
        }
        Err(e) => panic!("xmllint is required in CI: {e}"),
    }
}

/// Writes `name` into `dir`: the shipped file `fixture` (relative to the crate root) with
/// every occurrence of each `from` replaced by its `to`. Every `from` must occur, so a
/// fixture that changes under a test fails it instead of quietly testing the unchanged
/// file.
pub fn fixture_variant(dir: &Path, name: &str, fixture: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture))
        .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    for (from, to) in edits {
        assert!(text.contains(from), "{fixture} no longer contains {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Every testcase of a report, device suite after device suite.
pub fn all_cases(report: &TestSuites) -> Vec<junit_parser::TestCase> {
    report
        .suites
        .iter()
        .flat_map(|s| s.cases.iter().cloned())
        .collect()
}
