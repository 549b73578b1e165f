use super::*;

fn line(json: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json).unwrap()
}

fn result(device: &str, check: &str, cycle: u32, verdict: &str) -> serde_json::Value {
    serde_json::json!({
        "trial": format!("{check}::{device}"),
        "check": check,
        "title": "A check",
        "basis": ["IBC 2021 1010.2.4"],
        "device": device,
        "cycle": cycle,
        "rig": "sim",
        "sim_defects": [],
        "instruments": [{"instrument": "psu", "driver": "rigol-dp800", "identity": "RIGOL <b>DP832</b>"}],
        "started": "2026-11-24T00:00:00Z",
        "outcome": {
            "verdict": verdict,
            "message": "expected engaged, measured <script>alert(1)</script>",
            "measurements": [{"step": 3, "what": "expect", "role": "main_meter", "source": "meter",
                "expected": "0.1-0.5 A", "measured": "0.7 A", "value": 0.7, "unit": "A",
                "low": 0.1, "high": 0.5, "at_ms": 1200.0, "pass": verdict == "pass"}],
            "log": [
                "[     0.000 ms] step 1: output main on",
                "[   100.000 ms] board| EVT BOOT POR",
                "[   150.000 ms] board| <img src=x onerror=alert(1)>",
                "[   160.000 ms] board| \u{1b}[31mRED\u{7}"
            ]
        }
    })
}

fn render(lines: &[Vec<u8>]) -> String {
    let mut r = Report::default();
    for (i, l) in lines.iter().enumerate() {
        r.add_line(i + 1, Ok(l));
    }
    r.render(
        &[],
        &serde_json::Value::Null,
        &Facts {
            seed: Some(7),
            ..Facts::default()
        },
    )
}

#[test]
fn escapes_text_and_attributes_and_shows_controls() {
    assert_eq!(
        escape_html("<a href=\"x\" onclick='y'>&</a>"),
        "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(
        escape_html("\u{1b}[31mred\u{7}\u{0}"),
        "\\x1b[31mred\\x07\\x00"
    );
    assert_eq!(escape_html("a\tb\nµA"), "a\tb\nµA");
    assert_eq!(escape_html("\u{85}\u{7f}"), "\\x85\\x7f");
}

#[test]
fn board_strings_are_text_never_markup() {
    let html = render(&[line(result("smartlock", "egress::powered", 1, "fail"))]);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>DP832"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("\\x1b[31mRED\\x07"));
    assert!(html.contains("default-src 'none'; style-src 'unsafe-inline'; img-src data:"));
}

#[test]
fn counts_and_plots_a_soak() {
    let mut lines = Vec::new();
    for c in 1..=300 {
        let v = if c % 10 == 0 { "fail" } else { "pass" };
        lines.push(line(result("maglock", "brownout::shallow_sag", c, v)));
    }
    let html = render(&lines);
    assert!(html.contains("<td class=\"n passed\">270</td>"), "{html}");
    assert!(html.contains("<td class=\"n failed\">30</td>"));
    assert!(html.contains("id=\"total-failed\">30<"));
    assert!(html.contains("Soak: pass rate over cycles"));
    assert!(html.contains("each point 4 cycles"));
    // Only the first failures are kept in full.
    assert_eq!(html.matches("<section class=\"failure\">").count(), 30);
}

#[test]
fn soak_buckets_stay_bounded_and_keep_every_count() {
    let mut row = CheckRow::default();
    for c in 1..=10_000u32 {
        row.bucket(c, c % 3 != 0);
    }
    assert!(row.buckets.len() <= SOAK_BUCKETS);
    assert_eq!(row.buckets.iter().map(|b| b.decided).sum::<u64>(), 10_000);
    assert_eq!(
        row.buckets.iter().map(|b| b.passed).sum::<u64>(),
        10_000 - 3333
    );
    assert_eq!(row.buckets.last().unwrap().last, 10_000);
    for w in row.buckets.windows(2) {
        assert_eq!(w[0].last + 1, w[1].first);
    }
}

#[test]
fn failures_beyond_the_limit_are_counted() {
    let lines: Vec<_> = (1..=60)
        .map(|c| line(result("maglock", "fire::releases", c, "fail")))
        .collect();
    let html = render(&lines);
    assert_eq!(
        html.matches("<section class=\"failure\">").count(),
        MAX_FAILURES
    );
    assert!(html.contains("10 more are counted"));
}

#[test]
fn draws_a_shmoo_grid() {
    let mut r = result("smartlock", "brownout::boundary", 1, "pass");
    r["outcome"]["measurements"][0]["detail"] = serde_json::json!({
        "supply": "main",
        "depths_v": [3.0, 2.0],
        "durations_ms": [10.0, 100.0, 1000.0],
        "cells": [
            [{"reset": false, "reached": true, "unsafe": false}, {"reset": false, "reached": true, "unsafe": false}, {"reset": true, "reached": true, "unsafe": false}],
            [{"reset": false, "reached": false, "unsafe": false}, {"reset": null, "intermittent": true, "resets": 2, "runs": 5, "reached": true, "unsafe": false}, {"reset": true, "reached": true, "unsafe": false}]
        ]
    });
    let html = render(&[line(r)]);
    let start = html.find("<h3 class=\"shmoo\">").expect("a shmoo section");
    let svg = &html[start..];
    let svg = &svg[svg.find("<svg").unwrap()..svg.find("</svg>").unwrap()];
    // Six cells, each filled and outlined.
    assert!(svg.matches("<rect").count() >= 12, "{svg}");
    assert!(svg.contains("1000 ms") && svg.contains("2 V"), "{svg}");
    // A boundary cell that reset the board two times in five is drawn as such, counted.
    assert!(svg.contains("fill=\"#195AAA\""), "{svg}");
    assert!(svg.contains("2/5"), "{svg}");
}

#[test]
fn unreadable_lines_are_named_not_fatal() {
    let mut r = Report::default();
    r.add_line(1, Ok(b"{not json"));
    r.add_line(2, Err(read::TooLong(2)));
    r.add_line(3, Ok(&line(result("m", "c", 1, "pass"))));
    let html = r.render(&[], &serde_json::Value::Null, &Facts::default());
    assert!(html.contains("line 1: not a result"));
    assert!(html.contains("line 2: longer than"));
    assert!(html.contains("id=\"total-passed\">1<"));
}
