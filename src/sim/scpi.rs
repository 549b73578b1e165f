//! The instrument side of SCPI, shared by the emulated SCPI instruments: the `scpi`
//! crate parses each program message against the instrument's command tree as SCPI-99
//! and IEEE 488.2 say (long and short mnemonics in any case, optional nodes, numeric
//! suffixes, `;` compound messages, `?` queries); this module adds the error queue, the
//! parameter forms power supplies use (`CH<n>`, `MINimum|MAXimum|DEFault`) and the line
//! framing.

use scpi::error::{Error, ErrorCode};
use scpi::parser::format::Character;
use scpi::parser::mnemonic_compare;
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::parser::tokenizer::Token;
use scpi::tree::prelude::Command;
use scpi::tree::Node;
use scpi::{cmd_both, cmd_nquery, cmd_qonly, Context, Device};

use std::time::Duration;

use super::pty::take_lines;
use super::world::{PsuChannel, World};

/// What the IEEE 488.2 common commands and `SYSTem:ERRor?` need of an emulator's
/// state: one set of handlers, [`Idn`], [`Cls`], [`Opc`] and [`SystErr`], for every
/// SCPI instrument emulated.
pub trait Common: Device {
    /// The `*IDN?` reply.
    fn idn(&self) -> &str;
    /// Its error queue.
    fn errors(&mut self) -> &mut ErrorQueue;
}

/// `*IDN?`.
pub struct Idn;
impl<D: Common> Command<D> for Idn {
    cmd_qonly!();
    fn query(
        &self,
        d: &mut D,
        _: &mut Context,
        _: Parameters,
        resp: ResponseUnit,
    ) -> Result<(), Error> {
        let idn = d.idn().to_string();
        respond(resp, &idn)
    }
}

/// `*CLS`: empties the error queue.
pub struct Cls;
impl<D: Common> Command<D> for Cls {
    cmd_nquery!();
    fn event(&self, d: &mut D, _: &mut Context, _: Parameters) -> Result<(), Error> {
        d.errors().clear();
        Ok(())
    }
}

/// `*OPC` and `*OPC?`: every command has completed before the next one is parsed.
pub struct Opc;
impl<D: Common> Command<D> for Opc {
    cmd_both!();
    fn event(&self, _: &mut D, _: &mut Context, _: Parameters) -> Result<(), Error> {
        Ok(())
    }
    fn query(
        &self,
        _: &mut D,
        _: &mut Context,
        _: Parameters,
        resp: ResponseUnit,
    ) -> Result<(), Error> {
        respond(resp, "1")
    }
}

/// `SYSTem:ERRor[:NEXT]?`: the oldest entry. `signed`: the code as Keysight writes it
/// (`+0,"No error"`), else as Rigol does (`0,"No error"`).
pub struct SystErr {
    /// A non-negative code carries its `+`.
    pub signed: bool,
}
impl<D: Common> Command<D> for SystErr {
    cmd_qonly!();
    fn query(
        &self,
        d: &mut D,
        _: &mut Context,
        _: Parameters,
        resp: ResponseUnit,
    ) -> Result<(), Error> {
        let next = d.errors().next();
        let next = if self.signed && !next.starts_with('-') {
            format!("+{next}")
        } else {
            next
        };
        respond(resp, &next)
    }
}

/// The error/event queue (IEEE 488.2 11.4, SCPI-99 21.8): `SYSTem:ERRor?` takes the
/// oldest entry; a full queue replaces its newest entry with -350 "Queue overflow".
#[derive(Debug, Default, Clone)]
pub struct ErrorQueue {
    entries: Vec<(i16, String)>,
    capacity: usize,
}

impl ErrorQueue {
    /// A queue of `capacity` entries (the DP800 holds 20).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::new(),
            capacity,
        }
    }

    /// Queues an error.
    pub fn push(&mut self, err: &Error) {
        let entry = (
            err.get_code(),
            String::from_utf8_lossy(err.get_message()).into_owned(),
        );
        if self.entries.len() < self.capacity {
            self.entries.push(entry);
        } else if let Some(last) = self.entries.last_mut() {
            *last = (-350, "Queue overflow".into());
        }
    }

    /// `SYSTem:ERRor?`: the oldest entry, or `0,"No error"`.
    pub fn next(&mut self) -> String {
        if self.entries.is_empty() {
            "0,\"No error\"".into()
        } else {
            let (code, msg) = self.entries.remove(0);
            format!("{code},\"{msg}\"")
        }
    }

    /// `*CLS`.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The commands complete with these bytes (each ends with a line feed), for an
/// emulator that takes time over each.
pub fn commands_in(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.iter().filter(|&&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

/// Runs each LF-terminated program message of `bytes` against `tree`; returns the
/// response messages, each LF-terminated. Errors go to the device's queue through
/// [`Device::handle_error`].
pub fn run_lines<D: Device>(
    tree: &Node<'_, D>,
    device: &mut D,
    pending: &mut Vec<u8>,
    bytes: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    for line in take_lines(pending, bytes, b"\n") {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        // The crate writes the response message terminator itself.
        let _ = tree.run(line.as_bytes(), device, &mut Context::default(), &mut out);
    }
    out
}

/// A channel parameter `CH<n>`, with `n` in `1..=channels`.
pub fn channel(token: Token<'_>, channels: usize) -> Result<usize, Error> {
    match token {
        Token::CharacterProgramData(s) if s.len() > 2 && s[..2].eq_ignore_ascii_case(b"CH") => {
            std::str::from_utf8(&s[2..])
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=channels).contains(n))
                .ok_or_else(|| ErrorCode::IllegalParameterValue.into())
        }
        Token::CharacterProgramData(_) | Token::DecimalNumericProgramData(_) => {
            Err(ErrorCode::IllegalParameterValue.into())
        }
        _ => Err(ErrorCode::DataTypeError.into()),
    }
}

/// An optional leading `CH<n>` parameter: the channel it names, or `selected`, and the
/// parameter that follows it (if any was read instead).
pub fn channel_first<'a>(
    params: &mut Parameters<'a, '_>,
    channels: usize,
    selected: usize,
) -> Result<(usize, Option<Token<'a>>), Error> {
    match params.next_optional_token()? {
        Some(t @ Token::CharacterProgramData(s))
            if s.len() > 2 && s[..2].eq_ignore_ascii_case(b"CH") =>
        {
            Ok((channel(t, channels)?, None))
        }
        other => Ok((selected, other)),
    }
}

/// A numeric value with its instrument limits: a number within `min..=max`, or
/// `MINimum`, `MAXimum`, `DEFault`.
pub fn numeric(token: Token<'_>, min: f64, max: f64, default: f64) -> Result<f64, Error> {
    match token {
        Token::CharacterProgramData(s) if mnemonic_compare(b"MINimum", s) => Ok(min),
        Token::CharacterProgramData(s) if mnemonic_compare(b"MAXimum", s) => Ok(max),
        Token::CharacterProgramData(s) if mnemonic_compare(b"DEFault", s) => Ok(default),
        t => {
            let v = f64::try_from(t)?;
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(ErrorCode::DataOutOfRange.into())
            }
        }
    }
}

/// Fails with -108 "Parameter not allowed" if another parameter follows.
pub fn no_more(params: &mut Parameters<'_, '_>) -> Result<(), Error> {
    match params.next_optional_token()? {
        Some(_) => Err(ErrorCode::ParameterNotAllowed.into()),
        None => Ok(()),
    }
}

/// Answers a query with character response data (a number formatted as the instrument
/// formats it, `ON`, `YES`...).
pub fn respond(mut resp: ResponseUnit<'_>, text: &str) -> Result<(), Error> {
    resp.data(Character(text.as_bytes())).finish()
}

/// The measurement cycle of a supply whose readback update rate is published nowhere
/// at hand: its readback is taken fresh at every query (kinder than any real supply;
/// see the README's open items).
pub const UPDATE_RATE_UNKNOWN: Duration = Duration::ZERO;

/// Copies into `psu` the world outputs a supply's channels drive (`wiring[n - 1]` is the
/// world output of channel `n`), and into `readings` the voltage and current the supply
/// shows for each: what the instrument's handlers see when a message arrives. A supply
/// that measures once per `every` shows its last cycle's values ([`World::readback`];
/// zero: the present ones).
pub fn load_outputs(
    world: &mut World,
    wiring: &[usize],
    psu: &mut [PsuChannel],
    readings: &mut [(f64, f64)],
    every: Duration,
) {
    for (n, &out) in wiring.iter().enumerate() {
        psu[n] = world.psu[out];
        readings[n] = world.readback(out + 1, every);
    }
}

/// Applies to the world what a supply's handlers changed: settings first, then the
/// outputs switched (each recorded), then the physics settles.
pub fn store_outputs(world: &mut World, wiring: &[usize], psu: &[PsuChannel]) {
    let mut changed = false;
    for (c, &out) in psu.iter().zip(wiring) {
        let w = &mut world.psu[out];
        // The output switch is applied below, through the world, so it is recorded.
        let settings = PsuChannel { on: w.on, ..*c };
        if settings != *w {
            *w = settings;
            changed = true;
        }
    }
    for (c, &out) in psu.iter().zip(wiring) {
        if c.on != world.psu[out].on {
            world.set_output(out + 1, c.on);
            changed = false;
        }
    }
    if changed {
        world.settle();
    }
}

/// A channel list (SCPI-99 8.3.2): `(@1)`, `(@1,3)`, `(@1:3)`; the channels it names,
/// each in `1..=channels`.
pub fn channel_list(token: Token<'_>, channels: usize) -> Result<Vec<usize>, Error> {
    channels_where(
        token,
        |n| (1..=channels).contains(&n),
        ErrorCode::IllegalParameterValue,
    )
}

/// A channel list whose every channel satisfies `exists` (a range counts through the
/// numbers between its ends); a channel that does not is `missing`.
pub fn channels_where(
    token: Token<'_>,
    exists: impl Fn(usize) -> bool,
    missing: ErrorCode,
) -> Result<Vec<usize>, Error> {
    use scpi::parser::expression::channel_list::{ChannelList, Token as Item};
    let Token::ExpressionProgramData(expr) = token else {
        return Err(ErrorCode::DataTypeError.into());
    };
    let list = ChannelList::new(expr).ok_or(ErrorCode::InvalidExpression)?;
    let in_range = |n: usize| {
        if exists(n) {
            Ok(n)
        } else {
            Err(Error::from(missing))
        }
    };
    let mut out = Vec::new();
    for item in list {
        match item? {
            Item::ChannelSpec(spec) => out.push(in_range(usize::try_from(spec)?)?),
            Item::ChannelRange(from, to) => {
                let (from, to) = (
                    in_range(usize::try_from(from)?)?,
                    in_range(usize::try_from(to)?)?,
                );
                out.extend((from.min(to)..=from.max(to)).filter(|n| exists(*n)));
            }
            _ => return Err(ErrorCode::IllegalParameterValue.into()),
        }
    }
    if out.is_empty() {
        return Err(ErrorCode::InvalidExpression.into());
    }
    Ok(out)
}

/// A number as SCPI NR3 the way Keysight instruments answer: `+1.20000000E+01`.
pub fn nr3(v: f64) -> String {
    let s = format!("{v:+.8E}");
    match s.split_once('E') {
        Some((mantissa, exp)) => {
            let e: i32 = exp.parse().unwrap_or(0);
            format!("{mantissa}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}

/// For emulator tests: sends one line and returns the reply without its terminator.
#[cfg(test)]
pub(crate) fn say(sim: &mut impl super::pty::Protocol, world: &mut World, line: &str) -> String {
    let out = sim.input(format!("{line}\n").as_bytes(), world);
    String::from_utf8(out).unwrap().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nr3_is_signed_with_a_two_digit_exponent() {
        assert_eq!(nr3(12.0), "+1.20000000E+01");
        assert_eq!(nr3(0.0), "+0.00000000E+00");
        assert_eq!(nr3(0.25), "+2.50000000E-01");
    }

    #[test]
    fn channel_lists_name_channels_singly_or_by_range() {
        let list = |s: &'static [u8]| channel_list(Token::ExpressionProgramData(s), 3);
        assert_eq!(list(b"@1").unwrap(), [1]);
        assert_eq!(list(b"@1,3").unwrap(), [1, 3]);
        assert_eq!(list(b"@1:3").unwrap(), [1, 2, 3]);
        assert!(list(b"@4").is_err());
        assert!(list(b"1").is_err());
    }
}
