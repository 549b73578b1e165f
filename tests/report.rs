//! report.html as a user meets it: written by `lockrig run` into the sealed run
//! directory, drawn by a browser, its numbers those of results.jsonl, the board's
//! hostile output shown as text, and `lockrig report DIR` re-rendering it from a
//! directory it does not trust.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{lockrig, results, run_dir, text};

/// Runs `lockrig run --out OUT ARGS...` and returns the run directory.
fn run_in(out: &Path, args: &[&str]) -> (PathBuf, std::process::Output) {
    let o = lockrig()
        .args(["run", "--non-interactive", "--out", out.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (run_dir(out), o)
}

fn html(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("report.html")).expect("report.html is written")
}

/// The text of the `<td class="CLASS">` cell that follows `from` in `html`.
fn cell<'a>(html: &'a str, from: usize, class: &str) -> &'a str {
    let marker = format!("<td class=\"n {class}\">");
    let start = html[from..].find(&marker).unwrap() + from + marker.len();
    let end = html[start..].find("</td>").unwrap() + start;
    &html[start..end]
}

/// The first `<svg>...</svg>` after `from`.
fn svg_after<'a>(html: &'a str, from: &str) -> &'a str {
    let at = html
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in report.html"));
    let start = html[at..].find("<svg").unwrap() + at;
    let end = html[start..].find("</svg>").unwrap() + start;
    &html[start..end]
}

/// The text of each `<text>` element of an SVG, trimmed.
fn texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim())
        })
        .collect()
}

fn assert_no_active_content(html: &str) {
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    for bad in [
        "<script", "<img", "<iframe", "<object", "href=", "<link", "\u{1b}",
    ] {
        assert!(!html.contains(bad), "report.html contains {bad:?}");
    }
}

#[test]
fn report_html_is_sealed_and_its_numbers_are_those_of_results_jsonl() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &[
            "--device",
            "maglock_12v",
            "--device",
            "strike_fail_secure_12v",
            "--sim-defect",
            "ignores-fire-alarm",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let html = html(&dir);
    assert_no_active_content(&html);
    // Part of the evidence: the manifest lists it and the directory verifies.
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.sha256")).unwrap();
    assert!(manifest.contains("  report.html\n"), "{manifest}");
    let v = lockrig().arg("verify").arg(&dir).output().unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    // Every row's counts, and the totals, from results.jsonl.
    let mut expected: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    let mut totals = [0u64; 4];
    for r in results(&dir) {
        let key = (
            r["device"].as_str().unwrap().to_string(),
            r["check"].as_str().unwrap().to_string(),
        );
        let i = if r.get("skipped").is_some() {
            3
        } else {
            match r["outcome"]["verdict"].as_str().unwrap() {
                "pass" => 0,
                "fail" => 1,
                _ => 2,
            }
        };
        expected.entry(key).or_default()[i] += 1;
        totals[i] += 1;
    }
    assert!(totals[1] > 0, "the defect fails something");
    for ((device, check), counts) in &expected {
        let row = format!("<tr class=\"check\" data-device=\"{device}\" data-check=\"{check}\">");
        let at = html
            .find(&row)
            .unwrap_or_else(|| panic!("no row for {check} on {device}"));
        let shown: Vec<u64> = ["passed", "failed", "errors", "skipped"]
            .iter()
            .map(|c| cell(&html, at, c).parse().unwrap())
            .collect();
        assert_eq!(shown, counts.to_vec(), "{check} on {device}");
        let verdict = if counts[1] > 0 { "FAIL" } else { "PASS" };
        assert!(
            html[at..].starts_with(&format!("{row}<td><b>{check}</b>"))
                && html[at..html[at..].find("</tr>").unwrap() + at]
                    .contains(&format!("<td class=\"{verdict}\">{verdict}</td>")),
            "{check} on {device} is {verdict}"
        );
    }
    for (id, n) in ["passed", "failed", "errors", "skipped"].iter().zip(totals) {
        assert!(
            html.contains(&format!("id=\"total-{id}\">{n}<")),
            "total {id} {n}"
        );
    }
    // The shmoo grid is drawn: a cell per sag of the strike's boundary sweep.
    let shmoo = svg_after(
        &html,
        "<h3 class=\"shmoo\">brownout::boundary::strike_fail_secure_12v",
    );
    assert!(shmoo.matches("<rect").count() >= 12, "{shmoo}");
    assert!(
        texts(shmoo).contains(&"sag depth") && texts(shmoo).contains(&"1000 ms"),
        "{shmoo}"
    );
    // Each failure has its timeline, with its failing measurement drawn in red (after
    // the plot of its trace).
    let section = html
        .find("<section class=\"failure\"><h3>fire::releases::maglock_12v")
        .unwrap();
    let failure = svg_after(&html[section..], "● within limits");
    assert!(failure.contains("<circle"), "{failure}");
    assert!(failure.contains("fill=\"#C62828\""), "{failure}");
    assert!(html.contains("expected latch_sensor released within 1s"));
}

#[test]
fn a_soak_report_plots_the_pass_rate_over_cycles() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &[
            "--device",
            "maglock_12v",
            "--repeat",
            "6",
            "egress::powered",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = html(&dir);
    let soak = svg_after(&html, "<h3 class=\"soak\">egress::powered on maglock_12v");
    assert!(soak.contains("<polyline"), "{soak}");
    assert_eq!(
        soak.matches("<circle").count(),
        6,
        "a point per cycle: {soak}"
    );
    assert!(texts(soak).contains(&"cycle") && texts(soak).contains(&"pass rate %"));
    assert!(html.contains("6 cycles; 6 passed, 0 failed, 0 rig errors"));
}

#[test]
fn a_failure_plots_its_trace_the_meter_the_inputs_and_the_events() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &[
            "--device",
            "strike_fail_secure_12v",
            "--sim-defect",
            "opens-on-brownout",
            "--sim-fault",
            "console:markup",
            "brownout::sag_resets_safely",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let html = html(&dir);
    assert_no_active_content(&html);
    let at = html
        .find("from <code>traces/brownout.sag_resets_safely.strike_fail_secure_12v.csv</code>")
        .expect("the failure names its trace");
    let svg = svg_after(&html, &html[at..at + 40]);
    // The meter's two series, the lanes of the two watched inputs, the sag marked.
    assert!(svg.matches("<polyline").count() >= 2, "{svg}");
    let labels = texts(svg);
    // The DP832's timer makes the sag (`main set 3.5V for 3s by timer`), its start the
    // mark, shortened on the plot.
    for label in ["meter V", "meter mA", "main set 3.5V for", "BOOT BOR"] {
        assert!(
            labels.iter().any(|t| t.contains(label)),
            "{label}: {labels:?}"
        );
    }
    assert!(
        labels
            .iter()
            .any(|t| t.starts_with("door_position: upper line")),
        "{labels:?}"
    );
}

#[test]
fn markup_printed_by_the_board_is_shown_only_as_text() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &[
            "--device",
            "smartlock_4aa",
            "--sim-fault",
            "console:markup",
            "brownout::",
        ],
    );
    // The board still answers its protocol: its hostile lines fail no correct check.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = html(&dir);
    assert_no_active_content(&html);
    assert!(html.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
    assert!(html.contains("<code>&lt;img src=x onerror=alert(1)&gt;</code>"));
    assert!(html.contains("<code>&quot; onmouseover=&quot;alert(1)&quot; x=&quot;</code>"));
    assert!(html.contains("\\x1b[2J\\x1b[31mRED\\x1b[0m \\x07bell"));
    for literal in [
        "<script>alert(1)</script>",
        "<img src=x onerror",
        "\" onmouseover=\"",
        "</pre></td></table>",
    ] {
        assert!(
            !html.contains(literal),
            "{literal:?} literally in report.html"
        );
    }
    // The JSON lines carry the lines as the board printed them.
    let raw = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    assert!(raw.contains("<script>alert(1)</script>"));
}

#[test]
fn lockrig_report_rerenders_without_breaking_the_seal() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &["--device", "maglock_12v", "--seed", "3", "power_loss::"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A sealed directory is never written to.
    let r = lockrig().arg("report").arg(&dir).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("sealed"),
        "{}",
        text(&r)
    );
    let inside = dir.join("again.html");
    let r = lockrig()
        .arg("report")
        .arg(&dir)
        .arg("--out")
        .arg(&inside)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    assert!(!inside.exists());
    // Elsewhere, the same page as the run wrote.
    let copy = out.path().join("copy.html");
    let r = lockrig()
        .arg("report")
        .arg(&dir)
        .arg("--out")
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), html(&dir));
    let v = lockrig().arg("verify").arg(&dir).output().unwrap();
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

#[test]
fn lockrig_report_reads_the_directory_as_untrusted() {
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(out.path(), &["--device", "maglock_12v", "power_loss::"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();

    // An unsealed copy (a run killed outright): a huge line is skipped and named, the
    // rest counted; report.html is written there, replacing a link, never following it.
    let copy = out.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    let huge = format!("{{\"trial\": \"{}\"}}\n", "x".repeat(9 << 20));
    std::fs::write(copy.join("results.jsonl"), format!("{huge}{lines}")).unwrap();
    let victim = out.path().join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, copy.join("report.html")).unwrap();
    let r = lockrig().arg("report").arg(&copy).output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(copy.join("report.html")).unwrap();
    assert!(meta.file_type().is_file());
    let page = std::fs::read_to_string(copy.join("report.html")).unwrap();
    assert!(
        page.contains("line 1: longer than"),
        "the huge line is named"
    );
    let passed = lines.lines().count();
    assert!(page.contains(&format!("id=\"total-passed\">{passed}<")));

    // results.jsonl as a link (to the real one, say) is refused, never followed.
    let linked = out.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(dir.join("results.jsonl"), linked.join("results.jsonl")).unwrap();
    let r = lockrig().arg("report").arg(&linked).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("symbolic link"),
        "{}",
        text(&r)
    );
    assert!(!linked.join("report.html").exists());

    // A FIFO would block a naive reader forever.
    let fifo = out.path().join("fifo");
    std::fs::create_dir(&fifo).unwrap();
    let status = Command::new("mkfifo")
        .arg(fifo.join("results.jsonl"))
        .status()
        .unwrap();
    assert!(status.success());
    let r = lockrig().arg("report").arg(&fifo).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", text(&r));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a regular file"));
}

/// The browser, where one is installed: `chromium` (Debian) or `chromium-browser`.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs headless Chromium with `args` and returns its stdout; killed after a minute.
fn headless(browser: &str, profile: &Path, args: &[&str]) -> Vec<u8> {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut bytes).unwrap();
        bytes
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn a_browser_draws_the_report() {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is required in CI (.ci/run installs it)");
        }
        eprintln!("chromium not installed: the browser rendering test is skipped (CI runs it)");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (dir, o) = run_in(
        out.path(),
        &[
            "--device",
            "strike_fail_secure_12v",
            "--sim-fault",
            "console:markup",
            "--repeat",
            "2",
            "brownout::boundary",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let url = format!("file://{}", dir.join("report.html").display());
    let profile = out.path().join("profile");

    // The DOM the browser built: the plots are SVG with drawn elements, no script ran
    // or exists, and the board's markup is a text node.
    let dom = String::from_utf8(headless(browser, &profile, &["--dump-dom", &url])).unwrap();
    assert!(dom.contains("<svg"), "{dom}");
    assert!(dom.matches("<rect").count() >= 12, "the shmoo cells");
    assert!(dom.contains("<polyline"), "the soak line");
    assert!(!dom.contains("<script"), "no script element");
    assert!(!dom.contains("<img"), "no image element");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // A screenshot of it is not blank: far more detail than the same window of an empty
    // page (PNG compresses a blank page to almost nothing).
    let shot = out.path().join("report.png");
    let blank = out.path().join("blank.png");
    let empty = out.path().join("empty.html");
    std::fs::write(&empty, "<!DOCTYPE html><html><body></body></html>").unwrap();
    for (png, page) in [
        (&shot, url.clone()),
        (&blank, format!("file://{}", empty.display())),
    ] {
        headless(
            browser,
            &profile,
            &[
                "--window-size=1280,1600",
                &format!("--screenshot={}", png.display()),
                &page,
            ],
        );
    }
    let (shot, blank) = (
        std::fs::metadata(&shot).expect("a screenshot").len(),
        std::fs::metadata(&blank).expect("a screenshot").len(),
    );
    assert!(
        shot > 10 * blank && shot > 30_000,
        "screenshot {shot} bytes, blank page {blank} bytes"
    );
}
