//! Exact money: [`Usd`] amounts in nano-dollars and per-token [`Rate`]s in pico-dollars.

use std::fmt;

use serde::{Serialize, Serializer};

/// Nano-USD in one USD.
const NANOS_PER_USD: i64 = 1_000_000_000;

/// An amount of US dollars, held exactly as an integer count of nano-USD (1e-9 USD).
///
/// Serialises as a JSON number in USD (`0.000123`), the unit users read; [`fmt::Display`]
/// prints an exact decimal with at least two places (`12.50`, `0.000123`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(pub i64);

impl Usd {
    /// Parses a non-negative decimal amount of USD (`"50"`, `"12.50"`, `"0.000001"`).
    ///
    /// Returns `None` for signs, exponents, empty parts, more than 9 decimals (finer than
    /// a nano-dollar) or amounts beyond `i64` nano-USD.
    pub fn parse(s: &str) -> Option<Usd> {
        let nanos = parse_scaled(s, 9)?;
        i64::try_from(nanos).ok().map(Usd)
    }

    /// Converts a float amount of USD, rounded to the nearest nano-USD.
    ///
    /// Returns `None` for NaN, infinities, negative amounts and amounts beyond `i64` nano-USD.
    pub fn from_f64_usd(usd: f64) -> Option<Usd> {
        let nanos = (usd * NANOS_PER_USD as f64).round();
        // `i64::MAX as f64` rounds up to 2^63, which is itself out of range.
        (nanos.is_finite() && nanos >= 0.0 && nanos < i64::MAX as f64).then_some(Usd(nanos as i64))
    }

    /// The amount in USD as a float, for display and JSON; not for further arithmetic.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    /// `self + other`, clamped to the `i64` range.
    pub fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// `self - other`, clamped to the `i64` range (the result may be negative).
    pub fn saturating_sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_USD.unsigned_abs();
        let frac = format!("{:09}", abs % NANOS_PER_USD.unsigned_abs());
        let trimmed = frac.trim_end_matches('0');
        // At least two decimals ("0.00", "12.50"); `trimmed` is a prefix of `frac`.
        let shown = if trimmed.len() < 2 {
            &frac[..2]
        } else {
            trimmed
        };
        write!(f, "{sign}{whole}.{shown}")
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// A price per token, held exactly as an integer count of pico-USD (1e-12 USD) per token.
///
/// $0.0375 per million tokens is 37 500 pico-USD per token; every published price with up
/// to six decimals per million tokens is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

impl Rate {
    /// Parses a decimal USD price per million tokens (`"0.15"`, `"3"`, `"0.003625"`), exactly.
    ///
    /// Returns `None` for signs, exponents, empty parts, more than 6 decimals (finer than a
    /// pico-dollar per token) or rates beyond `u64` pico-USD.
    pub fn per_million(s: &str) -> Option<Rate> {
        let pico = parse_scaled(s, 6)?;
        u64::try_from(pico).ok().map(Rate)
    }

    /// Converts a float USD price per token (LiteLLM's `input_cost_per_token`), rounded to
    /// the nearest pico-USD.
    ///
    /// Returns `None` for NaN, infinities, negative prices and prices beyond `u64` pico-USD.
    pub fn from_per_token_f64(usd_per_token: f64) -> Option<Rate> {
        let pico = (usd_per_token * 1e12).round();
        // `u64::MAX as f64` rounds up to 2^64, which is itself out of range.
        (pico.is_finite() && pico >= 0.0 && pico < u64::MAX as f64).then_some(Rate(pico as u64))
    }
}

/// Parses a plain non-negative decimal (`digits[.digits]`) into an integer scaled by
/// `10^scale`, refusing anything that would need rounding.
fn parse_scaled(s: &str, scale: u32) -> Option<u128> {
    let (whole, frac) = match s.split_once('.') {
        Some((whole, frac)) => (whole, frac),
        None => (s, ""),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > scale as usize {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let frac_scaled = frac_value.checked_mul(10u128.pow(scale - frac.len() as u32))?;
    whole
        .checked_mul(10u128.pow(scale))?
        .checked_add(frac_scaled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_parses_plain_decimals_exactly() {
        assert_eq!(Usd::parse("50"), Some(Usd(50_000_000_000)));
        assert_eq!(Usd::parse("12.50"), Some(Usd(12_500_000_000)));
        assert_eq!(Usd::parse("0.000001"), Some(Usd(1_000)));
        assert_eq!(Usd::parse("0.123456789"), Some(Usd(123_456_789)));
        assert_eq!(Usd::parse("0"), Some(Usd(0)));
    }

    #[test]
    fn usd_rejects_what_is_not_a_plain_non_negative_decimal() {
        for bad in [
            "",
            "-1",
            "+1",
            "1e3",
            "abc",
            ".5",
            "5.",
            "1.2.3",
            " 1",
            "1,5",
            "0.0000000001",
        ] {
            assert_eq!(Usd::parse(bad), None, "{bad:?}");
        }
        // 2^63 nano-USD does not fit.
        assert_eq!(Usd::parse("9223372036.854775808"), None);
        assert_eq!(Usd::parse("9223372036.854775807"), Some(Usd(i64::MAX)));
    }

    #[test]
    fn usd_displays_trimmed_with_at_least_two_decimals() {
        assert_eq!(Usd(0).to_string(), "0.00");
        assert_eq!(Usd(12_500_000_000).to_string(), "12.50");
        assert_eq!(Usd(123_000).to_string(), "0.000123");
        assert_eq!(Usd(1_000_000_001).to_string(), "1.000000001");
        assert_eq!(Usd(-1_500_000_000).to_string(), "-1.50");
        assert_eq!(Usd(i64::MIN).to_string(), "-9223372036.854775808");
    }

    #[test]
    fn usd_serialises_as_a_number_of_dollars() {
        assert_eq!(serde_json::to_string(&Usd(123_000)).unwrap(), "0.000123");
        assert_eq!(serde_json::to_string(&Usd(12_500_000_000)).unwrap(), "12.5");
        assert_eq!(serde_json::to_string(&Usd(0)).unwrap(), "0.0");
    }

    #[test]
    fn usd_from_float_rounds_to_the_nano() {
        assert_eq!(Usd::from_f64_usd(0.1), Some(Usd(100_000_000)));
        assert_eq!(Usd::from_f64_usd(2.4e-9), Some(Usd(2)));
        assert_eq!(Usd::from_f64_usd(2.6e-9), Some(Usd(3)));
        assert_eq!(Usd::from_f64_usd(0.0), Some(Usd(0)));
        assert_eq!(Usd(1_250_000).as_f64(), 0.00125);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, 1e10] {
            assert_eq!(Usd::from_f64_usd(bad), None, "{bad}");
        }
    }

    #[test]
    fn usd_arithmetic_saturates() {
        assert_eq!(Usd(i64::MAX).saturating_add(Usd(1)), Usd(i64::MAX));
        assert_eq!(Usd(1).saturating_sub(Usd(3)), Usd(-2));
        assert_eq!(Usd(i64::MIN).saturating_sub(Usd(1)), Usd(i64::MIN));
        assert!(Usd(1) < Usd(2));
    }

    #[test]
    fn rates_parse_per_million_exactly() {
        assert_eq!(Rate::per_million("0.0375"), Some(Rate(37_500)));
        assert_eq!(Rate::per_million("0.15"), Some(Rate(150_000)));
        assert_eq!(Rate::per_million("3"), Some(Rate(3_000_000)));
        assert_eq!(Rate::per_million("0.003625"), Some(Rate(3_625)));
        assert_eq!(Rate::per_million("0"), Some(Rate(0)));
        for bad in ["0.0000001", "-1", "1e-6", "", "x"] {
            assert_eq!(Rate::per_million(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rates_from_litellm_floats_round_to_the_pico() {
        assert_eq!(Rate::from_per_token_f64(2.5e-6), Some(Rate(2_500_000)));
        assert_eq!(Rate::from_per_token_f64(1.875e-8), Some(Rate(18_750)));
        assert_eq!(Rate::from_per_token_f64(3.625e-9), Some(Rate(3_625)));
        assert_eq!(Rate::from_per_token_f64(1.4e-13), Some(Rate(0)));
        for bad in [f64::NAN, f64::INFINITY, -1e-6, 1e8] {
            assert_eq!(Rate::from_per_token_f64(bad), None, "{bad}");
        }
    }
}
