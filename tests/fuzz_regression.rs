//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) and the inputs that once
//! crashed a target (`fuzz/regressions/<target>/`) through the same calls as the
//! cargo-fuzz targets in `fuzz/fuzz_targets/`, on stable, under plain `cargo test`.
//!
//! The calls live in [`harness`] below, and the fuzz targets include this very file
//! (`#[path = "../../tests/fuzz_regression.rs"]`) and call the same functions, so a
//! target and its regression test cannot drift apart.

/// What each fuzz target does with one input. Errors are expected; a panic is a bug.
pub mod harness {
    use std::io::{self, Read, Write};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use lockrig::config::device::DeviceProfile;
    use lockrig::config::rig::Rig;
    use lockrig::config::{ConfigError, Source};
    use lockrig::drivers::console::LockConsole;
    use lockrig::drivers::i2cdriver::{I2cDriver, Speed, Status};
    use lockrig::drivers::ina219::Ina219;
    use lockrig::drivers::korad_ka3005p::Ka3005p;
    use lockrig::drivers::lcus::{self, Lcus};
    use lockrig::drivers::modbus_relay::ModbusRelay;
    use lockrig::drivers::numato::NumatoGpio;
    use lockrig::drivers::riden_rd60xx::Rd60xx;
    use lockrig::drivers::scpi_supply::{self, session as scpi, ScpiSupply};
    use lockrig::scenario::step;
    use lockrig::scenario::suite::Suite;
    use lockrig::schedule::Schedule;
    use lockrig::transport::{LineIo, Transport};

    /// What a target does with one input.
    pub type Run = fn(&[u8]);

    /// The fuzz targets, by name: each one's corpus is `fuzz/corpus/<name>/`.
    pub const TARGETS: &[(&str, Run)] = &[
        ("rig_file", rig_file),
        ("device_profile", device_profile),
        ("suite_file", suite_file),
        ("step", step),
        ("instrument_replies", instrument_replies),
        ("door_schedule", door_schedule),
        ("manifest", manifest),
        ("results_lines", results_lines),
        ("trace_file", trace_file),
        ("modbus_frames", modbus_frames),
        ("console_dialect", console_dialect),
        ("answers_per_command", answers_per_command),
    ];

    /// The input as text, the way a config loader would see a file (lossy UTF-8).
    fn text(data: &[u8]) -> String {
        String::from_utf8_lossy(data).into_owned()
    }

    /// `manifest`: a run directory's `MANIFEST.sha256`. Every path it accepts must stay
    /// inside the directory.
    pub fn manifest(data: &[u8]) {
        for e in lockrig::report::manifest::parse(data).into_iter().flatten() {
            assert!(!e.path.starts_with('/'), "absolute path accepted: {e:?}");
            assert!(
                e.path
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != ".."),
                "path leaving the directory accepted: {e:?}"
            );
            assert_eq!(e.digest.len(), 64, "{e:?}");
        }
    }

    /// `results_lines`: a `results.jsonl` as `lockrig report` reads it back. Whatever
    /// the lines say, the page carries no markup of theirs: no script element, and no
    /// event-handler attribute in any tag (attribute values, where input may land,
    /// are skipped: their quotes are escaped, so input cannot close them).
    pub fn results_lines(data: &[u8]) {
        let facts = lockrig::report::html::Facts::default();
        let page = lockrig::report::html::render_page(data, None, None, &facts)
            .expect("reading from memory cannot fail");
        assert_inert(&page);
        // Read back as `run --resume` reads them: each result goes into the JUnit
        // report again, and a trace it names is removed only inside `traces/`.
        let junit = lockrig::report::junit::RunFacts {
            suite: "s".into(),
            rig: "r".into(),
            seed: 1,
            poll: Duration::from_millis(10),
            run_dir: "/run".into(),
        };
        for line in data.split(|b| *b == b'\n') {
            let Some(result) = lockrig::report::resume::parse(line) else {
                continue;
            };
            let _ = lockrig::report::junit::testcase(&junit, &result);
            if let Some(name) = result
                .trace
                .as_deref()
                .and_then(lockrig::report::resume::trace_file)
            {
                assert!(
                    !name.contains('/') && !name.starts_with('.') && !name.is_empty(),
                    "a trace outside traces/ would be removed: {name:?}"
                );
            }
        }
    }

    /// `trace_file`: a failed trial's `traces/*.csv` as `lockrig report` plots it. Whatever
    /// the file holds, the page is drawn and carries no markup of it.
    pub fn trace_file(data: &[u8]) {
        let dir = tempfile::tempdir().expect("a temporary run directory");
        let result = r#"{"schema":2,"trial":"brownout::x::d","check":"brownout::x","device":"d","outcome":{"verdict":"fail","message":"m","measurements":[],"log":[]},"trace":"traces/brownout.x.d.csv"}"#;
        std::fs::write(dir.path().join("results.jsonl"), format!("{result}\n")).unwrap();
        std::fs::create_dir(dir.path().join("traces")).unwrap();
        std::fs::write(dir.path().join("traces/brownout.x.d.csv"), data).unwrap();
        let facts = lockrig::report::html::Facts::default();
        let page = lockrig::report::html::render_dir(dir.path(), &facts)
            .expect("a run directory with a results file renders");
        assert!(
            page.contains("traces/brownout.x.d.csv"),
            "the failure names its trace"
        );
        assert_inert(&page);
    }

    /// No script element, and no event-handler attribute in any tag (attribute values,
    /// where input may land, are skipped: their quotes are escaped, so input cannot
    /// close them).
    fn assert_inert(page: &str) {
        let lower = page.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "script in the page");
        let mut rest = lower.as_str();
        while let Some(open) = rest.find('<') {
            let tag_end = rest[open..].find('>').map_or(rest.len(), |i| open + i);
            let tag = &rest[open..tag_end];
            // The tag with its quoted values taken out.
            let bare: String = tag.split('"').step_by(2).collect();
            assert!(
                !bare
                    .split(|c: char| c.is_ascii_whitespace() || c == '/')
                    .any(|word| word.starts_with("on") && word.contains('=')),
                "event handler in {tag}"
            );
            rest = &rest[tag_end..];
        }
    }

    /// `rig_file`: a rig file.
    pub fn rig_file(data: &[u8]) {
        let _ = Rig::from_source(Source::builtin("fuzz.toml", &text(data)));
    }

    /// `device_profile`: a device profile.
    pub fn device_profile(data: &[u8]) {
        let _ = DeviceProfile::from_source(&Source::builtin("fuzz.toml", &text(data)));
    }

    /// The built-in device profiles, loaded once: they are the same for every input.
    fn builtin_devices() -> &'static [DeviceProfile] {
        static DEVICES: OnceLock<Vec<DeviceProfile>> = OnceLock::new();
        DEVICES.get_or_init(|| DeviceProfile::builtin_all().expect("built-in profiles load"))
    }

    /// `suite_file`: a suite, with every check resolved against every built-in profile.
    pub fn suite_file(data: &[u8]) {
        let devices = builtin_devices();
        if let Ok(suite) = Suite::from_source(Source::builtin("fuzz.toml", &text(data))) {
            for check in &suite.checks {
                for device in devices {
                    let _ = suite.resolve(check, device);
                }
            }
        }
    }

    /// `door_schedule`: a door hardware schedule, planned against the default suite and
    /// printed. Profiles are looked up among the built-ins only, so a fuzzed path never
    /// makes the target read a file (`/dev/zero.toml`).
    pub fn door_schedule(data: &[u8]) {
        static SUITE: OnceLock<Suite> = OnceLock::new();
        let suite = SUITE.get_or_init(|| {
            Suite::load(lockrig::scenario::suite::DEFAULT).expect("the default suite loads")
        });
        let builtin = |name: &str| {
            builtin_devices()
                .iter()
                .find(|d| d.name == name)
                .cloned()
                .ok_or_else(|| ConfigError::UnknownName {
                    kind: "device profile",
                    name: name.to_string(),
                    known: "the built-ins".to_string(),
                })
        };
        let source = Source::builtin("fuzz.toml", &text(data));
        if let Ok(schedule) = Schedule::from_source_with(source, builtin) {
            let _ = schedule.plan(suite).to_string();
        }
    }

    /// `step`: one step string; an error must point inside the text.
    pub fn step(data: &[u8]) {
        let text = text(data);
        if let Err(e) = step::parse(&text) {
            assert!(
                e.offset <= text.len() && text.is_char_boundary(e.offset),
                "step error offset {} is not a character boundary within {:?} ({} bytes)",
                e.offset,
                text,
                text.len()
            );
        }
    }

    /// `instrument_replies`: the input is everything the instrument says, fed to each
    /// driver in turn through an in-memory transport.
    pub fn instrument_replies(data: &[u8]) {
        for dialect in scpi_supply::DIALECTS {
            if let Ok(mut psu) = ScpiSupply::open(line_io(data), dialect) {
                let _ = psu.set_voltage(1, 12.0);
                let _ = psu.measure_voltage(1);
                let _ = psu.output(1);
                let _ = psu.tripped(1);
            }
        }
        if let Ok(psu) = Ka3005p::open(line_io(data)) {
            let mut psu = psu.with_gap(Duration::ZERO);
            let _ = psu.set_voltage(12.0);
            let _ = psu.measure_voltage();
            let _ = psu.output();
        }
        if let Ok(mut relays) = Lcus::open(line_io(data), 4) {
            let _ = relays.states();
        }
        if let Ok(mut gpio) = NumatoGpio::open(line_io(data)) {
            let _ = gpio.read(0);
        }
        let mut console = LockConsole::open(line_io(data));
        let _ = console.state();
        let _ = console.version();
        let adapter = Box::new(Replies {
            data: data.to_vec(),
            at: 0,
        });
        if let Ok(bus) = I2cDriver::open(adapter, Duration::from_secs(5), Speed::Fast) {
            if let Ok(mut meter) = Ina219::open(bus, 0x40, 0.1, 2.0) {
                let _ = meter.bus_voltage();
                let _ = meter.current();
            }
        }

        let text = text(data);
        let _ = scpi::parse_error(&text);
        for channel in 0..=8 {
            let _ = lcus::parse_state_line(&text, channel);
        }
    }

    /// `answers_per_command`: the input as one answer per command, `length, bytes...`
    /// each, for the instruments whose replies are fixed-width or binary: the Excamera
    /// I2CDriver (echo byte, 80-character status line, status bytes, register bytes of
    /// the INA219 behind it) and the Korad KA3005P (fixed-width replies that end with
    /// no terminator). When the first byte is odd the answers of a healthy instrument's
    /// identification come first, so the fuzzer reaches the replies past `open`.
    pub fn answers_per_command(data: &[u8]) {
        let Some((mode, rest)) = data.split_first() else {
            return;
        };
        let identified = mode % 2 == 1;
        let mut answers = Vec::new();
        let mut rest = rest;
        while let Some((&n, tail)) = rest.split_first() {
            let (answer, next) = tail.split_at(usize::from(n).min(tail.len()));
            answers.push(answer.to_vec());
            rest = next;
        }
        let conversation = |opening: Vec<Vec<u8>>| {
            let mut all = if identified { opening } else { Vec::new() };
            all.extend(answers.iter().cloned());
            Box::new(Conversation {
                answers: all.into(),
                current: Vec::new(),
            })
        };

        let status = |khz: u32| {
            format!(
                "[i2cdriver1 DO01JUOO 000000061 4.971 000 23.8 I 1 1 {khz} 24 ffff{:33}]",
                ""
            )
            .into_bytes()
        };
        // `i`, `e 0x55`, `?`, `4`, `x`, `?`: I2C mode, echo, status, 400 kHz, bus reset.
        let opening = vec![
            vec![],
            vec![0x55],
            status(100),
            vec![],
            vec![0b11],
            status(400),
        ];
        if let Ok(mut bus) =
            I2cDriver::open(conversation(opening), Duration::from_secs(5), Speed::Fast)
        {
            let _ = bus.read_status();
            if let Ok(mut meter) = Ina219::open(bus, 0x40, 0.1, 2.0) {
                let _ = meter.bus_voltage();
                let _ = meter.current();
                let _ = meter.set_averaging(8);
                let _ = meter.next_reading();
            }
        }

        let opening = vec![b"KORAD KA3005P V5.8 SN:03379314".to_vec()];
        let io = LineIo::new(conversation(opening), Duration::from_secs(5));
        if let Ok(psu) = Ka3005p::open(io) {
            let mut psu = psu.with_gap(Duration::ZERO);
            let _ = psu.set_voltage(12.0);
            let _ = psu.set_current(0.5);
            let _ = psu.measure_voltage();
            let _ = psu.measure_current();
            let _ = psu.output();
            let _ = psu.status();
            let _ = psu.set_protection(true, true);
        }

        for answer in &answers {
            let _ = Status::parse(&String::from_utf8_lossy(answer));
        }
    }

    /// `console_dialect`: the input as a dialect file (a rig's patterns), and each of its
    /// lines as what a board prints, heard through that dialect when it loads and
    /// through the built-in ones, and sent as a command.
    pub fn console_dialect(data: &[u8]) {
        use lockrig::config::dialect;
        use lockrig::drivers::console::{Dialect, Heard};
        // The built-in dialects compile once per process: their patterns are the slow
        // part of an input, not what is being fuzzed.
        static BUILT_IN: OnceLock<Vec<Arc<Dialect>>> = OnceLock::new();
        let built_in = BUILT_IN.get_or_init(|| {
            let mut all = vec![Arc::new(Dialect::lockrig())];
            all.extend(
                dialect::BUILTIN
                    .iter()
                    .map(|(name, _)| dialect::load(name).unwrap().dialect),
            );
            all
        });
        let text = text(data);
        let mut dialects = built_in.clone();
        if let Ok(d) = dialect::parse(&Source::builtin("d.toml", &text)) {
            dialects.push(Arc::new(d));
        }
        for d in &dialects {
            for line in text.lines() {
                if let Heard::Event(e) = d.hear(line) {
                    assert!(!e.text.contains('\n'), "an event spans lines: {e:?}");
                }
                let _ = d.command(line);
            }
        }
    }

    /// `modbus_frames`: Modbus RTU both ways. The drivers (Riden, relay board) read the
    /// input as the slave's answers: raw when the first byte is even, else as frames of
    /// `length, PDU...` to which slave 1's address and a valid CRC are added, so the
    /// fuzzer reaches past the CRC into the responses' contents. The emulators read it
    /// as a master's requests, as a third-party client on a served bench sends them.
    pub fn modbus_frames(data: &[u8]) {
        let answers = match data.split_first() {
            Some((mode, rest)) if mode % 2 == 1 => {
                let mut out = Vec::new();
                let mut rest = rest;
                while let Some((&n, tail)) = rest.split_first() {
                    let n = usize::from(n).min(tail.len());
                    let (pdu, next) = tail.split_at(n);
                    out.extend(lockrig::sim::modbus::with_crc([&[1u8][..], pdu].concat()));
                    rest = next;
                }
                out
            }
            _ => data.to_vec(),
        };
        let replies = || {
            Box::new(Replies {
                data: answers.clone(),
                at: 0,
            })
        };
        let timeout = Duration::from_millis(50);
        if let Ok(mut psu) = Rd60xx::open(replies(), 1, timeout) {
            let _ = psu.set_voltage(12.0);
            let _ = psu.measure();
            let _ = psu.set_output(true);
            let _ = psu.clear_protection();
        }
        if let Ok(mut board) = ModbusRelay::open(replies(), 1, 0, 8, timeout) {
            let _ = board.set(3, true);
            let _ = board.states();
        }
        let sim = sim_bench();
        for name in ["rd6006", "modbus-relays"] {
            let mut link = sim.connect(name).expect("a simulated Modbus device");
            let _ = link.write(data);
            let mut buf = [0u8; 512];
            while let Ok(n) = link.read_available(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    }

    /// A simulated bench in virtual time, built once per process.
    fn sim_bench() -> &'static lockrig::sim::SimBench {
        static SIM: OnceLock<lockrig::sim::SimBench> = OnceLock::new();
        SIM.get_or_init(|| {
            lockrig::sim::SimBench::start(
                &DeviceProfile::load("maglock_12v").unwrap(),
                &lockrig::sim::SimOptions::default(),
                lockrig::sim::TimeMode::Virtual,
            )
            .unwrap()
        })
    }

    /// A line transport whose instrument says `data` and then nothing more.
    ///
    /// The transport never blocks, so the reply timeout only matters as a wall-clock
    /// deadline inside [`LineIo`]; it is long enough that a slow (instrumented or loaded)
    /// run still parses the whole input, which keeps runs reproducible.
    fn line_io(data: &[u8]) -> LineIo {
        LineIo::new(
            Box::new(Replies {
                data: data.to_vec(),
                at: 0,
            }),
            Duration::from_secs(5),
        )
    }

    /// The instrument's side of a conversation with one answer per command: each write
    /// makes the next answer readable (what was left of the last one is gone, as a
    /// driver that discards stale input would find); reading past it times out.
    struct Conversation {
        answers: std::collections::VecDeque<Vec<u8>>,
        current: Vec<u8>,
    }

    impl Read for Conversation {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.current.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
            }
            let n = self.current.len().min(buf.len());
            buf[..n].copy_from_slice(&self.current[..n]);
            self.current.drain(..n);
            Ok(n)
        }
    }

    impl Write for Conversation {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !buf.is_empty() {
                self.current = self.answers.pop_front().unwrap_or_default();
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Conversation {
        fn set_timeout(&mut self, _timeout: Duration) -> io::Result<()> {
            Ok(())
        }

        fn discard_input(&mut self) -> io::Result<()> {
            self.current.clear();
            Ok(())
        }

        fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "nothing has arrived",
                )),
                other => other,
            }
        }
    }

    /// The instrument's side of a conversation, from memory: `read` hands out the bytes
    /// and then times out; `write` discards. Stale-input discards keep the bytes, or a
    /// driver that discards before each query would never parse anything.
    struct Replies {
        data: Vec<u8>,
        at: usize,
    }

    impl Read for Replies {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let left = &self.data[self.at..];
            if left.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no more input"));
            }
            let n = left.len().min(buf.len());
            buf[..n].copy_from_slice(&left[..n]);
            self.at += n;
            Ok(n)
        }
    }

    impl Write for Replies {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for Replies {
        fn set_timeout(&mut self, _timeout: Duration) -> io::Result<()> {
            Ok(())
        }

        fn discard_input(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn read_available(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.read(buf)
        }
    }
}

#[cfg(test)]
mod replay {
    use std::path::{Path, PathBuf};

    use super::harness::{Run, TARGETS};

    /// The files of `fuzz/<kind>/<target>/`, sorted; `None` if the folder is missing.
    fn inputs(kind: &str, target: &str) -> Option<Vec<PathBuf>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .ok()?
            .map(|e| e.expect("readable corpus entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        Some(files)
    }

    /// Runs every file through `run`, returning the files that panicked.
    fn replay(files: &[PathBuf], run: Run) -> Vec<String> {
        files
            .iter()
            .filter_map(|path| {
                let data = std::fs::read(path).expect("readable corpus file");
                std::panic::catch_unwind(|| run(&data))
                    .err()
                    .map(|_| path.display().to_string())
            })
            .collect()
    }

    #[test]
    fn every_corpus_input_runs_without_panicking() {
        let mut failures = Vec::new();
        for (target, run) in TARGETS {
            let corpus = inputs("corpus", target)
                .unwrap_or_else(|| panic!("fuzz/corpus/{target}/ is missing"));
            assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ is empty");
            failures.extend(replay(&corpus, *run));
        }
        assert!(failures.is_empty(), "panicked on: {failures:#?}");
    }

    #[test]
    fn every_former_crash_runs_without_panicking() {
        let mut failures = Vec::new();
        for (target, run) in TARGETS {
            // Not every target has crashed; a target with no folder has nothing to replay.
            let crashes = inputs("regressions", target).unwrap_or_default();
            failures.extend(replay(&crashes, *run));
        }
        assert!(failures.is_empty(), "panicked on: {failures:#?}");
    }
}
