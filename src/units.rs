//! Physical quantities as types: [`Volts`], [`Amps`], [`Ohms`], and durations written
//! with a unit (`300ms`, `2s`).
//!
//! Every quantity in a rig, device or suite file carries its unit (`6.0V`, `250mA`),
//! so a bare number is an error rather than a guess about millivolts versus volts.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a quantity could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected}, like `{example}`, found `{found}`")]
pub struct UnitError {
    /// What kind of quantity was expected ("a voltage").
    pub expected: &'static str,
    /// An example of a valid value.
    pub example: &'static str,
    /// The text that was found.
    pub found: String,
}

/// Splits `"6.0V"` into `(6.0, "V")`; whitespace between number and unit is allowed.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && i == 0)))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let number: f64 = t[..end].parse().ok()?;
    number.is_finite().then_some((number, t[end..].trim()))
}

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $what:literal, $example:literal, $unit:literal, [$(($suffix:literal, $scale:expr)),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, serde::Serialize)]
        pub struct $name(pub f64);

        impl $name {
            /// The SI unit symbol.
            pub const UNIT: &'static str = $unit;

            /// Parses a value written with a unit, e.g. `
            #[doc = $example]
            /// `.
            pub fn parse(text: &str) -> Result<Self, UnitError> {
                let err = || UnitError { expected: $what, example: $example, found: text.to_string() };
                let (n, suffix) = split_number(text).ok_or_else(err)?;
                $(if suffix == $suffix { return Ok(Self(n * $scale)); })+
                Err(err())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_si(f, self.0, $unit)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = QuantityText::deserialize(d)?;
                Self::parse(&text.0).map_err(serde::de::Error::custom)
            }
        }
    };
}

quantity!(
    /// Electric potential in volts.
    Volts, "a voltage", "6.0V", "V", [("V", 1.0), ("mV", 1e-3)]
);
quantity!(
    /// Electric current in amperes.
    Amps, "a current", "250mA", "A", [("A", 1.0), ("mA", 1e-3), ("uA", 1e-6), ("µA", 1e-6)]
);
quantity!(
    /// Resistance in ohms.
    Ohms, "a resistance", "0.1ohm", "ohm", [("ohm", 1.0), ("mohm", 1e-3), ("Ω", 1.0), ("mΩ", 1e-3)]
);

/// Prints `value` with an SI prefix chosen so the mantissa is between 1 and 1000.
fn format_si(f: &mut fmt::Formatter<'_>, value: f64, unit: &str) -> fmt::Result {
    let a = value.abs();
    let (scaled, prefix) = if a == 0.0 || a >= 1.0 {
        (value, "")
    } else if a >= 1e-3 {
        (value * 1e3, "m")
    } else {
        (value * 1e6, "u")
    };
    // Three decimals, trailing zeros dropped, in integer arithmetic: every reading of
    // a trace passes here, and float formatting (`{:.3}`) was a tenth of a soak's time.
    // Near a half the product's own rounding could decide the digit: those few go
    // the exact way.
    let product = scaled * 1e3;
    let milli = product.round();
    if !milli.is_finite() || milli.abs() >= 1e15 || ((product - milli).abs() - 0.5).abs() < 1e-6 {
        let text = format!("{scaled:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return write!(f, "{text}{prefix}{unit}");
    }
    let milli = milli as i64;
    let (whole, mut frac) = (milli.unsigned_abs() / 1000, milli.unsigned_abs() % 1000);
    let sign = if milli < 0 { "-" } else { "" };
    if frac == 0 {
        return write!(f, "{sign}{whole}{prefix}{unit}");
    }
    let mut digits = 3;
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    write!(f, "{sign}{whole}.{frac:0digits$}{prefix}{unit}")
}

/// A string that must hold a number with a unit; a bare TOML number is refused with a hint.
struct QuantityText(String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = QuantityText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity with its unit as a string, like \"6.0V\" or \"300ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QuantityText, E> {
                Ok(QuantityText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<QuantityText, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) has no unit: write it as a string with its unit, like \"{v}V\""
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<QuantityText, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a duration written with a unit: `300ms`, `2s`, `1.5s`, `500us`, `10min`, `180d`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError {
        expected: "a duration",
        example: "300ms",
        found: text.to_string(),
    };
    let (n, suffix) = split_number(text).ok_or_else(err)?;
    let seconds = match suffix {
        "s" => n,
        "ms" => n * 1e-3,
        "us" | "µs" => n * 1e-6,
        "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(err()),
    };
    if seconds < 0.0 {
        return Err(err());
    }
    // Too long for a `Duration` (about 585 billion years) is an error, not a panic.
    Duration::try_from_secs_f64(seconds).map_err(|_| err())
}

/// Formats a duration the way suites write it (`300ms`, `2.5s`, `180d`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if d >= Duration::from_secs(86_400 * 2) {
        let text = format!("{:.1}", d.as_secs_f64() / 86_400.0);
        format!("{}d", text.trim_end_matches('0').trim_end_matches('.'))
    } else if ms < 1000.0 {
        let text = format!("{ms:.3}");
        format!("{}ms", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let text = format!("{:.3}", d.as_secs_f64());
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// A duration written with its unit (`"300ms"`), as a type (for spans and spreads).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Time(pub Duration);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration(d).map(Time)
    }
}

/// Serde helper: `#[serde(deserialize_with = "units::duration")]` for fields written `"300ms"`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = QuantityText::deserialize(d)?;
    parse_duration(&text.0).map_err(serde::de::Error::custom)
}

/// Serde helper for optional durations.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Serde helper for a bound or a hold time, which is never zero: a zero window would
/// let a check pass on no evidence at all.
pub fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = QuantityText::deserialize(d)?;
    let value = parse_duration(&text.0).map_err(serde::de::Error::custom)?;
    if value.is_zero() {
        return Err(serde::de::Error::custom(format!(
            "must be positive, found `{}`",
            text.0
        )));
    }
    Ok(value)
}

/// Serde helper for an optional bound or hold time (never zero when given).
pub fn opt_positive_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    positive_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_prefixes() {
        assert_eq!(Volts::parse("6.0V").unwrap(), Volts(6.0));
        assert_eq!(Volts::parse("500 mV").unwrap(), Volts(0.5));
        assert!((Amps::parse("250mA").unwrap().0 - 0.25).abs() < 1e-12);
        assert_eq!(Ohms::parse("0.1ohm").unwrap(), Ohms(0.1));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn refuses_missing_or_wrong_units() {
        let e = Volts::parse("6.0").unwrap_err();
        assert_eq!(e.expected, "a voltage");
        assert!(Volts::parse("6.0A").is_err());
        assert!(parse_duration("300").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(Amps::parse("").is_err());
    }

    #[test]
    fn refuses_durations_too_long_for_a_duration() {
        // `Duration::from_secs_f64` panics past u64::MAX seconds; a file must not.
        let e = parse_duration("99999999999999999999s").unwrap_err();
        assert_eq!(e.expected, "a duration");
        assert!(parse_duration("999999999999999999min").is_err());
        assert_eq!(
            parse_duration("18446744073709549568s").unwrap(),
            Duration::from_secs(18_446_744_073_709_549_568)
        );
    }

    #[test]
    fn displays_with_si_prefix() {
        assert_eq!(Volts(6.0).to_string(), "6V");
        assert_eq!(Amps(0.25).to_string(), "250mA");
        assert_eq!(Amps(0.000_15).to_string(), "150uA");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(Volts(-1.25).to_string(), "-1.25V");
        assert_eq!(Volts(5.9999996).to_string(), "6V");
        assert_eq!(Amps(0.012_05).to_string(), "12.05mA");
        assert_eq!(
            Volts(1e300).to_string(),
            format!("{:.3}V", 1e300).replace(".000", "")
        );
    }

    /// The integer formatting agrees with three-decimal float formatting on readings
    /// as meters give them (ties aside, which a reading does not hit exactly).
    #[test]
    fn si_formatting_matches_three_decimals() {
        let old = |v: f64| {
            let a = v.abs();
            let (s, p) = if a == 0.0 || a >= 1.0 {
                (v, "")
            } else if a >= 1e-3 {
                (v * 1e3, "m")
            } else {
                (v * 1e6, "u")
            };
            let t = format!("{s:.3}");
            format!("{}{p}V", t.trim_end_matches('0').trim_end_matches('.'))
        };
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % 30_000_000) as f64 * 1e-6 * if x & 1 == 0 { 1.0 } else { 1e-4 };
            assert_eq!(Volts(v).to_string(), old(v), "{v:e}");
        }
    }
}
