//! Budget periods and the small amount of UTC calendar maths they need.
//!
//! Days are counted from 1970-01-01 with the proleptic Gregorian calendar (the
//! "days from civil" conversion and its inverse), so a period's bounds are plain unix
//! milliseconds and no date library is needed. Every period is in UTC.

use std::fmt;

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// How often a budget starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A UTC calendar day, from 00:00.
    Daily,
    /// An ISO week: Monday 00:00 UTC to the next Monday.
    Weekly,
    /// A UTC calendar month, from the 1st at 00:00.
    Monthly,
    /// Never resets.
    Total,
}

impl Period {
    /// When the period containing `now_ms` began (unix milliseconds). A total budget
    /// counts from the Unix epoch, so its start is 0.
    pub fn start(self, now_ms: i64) -> i64 {
        let day = now_ms.div_euclid(DAY_MS);
        match self {
            Period::Daily => day * DAY_MS,
            Period::Weekly => (day - weekday(day)) * DAY_MS,
            Period::Monthly => {
                let c = civil_from_days(day);
                days_from_civil(c.year, c.month, 1) * DAY_MS
            }
            Period::Total => 0,
        }
    }

    /// When the period containing `now_ms` ends, that is when the next one starts; `None`
    /// for a total budget.
    pub fn end(self, now_ms: i64) -> Option<i64> {
        let start = self.start(now_ms);
        match self {
            Period::Daily => Some(start + DAY_MS),
            Period::Weekly => Some(start + 7 * DAY_MS),
            Period::Monthly => {
                let c = civil_from_days(start.div_euclid(DAY_MS));
                let (year, month) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                Some(days_from_civil(year, month, 1) * DAY_MS)
            }
            Period::Total => None,
        }
    }

    /// A stable name of the period containing `now_ms`, used in counter keys:
    /// `d20261125` (day), `w2026-11-23` (the week's Monday), `m202611` (month) or `total`.
    pub fn id(self, now_ms: i64) -> String {
        let c = civil_from_days(self.start(now_ms).div_euclid(DAY_MS));
        match self {
            Period::Daily => format!("d{:04}{:02}{:02}", c.year, c.month, c.day),
            Period::Weekly => format!("w{:04}-{:02}-{:02}", c.year, c.month, c.day),
            Period::Monthly => format!("m{:04}{:02}", c.year, c.month),
            Period::Total => "total".to_owned(),
        }
    }

    /// The period named `daily`, `weekly`, `monthly` or `total` (any case).
    pub fn parse(s: &str) -> Option<Period> {
        [
            Period::Daily,
            Period::Weekly,
            Period::Monthly,
            Period::Total,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// The name [`Period::parse`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Total => "total",
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    /// 1 to 12.
    pub(crate) month: i64,
    /// 1 to 31.
    pub(crate) day: i64,
}

/// Days from 1970-01-01 to `year-month-day` (negative before it).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count years from March, so the leap day is the last day of the counted year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01; the inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> Civil {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil { year, month, day }
}

/// Days since the Monday on or before day `days` (0 on a Monday); 1970-01-01 was a
/// Thursday.
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// `ms` as an RFC 3339 UTC timestamp to the second, e.g. `2026-12-01T00:00:00Z`.
pub(crate) fn format_utc(ms: i64) -> String {
    let c = civil_from_days(ms.div_euclid(DAY_MS));
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year,
        c.month,
        c.day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
