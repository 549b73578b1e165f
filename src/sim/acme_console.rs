//! The console of a fictional but typical third-party lock firmware, the "Acme SL-200"
//! 2.x: a Zephyr RTOS shell with Zephyr's log lines, on the board's UART at 115200 8N1.
//! It runs the same simulated board as lockrig's own console protocol (the physics and
//! the firmware's timers are the board's), and words everything its own way:
//!
//! | shell command | output |
//! |---|---|
//! | `app version` | `acme-sl200 <version>` |
//! | `lock state` | `Bolt: thrown` or `Bolt: retracted` |
//! | `kernel uptime` | `Uptime: <ms> ms` (as Zephyr's `kernel uptime`) |
//! | `mcuboot image` | `slot0: <version> confirmed` or `reverted` |
//! | `lock open <pin>` | `access granted` or `access denied` |
//! | `lock close` | `done` |
//! | `dfu start` | `dfu: started` or `dfu: not supported` |
//! | anything else | `<word>: command not found` |
//!
//! The shell echoes each command line after its prompt (`uart:~$ lock state`), which
//! echoes a PIN too. The firmware logs as Zephyr does, `[hh:mm:ss.mmm,uuu] <lvl>
//! module: message` with the uptime as the timestamp: `main: reset cause brownout`
//! (after a `*** Booting ... ***` banner and a Bluetooth log line), `lock: bolt
//! thrown`, `power: battery low (stage 1)`, `power: battery cutoff`, `power: emergency
//! supply detected`, `power: entering sleep`, `fire: alarm input active` / `cleared`,
//! `access: request to exit`, `dfu: receiving image`, `dfu: progress 25%`, `dfu:
//! complete`, `mcuboot: image reverted`.
//!
//! lockrig reaches it through the dialect file `fixtures/dialects/acme-sl200.toml`; this
//! emulator is written from the table above, not from that file.

use super::pty::{take_lines, Protocol};
use super::world::World;

/// The firmware's version string.
const VERSION: &str = "2.4.1";

/// The emulator.
#[derive(Default)]
pub struct AcmeConsoleSim {
    pending: Vec<u8>,
    /// Where it is in what the board printed.
    heard: Option<u64>,
}

/// Zephyr's log timestamp for an uptime in ms: `[00:00:01.234,000]`.
fn stamp(ms: u64) -> String {
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("[{h:02}:{m:02}:{s:02}.{milli:03},000]")
}

/// A log line of the firmware for one of the board's events (`EVT <ms> <event>`).
fn log_lines(event_line: &str) -> Vec<String> {
    let rest = event_line.strip_prefix("EVT ").unwrap_or(event_line);
    let (ms, event) = match rest.split_once(' ') {
        Some((ms, event)) if ms.bytes().all(|b| b.is_ascii_digit()) => {
            (ms.parse().unwrap_or(0), event)
        }
        _ => (0, rest),
    };
    let t = stamp(ms);
    let log = |level: &str, what: &str| format!("{t} <{level}> {what}");
    let words: Vec<&str> = event.split_whitespace().collect();
    match words.as_slice() {
        ["BOOT", cause] => {
            let cause = match *cause {
                "POR" => "poweron",
                "BOR" => "brownout",
                "WAKE" => "wakeup",
                "SWR" => "software",
                other => other,
            };
            vec![
                format!("*** Booting Acme SL-200 v{VERSION} - build 2026-10-02 ***"),
                log("inf", &format!("main: reset cause {cause}")),
                log("inf", "ble: advertising started"),
            ]
        }
        ["LOCKED"] => vec![log("inf", "lock: bolt thrown")],
        ["UNLOCKED"] => vec![log("inf", "lock: bolt retracted")],
        ["LOWBAT", stage] => vec![log("wrn", &format!("power: battery low (stage {stage})"))],
        ["CUTOFF"] => vec![log("err", "power: battery cutoff")],
        ["EMERGENCY"] => vec![log("inf", "power: emergency supply detected")],
        ["SLEEP"] => vec![log("inf", "power: entering sleep")],
        ["FIRE", "ALARM"] => vec![log("wrn", "fire: alarm input active")],
        ["FIRE", "NORMAL"] => vec![log("inf", "fire: alarm input cleared")],
        ["REX"] => vec![log("inf", "access: request to exit")],
        ["UPDATE", "START"] => vec![log("inf", "dfu: receiving image")],
        ["UPDATE", "DONE"] => vec![log("inf", "dfu: complete")],
        ["UPDATE", percent] => vec![log("inf", &format!("dfu: progress {percent}"))],
        ["IMAGE", "ROLLBACK"] => vec![log("wrn", "mcuboot: image reverted")],
        _ => vec![log("inf", &format!("app: {event}"))],
    }
}

/// How the shell words the board's reply to one command.
type Wording = fn(&str) -> String;

/// The board command for a shell command line, and how to word its reply; `Err` with
/// the shell's own answer for a command it does not have.
fn command(line: &str) -> Result<(String, Wording), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    Ok(match words.as_slice() {
        ["app", "version"] => ("VER?".into(), |r| {
            format!("acme-sl200 {}", r.trim_start_matches("VER "))
        }),
        ["lock", "state"] => ("STATE?".into(), |r| match r {
            "STATE LOCKED" => "Bolt: thrown".into(),
            "STATE UNLOCKED" => "Bolt: retracted".into(),
            other => format!("error: {other}"),
        }),
        ["kernel", "uptime"] => ("UPTIME?".into(), |r| {
            format!("Uptime: {} ms", r.trim_start_matches("UPTIME "))
        }),
        ["mcuboot", "image"] => ("IMAGE?".into(), |r| {
            let r = r.trim_start_matches("IMAGE ");
            match r.rsplit_once(' ') {
                Some((v, "VALID")) => format!("slot0: {v} confirmed"),
                Some((v, "ROLLBACK")) => format!("slot0: {v} reverted"),
                _ => format!("error: {r}"),
            }
        }),
        ["lock", "open", pin] => (format!("UNLOCK {pin}"), |r| match r {
            "OK" => "access granted".into(),
            "DENIED" => "access denied".into(),
            other => format!("error: {other}"),
        }),
        ["lock", "close"] => ("LOCK".into(), |r| {
            if r == "OK" {
                "done".into()
            } else {
                format!("error: {r}")
            }
        }),
        ["dfu", "start"] => ("UPDATE START".into(), |r| match r {
            "OK" => "dfu: started".into(),
            "ERR UNSUPPORTED" => "dfu: not supported".into(),
            other => format!("error: {other}"),
        }),
        [first, ..] => return Err(format!("{first}: command not found")),
        [] => return Err(String::new()),
    })
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl Protocol for AcmeConsoleSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let lines = take_lines(&mut self.pending, bytes, b"\r\n");
        if self.heard.is_none() {
            // Attached now: what the board printed before is not on this wire.
            world.console_output(&mut self.heard);
        }
        if !world.board.console_alive() {
            return Vec::new();
        }
        let mut out = self.idle(world);
        for line in lines {
            push_line(&mut out, &format!("uart:~$ {line}"));
            match command(&line) {
                Ok((ours, word)) => {
                    let Some(reply) = world.console_command(&ours) else {
                        continue;
                    };
                    out.extend(self.idle(world));
                    push_line(&mut out, &word(&reply));
                }
                Err(answer) if !answer.is_empty() => push_line(&mut out, &answer),
                Err(_) => {}
            }
        }
        out
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        for line in world.console_output(&mut self.heard) {
            for log in log_lines(&line) {
                push_line(&mut out, &log);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_logged_the_zephyr_way() {
        assert_eq!(
            log_lines("EVT 61234 LOWBAT 1"),
            ["[00:01:01.234,000] <wrn> power: battery low (stage 1)"]
        );
        let boot = log_lines("EVT 3 BOOT BOR");
        assert!(boot[0].starts_with("*** Booting Acme SL-200"));
        assert_eq!(
            boot[1],
            "[00:00:00.003,000] <inf> main: reset cause brownout"
        );
        assert_eq!(
            log_lines("EVT 7200000 UPDATE 50%"),
            ["[02:00:00.000,000] <inf> dfu: progress 50%"]
        );
    }

    #[test]
    fn the_shell_answers_in_its_own_words_and_echoes() {
        let mut w = World::unpowered("smartlock_4aa");
        // The UART is attached before the board is powered: it carries the boot log.
        let mut sim = AcmeConsoleSim::default();
        assert!(sim.idle(&mut w).is_empty());
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(std::time::Duration::from_secs(2));
        let out = String::from_utf8(sim.input(b"lock state\r\nfrobnicate\r\n", &mut w)).unwrap();
        assert!(
            out.contains("uart:~$ lock state\r\nBolt: thrown\r\n"),
            "{out}"
        );
        assert!(
            out.contains("uart:~$ frobnicate\r\nfrobnicate: command not found\r\n"),
            "{out}"
        );
        assert!(out.contains("<inf> main: reset cause poweron"), "{out}");
    }
}
