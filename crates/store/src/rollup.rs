//! The ledger's two grains. Every sum is kept per UTC hour (`spend_hourly`,
//! `latency_hourly`) and again per UTC day (`spend_daily`, `latency_daily`), both written by
//! the log writer in the same transaction. Series (charts) read hours; a sum over a range
//! reads the whole days it covers from the daily tables and only the hours before the first
//! and after the last of them from the hourly ones, so a 30-day report reads about 54 rows
//! per value rather than 721.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::spend::HOUR_MS;

/// One day in milliseconds.
const DAY_MS: i64 = 24 * HOUR_MS;

/// How long a ledger row's bucket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grain {
    /// One UTC hour: `spend_hourly`, `latency_hourly`.
    Hour,
    /// One UTC day: `spend_daily`, `latency_daily`.
    Day,
}

impl Grain {
    /// Both grains, in the order the writer updates their tables.
    pub(crate) const BOTH: [Grain; 2] = [Grain::Hour, Grain::Day];

    /// The tables' name suffix.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Grain::Hour => "hourly",
            Grain::Day => "daily",
        }
    }

    /// The start of the bucket `ms` falls in.
    pub(crate) fn bucket(self, ms: i64) -> i64 {
        let len = match self {
            Grain::Hour => HOUR_MS,
            Grain::Day => DAY_MS,
        };
        ms.div_euclid(len) * len
    }
}

/// Part of a range: the rows of one grain whose bucket starts in `[from, to)`.
pub(crate) type Part = (Grain, i64, i64);

/// Parts that together count each hour starting in `[from, to)` exactly once: the whole
/// UTC days in it from the daily tables, the hours before the first such day and from the
/// end of the last one from the hourly tables. Never empty.
pub(crate) fn parts(from: i64, to: i64) -> Vec<Part> {
    // A day counts when its first hour starts at or after `from` and its last before `to`.
    let first_day = Grain::Day.bucket(from.saturating_add(DAY_MS - 1));
    let end_day = Grain::Day.bucket(to);
    if first_day >= end_day {
        return vec![(Grain::Hour, from, to)];
    }
    let mut parts = Vec::with_capacity(3);
    if from < first_day {
        parts.push((Grain::Hour, from, first_day));
    }
    parts.push((Grain::Day, first_day, end_day));
    if end_day < to {
        parts.push((Grain::Hour, end_day, to));
    }
    parts
}

/// Pushes `SELECT {columns} FROM {table}_{grain} WHERE dim = ? AND bucket >= ? AND bucket < ?`
/// for each of the [`parts`] of `[from, to)`, joined by `UNION ALL`; `filter` appends more
/// conditions to each (starting with ` AND`). Each select reads one range of its table's key.
pub(crate) fn push_parts<'a, DB>(
    b: &mut QueryBuilder<'a, DB>,
    columns: &str,
    table: &str,
    dim: &'a str,
    (from, to): (i64, i64),
    filter: impl Fn(&mut QueryBuilder<'a, DB>),
) where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    for (i, (grain, from, to)) in parts(from, to).into_iter().enumerate() {
        if i > 0 {
            b.push(" UNION ALL ");
        }
        b.push(format!(
            "SELECT {columns} FROM {table}_{} WHERE dim = ",
            grain.suffix()
        ));
        b.push_bind(dim);
        b.push(" AND bucket >= ").push_bind(from);
        b.push(" AND bucket < ").push_bind(to);
        filter(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14 00:00 UTC, the start of a day.
    const D: i64 = 1_699_920_000_000;

    /// Each hour in `[from, to)` once, by the part that counts it.
    fn hours_covered(from: i64, to: i64) -> Vec<i64> {
        let mut hours = Vec::new();
        for (grain, lo, hi) in parts(from, to) {
            let step = match grain {
                Grain::Hour => HOUR_MS,
                Grain::Day => DAY_MS,
            };
            for bucket in (Grain::Hour.bucket(lo + HOUR_MS - 1)..hi).step_by(step as usize) {
                match grain {
                    Grain::Hour => hours.push(bucket),
                    Grain::Day => hours.extend((0..24).map(|h| bucket + h * HOUR_MS)),
                }
            }
        }
        hours
    }

    #[test]
    fn whole_days_come_from_the_daily_tables_and_the_ends_from_the_hourly_ones() {
        // 30 days and an hour, from 14:00: 10 hours, 29 days, 15 hours.
        let (from, to) = (D + 14 * HOUR_MS, D + 30 * DAY_MS + 15 * HOUR_MS);
        assert_eq!(
            parts(from, to),
            [
                (Grain::Hour, from, D + DAY_MS),
                (Grain::Day, D + DAY_MS, D + 30 * DAY_MS),
                (Grain::Hour, D + 30 * DAY_MS, to),
            ]
        );
        // Aligned on days: no hourly part.
        assert_eq!(parts(D, D + 2 * DAY_MS), [(Grain::Day, D, D + 2 * DAY_MS)]);
        // Less than a whole day: hours only, even across midnight.
        let late = D + 20 * HOUR_MS;
        assert_eq!(
            parts(late, late + DAY_MS),
            [(Grain::Hour, late, late + DAY_MS)]
        );
        assert_eq!(parts(to, from), [(Grain::Hour, to, from)]);
    }

    #[test]
    fn every_hour_of_a_range_counts_exactly_once() {
        for (from_h, to_h) in [
            (0, 1),
            (5, 29),
            (0, 24),
            (23, 49),
            (1, 24 * 9 + 3),
            (24, 72),
        ] {
            let (from, to) = (D + from_h * HOUR_MS, D + to_h * HOUR_MS);
            let want: Vec<i64> = (from..to).step_by(HOUR_MS as usize).collect();
            assert_eq!(hours_covered(from, to), want, "{from_h}..{to_h}");
        }
        // A start inside an hour counts from the next hour, like the hourly ledger's reads.
        let from = D + 30 * 60_000;
        assert_eq!(hours_covered(from, D + 3 * HOUR_MS)[0], D + HOUR_MS);
        // An open end (budgets: everything since a time).
        assert_eq!(
            parts(D, i64::MAX)[0],
            (Grain::Day, D, Grain::Day.bucket(i64::MAX))
        );
    }
}
