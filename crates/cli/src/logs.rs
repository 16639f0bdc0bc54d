//! `sluice logs`: the request log of a running gateway, as a table (or JSON lines), oldest
//! of the last N first; `--follow` keeps printing new records as they are written.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::admin::{AdminArgs, AdminClient, encode};

/// How often `--follow` asks for new records.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// How far back `--follow` looks for records written late (long streams end, and are
/// written, well after they arrived).
const FOLLOW_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Options of `sluice logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    #[command(flatten)]
    admin: AdminArgs,
    /// Keep printing new records as they arrive.
    #[arg(long, short)]
    follow: bool,
    /// How many of the newest records to print first (1 to 1000).
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Only this model (requested name or resolved group).
    #[arg(long)]
    model: Option<String>,
    /// Only this provider.
    #[arg(long)]
    provider: Option<String>,
    /// Only this status: `200`, a class like `5xx`, or `error` (400 and above).
    #[arg(long)]
    status: Option<String>,
    /// Only this end user.
    #[arg(long)]
    user: Option<String>,
    /// Only this virtual key (its id).
    #[arg(long)]
    key: Option<String>,
    /// Only this team (its id).
    #[arg(long)]
    team: Option<String>,
    /// Only this org (its id).
    #[arg(long)]
    org: Option<String>,
    /// Only this cache outcome: `HIT`, `MISS`, `BYPASS`.
    #[arg(long)]
    cache: Option<String>,
    /// Only records with this tag: `name=value`.
    #[arg(long)]
    tag: Option<String>,
    /// Only records that cost at least this many USD.
    #[arg(long)]
    min_cost: Option<String>,
    /// Only records that took at least this many milliseconds.
    #[arg(long)]
    min_duration_ms: Option<String>,
    /// Print the one record with this request id, every field.
    #[arg(long, conflicts_with = "follow")]
    id: Option<String>,
}

/// Runs `sluice logs`.
pub fn run(args: LogsArgs) -> ExitCode {
    crate::admin::run_command(logs(args))
}

async fn logs(args: LogsArgs) -> Result<(), String> {
    let client = AdminClient::new(&args.admin);
    if let Some(id) = &args.id {
        let record = client
            .get_json(&format!("/admin/v1/logs/{}", encode(id)))
            .await?;
        let text = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?;
        println!("{text}");
        return Ok(());
    }
    let mut filters = String::new();
    for (name, value) in [
        ("model", &args.model),
        ("provider", &args.provider),
        ("status", &args.status),
        ("user", &args.user),
        ("key", &args.key),
        ("team", &args.team),
        ("org", &args.org),
        ("cache", &args.cache),
        ("tag", &args.tag),
        ("min_cost", &args.min_cost),
        ("min_duration_ms", &args.min_duration_ms),
    ] {
        if let Some(v) = value {
            filters.push_str(&format!("&{name}={}", encode(v)));
        }
    }
    let page = client
        .get_json(&format!("/admin/v1/logs?limit={}{filters}", args.limit))
        .await?;
    let mut first = records(&page);
    first.reverse();
    if !args.json {
        println!("{}", header());
    }
    let mut seen: HashSet<(i64, String)> = HashSet::new();
    let mut newest = i64::MIN;
    for r in &first {
        print_record(r, args.json);
        seen.insert(key(r));
        newest = newest.max(r["received_at"].as_i64().unwrap_or_default());
    }
    if !args.follow {
        return Ok(());
    }
    if newest == i64::MIN {
        newest = now_ms();
    }
    // Records of the window that were not among the first N are old news, not new records.
    let page = client
        .get_json(&format!(
            "/admin/v1/logs?limit=1000&from={}{filters}",
            newest - FOLLOW_WINDOW_MS
        ))
        .await?;
    seen.extend(records(&page).iter().map(key));
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let from = newest - FOLLOW_WINDOW_MS;
        let page = client
            .get_json(&format!("/admin/v1/logs?limit=1000&from={from}{filters}"))
            .await?;
        let mut fresh: Vec<Value> = records(&page)
            .into_iter()
            .filter(|r| !seen.contains(&key(r)))
            .collect();
        fresh.sort_by_key(key);
        for r in &fresh {
            print_record(r, args.json);
            seen.insert(key(r));
            newest = newest.max(r["received_at"].as_i64().unwrap_or_default());
        }
        seen.retain(|(at, _)| *at >= newest - FOLLOW_WINDOW_MS);
    }
}

fn records(page: &Value) -> Vec<Value> {
    page["data"].as_array().cloned().unwrap_or_default()
}

fn key(r: &Value) -> (i64, String) {
    (
        r["received_at"].as_i64().unwrap_or_default(),
        r["id"].as_str().unwrap_or_default().to_owned(),
    )
}

fn print_record(r: &Value, json: bool) {
    if json {
        println!("{r}");
    } else {
        println!("{}", row(r));
    }
}

fn header() -> String {
    format!(
        "{:<23}  {:<24}  {:>6}  {:<11}  {:<24}  {:<32}  {:>13}  {:>7}  {:>8}  ERROR",
        "TIME (UTC)", "ID", "STATUS", "API", "MODEL", "TARGET", "TOKENS IN/OUT", "TTFT", "DURATION"
    )
}

/// One table row.
fn row(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or("");
    let n = |k: &str| r[k].as_u64();
    let model = match (s("requested_model"), s("resolved_model")) {
        (req, res) if req == res || res.is_empty() => req.to_owned(),
        (req, res) => format!("{req}→{res}"),
    };
    let target = if s("provider").is_empty() {
        "-".to_owned()
    } else {
        format!("{}/{}", s("provider"), s("upstream_model"))
    };
    let tokens = match (n("prompt_tokens"), n("completion_tokens")) {
        (None, None) => "-".to_owned(),
        (p, c) => format!(
            "{}/{}",
            p.map_or("?".into(), |v| v.to_string()),
            c.map_or("?".into(), |v| v.to_string())
        ),
    };
    let ms = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{v}ms"));
    let attempts = r["attempts"].as_array().map_or(0, Vec::len);
    let mut error = s("error_message").replace('\n', " ");
    if attempts > 1 {
        error = format!("[{attempts} attempts] {error}");
    }
    format!(
        "{:<23}  {:<24}  {:>6}  {:<11}  {:<24}  {:<32}  {:>13}  {:>7}  {:>8}  {}",
        utc(r["received_at"].as_i64().unwrap_or_default()),
        clip(s("id"), 24),
        n("status").unwrap_or_default(),
        format!(
            "{}{}",
            s("api"),
            if r["stream"] == true { "+sse" } else { "" }
        ),
        clip(&model, 24),
        clip(&target, 32),
        tokens,
        ms(n("ttft_ms")),
        ms(n("duration_ms")),
        clip(&error, 80),
    )
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of unix milliseconds.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn rows_summarise_a_record() {
        let r = serde_json::json!({
            "id": "req_1", "received_at": 1_700_000_000_123_i64, "status": 502, "api": "chat",
            "stream": true, "requested_model": "auto", "resolved_model": "fast",
            "provider": "openai", "upstream_model": "gpt-4o-mini", "prompt_tokens": 12,
            "completion_tokens": null, "ttft_ms": 80, "duration_ms": 900,
            "attempts": [{}, {}], "error_message": "upstream failed"
        });
        let row = row(&r);
        for part in [
            "2023-11-14 22:13:20.123",
            "req_1",
            "502",
            "chat+sse",
            "auto→fast",
            "openai/gpt-4o-mini",
            "12/?",
            "80ms",
            "900ms",
            "[2 attempts] upstream failed",
        ] {
            assert!(row.contains(part), "{part} missing in {row}");
        }
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
