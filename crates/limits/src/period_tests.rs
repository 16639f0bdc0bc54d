use super::*;

/// Unix milliseconds of `year-month-day hh:mm:ss.mmm` UTC.
fn at(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64, ms: i64) -> i64 {
    days_from_civil(year, month, day) * DAY_MS + ((h * 60 + m) * 60 + s) * 1000 + ms
}

#[test]
fn days_from_civil_matches_known_dates() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(days_from_civil(1970, 1, 5), 4);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2026, 11, 23), 20_780);
    assert_eq!(days_from_civil(2027, 1, 1), 20_819);
}

#[test]
fn civil_from_days_inverts_days_from_civil() {
    for days in (-800_000..800_000).step_by(13) {
        let c = civil_from_days(days);
        assert!(
            (1..=12).contains(&c.month) && (1..=31).contains(&c.day),
            "{c:?}"
        );
        assert_eq!(days_from_civil(c.year, c.month, c.day), days, "{c:?}");
    }
}

#[test]
fn leap_days_follow_the_gregorian_rules() {
    let next = |y, m, d| civil_from_days(days_from_civil(y, m, d) + 1);
    let date = |year, month, day| Civil { year, month, day };
    assert_eq!(next(2024, 2, 28), date(2024, 2, 29));
    assert_eq!(next(2024, 2, 29), date(2024, 3, 1));
    assert_eq!(next(2026, 2, 28), date(2026, 3, 1));
    assert_eq!(next(2000, 2, 28), date(2000, 2, 29));
    assert_eq!(next(2100, 2, 28), date(2100, 3, 1));
    assert_eq!(next(2026, 12, 31), date(2027, 1, 1));
}

#[test]
fn daily_periods_run_from_midnight_to_midnight() {
    let now = at(2026, 11, 25, 13, 45, 0, 0);
    assert_eq!(Period::Daily.id(now), "d20261125");
    assert_eq!(Period::Daily.start(now), at(2026, 11, 25, 0, 0, 0, 0));
    assert_eq!(Period::Daily.end(now), Some(at(2026, 11, 26, 0, 0, 0, 0)));
    let last = at(2026, 12, 31, 23, 59, 59, 999);
    assert_eq!(Period::Daily.id(last), "d20261231");
    assert_eq!(Period::Daily.id(last + 1), "d20270101");
    assert_eq!(Period::Daily.id(at(2024, 2, 29, 12, 0, 0, 0)), "d20240229");
}

#[test]
fn periods_before_the_epoch_round_down() {
    let now = at(1969, 12, 31, 23, 0, 0, 0);
    assert!(now < 0);
    assert_eq!(Period::Daily.id(now), "d19691231");
    assert_eq!(Period::Daily.start(now), -DAY_MS);
    assert_eq!(Period::Monthly.id(now), "m196912");
}

#[test]
fn weeks_start_on_monday() {
    let monday = at(2026, 11, 23, 0, 0, 0, 0);
    assert_eq!(Period::Weekly.id(monday), "w2026-11-23");
    assert_eq!(Period::Weekly.id(monday - 1), "w2026-11-16");
    let wednesday = at(2026, 11, 25, 13, 45, 0, 0);
    assert_eq!(Period::Weekly.id(wednesday), "w2026-11-23");
    assert_eq!(Period::Weekly.start(wednesday), monday);
    assert_eq!(Period::Weekly.end(wednesday), Some(monday + 7 * DAY_MS));
    let sunday_night = at(2026, 11, 29, 23, 59, 59, 999);
    assert_eq!(Period::Weekly.id(sunday_night), "w2026-11-23");
    assert_eq!(Period::Weekly.id(sunday_night + 1), "w2026-11-30");
}

#[test]
fn weeks_cross_year_boundaries() {
    // 2027-01-01 is a Friday: its week began on Monday 2026-12-28.
    assert_eq!(Period::Weekly.id(at(2027, 1, 1, 8, 0, 0, 0)), "w2026-12-28");
    assert_eq!(
        Period::Weekly.end(at(2027, 1, 1, 8, 0, 0, 0)),
        Some(at(2027, 1, 4, 0, 0, 0, 0))
    );
    // 1970-01-01 is a Thursday.
    assert_eq!(Period::Weekly.id(0), "w1969-12-29");
}

#[test]
fn months_end_on_the_first_of_the_next() {
    let now = at(2026, 11, 25, 13, 45, 0, 0);
    assert_eq!(Period::Monthly.id(now), "m202611");
    assert_eq!(Period::Monthly.start(now), at(2026, 11, 1, 0, 0, 0, 0));
    assert_eq!(Period::Monthly.end(now), Some(at(2026, 12, 1, 0, 0, 0, 0)));
    let december = at(2026, 12, 31, 23, 59, 59, 999);
    assert_eq!(Period::Monthly.id(december), "m202612");
    assert_eq!(
        Period::Monthly.end(december),
        Some(at(2027, 1, 1, 0, 0, 0, 0))
    );
    assert_eq!(Period::Monthly.id(december + 1), "m202701");
    let february = at(2024, 2, 10, 0, 0, 0, 0);
    assert_eq!(
        Period::Monthly.end(february),
        Some(at(2024, 3, 1, 0, 0, 0, 0))
    );
}

#[test]
fn total_never_resets() {
    let now = at(2026, 11, 25, 13, 45, 0, 0);
    assert_eq!(Period::Total.id(now), "total");
    assert_eq!(Period::Total.start(now), 0);
    assert_eq!(Period::Total.end(now), None);
}

#[test]
fn periods_parse_from_their_names() {
    for p in [
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Total,
    ] {
        assert_eq!(Period::parse(p.as_str()), Some(p));
        assert_eq!(Period::parse(&p.to_string().to_uppercase()), Some(p));
    }
    assert_eq!(Period::parse("yearly"), None);
    assert_eq!(Period::parse(""), None);
}

#[test]
fn timestamps_format_as_rfc3339() {
    assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(
        format_utc(at(2026, 12, 1, 7, 5, 9, 999)),
        "2026-12-01T07:05:09Z"
    );
}
