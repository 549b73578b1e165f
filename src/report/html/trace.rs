//! A failed trial's trace (`traces/TRIAL.csv`) read back for its plot: the meter's
//! voltage and current, each input's changes of state, and the events (supply and
//! relay commands, the board's event lines). The file is untrusted like the rest of the
//! directory: its name must be a plain `traces/NAME.csv`, it is opened without
//! following links, read up to a byte limit, and thinned to what a plot can show.

use std::io::Read as _;
use std::os::fd::OwnedFd;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use super::read;
use super::HtmlError;
use crate::units::{Amps, Volts};

/// The most of one trace read (a trace is capped at 64 MiB when written).
const MAX_BYTES: u64 = 65 << 20;
/// Points per meter series on the plot: the minimum and maximum of each of this many
/// time buckets, so a 1 ms spike in a 40 s trace still shows.
const BUCKETS: usize = 600;
/// Inputs, and changes of state per input, drawn.
const MAX_LANES: usize = 6;
const MAX_CHANGES: usize = 2000;
/// Events marked.
const MAX_EVENTS: usize = 120;

/// What a trace holds, thinned for a plot.
#[derive(Debug, Default)]
pub struct Trace {
    /// Meter voltage: (s, V), the extremes of each bucket.
    pub volts: Vec<(f64, f64)>,
    /// Meter current: (s, mA).
    pub milliamps: Vec<(f64, f64)>,
    /// Each input's lane.
    pub inputs: Vec<Lane>,
    /// Commands and board events: (s, label).
    pub events: Vec<(f64, String)>,
    /// The trace's length in seconds.
    pub end: f64,
    /// Rows read.
    pub rows: u64,
}

/// One input's changes of state.
#[derive(Debug, Default)]
pub struct Lane {
    /// The role.
    pub role: String,
    /// Its two states, the first seen first.
    pub states: [String; 2],
    /// Where its level changed: (s, index into `states`).
    pub changes: Vec<(f64, u8)>,
    /// Its last sample.
    pub last: f64,
}

/// Opens `traces/NAME.csv` in the run directory `root`: `None` when the name is not a
/// plain trace name or the file is not there; an error for a link or a special file.
pub fn open(root: &OwnedFd, path: &str) -> Result<Option<std::fs::File>, HtmlError> {
    let Some(name) = path.strip_prefix("traces/") else {
        return Ok(None);
    };
    let plain = !name.starts_with('.')
        && name.ends_with(".csv")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !plain {
        return Ok(None);
    }
    let dir = match openat(
        root,
        "traces",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOTDIR) => {
            return Err(HtmlError::Symlink {
                path: "traces".into(),
            })
        }
        Err(e) => {
            return Err(HtmlError::Io {
                path: "traces".into(),
                source: e.into(),
            })
        }
    };
    read::open_in(&dir, name)
}

/// One meter series being bucketed: min and max per bucket.
struct Series {
    raw: Vec<(f64, f64)>,
}

impl Series {
    /// Keeps every point until the end is known; at most a 64 MiB trace's worth.
    fn thin(self, end: f64) -> Vec<(f64, f64)> {
        // A captured meter's readings are written when a window collects them, a poll
        // after other rows: in time order for the plot.
        let mut raw = self.raw;
        raw.sort_by(|a, b| a.0.total_cmp(&b.0));
        if raw.len() <= BUCKETS * 2 {
            return raw;
        }
        let width = end.max(1e-9) / BUCKETS as f64;
        let mut out = Vec::with_capacity(BUCKETS * 2);
        // The bucket being filled: its index, its lowest and its highest point.
        type Bucket = (usize, (f64, f64), (f64, f64));
        let mut bucket: Option<Bucket> = None;
        for (t, v) in raw {
            let b = ((t / width) as usize).min(BUCKETS - 1);
            bucket = match bucket {
                Some((i, lo, hi)) if i == b => Some((
                    i,
                    if v < lo.1 { (t, v) } else { lo },
                    if v > hi.1 { (t, v) } else { hi },
                )),
                done => {
                    if let Some((_, lo, hi)) = done {
                        out.extend(order(lo, hi));
                    }
                    Some((b, (t, v), (t, v)))
                }
            };
        }
        if let Some((_, lo, hi)) = bucket {
            out.extend(order(lo, hi));
        }
        out
    }
}

fn order(a: (f64, f64), b: (f64, f64)) -> Vec<(f64, f64)> {
    if a.0 <= b.0 {
        vec![a, b]
    } else {
        vec![b, a]
    }
}

/// Reads a trace. Rows that do not parse are skipped; what cannot be drawn is dropped.
pub fn read(file: std::fs::File) -> Trace {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(file.take(MAX_BYTES));
    let mut trace = Trace::default();
    let mut volts = Series { raw: Vec::new() };
    let mut amps = Series { raw: Vec::new() };
    let mut record = csv::StringRecord::new();
    while let Ok(true) = reader.read_record(&mut record) {
        trace.rows += 1;
        let (Some(t), Some(source), Some(role), Some(value)) = (
            record.get(0).and_then(|t| t.parse::<f64>().ok()),
            record.get(1),
            record.get(2),
            record.get(3),
        ) else {
            continue;
        };
        // A trial lasts hours at most; anything else is not a time of this trace.
        if !(0.0..=1e7).contains(&t) {
            continue;
        }
        trace.end = trace.end.max(t);
        match source {
            "meter" => {
                let mut parts = value.split(' ');
                let plausible = |x: f64| x.is_finite() && x.abs() <= 1e4;
                if let (Some(Ok(v)), Some(Ok(a))) = (
                    parts.next().map(Volts::parse),
                    parts.next().map(Amps::parse),
                ) {
                    if !plausible(v.0) || !plausible(a.0) {
                        continue;
                    }
                    // Bounded by the byte limit: a row is at least 30 bytes.
                    volts.raw.push((t, v.0));
                    amps.raw.push((t, a.0 * 1e3));
                }
            }
            "input" => add_input(&mut trace.inputs, t, role, value),
            "supply" | "switch" if trace.events.len() < MAX_EVENTS => {
                trace.events.push((t, format!("{role} {value}")));
            }
            "board" if trace.events.len() < MAX_EVENTS => {
                if let Some(e) = value.strip_prefix("EVT ") {
                    trace.events.push((t, e.to_string()));
                }
            }
            _ => {}
        }
    }
    trace.volts = volts.thin(trace.end);
    trace.milliamps = amps.thin(trace.end);
    trace
}

fn add_input(inputs: &mut Vec<Lane>, t: f64, role: &str, state: &str) {
    let i = match inputs.iter().position(|l| l.role == role) {
        Some(i) => i,
        None if inputs.len() < MAX_LANES => {
            inputs.push(Lane {
                role: role.to_string(),
                states: [state.to_string(), String::new()],
                changes: Vec::new(),
                last: t,
            });
            inputs.len() - 1
        }
        None => return,
    };
    let lane = &mut inputs[i];
    let level = if state == lane.states[0] {
        0
    } else if lane.states[1].is_empty() || state == lane.states[1] {
        lane.states[1] = state.to_string();
        1
    } else {
        // A third state: not a two-state input's; not drawn.
        return;
    };
    lane.last = lane.last.max(t);
    if lane.changes.last().is_none_or(|(_, l)| *l != level) && lane.changes.len() < MAX_CHANGES {
        lane.changes.push((t, level));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn dir_with(name: &str, body: &str) -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("traces")).unwrap();
        let mut f = std::fs::File::create(dir.path().join("traces").join(name)).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        let fd = read::open_dir(dir.path()).unwrap();
        (dir, fd)
    }

    #[test]
    fn a_spike_survives_thinning_and_inputs_keep_their_changes() {
        let mut body = String::from("t_s,source,role,value,ack_ms,timing\n");
        for i in 0..20_000 {
            let t = f64::from(i) * 0.002;
            let v = if i == 12_345 { "1.2V" } else { "12V" };
            body += &format!("{t:.6},meter,main_meter,{v} 20mA,0.000,exchange\n");
            let door = if (8_000..8_003).contains(&i) {
                "open"
            } else {
                "closed"
            };
            body += &format!("{t:.6},input,door_position,{door},0.000,exchange\n");
        }
        body += "5.0,board,console,EVT BOOT BOR,,uptime\n5.0,board,console,banner,,read\n";
        body += "not,a,row\n";
        let (_d, root) = dir_with("a.csv", &body);
        let t = read(open(&root, "traces/a.csv").unwrap().unwrap());
        assert_eq!(t.rows, 40_003);
        assert!(t.volts.len() <= BUCKETS * 2);
        assert!(t.volts.iter().any(|p| p.1 == 1.2), "the 2 ms dip is drawn");
        let lane = &t.inputs[0];
        assert_eq!(lane.states, ["closed".to_string(), "open".to_string()]);
        assert_eq!(lane.changes.len(), 3, "{:?}", lane.changes);
        assert_eq!(t.events, [(5.0, "BOOT BOR".to_string())]);
    }

    #[test]
    fn only_plain_trace_names_are_opened_and_links_are_refused() {
        let (d, root) = dir_with("a.csv", "t_s\n");
        for name in [
            "../results.jsonl",
            "traces/../x.csv",
            "traces/.hidden.csv",
            "/etc/passwd",
            "traces/a.txt",
        ] {
            assert!(open(&root, name).unwrap().is_none(), "{name}");
        }
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("traces/b.csv")).unwrap();
        assert!(matches!(
            open(&root, "traces/b.csv"),
            Err(HtmlError::Symlink { .. })
        ));
    }
}
