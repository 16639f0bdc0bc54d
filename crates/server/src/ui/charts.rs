//! Time-series charts as inline SVG, written here rather than with a chart crate: a line
//! chart of hourly values is a few paths and labels, and writing it directly lets every
//! colour come from the stylesheet (both colour schemes, contrast), gives each chart a
//! `<title>` and `<desc>` for screen readers, and marks the time labels (`data-ms`) so the
//! page's script can show them in the browser's time zone. See `docs/architecture.md`.

use std::fmt::Write as _;

use maud::{Markup, html};

use super::format;

/// The chart's drawing size in SVG units; it scales to the width of its box.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;
/// Room for the value labels (left) and the time labels (bottom).
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// Horizontal grid lines above the zero line.
const GRID: u32 = 4;
/// Time labels at most.
const MAX_TICKS: usize = 6;

/// What a chart's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Requests, tokens.
    Count,
    /// US dollars.
    Usd,
    /// Milliseconds.
    Millis,
    /// A share from 0 to 100.
    Percent,
}

impl Unit {
    /// The smallest top of the value axis, so that its grid labels stay distinct.
    fn min_top(self) -> f64 {
        match self {
            Unit::Usd => 0.0001,
            Unit::Count | Unit::Millis | Unit::Percent => f64::from(GRID),
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            Unit::Count => compact(v),
            Unit::Usd => format::usd(Some(v)),
            Unit::Millis => format::millis(Some(v)),
            Unit::Percent => format!("{v:.0}%"),
        }
    }
}

/// One line: a name for the legend and one value (or a gap) per hour.
pub(crate) struct Line<'a> {
    pub(crate) name: &'a str,
    pub(crate) points: Vec<Option<f64>>,
}

/// A figure with a line chart of `lines` over the hours `xs` (unix ms), titled `title`.
/// `by_day` labels the time axis with dates rather than times of day.
pub(crate) fn line_chart(
    id: &str,
    title: &str,
    xs: &[i64],
    lines: &[Line<'_>],
    unit: Unit,
    by_day: bool,
) -> Markup {
    let values = lines.iter().flat_map(|l| l.points.iter().flatten());
    let peak = values.clone().fold(0.0_f64, |a, v| a.max(*v));
    let max = nice_ceiling(peak).max(unit.min_top());
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| match xs.len() {
        0 | 1 => LEFT + plot_w / 2.0,
        n => LEFT + plot_w * i as f64 / (n - 1) as f64,
    };
    let y = |v: f64| TOP + plot_h - plot_h * (v / max).clamp(0.0, 1.0);
    let summary = if values.clone().next().is_none() {
        "No data in this range.".to_owned()
    } else {
        format!("Hourly values; the highest is {}.", unit.label(peak))
    };
    let step = xs.len().div_ceil(MAX_TICKS).max(1);
    let (title_id, desc_id) = (format!("{id}-t"), format!("{id}-d"));
    html! {
        figure {
            figcaption #(format!("{id}-c")) { (title) }
            svg.chart #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
                aria-labelledby={ (title_id) " " (desc_id) } {
                title #(title_id) { (title) }
                desc #(desc_id) { (summary) }
                @for k in 0..=GRID {
                    @let v = max * f64::from(k) / f64::from(GRID);
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(v)) y2=(y(v)) {}
                    text x=(LEFT - 6.0) y=(y(v) + 4.0) text-anchor="end" { (unit.label(v)) }
                }
                @for (i, at) in xs.iter().enumerate().step_by(step) {
                    text x=(x(i)) y=(HEIGHT - 6.0) text-anchor="middle" data-ms=(at)
                        data-unit=(if by_day { "day" } else { "hour" }) { (utc_label(*at, by_day)) }
                }
                @if values.clone().next().is_none() {
                    text x=(LEFT + (WIDTH - LEFT - RIGHT) / 2.0) y=(TOP + (HEIGHT - TOP - BOTTOM) / 2.0)
                        text-anchor="middle" { "No data in this range" }
                }
                @for (n, line) in lines.iter().enumerate() {
                    @let class = format!("s{}", n % 2);
                    @let (d, dots) = path(&line.points, &x, &y);
                    @if !d.is_empty() {
                        path class=(class) d=(d) {}
                    }
                    @for (cx, cy) in dots {
                        circle class=(class) cx=(cx) cy=(cy) r="2.5" {}
                    }
                }
            }
            @if lines.len() > 1 {
                ul.legend {
                    @for (n, line) in lines.iter().enumerate() {
                        li class={ "k" (n % 2) } { (line.name) }
                    }
                }
            }
        }
    }
}

/// The path through `points` (a gap breaks it) and the points that stand alone, which a
/// path would not show.
fn path(
    points: &[Option<f64>],
    x: &dyn Fn(usize) -> f64,
    y: &dyn Fn(f64) -> f64,
) -> (String, Vec<(f64, f64)>) {
    let mut d = String::new();
    let mut dots = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
        match run.as_slice() {
            [] => {}
            [one] => dots.push(*one),
            many => {
                for (i, (px, py)) in many.iter().enumerate() {
                    let cmd = if i == 0 { 'M' } else { 'L' };
                    let sep = if d.is_empty() { "" } else { " " };
                    let _ = write!(d, "{sep}{cmd}{px:.1} {py:.1}");
                }
            }
        }
        run.clear();
    };
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => run.push((x(i), y(*v))),
            None => flush(&mut run, &mut d),
        }
    }
    flush(&mut run, &mut d);
    (d, dots)
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (1 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let exp = 10f64.powf(v.log10().floor());
    let f = v / exp;
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|n| f <= *n + 1e-9)
        .unwrap_or(10.0);
    nice * exp
}

/// `1.2k`, `3.4M`; small values as they are.
fn compact(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{:.1}G", v / 1e9),
        a if a >= 1e6 => format!("{:.1}M", v / 1e6),
        a if a >= 1e3 => format!("{:.1}k", v / 1e3),
        a if a >= 10.0 || v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v:.1}"),
    }
}

/// The UTC label of an hour, for browsers without the script: `22:00` or `Nov 14`.
fn utc_label(ms: i64, by_day: bool) -> String {
    let iso = crate::tenancy::doc::format_time(ms);
    if by_day {
        iso.get(5..10).unwrap_or_default().to_owned()
    } else {
        iso.get(11..16).unwrap_or_default().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 1_699_999_200_000;

    #[test]
    fn ceilings_are_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(0.031), 0.05);
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(compact(1234.0), "1.2k");
        assert_eq!(compact(2_500_000.0), "2.5M");
        assert_eq!(compact(0.5), "0.5");
    }

    #[test]
    fn a_line_is_scaled_to_the_plot_and_breaks_at_gaps() {
        let xs = [H, H + 3_600_000, H + 7_200_000, H + 10_800_000];
        let line = Line {
            name: "p50",
            points: vec![Some(0.0), Some(10.0), None, Some(5.0)],
        };
        let svg = line_chart("lat", "Latency", &xs, &[line], Unit::Millis, false).into_string();
        // Max 10 → the plot's top (y = 10); 0 → its bottom (y = 176). x from 72 to 576.
        assert!(svg.contains(r#"d="M72.0 176.0 L240.0 10.0""#), "{svg}");
        // The value after the gap stands alone: a dot at x = 576, y = 93 (half of 10).
        assert!(svg.contains(r#"cx="576" cy="93""#), "{svg}");
        assert!(svg.contains(r#"role="img" aria-labelledby="lat-t lat-d""#));
        assert!(svg.contains("the highest is 10 ms"));
        assert!(svg.contains(r#"data-ms="1699999200000" data-unit="hour">22:00</text>"#));
        assert!(!svg.contains("legend"), "one line needs no legend");
    }

    #[test]
    fn several_lines_get_a_legend_and_labels_are_escaped() {
        let lines = [
            Line {
                name: "p50 <fast>",
                points: vec![Some(1.0)],
            },
            Line {
                name: "p95",
                points: vec![None],
            },
        ];
        let svg = line_chart("c", "A & B", &[H], &lines, Unit::Usd, true).into_string();
        assert!(svg.contains("<title id=\"c-t\">A &amp; B</title>"));
        assert!(svg.contains(r#"<li class="k0">p50 &lt;fast&gt;</li>"#));
        assert!(svg.contains(r#"data-unit="day">11-14</text>"#));
        let empty = line_chart("e", "Nothing", &[H], &[], Unit::Count, false).into_string();
        assert!(empty.contains("No data in this range."));
        assert!(empty.contains(">No data in this range</text>"));
        // An empty axis still counts 0, 1, 2, 3, 4.
        assert!(empty.contains(">3</text>"), "{empty}");
    }
}
