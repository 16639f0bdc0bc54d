//! How numbers, money, durations and times read on the dashboard. Times are sent as
//! `<time datetime>` in UTC and shown in the browser's time zone by the page's script.

use maud::{Markup, html};

use crate::tenancy::doc::format_time;

/// A whole number with thousands separators: `1,234,567`.
pub(crate) fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// US dollars: `$1,234.56`; amounts under a cent keep two significant digits
/// (`$0.000042`); `—` for unknown.
pub(crate) fn usd(amount: Option<f64>) -> String {
    let Some(amount) = amount.filter(|a| a.is_finite()) else {
        return "—".to_owned();
    };
    let sign = if amount < 0.0 { "-" } else { "" };
    let a = amount.abs();
    if a > 0.0 && a < 0.01 {
        // Two significant digits, at most nine decimals (a nano-dollar).
        let decimals = (2 - a.log10().floor() as i32 - 1).clamp(2, 9) as usize;
        let text = format!("{a:.decimals$}");
        return format!("{sign}${}", text.trim_end_matches('0'));
    }
    let cents = (a * 100.0).round() as i64;
    format!("{sign}${}.{:02}", count(cents / 100), cents % 100)
}

/// Nano-USD as dollars.
pub(crate) fn nano_usd(nano: i64) -> String {
    usd(Some(nano as f64 / 1e9))
}

/// Milliseconds as `2.5 ms`, `412 ms`, `1.25 s` or `2.1 min`; `—` for unknown.
pub(crate) fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".to_owned(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) if ms < 60_000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{:.1} min", ms / 60_000.0),
    }
}

/// `part / whole` as a percentage with one decimal; `—` when `whole` is 0.
pub(crate) fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Bytes as `512 B`, `1.5 KiB`, `20.0 MiB`.
pub(crate) fn bytes(n: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024.0 {
        return format!("{n:.0} B");
    }
    let mut v = n / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A `<time>` for unix milliseconds: UTC text that the page's script replaces with the
/// browser's local time.
pub(crate) fn time(ms: i64) -> Markup {
    let iso = format_time(ms);
    let utc = iso.get(..19).unwrap_or(&iso).replace('T', " ");
    html! { time datetime=(iso) { (utc) " UTC" } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_money_read_like_a_report() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(usd(Some(1234.5)), "$1,234.50");
        assert_eq!(usd(Some(0.0)), "$0.00");
        assert_eq!(usd(Some(0.000042)), "$0.000042");
        assert_eq!(usd(Some(0.0012345)), "$0.0012");
        assert_eq!(usd(None), "—");
        assert_eq!(nano_usd(1_500_000_000), "$1.50");
        assert_eq!(nano_usd(3), "$0.000000003");
    }

    #[test]
    fn durations_percentages_and_sizes() {
        assert_eq!(millis(Some(412.4)), "412 ms");
        assert_eq!(millis(Some(2.5)), "2.5 ms");
        assert_eq!(millis(Some(1250.0)), "1.25 s");
        assert_eq!(millis(Some(126_000.0)), "2.1 min");
        assert_eq!(millis(None), "—");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(1, 0), "—");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(20.0 * 1024.0 * 1024.0), "20.0 MiB");
    }

    #[test]
    fn times_carry_utc_for_the_browser_to_localise() {
        assert_eq!(
            time(1_700_000_000_123).into_string(),
            r#"<time datetime="2023-11-14T22:13:20.123Z">2023-11-14 22:13:20 UTC</time>"#
        );
    }
}
