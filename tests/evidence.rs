//! The evidence bundle as an auditor meets it: `evidence.json`, the copies of the
//! configuration, `MANIFEST.sha256` (also checked with `sha256sum -c`), `lockrig verify`
//! against changed, added and removed files and against a hostile directory, the
//! calibration refusal, and permissions.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fixture_variant, junit, lockrig, run, run_dir, text};

/// One quick trial on the simulated rig.
const QUICK: &[&str] = &["--device", "maglock_12v", "power_loss::fail_safe_releases"];

/// Runs `lockrig run --out OUT ARGS QUICK` and returns the run directory.
fn sealed_run(out: &Path, args: &[&str]) -> PathBuf {
    let o = lockrig()
        .args(["run", "--out", out.to_str().unwrap()])
        .args(args)
        .args(QUICK)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    run_dir(out)
}

fn verify(dir: &Path) -> Output {
    run(&["verify", dir.to_str().unwrap()])
}

fn evidence(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("evidence.json")).unwrap()).unwrap()
}

/// `sha256sum FILE`'s digest.
fn sha256sum(file: &Path) -> String {
    let o = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn shipped(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

/// Runs a command, failing the test (and killing it) if it takes longer than `limit`:
/// a verifier that opened a FIFO planted in or outside the directory would hang.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}: it opened something it should not have");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_run_is_sealed_so_verify_and_sha256sum_both_pass_and_the_evidence_is_complete() {
    let out = tempfile::tempdir().unwrap();
    let dir = sealed_run(out.path(), &["--operator", "QA Ana"]);

    let o = verify(&dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("intact"));
    let o = Command::new("sha256sum")
        .args(["--check", "--strict", "MANIFEST.sha256"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let checked = String::from_utf8_lossy(&o.stdout);
    for file in [
        "evidence.json",
        "junit.xml",
        "results.jsonl",
        "sim-outputs.log",
        "config/rig.toml",
        "config/suite.toml",
        "config/devices/maglock_12v.toml",
    ] {
        assert!(checked.contains(&format!("{file}: OK")), "{checked}");
    }

    let e = evidence(&dir);
    assert_eq!(e["lockrig_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(e["operator"], "QA Ana");
    let host = nix::unistd::gethostname().unwrap();
    assert_eq!(e["host"], host.to_str().unwrap());
    let time = |k: &str| {
        time::OffsetDateTime::parse(
            e[k].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert!(time("started") <= time("ended"));
    assert!(time("ended") <= time::OffsetDateTime::now_utc());
    // Built-in files: the embedded text is the shipped file, so sha256sum agrees.
    assert_eq!(e["rig"]["sha256"], sha256sum(&shipped("rigs/sim.toml")));
    assert_eq!(e["rig"]["builtin"], true);
    assert_eq!(
        e["suite"]["sha256"],
        sha256sum(&shipped("fixtures/suites/certification.toml"))
    );
    assert_eq!(
        e["suite"]["sha256"],
        sha256sum(&dir.join("config/suite.toml"))
    );
    assert_eq!(e["devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        e["devices"][0]["sha256"],
        sha256sum(&shipped("fixtures/devices/maglock_12v.toml"))
    );
    assert_eq!(
        e["devices"][0]["sha256"],
        sha256sum(&dir.join(e["devices"][0]["copy"].as_str().unwrap()))
    );
    // The rig's copy is redacted: the simulator's credential is not in it.
    assert_eq!(e["rig"]["redacted"], true);
    let copy = std::fs::read_to_string(dir.join("config/rig.toml")).unwrap();
    assert!(!copy.contains("246810"), "{copy}");
    assert!(copy.contains("<secret credential #"), "{copy}");
    assert_eq!(e["firmware"]["status"], "not declared");
    let instruments = e["instruments"].as_array().unwrap();
    assert_eq!(instruments.len(), 7);
    for i in instruments {
        assert_eq!(i["calibration"], "not applicable: simulated", "{i}");
        assert!(!i["identity"].as_array().unwrap().is_empty(), "{i}");
    }
    let psu = instruments.iter().find(|i| i["name"] == "psu").unwrap();
    assert!(
        psu["identity"][0]
            .as_str()
            .unwrap()
            .starts_with("RIGOL TECHNOLOGIES,DP832"),
        "{psu}"
    );
    assert_eq!(e["expired_calibration_accepted"], false);
    assert_eq!(e["outcome"]["passed"], 1);
    assert_eq!(e["outcome"]["exit_code"], 0);
    assert_eq!(e["reports"]["junit"], "junit.xml");
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    let evidence = property(suite, "evidence");
    assert!(
        evidence.starts_with("evidence.json and MANIFEST.sha256 in "),
        "{evidence}"
    );
    assert_eq!(property(suite, "operator"), "QA Ana");
    assert_eq!(property(suite, "firmware"), "not declared");
    assert!(!suite.properties.hashmap.contains_key("calibration.expired"));
}

/// A property of a JUnit testsuite.
fn property<'a>(suite: &'a junit_parser::TestSuite, name: &str) -> &'a str {
    suite
        .properties
        .hashmap
        .get(name)
        .unwrap_or_else(|| panic!("no property {name} in {:?}", suite.properties))
}

#[test]
fn verify_names_every_changed_added_and_removed_file_and_exits_1() {
    let out = tempfile::tempdir().unwrap();
    let dir = sealed_run(out.path(), &[]);
    let check = |expect: &[&str]| {
        let o = verify(&dir);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        for line in expect {
            assert!(
                stdout.lines().any(|l| l == *line),
                "no `{line}` in:\n{stdout}"
            );
        }
        assert!(stdout.contains("NOT intact"), "{stdout}");
    };

    let junit_xml = dir.join("junit.xml");
    let original = std::fs::read(&junit_xml).unwrap();
    let mut edited = original.clone();
    edited.extend_from_slice(b"<!-- passed after all -->");
    std::fs::write(&junit_xml, &edited).unwrap();
    check(&["changed: junit.xml"]);
    std::fs::write(&junit_xml, &original).unwrap();

    let rig = dir.join("config/rig.toml");
    let text_before = std::fs::read_to_string(&rig).unwrap();
    std::fs::write(&rig, text_before.replace("26.0V", "36.0V")).unwrap();
    check(&["changed: config/rig.toml"]);
    std::fs::write(&rig, &text_before).unwrap();

    std::fs::write(dir.join("config/extra.toml"), "").unwrap();
    check(&["added: config/extra.toml"]);
    std::fs::remove_file(dir.join("config/extra.toml")).unwrap();

    let results = std::fs::read(dir.join("results.jsonl")).unwrap();
    std::fs::remove_file(dir.join("results.jsonl")).unwrap();
    std::fs::write(dir.join("results.json"), &results).unwrap();
    check(&["removed: results.jsonl", "added: results.json"]);
    std::fs::rename(dir.join("results.json"), dir.join("results.jsonl")).unwrap();

    let o = verify(&dir);
    assert_eq!(o.status.code(), Some(0), "restored: {}", text(&o));
}

#[test]
fn verify_refuses_paths_outside_the_directory_and_links_without_following_them() {
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    let dir = sealed_run(&out, &[]);
    // A FIFO outside the run directory: opening it for reading would hang the verifier.
    let outside = out.join("outside");
    nix::unistd::mkfifo(&outside, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let manifest = dir.join("MANIFEST.sha256");
    let sealed = std::fs::read_to_string(&manifest).unwrap();
    let zeros = "0".repeat(64);
    let verify_within = || {
        let mut c = lockrig();
        c.args(["verify", dir.to_str().unwrap()]);
        output_within(c, Duration::from_secs(20))
    };

    for path in [
        "../outside",
        outside.to_str().unwrap(),
        "config/../../outside",
    ] {
        std::fs::write(&manifest, format!("{sealed}{zeros}  {path}\n")).unwrap();
        let o = verify_within();
        assert_eq!(o.status.code(), Some(2), "{path}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(&format!("unsafe path `{path}`")),
            "{stderr}"
        );
        assert!(
            stderr.contains("nothing outside the run directory was read"),
            "{stderr}"
        );
    }
    std::fs::write(&manifest, &sealed).unwrap();

    // A listed file replaced by a link to the FIFO outside.
    let results = dir.join("results.jsonl");
    let kept = std::fs::read(&results).unwrap();
    std::fs::remove_file(&results).unwrap();
    std::os::unix::fs::symlink("../outside", &results).unwrap();
    let o = verify_within();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("`results.jsonl`: symbolic link, not followed"),
        "{stderr}"
    );
    std::fs::remove_file(&results).unwrap();
    std::fs::write(&results, &kept).unwrap();

    // A listed folder replaced by a link to a copy of it.
    std::fs::rename(dir.join("config"), base.path().join("config")).unwrap();
    std::os::unix::fs::symlink(base.path().join("config"), dir.join("config")).unwrap();
    let o = verify_within();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("`config`: symbolic link, not followed"),
        "{}",
        text(&o)
    );
    std::fs::remove_file(dir.join("config")).unwrap();
    std::fs::rename(base.path().join("config"), dir.join("config")).unwrap();

    // An unlisted link or FIFO is an addition, named, never opened.
    std::os::unix::fs::symlink("../outside", dir.join("link")).unwrap();
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let o = verify_within();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("added: link (symbolic link, not followed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("added: pipe (not a regular file, not opened)"),
        "{stdout}"
    );
    std::fs::remove_file(dir.join("link")).unwrap();
    std::fs::remove_file(dir.join("pipe")).unwrap();

    // A malformed line and a missing manifest cannot be checked.
    std::fs::write(&manifest, format!("{sealed}not a digest  junit.xml\n")).unwrap();
    let o = verify_within();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let lines = sealed.lines().count() + 1;
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("MANIFEST.sha256 line {lines}:")),
        "{}",
        text(&o)
    );
    std::fs::remove_file(&manifest).unwrap();
    let o = verify_within();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no MANIFEST.sha256"));
    std::fs::write(&manifest, &sealed).unwrap();
    assert_eq!(verify(&dir).status.code(), Some(0));
}

/// The simulated rig as a file on disk, with the psu's calibration due on `due`.
fn rig_due(dir: &Path, due: &str) -> PathBuf {
    fixture_variant(
        dir,
        "bench.toml",
        "rigs/sim.toml",
        &[
            (
                "driver = \"rigol-dp800\"",
                &format!("driver = \"rigol-dp800\"\ncalibration_due = \"{due}\""),
            ),
            (
                "name = \"sim\"",
                "name = \"sim-calibrated\"\nfirmware = \"lock-fw.bin\"",
            ),
        ],
    )
}

#[test]
fn an_instrument_past_its_calibration_is_refused_unless_accepted_and_then_it_is_recorded() {
    let base = tempfile::tempdir().unwrap();
    std::fs::write(
        base.path().join("lock-fw.bin"),
        b"\x7fELF lock firmware 1.4.2",
    )
    .unwrap();
    let rig = rig_due(base.path(), "2001-02-03");
    let line = std::fs::read_to_string(&rig)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("calibration_due"))
        .unwrap()
        + 1;
    let out = base.path().join("out");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "run",
            "--rig",
            rig.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        v.extend_from_slice(extra);
        v.extend_from_slice(QUICK);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };

    let o = lockrig().args(args(&[])).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("refused before touching any instrument"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "instrument `psu` (rigol-dp800) is past its calibration due date 2001-02-03 ({}:{line}:19)",
            rig.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-expired-calibration"), "{stderr}");
    assert!(!out.exists(), "a refused run leaves no run directory");

    let o = lockrig()
        .args(args(&["--allow-expired-calibration"]))
        .env("LOCKRIG_SECRET_CREDENTIAL", "731946")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("CALIBRATION EXPIRED: instrument `psu` (rigol-dp800) is past its calibration due date 2001-02-03"),
        "{stdout}"
    );
    let dir = run_dir(&out);
    let e = evidence(&dir);
    assert_eq!(e["expired_calibration_accepted"], true);
    let psu = e["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "psu")
        .unwrap();
    assert_eq!(psu["calibration_due"], "2001-02-03");
    assert_eq!(psu["calibration"], "expired");
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    let note = property(suite, "calibration.expired");
    assert!(
        note.starts_with(
            "instrument `psu` (rigol-dp800) is past its calibration due date 2001-02-03"
        ) && note.ends_with("run accepted with --allow-expired-calibration"),
        "{note}"
    );
    assert!(
        property(suite, "firmware").ends_with(&format!(
            "lock-fw.bin sha256 {}",
            sha256sum(&base.path().join("lock-fw.bin"))
        )),
        "{suite:?}"
    );
    // The rig file from disk: its own digest, and a copy with no secret, neither the
    // one in use nor the simulator's default.
    assert_eq!(e["rig"]["sha256"], sha256sum(&rig));
    assert_eq!(e["rig"]["builtin"], false);
    let copy = std::fs::read_to_string(dir.join("config/rig.toml")).unwrap();
    assert!(
        !copy.contains("731946") && !copy.contains("246810"),
        "{copy}"
    );
    assert!(copy.contains("calibration_due = \"2001-02-03\""), "{copy}");
    // The firmware image beside the rig file.
    assert_eq!(e["firmware"]["status"], "digested from the image file");
    assert_eq!(
        e["firmware"]["sha256"],
        sha256sum(&base.path().join("lock-fw.bin"))
    );
    assert_eq!(verify(&dir).status.code(), Some(0));

    // In date: no flag needed. A JUnit report outside the directory is named with its
    // digest (the manifest cannot cover it).
    std::fs::remove_dir_all(&out).unwrap();
    let rig = rig_due(base.path(), "2999-12-31");
    let outside = base.path().join("ci-junit.xml");
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--junit",
        outside.to_str().unwrap(),
        QUICK[0],
        QUICK[1],
        QUICK[2],
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("CALIBRATION"));
    let e = evidence(&run_dir(&out));
    assert_eq!(e["reports"]["junit"], outside.to_str().unwrap());
    assert_eq!(e["reports"]["junit_sha256"], sha256sum(&outside));
    assert_eq!(verify(&run_dir(&out)).status.code(), Some(0));
    assert_eq!(e["expired_calibration_accepted"], false);
    let psu = e["instruments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "psu")
        .unwrap();
    assert_eq!(psu["calibration"], "valid");

    // A date that is not one is a configuration error at its place.
    let rig = rig_due(base.path(), "2027-02-30");
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("bench.toml:{line}:19")),
        "{stderr}"
    );
    assert!(stderr.contains("calibration_due"), "{stderr}");
    assert!(stderr.contains("expected a date YYYY-MM-DD"), "{stderr}");
}

#[test]
fn a_missing_firmware_image_is_refused_before_anything_runs() {
    let base = tempfile::tempdir().unwrap();
    let rig = rig_due(base.path(), "2999-12-31");
    let out = base.path().join("out");
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("field `firmware`: cannot read the image"),
        "{stderr}"
    );
    assert!(stderr.contains("lock-fw.bin"), "{stderr}");
    assert!(!out.exists());
}

/// Runs lockrig with umask 000, so only lockrig's own modes keep others out.
fn lockrig_umask_000(args: &[&str], lock_dir: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_lockrig"))
        .args(args)
        .env("LOCKRIG_LOCK_DIR", lock_dir)
        .output()
        .unwrap()
}

/// Every folder and file under `root` (itself included), with its mode.
fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut all = vec![(
        root.to_path_buf(),
        std::fs::symlink_metadata(root)
            .unwrap()
            .permissions()
            .mode(),
    )];
    if root.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            all.extend(modes(&entry.unwrap().path()));
        }
    }
    all
}

#[test]
fn run_directories_reports_and_the_bench_lock_are_not_world_writable() {
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    let locks = base.path().join("locks/lockrig");
    let o = lockrig_umask_000(
        &[
            "run",
            "--out",
            out.to_str().unwrap(),
            QUICK[0],
            QUICK[1],
            QUICK[2],
        ],
        &locks,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let found = modes(&out);
    assert!(found.len() > 8, "{found:?}");
    for (path, mode) in &found {
        assert_eq!(
            mode & 0o002,
            0,
            "{} is world-writable: {mode:o}",
            path.display()
        );
    }

    // A real bench whose instruments are not there: `rig check` takes the lock, fails,
    // and leaves the broken mark.
    let rig = fixture_variant(
        base.path(),
        "real.toml",
        "rigs/sim.toml",
        &[
            (
                "name = \"sim\"",
                "name = \"bench-9\"\ndut = \"maglock_12v\"",
            ),
            (
                "sim = \"psu\"",
                "serial = \"/dev/lockrig-no-such-port\"\nbaud = 9600",
            ),
            ("sim = \"relays\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("sim = \"gpio\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("sim = \"console\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("sim = \"i2cdriver\"", "i2c = \"/dev/lockrig-no-such-i2c\""),
            ("sim = \"swd\"", "probe = \"0483:374b\""),
            (", default = \"246810\"", ""),
        ],
    );
    let o = lockrig_umask_000(&["rig", "check", "--rig", rig.to_str().unwrap()], &locks);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let found = modes(&base.path().join("locks"));
    assert!(
        found
            .iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "lock")),
        "{found:?}"
    );
    for (path, mode) in &found {
        assert_eq!(
            mode & 0o002,
            0,
            "{} is world-writable: {mode:o}",
            path.display()
        );
    }
}

#[test]
fn an_interrupted_run_is_sealed_and_says_how_it_ended() {
    let out = tempfile::tempdir().unwrap();
    let child = lockrig()
        .args([
            "run",
            "--repeat",
            "300",
            "--out",
            out.path().to_str().unwrap(),
            "power_loss::fail_safe_releases",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let started = std::fs::read_dir(out.path())
            .ok()
            .and_then(|mut d| d.next())
            .map(|d| d.unwrap().path().join("results.jsonl"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .is_some_and(|t| t.lines().count() >= 5);
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "no results appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    let dir = run_dir(out.path());
    let v = verify(&dir);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let e = evidence(&dir);
    assert_eq!(e["outcome"]["interrupted_by"], "SIGTERM");
    assert_eq!(e["outcome"]["exit_code"], 143);
    assert!(e["ended"].is_string());
}

#[test]
fn verify_help_documents_its_exit_codes() {
    let o = run(&["verify", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    for words in [
        "0 every file matches",
        "1 a file was changed, added or removed",
        "2 the directory cannot be checked",
    ] {
        assert!(help.contains(words), "{help}");
    }
}
