//! The test-harness options of `lockrig run` and `lockrig list`: which trials run and
//! how progress is printed. They follow the Rust test harness's (filter, `--skip`,
//! `--exact`, `--list`, `--format`) because lab CI already knows them; the harness
//! options that make no sense on a bench (benchmarks, output capture, log files,
//! unstable flags, parallel threads) are not offered.

use clap::{Args, ValueEnum};

/// Trial selection and progress output.
#[derive(Args, Debug, Clone, Default)]
pub struct Harness {
    /// Run only trials whose names contain FILTER (`brownout`, `::maglock_12v`); see
    /// `lockrig list` for the names.
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
    /// Match FILTER and --skip against whole trial names, not substrings.
    #[arg(long)]
    pub exact: bool,
    /// Leave out trials whose names contain FILTER; repeatable.
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// Print the selected trials in the test harness's `NAME: test` form and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Progress on stdout: a line per trial, a character per trial, or only the test
    /// harness's JSON events (the closing summary then goes to stderr).
    #[arg(long, value_enum, default_value_t = Progress::Pretty)]
    pub format: Progress,
    /// The same as `--format terse`.
    #[arg(short, long, conflicts_with = "format")]
    pub quiet: bool,
    /// Colour the progress lines.
    #[arg(long, value_enum, default_value_t = Colour::Auto)]
    pub color: Colour,
    /// Accepted as 1 only: a bench is one set of instruments and one board, so its
    /// trials run one at a time. Run separate benches as separate processes.
    #[arg(long, value_name = "N", hide = true, value_parser = one_thread)]
    pub test_threads: Option<usize>,
}

/// How progress is printed.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Progress {
    /// One line per trial, failures in full at the end.
    #[default]
    Pretty,
    /// One character per trial.
    Terse,
    /// The test harness's JSON events, one per line, and nothing else on stdout.
    Json,
}

/// When to colour progress.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Colour {
    /// When stdout is a terminal.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

fn one_thread(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(1) => Ok(1),
        _ => Err(format!(
            "lockrig runs a bench's trials one at a time (one set of instruments, one board), so `{s}` threads cannot be honoured; run separate benches as separate `lockrig run --rig FILE` processes"
        )),
    }
}

impl Harness {
    /// Whether stdout carries only JSON lines.
    pub fn json(&self) -> bool {
        self.format == Progress::Json
    }

    /// The same options in the harness library's form.
    pub fn to_libtest(&self) -> libtest_mimic::Arguments {
        use libtest_mimic::{ColorSetting, FormatSetting};
        libtest_mimic::Arguments {
            filter: self.filter.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            list: self.list,
            format: Some(match (self.quiet, self.format) {
                (true, _) | (false, Progress::Terse) => FormatSetting::Terse,
                (false, Progress::Pretty) => FormatSetting::Pretty,
                (false, Progress::Json) => FormatSetting::Json,
            }),
            color: Some(match self.color {
                Colour::Auto => ColorSetting::Auto,
                Colour::Always => ColorSetting::Always,
                Colour::Never => ColorSetting::Never,
            }),
            test_threads: Some(1),
            ..Default::default()
        }
    }
}
