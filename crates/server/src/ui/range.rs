//! The time range of the overview and cache pages: `1h`, `24h`, `7d`, `30d`, or a custom
//! `from`–`to`. The ledger is kept per UTC hour, so a range covers whole hours: it starts at
//! the beginning of the hour its start falls in and ends after the hour its end falls in.

use std::collections::HashMap;

use maud::{Markup, html};

use crate::tenancy::doc::parse_time;

/// One hour in milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// The longest custom range.
const MAX_SPAN_MS: i64 = 400 * 24 * HOUR_MS;

/// The preset ranges: parameter value, label, length.
const PRESETS: [(&str, &str, i64); 4] = [
    ("1h", "1 h", HOUR_MS),
    ("24h", "24 h", 24 * HOUR_MS),
    ("7d", "7 d", 7 * 24 * HOUR_MS),
    ("30d", "30 d", 30 * 24 * HOUR_MS),
];

/// A range of whole hours: `[from, to)` in unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    /// The preset's parameter value, or `custom`.
    pub(crate) key: String,
    /// The first hour's start.
    pub(crate) from: i64,
    /// The end of the last hour.
    pub(crate) to: i64,
}

impl Range {
    /// The range the query asks for (default `default`), as of `now`.
    pub(crate) fn parse(
        params: &HashMap<String, String>,
        default: &str,
        now: i64,
    ) -> Result<Range, String> {
        let key = params.get("range").map_or(default, String::as_str);
        if let Some((key, _, span)) = PRESETS.iter().find(|(k, _, _)| *k == key) {
            return Ok(Range {
                key: (*key).to_owned(),
                from: floor_hour(now - span + 1),
                to: floor_hour(now) + HOUR_MS,
            });
        }
        if key != "custom" {
            return Err(format!(
                "unknown range {key:?}; expected 1h, 24h, 7d, 30d or custom"
            ));
        }
        let tz = params
            .get("tz")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        let at = |name: &str| -> Result<i64, String> {
            let text = params.get(name).map_or("", |v| v.trim());
            instant(text, tz).ok_or_else(|| {
                format!("`{name}`: expected a date and time such as 2025-01-31T09:00, got {text:?}")
            })
        };
        let (from, to) = (floor_hour(at("from")?), floor_hour(at("to")? - 1) + HOUR_MS);
        if to <= from || to - from > MAX_SPAN_MS {
            return Err("the range must end after it starts and span at most 400 days".to_owned());
        }
        Ok(Range {
            key: key.to_owned(),
            from,
            to,
        })
    }

    /// The hour starts in the range, oldest first.
    pub(crate) fn hours(&self) -> impl Iterator<Item = i64> + '_ {
        (self.from..self.to).step_by(HOUR_MS as usize)
    }

    /// Whether chart labels show days rather than times of day.
    pub(crate) fn by_day(&self) -> bool {
        self.to - self.from > 2 * 24 * HOUR_MS
    }

    /// The links to the presets and the custom range form, for `path`.
    pub(crate) fn picker(&self, path: &str) -> Markup {
        let local = |ms: i64| {
            crate::tenancy::doc::format_time(ms)
                .get(..16)
                .unwrap_or_default()
                .to_owned()
        };
        html! {
            div.ranges role="group" aria-label="Time range" {
                @for (key, label, _) in PRESETS {
                    a href={ (path) "?range=" (key) } aria-current=[(self.key == key).then_some("true")] { (label) }
                }
                form method="get" action=(path) {
                    input type="hidden" name="range" value="custom";
                    input type="hidden" name="tz" value="0";
                    label for="from" { "From" }
                    input #from type="datetime-local" name="from" value=(local(self.from)) data-ms=(self.from) required;
                    label for="to" { "to" }
                    input #to type="datetime-local" name="to" value=(local(self.to)) data-ms=(self.to) required;
                    button.secondary type="submit" { "Show" }
                }
                span.muted {
                    (super::format::time(self.from)) " – " (super::format::time(self.to))
                }
            }
        }
    }
}

/// The start of the UTC hour `ms` falls in.
pub(crate) fn floor_hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Unix milliseconds, RFC 3339, or a browser's `datetime-local` value (`2025-01-31T09:00`,
/// seconds optional) at `tz` minutes behind UTC (JavaScript's `getTimezoneOffset`).
pub(crate) fn instant(text: &str, tz: i64) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    if let Some(ms) = parse_time(text) {
        return Some(ms);
    }
    let with_seconds = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        format!("{text}Z")
    };
    parse_time(&with_seconds).map(|utc| utc + tz * 60_000)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// 2023-11-14 22:13:20 UTC.
    const NOW: i64 = 1_700_000_000_000;
    const HOUR_START: i64 = 1_699_999_200_000;

    #[test]
    fn presets_cover_whole_hours_up_to_the_current_one() {
        let r = Range::parse(&params(&[]), "24h", NOW).unwrap();
        assert_eq!(
            (r.from, r.to),
            (HOUR_START - 24 * HOUR_MS, HOUR_START + HOUR_MS)
        );
        // The hour 24 h ago is partly in the range, so it counts: 25 hours.
        assert_eq!(r.hours().count(), 25);
        let r = Range::parse(&params(&[("range", "1h")]), "24h", NOW).unwrap();
        assert_eq!((r.from, r.to), (HOUR_START - HOUR_MS, HOUR_START + HOUR_MS));
        assert!(!r.by_day());
        assert!(
            Range::parse(&params(&[("range", "30d")]), "24h", NOW)
                .unwrap()
                .by_day()
        );
        assert!(Range::parse(&params(&[("range", "2w")]), "24h", NOW).is_err());
    }

    #[test]
    fn custom_ranges_read_local_times_in_the_browsers_zone() {
        // 09:30 to 11:00 in UTC+1 (offset -60) is 08:30 to 10:00 UTC: hours 08 and 09.
        let p = params(&[
            ("range", "custom"),
            ("from", "2023-11-14T09:30"),
            ("to", "2023-11-14T11:00"),
            ("tz", "-60"),
        ]);
        let r = Range::parse(&p, "24h", NOW).unwrap();
        let eight = HOUR_START - 14 * HOUR_MS;
        assert_eq!((r.from, r.to), (eight, eight + 2 * HOUR_MS));
        let backwards = params(&[
            ("range", "custom"),
            ("from", "2023-11-14T11:00"),
            ("to", "2023-11-14T09:00"),
        ]);
        assert!(Range::parse(&backwards, "24h", NOW).is_err());
        let bad = params(&[
            ("range", "custom"),
            ("from", "yesterday"),
            ("to", "2023-11-14T09:00"),
        ]);
        assert!(
            Range::parse(&bad, "24h", NOW)
                .unwrap_err()
                .contains("`from`")
        );
    }

    #[test]
    fn instants_take_milliseconds_rfc3339_or_local_input() {
        assert_eq!(instant("1700000000000", 0), Some(NOW));
        assert_eq!(instant("2023-11-14T22:13:20Z", 0), Some(NOW));
        assert_eq!(instant("2023-11-14T22:13:20", 0), Some(NOW));
        assert_eq!(instant("2023-11-14T23:13", -60), Some(NOW - 20_000));
        assert_eq!(instant("", 0), None);
    }
}
