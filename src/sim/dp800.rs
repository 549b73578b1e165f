//! Rigol DP832 emulator: the subset of the DP800 SCPI command set lockrig uses,
//! answered as the instrument answers it, with an error queue.

use super::pty::{take_lines, Protocol};
use super::world::World;

/// The identity the emulator reports.
pub const IDN: &str = "RIGOL TECHNOLOGIES,DP832,DP8SIM000001,00.01.16";

/// The DP832 emulator.
#[derive(Default)]
pub struct Dp800Sim {
    pending: Vec<u8>,
    errors: Vec<(i32, &'static str)>,
}

fn channel(text: &str) -> Option<usize> {
    let n: usize = text.trim().trim_start_matches("CH").parse().ok()?;
    (1..=3).contains(&n).then_some(n)
}

impl Dp800Sim {
    fn error(&mut self, code: i32, msg: &'static str) {
        // The DP800 queue holds 20 entries; further errors are dropped.
        if self.errors.len() < 20 {
            self.errors.push((code, msg));
        }
    }

    fn command(&mut self, line: &str, w: &mut World) -> Option<String> {
        let upper = line.to_ascii_uppercase();
        let (head, args) = upper.split_once(' ').unwrap_or((upper.as_str(), ""));
        let head = head.trim_start_matches(':');
        match head {
            "*IDN?" => return Some(IDN.into()),
            "*OPC?" => return Some("1".into()),
            "*CLS" => self.errors.clear(),
            "*RST" => {
                for ch in 1..=3 {
                    w.set_output(ch, false);
                    w.psu[ch - 1].set_v = 0.0;
                }
                w.settle();
            }
            "SYST:ERR?" => {
                return Some(if self.errors.is_empty() {
                    "0,\"No error\"".into()
                } else {
                    let (code, msg) = self.errors.remove(0);
                    format!("{code},\"{msg}\"")
                })
            }
            "OUTP" => {
                let (ch, state) = args.split_once(',').unwrap_or(("", ""));
                match (channel(ch), state.trim()) {
                    (Some(ch), "ON") => w.set_output(ch, true),
                    (Some(ch), "OFF") => w.set_output(ch, false),
                    _ => self.error(-224, "Illegal parameter value"),
                }
            }
            "OUTP:OVP:VAL" | "OUTP:OCP:VAL" => {
                let (ch, v) = args.split_once(',').unwrap_or(("", ""));
                match (channel(ch), v.trim().parse::<f64>()) {
                    (Some(ch), Ok(v)) if v > 0.0 => {
                        let p = &mut w.psu[ch - 1];
                        if head == "OUTP:OVP:VAL" {
                            p.ovp.0 = v;
                        } else {
                            p.ocp.0 = v;
                        }
                        w.settle();
                    }
                    (Some(_), Ok(_)) => self.error(-222, "Data out of range"),
                    _ => self.error(-224, "Illegal parameter value"),
                }
            }
            "OUTP:OVP" | "OUTP:OCP" => {
                let (ch, state) = args.split_once(',').unwrap_or(("", ""));
                match (channel(ch), state.trim()) {
                    (Some(ch), s @ ("ON" | "OFF")) => {
                        let p = &mut w.psu[ch - 1];
                        let armed = if head == "OUTP:OVP" {
                            &mut p.ovp.1
                        } else {
                            &mut p.ocp.1
                        };
                        *armed = s == "ON";
                        w.settle();
                    }
                    _ => self.error(-224, "Illegal parameter value"),
                }
            }
            "OUTP:OVP:QUES?" | "OUTP:OCP:QUES?" => match channel(args) {
                Some(ch) => {
                    let p = w.psu[ch - 1];
                    let tripped = if head == "OUTP:OVP:QUES?" {
                        p.tripped.0
                    } else {
                        p.tripped.1
                    };
                    return Some(if tripped { "YES" } else { "NO" }.into());
                }
                None => self.error(-224, "Illegal parameter value"),
            },
            "OUTP?" => match channel(args) {
                Some(ch) => return Some(if w.psu[ch - 1].on { "ON" } else { "OFF" }.into()),
                None => self.error(-224, "Illegal parameter value"),
            },
            "MEAS:VOLT?" | "MEAS:CURR?" => match channel(args) {
                Some(ch) => {
                    let (v, a) = (w.output_volts(ch), w.output_amps(ch));
                    return Some(if head == "MEAS:VOLT?" {
                        format!("{v:.3}")
                    } else {
                        format!("{a:.4}")
                    });
                }
                None => self.error(-224, "Illegal parameter value"),
            },
            _ => {
                // :SOUR<n>:VOLT <v> / :SOUR<n>:CURR <a> and their queries.
                let Some(rest) = head.strip_prefix("SOUR") else {
                    self.error(-113, "Undefined header");
                    return None;
                };
                let Some((n, what)) = rest.split_once(':') else {
                    self.error(-113, "Undefined header");
                    return None;
                };
                let Some(ch) = channel(n) else {
                    self.error(-114, "Header suffix out of range");
                    return None;
                };
                let c = &mut w.psu[ch - 1];
                match what {
                    "VOLT?" => return Some(format!("{:.3}", c.set_v)),
                    "CURR?" => return Some(format!("{:.4}", c.set_i)),
                    "VOLT" | "CURR" => {
                        let max = if what == "VOLT" { c.max_v } else { c.max_i };
                        match args.trim().parse::<f64>() {
                            Ok(v) if (0.0..=max).contains(&v) => {
                                if what == "VOLT" {
                                    c.set_v = v;
                                } else {
                                    c.set_i = v;
                                }
                                w.settle();
                            }
                            Ok(_) => self.error(-222, "Data out of range"),
                            Err(_) => self.error(-104, "Data type error"),
                        }
                    }
                    _ => self.error(-113, "Undefined header"),
                }
            }
        }
        None
    }
}

impl Protocol for Dp800Sim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        for line in take_lines(&mut self.pending, bytes, b"\n") {
            if let Some(reply) = self.command(&line, world) {
                out.extend_from_slice(reply.as_bytes());
                out.push(b'\n');
            }
        }
        out
    }
}
