//! Human units used in the config and in request headers: durations (`250ms`, `30s`, `5m`,
//! `1h`, `1d`), sizes (`512`, `10KB`, `10MiB`) and money (`50.00`, USD).
//!
//! Numbers may be decimal (`1.5s`, `0.5GiB`); the arithmetic is done on integers so
//! `0.1s` is exactly 100 ms. Sizes round down to whole bytes.

use std::time::Duration;

/// What the config expects of a duration, used in error messages.
pub const DURATION_HINT: &str = "a duration like 250ms, 30s or 5m";
/// What the config expects of a size, used in error messages.
pub const SIZE_HINT: &str = "a size like 512, 10KiB or 20MiB";
/// What the config expects of an amount of money, used in error messages.
pub const MONEY_HINT: &str = "an amount in USD like 50 or 12.50";

/// A value that does not parse as the expected unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got:?}")]
pub struct UnitError {
    /// What was expected, e.g. [`DURATION_HINT`].
    pub expected: &'static str,
    /// The text that was given.
    pub got: String,
}

impl UnitError {
    fn new(expected: &'static str, got: &str) -> Self {
        Self {
            expected,
            got: got.to_owned(),
        }
    }
}

/// Parses a duration: a number followed by `ms`, `s`, `m`, `h` or `d` (`250ms`, `1.5s`, `5m`).
/// A bare `0` is accepted; other numbers need a unit.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::new(DURATION_HINT, text);
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let (number, unit) = split_number(trimmed).ok_or_else(err)?;
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(err()),
    };
    let nanos = number.scale(nanos_per_unit).ok_or_else(err)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| err())?;
    // The remainder is below 1e9 and so always fits.
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| err())?;
    Ok(Duration::new(secs, sub))
}

/// Parses a size in bytes: a plain number, or a number with `B`, `KB`/`MB`/`GB`/`TB`
/// (powers of 1000) or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024). Units ignore case.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let err = || UnitError::new(SIZE_HINT, text);
    let (number, unit) = split_number(text.trim()).ok_or_else(err)?;
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(err()),
    };
    let bytes = number.scale(multiplier).ok_or_else(err)?;
    u64::try_from(bytes).map_err(|_| err())
}

/// Parses a non-negative amount of USD written as a decimal (`50`, `12.50`).
pub fn parse_money(text: &str) -> Result<f64, UnitError> {
    let err = || UnitError::new(MONEY_HINT, text);
    let trimmed = text.trim();
    match split_number(trimmed) {
        Some((_, "")) => trimmed.parse::<f64>().map_err(|_| err()),
        _ => Err(err()),
    }
}

/// A non-negative decimal number split into its digits, kept exact.
struct Decimal<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Decimal<'_> {
    /// `self × factor`, rounded down; `None` on overflow.
    fn scale(&self, factor: u128) -> Option<u128> {
        let whole: u128 = self.whole.parse().ok()?;
        let mut result = whole.checked_mul(factor)?;
        if !self.fraction.is_empty() {
            // More than 30 fractional digits cannot matter and would overflow 10^n.
            let digits = &self.fraction[..self.fraction.len().min(30)];
            let fraction: u128 = digits.parse().ok()?;
            let denominator = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
            result = result.checked_add(fraction.checked_mul(factor)? / denominator)?;
        }
        Some(result)
    }
}

/// Splits `1.5MiB` into the number `1.5` and the unit `MiB`, allowing spaces between them.
/// The number must be digits with an optional `.` followed by more digits.
fn split_number(text: &str) -> Option<(Decimal<'_>, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let dotted = number.contains('.');
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (dotted && fraction.is_empty())
    {
        return None;
    }
    Some((Decimal { whole, fraction }, unit.trim_start()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2.25m"), Ok(Duration::from_secs(135)));
        assert_eq!(parse_duration(" 10 s "), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "",
            "fast",
            "30",
            "s",
            "1.s",
            ".5s",
            "1..5s",
            "-1s",
            "5 minutes",
            "1e3s",
            "5M",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert_eq!(err.expected, DURATION_HINT, "{bad}");
        }
        assert_eq!(
            parse_duration("fast").unwrap_err().to_string(),
            r#"expected a duration like 250ms, 30s or 5m, got "fast""#
        );
        assert!(parse_duration("999999999999999999999d").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("10KiB"), Ok(10 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("20 mib"), Ok(20 << 20));
    }

    #[test]
    fn bad_sizes() {
        for bad in ["", "big", "10XB", "-1", "1.KiB", "KiB"] {
            assert_eq!(parse_size(bad).unwrap_err().expected, SIZE_HINT, "{bad}");
        }
        assert!(parse_size("100000000TiB").is_err());
    }

    #[test]
    fn money() {
        assert_eq!(parse_money("50"), Ok(50.0));
        assert_eq!(parse_money("12.50"), Ok(12.5));
        assert_eq!(parse_money("0.001"), Ok(0.001));
        for bad in ["", "-1", "$5", "5 USD", "1.", "abc"] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
    }
}
