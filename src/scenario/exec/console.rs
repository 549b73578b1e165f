//! Console steps: commands and replies, readiness, events expected and forbidden.
//!
//! The board's lines are read without waiting at every [`POLL_EVERY`] of scenario
//! time and at the end of every step; each carries the board's uptime, so where it
//! lands on the timeline does not depend on when it was read.
//!
//! Board text is untrusted. It enters the log as `board| TEXT` (already escaped by the
//! transport, so it holds no line break or control character), never in the shape of
//! lockrig's own lines, and one check keeps at most [`MAX_CONSOLE_LINES`] lines and
//! [`MAX_CONSOLE_BYTES`] bytes of it; the rest is counted in
//! [`Dropped`](super::Dropped).

use std::time::Duration;

use super::condition::{self, Held, Tally};
use super::{ms, Budget, Run, Stop};
use crate::rig::bench::{Placed, SecondPath};
use crate::scenario::step::{Condition, Ready, Word};
use crate::units::{self, Volts};

/// How often, in scenario time, the console's lines are read during a long step.
pub(super) const POLL_EVERY: Duration = Duration::from_millis(250);

/// Console lines one check keeps. The chattiest built-in check on a healthy simulated
/// board (the brown-out boundary sweep) prints 33; 5000 leaves room for a real
/// firmware's debug log while a flooding one cannot grow a result without bound.
pub const MAX_CONSOLE_LINES: usize = 5000;

/// Bytes of console text one check keeps: 5000 lines of 200 bytes, so that lines at
/// the transport's 4 KiB cap cannot make one result 20 MiB.
pub const MAX_CONSOLE_BYTES: usize = 1 << 20;

/// The prefix of board text in the log: nothing lockrig writes itself starts so.
pub const BOARD: &str = "board| ";

/// How often a silent board is asked again whether it is ready.
const READY_RETRY: Duration = Duration::from_millis(250);

/// A line the board printed during this check.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// When it was printed, or the latest it can have been.
    pub at: Duration,
    /// The earliest it can have been printed (`at` when placed by the board's clock).
    pub from: Duration,
    /// How its time is known.
    pub placed: Placed,
    pub text: String,
    pub event: bool,
}

/// An event that must not come.
#[derive(Debug, Clone)]
pub(super) struct ConsoleWatch {
    pub role: String,
    pub never: String,
    pub since_step: usize,
    pub since: Duration,
    /// The supply line's condition under which it holds (always when absent).
    pub when: Option<Condition<Ready>>,
    /// What a conditional watch judged: the line's readings while its condition held.
    pub tally: Tally,
    /// Forbidden events that came while the condition certainly did not hold.
    pub outside: u64,
}

/// The console's side of a running check.
#[derive(Debug)]
pub(super) struct State {
    /// When the lines were last read.
    pub polled: Duration,
    /// A supply changed since the board last answered: it may be down.
    pub maybe_down: bool,
    /// When the board was last heard in this check (a reply, or a line it printed,
    /// at the earliest it can have been printed), and at which step: its output
    /// reaches lockrig. Silence from a board never heard cannot be told from a link
    /// dead in that direction.
    pub heard: Option<(Duration, usize)>,
    /// When the board last answered a command in this check, and at which step: the
    /// link works both ways. A board that prints its lines but never answers cannot be
    /// told from one whose commands are lost on the way.
    pub answered: Option<(Duration, usize)>,
    pub watches: Vec<ConsoleWatch>,
    pub seen: Vec<Seen>,
    /// Ordered matching (`expect console event E at V`) continues after this line.
    pub matched: usize,
    /// Events an ordered match passed over to reach its own (a later expectation of
    /// one of them finds it out of order).
    pub passed: Vec<usize>,
    /// What `seen` may still take.
    pub budget: Budget,
}

impl Default for State {
    fn default() -> Self {
        Self {
            polled: Duration::ZERO,
            maybe_down: false,
            heard: None,
            answered: None,
            watches: Vec::new(),
            seen: Vec::new(),
            matched: 0,
            passed: Vec::new(),
            budget: Budget::new(MAX_CONSOLE_LINES, MAX_CONSOLE_BYTES),
        }
    }
}

impl State {
    /// True when `role` has a console watch.
    pub fn is_watched(&self, role: &str) -> bool {
        self.watches.iter().any(|w| w.role == role)
    }
}

impl Run<'_> {
    /// Reads the board's lines, logs them, and judges the console watches.
    pub(super) fn poll_console(&mut self) -> Result<(), Stop> {
        self.console.polled = self.now();
        let take = self.bench.take_console_events()?;
        for n in take.notes {
            self.note(n);
        }
        let (placed, lost) = (take.placed, take.lost);
        if let Some(printed) = placed.iter().map(|e| e.from).max() {
            self.console.heard = Some((
                printed.max(self.console.heard.map_or(printed, |h| h.0)),
                self.step.0,
            ));
        } else if !lost.is_none() && self.console.heard.is_none() {
            self.console.heard = Some((self.console.polled, self.step.0));
        }
        // An event under a conditional watch is judged against readings on both sides.
        if !placed.is_empty() && self.console.watches.iter().any(|w| w.when.is_some()) {
            self.read_lines()?;
        }
        if !lost.is_none() {
            self.lose_console(lost.lines, lost.bytes, lost.cut);
        }
        for e in placed {
            if !self.console.budget.admit(e.text.len()) {
                self.lose_console(1, e.text.len() as u64, 0);
                continue;
            }
            let text = self.ctx.secrets.redact(&e.text);
            // Placed by its clock, or (the board's clock could not place it) stamped
            // when heard or read; said before the text, which is the board's to the
            // line's end.
            let when = match e.placed {
                Placed::Uptime => "",
                Placed::Heard => "(time heard) ",
                Placed::Read => "(time read) ",
            };
            let event = if e.event { "EVT " } else { "" };
            self.push_log(e.at, format!("{when}{BOARD}{event}{text}"));
            if e.event {
                self.console.maybe_down = self.console.maybe_down
                    && !(text.starts_with("BOOT") || text.starts_with("EMERGENCY"));
            }
            self.console.seen.push(Seen {
                at: e.at,
                from: e.from,
                placed: e.placed,
                text,
                event: e.event,
            });
            let seen = self.console.seen.last().cloned().expect("just pushed");
            if !seen.event {
                continue;
            }
            // Placed by the board's clock, it happened then; heard or read, at some
            // time in its span.
            let (from, to) = (seen.from, seen.at);
            let mut broken = None;
            let mut undecided = None;
            for w in self.console.watches.iter_mut() {
                if seen.at < w.since || !seen.text.starts_with(&w.never) {
                    continue;
                }
                let Some(c) = &w.when else {
                    broken = Some((w.clone(), None));
                    break;
                };
                let line = condition::line(&self.lines, c);
                let (t, j) = condition::judge_all(c, line, from, to);
                match j.held {
                    Held::Yes => {
                        broken = Some((w.clone(), Some((t, j))));
                        break;
                    }
                    // A forbidden event known only to a span wider than the poll (its
                    // clock could not place it), over which the condition may or may not
                    // have held, cannot be passed as one the meter could not tell.
                    Held::Unsure if to - from > self.ctx.poll => {
                        undecided = Some(format!(
                            "step {}: EVT {} came some time in {} ({}), over which it cannot be told whether {c}; it cannot be judged; fix the board's clock",
                            w.since_step,
                            seen.text,
                            units::format_duration(to - from),
                            seen.placed.how()
                        ));
                        break;
                    }
                    Held::Unsure => w.tally.unsure += 1,
                    Held::No => w.outside += 1,
                }
            }
            if let Some(why) = undecided {
                return Err(Stop::Error(why));
            }
            if let Some((w, judged)) = broken {
                self.console.watches.retain(|x| x.role != w.role);
                let how = e.placed.how();
                let during = match (&w.when, judged) {
                    (Some(c), Some((t, j))) => format!(
                        " while {c} (at {}: {})",
                        units::format_duration(t.saturating_sub(w.since)),
                        j.evidence(w.since)
                    ),
                    _ => String::new(),
                };
                let measured = format!(
                    "EVT {} at {} after step {} (printed by the board, {how}){during}",
                    seen.text,
                    units::format_duration(seen.at.saturating_sub(w.since)),
                    w.since_step
                );
                let expected = expectation(&w);
                let m = self.measurement(&w.role, expected.clone(), measured.clone(), false);
                self.record(m);
                return Err(self.fail(&w.role, format!("expected {expected}, measured {measured}")));
            }
        }
        Ok(())
    }

    /// Counts console output the caps dropped; the first loss of the check is logged
    /// (the totals are in the result, and make it a rig error).
    fn lose_console(&mut self, lines: u64, bytes: u64, cut: u64) {
        let first = self.dropped.is_none();
        self.dropped.console_lines += lines;
        self.dropped.console_bytes += bytes;
        self.dropped.cut_lines += cut;
        if first {
            self.note(
                "console: the board printed more than lockrig keeps; its output is dropped and counted from here (totals in the result)",
            );
        }
    }

    /// `watch console never EVENT [while ...]`.
    pub(super) fn watch_console(
        &mut self,
        role: &str,
        never: &str,
        when: Option<&Condition<Ready>>,
    ) -> Result<(), Stop> {
        if let Some(c) = when {
            self.follow_line(c, c.settled.unwrap_or_default())?;
        }
        let since = self.now();
        self.console.watches.push(ConsoleWatch {
            role: role.to_string(),
            never: never.to_string(),
            since_step: self.step.0,
            since,
            when: when.cloned(),
            tally: Tally::default(),
            outside: 0,
        });
        Ok(())
    }

    /// Ends console watches (all, or `role`'s) with their verdict.
    pub(super) fn close_console_watches(&mut self, role: Option<&str>) -> Result<(), Stop> {
        self.poll_console()?;
        let (done, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.console.watches)
            .into_iter()
            .partition(|w| role.is_none_or(|r| r == w.role));
        self.console.watches = kept;
        for w in done {
            let window = format!(
                "steps {}-{}, {}",
                w.since_step,
                self.step.0,
                units::format_duration(self.now().saturating_sub(w.since))
            );
            if let Some(stop) = w
                .when
                .as_ref()
                .and_then(|c| self.unexercised(&w.role, w.since_step, c, &w.tally))
            {
                return Err(stop);
            }
            // Positive control: the board is heard at the watch's end, so the events
            // it did not print were not lost on a link that died during it.
            if let Some(why) = self.unheard_at_end(&w.role)? {
                return Err(Stop::Error(format!(
                    "step {}: `watch {} never {}` over {window}: {why}, so a link that died during the watch would have passed it: it cannot be judged; ask the board something before the watch ends (`expect console locked`)",
                    w.since_step, w.role, w.never
                )));
            }
            let measured = match &w.when {
                Some(c) => format!(
                    "none while {c} ({}; {} readings), in {window}{}",
                    w.tally.describe(),
                    w.tally.judged,
                    match w.outside {
                        0 => String::new(),
                        n => format!("; {n} came while it did not hold"),
                    }
                ),
                None => format!("none in {window}"),
            };
            let m = self.measurement(&w.role, expectation(&w), measured, true);
            self.record(m);
        }
        Ok(())
    }

    /// `send console WORDS... [expecting REPLY | REPLY...]`
    pub(super) fn send(
        &mut self,
        role: &str,
        words: &[Word],
        expecting: Option<&str>,
    ) -> Result<(), Stop> {
        let mut line = Vec::new();
        for w in words {
            line.push(match w {
                Word::Text(t) => t.clone(),
                Word::Secret(name) => self
                    .ctx
                    .secrets
                    .get(name)
                    .ok_or_else(|| {
                        Stop::Error(format!(
                            "step {}: the rig defines no secret `{name}` (it has: {}); add it to the rig file's [secrets]",
                            self.step.0,
                            self.ctx.secrets.names().join(", ")
                        ))
                    })?
                    .to_string(),
            });
        }
        let line = line.join(" ");
        self.note(format!("sent: {line}"));
        self.stimulus();
        self.sent = Some((self.step.0, self.now()));
        let reply = self.bench.console_command(role, &line)?;
        self.answered();
        let reply = self.ctx.secrets.redact(&reply);
        let Some(expecting) = expecting else {
            self.note(format!("reply: {reply}"));
            return Ok(());
        };
        let pass = expecting.split(" | ").any(|e| e.trim() == reply);
        let m = self.measurement(
            role,
            format!("reply {expecting}"),
            format!("reply {reply}"),
            pass,
        );
        self.record(m);
        if pass {
            Ok(())
        } else {
            Err(self.fail(
                role,
                format!("expected the reply {expecting}, measured {reply}"),
            ))
        }
    }

    /// `expect console ready within TIME`: the board answers within TIME of the stimulus.
    pub(super) fn console_ready(&mut self, role: &str, within: Duration) -> Result<(), Stop> {
        let (from, from_step) = self.stimulus;
        let deadline = from + within;
        let mut asked: Option<Duration> = None;
        loop {
            self.poll_console()?;
            let now = self.now();
            let booted = self
                .console
                .seen
                .iter()
                .any(|s| s.event && s.at >= from && s.text.starts_with("BOOT"));
            // Ask a board that printed a boot line, or one no supply step has touched;
            // a board that is coming up says so first, which spares waiting out a
            // timeout for each silent ask.
            let due = asked.is_none_or(|t| now.saturating_sub(t) >= READY_RETRY);
            let last_chance = now >= deadline;
            if due && (booted || !self.console.maybe_down || last_chance) {
                asked = Some(now);
                if let Some(uptime) = self.bench.console_probe(role)? {
                    self.answered();
                    let now = self.now();
                    let since = now.saturating_sub(from);
                    // When it became ready: never down (its clock ran through the
                    // stimulus), or when its firmware printed the boot line, or now.
                    let boot = self
                        .console
                        .seen
                        .iter()
                        .find(|s| s.event && s.at >= from && s.text.starts_with("BOOT"))
                        .map(|s| s.at);
                    let (t, how) = if Duration::from_millis(uptime) >= since {
                        (
                            Duration::ZERO,
                            format!("it kept running (uptime {uptime} ms)"),
                        )
                    } else if let Some(at) = boot {
                        (
                            at.saturating_sub(from),
                            "placed by its boot line".to_string(),
                        )
                    } else {
                        (
                            since,
                            format!(
                                "when it first answered, resolution {}",
                                units::format_duration(READY_RETRY)
                            ),
                        )
                    };
                    let pass = t <= within;
                    let measured = format!(
                        "ready {} after step {from_step} ({how})",
                        units::format_duration(t)
                    );
                    let expected = format!("ready within {}", units::format_duration(within));
                    let mut m = self.measurement(role, expected.clone(), measured.clone(), pass);
                    m.value = Some(ms(t));
                    m.unit = Some("ms".into());
                    m.high = Some(ms(within));
                    self.record(m);
                    return if pass {
                        Ok(())
                    } else {
                        Err(self.fail(
                            role,
                            format!("expected {role} {expected}, measured {measured}"),
                        ))
                    };
                }
            }
            if last_chance {
                let expected = format!("ready within {}", units::format_duration(within));
                let measured = format!(
                    "no answer {} after step {from_step}{}",
                    units::format_duration(now.saturating_sub(from)),
                    if booted {
                        " (it printed a boot line)"
                    } else {
                        ""
                    }
                );
                return Err(self.silence(role, from, ("", &expected), measured, true));
            }
            self.tick((deadline - now).min(self.ctx.poll))?;
        }
    }

    /// `wait FRACTION of console FROM to TO`: until `fraction` times the time the
    /// board took from its last FROM event to its last TO event has passed since TO,
    /// a moment the board does not report, timed by its own rate. The two events'
    /// times must be known to a tenth of the span between them, the moment must not
    /// have passed when the step begins, and the board must not report the next
    /// stage of the same process (an event with TO's first word) before it: its rate
    /// changed, and the moment cannot be told. Each is a rig error.
    pub(super) fn wait_rate(
        &mut self,
        role: &str,
        fraction: f64,
        from: &str,
        to: &str,
    ) -> Result<(), Stop> {
        self.poll_console()?;
        let cannot = |run: &Self, why: String| {
            Stop::Error(format!(
                "step {} `{}`: {why}: the moment cannot be timed",
                run.step.0, run.step.1
            ))
        };
        let last = |seen: &[Seen], text: &str| {
            seen.iter()
                .rposition(|s| s.event && s.text.starts_with(text))
        };
        let Some(j) = last(&self.console.seen, to) else {
            return Err(cannot(
                self,
                format!("the board printed no {to} event in this check to count from"),
            ));
        };
        let Some(i) = last(&self.console.seen[..j], from) else {
            return Err(cannot(
                self,
                format!("the board printed no {from} event before its {to}"),
            ));
        };
        let (a, b) = (&self.console.seen[i], &self.console.seen[j]);
        let span = b.at.saturating_sub(a.at);
        let unsure = (a.at - a.from) + (b.at - b.from);
        if span.is_zero() || unsure * 10 > span {
            return Err(cannot(
                self,
                format!(
                    "the {} from {from} to {to} is known only to within {} ({}, {}), a tenth of it or more; fix the board's clock",
                    units::format_duration(span),
                    units::format_duration(unsure),
                    a.placed.how(),
                    b.placed.how()
                ),
            ));
        }
        let (after, to_at) = (span.mul_f64(fraction), b.at);
        let until = to_at + after;
        let now = self.now();
        if now > until {
            return Err(cannot(
                self,
                format!(
                    "{fraction} of the {} from {from} to {to} came {} after {to}, {} before this step began; put the step right after the one that expects {to}",
                    units::format_duration(span),
                    units::format_duration(after),
                    units::format_duration(now - until)
                ),
            ));
        }
        self.note(format!(
            "{role}: {from} to {to} took {}; {fraction} of it after {to} is {} from now",
            units::format_duration(span),
            units::format_duration(until - now)
        ));
        let process = to.split_whitespace().next().unwrap_or(to);
        self.hold(until - now)?;
        self.poll_console()?;
        if let Some(s) = self.console.seen[j + 1..]
            .iter()
            .find(|s| s.event && s.text.split_whitespace().next() == Some(process))
        {
            return Err(cannot(
                self,
                format!(
                    "the board printed EVT {} {} after {to}, before the moment its rate gave ({}): the rate changed",
                    s.text,
                    units::format_duration(s.at.saturating_sub(to_at)),
                    units::format_duration(after)
                ),
            ));
        }
        Ok(())
    }

    /// `expect console event EVENT within TIME`: printed within TIME of the stimulus.
    pub(super) fn console_event(
        &mut self,
        role: &str,
        event: &str,
        within: Duration,
    ) -> Result<(), Stop> {
        let (from, from_step) = self.stimulus;
        let deadline = from + within;
        let expected = format!("{event} within {}", units::format_duration(within));
        loop {
            self.poll_console()?;
            // Certainly printed in the window: its whole span lies in it.
            let found = self
                .console
                .seen
                .iter()
                .find(|s| {
                    s.event && s.from >= from && s.at <= deadline && s.text.starts_with(event)
                })
                .cloned();
            if let Some(s) = found {
                let t = s.at.saturating_sub(from);
                let when = if s.placed == Placed::Uptime {
                    format!("{} after step {from_step}", units::format_duration(t))
                } else {
                    format!(
                        "{}-{} after step {from_step} ({})",
                        units::format_duration(s.from.saturating_sub(from)),
                        units::format_duration(t),
                        s.placed.how()
                    )
                };
                let m = self.measurement(role, expected, format!("EVT {} {when}", s.text), true);
                self.record(m);
                return Ok(());
            }
            let now = self.now();
            if now >= deadline {
                // One that may have come in the window, or may not: its span reaches
                // outside it. Never a verdict on a guessed time.
                let maybe = self
                    .console
                    .seen
                    .iter()
                    .find(|s| {
                        s.event && s.at >= from && s.from <= deadline && s.text.starts_with(event)
                    })
                    .cloned();
                if let Some(s) = maybe {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: EVT {} came some time from {} to {} after step {from_step} ({}), which reaches outside the {} expected: it cannot be judged; fix the board's clock",
                        self.step.0,
                        self.step.1,
                        s.text,
                        units::format_duration(s.from.saturating_sub(from)),
                        units::format_duration(s.at.saturating_sub(from)),
                        s.placed.how(),
                        units::format_duration(within)
                    )));
                }
                let measured = format!(
                    "no {event} event {} after step {from_step}",
                    units::format_duration(now.saturating_sub(from))
                );
                return Err(self.silence(role, from, ("event ", &expected), measured, false));
            }
            self.tick((deadline - now).min(self.ctx.poll))?;
        }
    }

    /// `expect console event EVENT at VOLTS +- VOLTS`: the next such event (after the
    /// last one matched this way) came with the rail within the tolerance.
    pub(super) fn console_event_at(
        &mut self,
        role: &str,
        event: &str,
        at: Volts,
        tolerance: Volts,
    ) -> Result<(), Stop> {
        self.poll_console()?;
        let expected = format!("{event} at {at} +- {tolerance}");
        // One that came, while the rail was traced, before the event an earlier
        // expectation matched came out of order (a last warning before the first).
        let early = self
            .console
            .passed
            .iter()
            .map(|&k| &self.console.seen[k])
            .filter(|s| s.text.starts_with(event))
            .find_map(|s| self.rail_over(s).map(|r| (s.clone(), r)));
        if let Some((s, (lo, hi, _))) = early {
            let rail = if hi - lo < 5e-4 {
                format!(" with the rail at {}", Volts(lo))
            } else {
                format!(" with the rail between {} and {}", Volts(lo), Volts(hi))
            };
            let measured = format!("EVT {} came earlier, out of order{rail}", s.text);
            let m = self.measurement(role, expected.clone(), measured.clone(), false);
            self.record(m);
            return Err(self.fail(
                role,
                format!("expected {role} event {expected}, measured {measured}"),
            ));
        }
        let found = self
            .console
            .seen
            .iter()
            .enumerate()
            .skip(self.console.matched)
            .find(|(_, s)| s.event && s.text.starts_with(event))
            .map(|(i, s)| (i, s.clone()));
        let Some((i, s)) = found else {
            let earlier = self.console.seen[..self.console.matched.min(self.console.seen.len())]
                .iter()
                .find(|s| s.event && s.text.starts_with(event))
                .map(|s| match self.rail_over(s) {
                    Some((lo, _, _)) => {
                        format!(" (one came earlier, out of order, at {})", Volts(lo))
                    }
                    None => " (one came earlier, out of order)".into(),
                })
                .unwrap_or_default();
            let measured = format!("no {event} event{earlier}");
            let start = self.start;
            return Err(self.silence(role, start, ("event ", &expected), measured, false));
        };
        let over = (self.console.matched..i).filter(|&k| self.console.seen[k].event);
        self.console.passed.extend(over);
        self.console.matched = i + 1;
        let Some((lo, hi, v)) = self.rail_over(&s) else {
            return Err(Stop::Error(format!(
                "step {} `{}`: the rail was not traced all through the time {event} may have come in, so its voltage then is unknown; put the step after a ramp on a supply with a meter on its line, that lasts past the event",
                self.step.0, self.step.1
            )));
        };
        let (low, high) = (at.0 - tolerance.0, at.0 + tolerance.0);
        // The rail over the time the event may have come in, from the reading before
        // it to the reading after: within the tolerance all along, or out of it all
        // along; else the event cannot be judged.
        let pass = lo >= low && hi <= high;
        let certain = pass || hi < low || lo > high;
        let rail = if hi - lo < 5e-4 {
            format!("at {}", Volts(v))
        } else if s.placed == Placed::Uptime {
            format!(
                "between {} and {} (the readings either side of it)",
                Volts(lo),
                Volts(hi)
            )
        } else {
            format!(
                "between {} and {} over the {} it may have come in",
                Volts(lo),
                Volts(hi),
                units::format_duration(s.at - s.from)
            )
        };
        if !certain {
            let why = match s.placed {
                Placed::Uptime => "placed by the board's clock between two readings of the rail; read the rail more often (a shorter --poll)".to_string(),
                p => format!("{}; its time is known only to that span; fix the board's clock", p.how()),
            };
            return Err(Stop::Error(format!(
                "step {} `{}`: {event} came with the rail {rail} ({why}), across the edge of {expected}: it cannot be judged; or ramp slower",
                self.step.0, self.step.1
            )));
        }
        let measured = format!("EVT {} with the rail {rail}", s.text);
        let mut m = self.measurement(role, expected.clone(), measured.clone(), pass);
        m.value = Some(v);
        m.unit = Some(Volts::UNIT.into());
        m.low = Some(low);
        m.high = Some(high);
        self.record(m);
        if pass {
            Ok(())
        } else {
            Err(self.fail(
                role,
                format!("expected {role} event {expected}, measured {measured}"),
            ))
        }
    }
}

impl Run<'_> {
    /// The board answered: it is up, and its console link works both ways.
    pub(super) fn answered(&mut self) {
        self.console.maybe_down = false;
        self.console.heard = Some((self.now(), self.step.0));
        self.console.answered = self.console.heard;
    }

    /// Why the board cannot be shown to be heard now, at the end of a console watch:
    /// `None` when it was heard at this moment, or answers when asked (unless a supply
    /// changed since it last answered, which may have put it down).
    fn unheard_at_end(&mut self, role: &str) -> Result<Option<String>, Stop> {
        let end = self.now();
        if self.console.heard.is_some_and(|(at, _)| at >= end) {
            return Ok(None);
        }
        let last = match self.console.heard {
            Some((_, step)) => format!("it was last heard at step {step}"),
            None => "it was never heard in this check".into(),
        };
        if self.console.maybe_down {
            return Ok(Some(format!(
                "{last}, and a supply changed since, so it may be down and is not asked"
            )));
        }
        if self.bench.console_probe(role)?.is_some() {
            self.answered();
            return Ok(None);
        }
        Ok(Some(format!(
            "{last}, and it did not answer when asked at the end"
        )))
    }

    /// The verdict on a board that has not said, by now, what it had to say since
    /// `from`: its failure when it has been heard in this check (and the measurement
    /// says since when it is silent), but a rig error when it never was, since a board
    /// that never came up and a dead console link (a loose wire, the wrong port or
    /// baud rate) look the same. `expected` is the expectation's kind (`event ` or
    /// nothing) and its text; `reply` says an answer was expected, which needs the
    /// link proven both ways (a board heard printing whose commands are lost on the
    /// way, a loose RX wire, looks like one that does not answer).
    fn silence(
        &mut self,
        role: &str,
        from: Duration,
        (kind, expected): (&str, &str),
        measured: String,
        reply: bool,
    ) -> Stop {
        let proof = if reply {
            self.console.answered
        } else {
            self.console.heard
        };
        let Some((at, step)) = proof else {
            let what = if reply {
                "no command to it has been answered in this check, and a board that never came up (or never answers) cannot be told from a console link that loses its commands"
            } else {
                "nothing has come from it in this check, and a board that never came up cannot be told from a dead console link"
            };
            return Stop::Error(format!(
                "step {} `{}`: expected {role} {kind}{expected}, measured {measured}; on role `{role}`, instrument `{}`, {what}: it cannot be judged; check the link with the board powered (`lockrig ctl console STATE?`)",
                self.step.0,
                self.step.1,
                self.bench.console_instrument(role)
            ));
        };
        let since = format!(
            "it last answered at step {step}, {} earlier",
            units::format_duration(self.now().saturating_sub(at))
        );
        let measured = match self.second_look(role) {
            Err(why) => {
                return Stop::Error(format!(
                    "step {} `{}`: expected {role} {kind}{expected}, measured {measured}; {since}, but {why}",
                    self.step.0, self.step.1
                ))
            }
            Ok(None) if at < from => format!(
                "{measured}; {since} (a board that hung; a console link that failed since would look the same)"
            ),
            Ok(None) => measured,
            Ok(Some(found)) => format!("{measured}; {since}, and {found}"),
        };
        let m = self.measurement(role, expected.to_string(), measured.clone(), false);
        self.record(m);
        self.fail(
            role,
            format!("expected {role} {kind}{expected}, measured {measured}"),
        )
    }

    /// A board heard earlier in the check that has not said what it had to: is its
    /// console link still working? The console is asked first: when it answers, the
    /// link works and the board's failure stands (`Ok(Some)`, saying so). Otherwise
    /// the rig's debug probe is asked ([`Bench::second_path`](crate::rig::bench::Bench::second_path)):
    /// a firmware that answers on RTT means the console link failed (`Err`, the reason,
    /// for a rig error); anything else is what the probe found, for the failure's
    /// measurement (`Ok(None)`: there is no probe to ask).
    pub(super) fn second_look(&mut self, role: &str) -> Result<Option<String>, String> {
        if self.bench.console_probe(role).ok().flatten().is_some() {
            self.answered();
            return Ok(Some(
                "it answers its console now, so its console link works".into(),
            ));
        }
        let maybe_down = self.console.maybe_down;
        Ok(Some(match self.bench.second_path(role) {
            SecondPath::Absent => return Ok(None),
            SecondPath::Answered(reply) => {
                return Err(format!(
                    "through the debug probe its firmware runs and answers on RTT (`{reply}`): the console link of role `{role}` (instrument `{}`), or the firmware's console on it, failed, so it cannot be judged; check the link (`lockrig ctl console STATE?`)",
                    self.bench.console_instrument(role)
                ))
            }
            // A supply changed since it last answered: it may be down by design (a
            // battery lock past its cutoff), so this says nothing of its console link.
            SecondPath::NoAnswer(e) if maybe_down => format!(
                "its chip does not answer the debug probe either ({e}), but a supply changed since it last answered, so it may be down by design: a console link that failed before that would look the same"
            ),
            SecondPath::NoAnswer(e) => format!(
                "its chip does not answer the debug probe either ({e}): the board is unpowered, asleep or dead"
            ),
            SecondPath::LockedUp => "the debug probe finds its core locked up (no valid image to run, or a fault in its fault handler): the board hung".into(),
            SecondPath::Halted => {
                "the debug probe finds its core halted: the board does not run".into()
            }
            SecondPath::NoRtt(e) => format!(
                "the debug probe finds its core running but cannot ask it on RTT ({e}), so a firmware that hung in a loop and a console link that failed since look the same"
            ),
            SecondPath::Unanswered { heard, timeout } => format!(
                "the debug probe finds its core running, but it did not answer on RTT either within {} ({heard} other RTT lines): a firmware that hung, or one that takes no commands on RTT",
                units::format_duration(timeout)
            ),
        }))
    }

    /// The rail's lowest and highest readings over the time `seen` may have come in,
    /// from the last reading at or before its earliest time to the first at or after its
    /// latest, and the reading at or before its latest; `None` unless the rail was
    /// traced on both sides of it, and all through: not across the time between two
    /// traces (more than a poll and a half), when the rail did what nobody saw.
    fn rail_over(&self, seen: &Seen) -> Option<(f64, f64, f64)> {
        let first = self
            .rail
            .partition_point(|(t, _)| *t <= seen.from)
            .checked_sub(1)?;
        let last = self.rail.partition_point(|(t, _)| *t < seen.at);
        if last == self.rail.len() {
            return None;
        }
        let within = &self.rail[first..=last.max(first)];
        let (start, end) = (within[0].0, within[within.len() - 1].0);
        let widest = self.ctx.poll.mul_f64(1.5);
        if self
            .rail_unseen
            .iter()
            .any(|(a, b)| *b > start && *a < end && *b - *a > widest)
        {
            return None;
        }
        let lo = within.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
        let hi = within
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let at = self.rail[..self.rail.partition_point(|(t, _)| *t <= seen.at)]
            .last()
            .map_or(lo, |(_, v)| *v);
        Some((lo, hi, at))
    }
}

/// What a console watch expects, for its verdict.
fn expectation(w: &ConsoleWatch) -> String {
    match &w.when {
        Some(c) => format!("no {} event while {c}, from step {}", w.never, w.since_step),
        None => format!("no {} event, from step {}", w.never, w.since_step),
    }
}
