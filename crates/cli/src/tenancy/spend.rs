//! `sluice spend`: what was spent, grouped by key, team, org, user, model, provider or tag,
//! as a table with a total row (or the API's JSON).

use std::process::ExitCode;

use serde_json::Value;

use super::view::{grouped, nanos_of, table, usd};
use sluice_store::SpendDim;

use crate::admin::{AdminArgs, AdminClient, encode, run_command};

/// A `--by` value: a dimension of the spend ledger.
fn parse_dim(text: &str) -> Result<SpendDim, String> {
    SpendDim::parse(text).ok_or_else(|| {
        format!("unknown dimension {text:?}; expected key, team, org, user, model, provider or tag")
    })
}

/// Options of `sluice spend`.
#[derive(clap::Args, Debug)]
pub struct SpendArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// What to group by: key, team, org, user, model, provider or tag.
    #[arg(long, value_parser = parse_dim, default_value = "model")]
    by: SpendDim,
    /// Start: unix ms, RFC 3339, or an age such as 30m, 24h, 7d or 2w (default: 30 days ago).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End, in the same forms (default: now).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// At most this many groups, highest cost first.
    #[arg(long, short = 'n')]
    limit: Option<u32>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `sluice spend`.
pub fn run(args: SpendArgs) -> ExitCode {
    run_command(async move {
        let client = AdminClient::new(&args.admin);
        let answer = client.get_json(&query(&args, now_ms())).await?;
        if args.json {
            let text = serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?;
            println!("{text}");
        } else {
            print!("{}", report(&answer));
        }
        Ok(())
    })
}

/// The request path with its query.
fn query(args: &SpendArgs, now: i64) -> String {
    let mut path = format!("/admin/v1/spend?group_by={}", args.by.name());
    for (name, value) in [("from", &args.from), ("to", &args.to)] {
        if let Some(v) = value {
            path.push_str(&format!("&{name}={}", encode(&time(v, now))));
        }
    }
    if let Some(n) = args.limit {
        path.push_str(&format!("&limit={n}"));
    }
    path
}

/// An age like `7d` as the unix ms that long before `now`; anything else unchanged (the
/// gateway reads unix ms and RFC 3339).
fn time(text: &str, now: i64) -> String {
    let unit_ms = match text.chars().last() {
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        Some('w') => 7 * 86_400_000,
        _ => return text.to_owned(),
    };
    match text[..text.len() - 1].parse::<i64>() {
        Ok(n) if n >= 0 => now.saturating_sub(n.saturating_mul(unit_ms)).to_string(),
        _ => text.to_owned(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The spend answer as a table with a total row.
fn report(answer: &Value) -> String {
    let rows = answer["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if rows.is_empty() {
        return "No spend in this window.\n".into();
    }
    let count = |r: &Value, k: &str| r[k].as_u64().unwrap_or_default();
    let money = |r: &Value, k: &str| nanos_of(r[k].as_f64().unwrap_or_default());
    let mut total = [0u64; 3];
    let mut total_money = [0i64; 2];
    let mut lines = Vec::with_capacity(rows.len() + 1);
    for r in rows {
        let counts = [
            count(r, "requests"),
            count(r, "prompt_tokens"),
            count(r, "completion_tokens"),
        ];
        let amounts = [money(r, "cost_usd"), money(r, "saved_usd")];
        for (t, c) in total.iter_mut().zip(counts) {
            *t = t.saturating_add(c);
        }
        for (t, a) in total_money.iter_mut().zip(amounts) {
            *t = t.saturating_add(a);
        }
        lines.push(line(r["group"].as_str().unwrap_or("-"), counts, amounts));
    }
    lines.push(line("TOTAL", total, total_money));
    table(
        &["GROUP", "REQUESTS", "PROMPT", "COMPLETION", "COST", "SAVED"],
        &[false, true, true, true, true, true],
        &lines,
    )
}

fn line(group: &str, counts: [u64; 3], amounts: [i64; 2]) -> Vec<String> {
    let mut out = vec![group.to_owned()];
    out.extend(counts.into_iter().map(grouped));
    out.extend(amounts.into_iter().map(usd));
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use serde_json::json;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        args: SpendArgs,
    }

    fn args(argv: &str) -> SpendArgs {
        let argv = std::iter::once("spend").chain(argv.split_whitespace());
        Probe::try_parse_from(argv).unwrap().args
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn flags_become_the_query() {
        assert_eq!(query(&args(""), NOW), "/admin/v1/spend?group_by=model");
        assert_eq!(
            query(
                &args("--by tag --from 7d --to 2026-01-01T00:00:00+01:00 -n 5"),
                NOW
            ),
            format!(
                "/admin/v1/spend?group_by=tag&from={}&to=2026-01-01T00%3A00%3A00%2B01%3A00&limit=5",
                NOW - 7 * 86_400_000
            )
        );
        assert_eq!(time("24h", NOW), (NOW - 86_400_000).to_string());
        assert_eq!(time("30m", NOW), (NOW - 1_800_000).to_string());
        assert_eq!(time("2w", NOW), (NOW - 14 * 86_400_000).to_string());
        assert_eq!(time("1700000000000", NOW), "1700000000000");
        assert_eq!(time("soon", NOW), "soon");
        assert!(Probe::try_parse_from(["spend", "--by", "colour"]).is_err());
    }

    #[test]
    fn the_report_is_a_table_with_a_total() {
        let answer = json!({"object": "list", "group_by": "key", "data": [
            {"group": "key_big", "requests": 1200, "prompt_tokens": 2_500_000,
             "completion_tokens": 800_000, "cached_tokens": 0, "cost_usd": 1234.5,
             "saved_usd": 0.25},
            {"group": "key_small", "requests": 3, "prompt_tokens": 30,
             "completion_tokens": 12, "cached_tokens": 0, "cost_usd": 0.000042,
             "saved_usd": 0.0},
        ]});
        assert_eq!(
            report(&answer),
            "GROUP      REQUESTS     PROMPT  COMPLETION       COST  SAVED\n\
             key_big       1,200  2,500,000     800,000  $1,234.50  $0.25\n\
             key_small         3         30          12  $0.000042  $0.00\n\
             TOTAL         1,203  2,500,030     800,012  $1,234.50  $0.25\n"
        );
        assert_eq!(report(&json!({"data": []})), "No spend in this window.\n");
    }
}
