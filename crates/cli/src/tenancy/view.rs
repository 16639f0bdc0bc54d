//! How tenancy answers print: a `field: value` view of one document, a table of many, and
//! a key's secret set apart with the warning that it is shown once.

use serde_json::Value;

use super::{Action, Kind};

/// Fields in the order the one-document view shows them; others follow in the API's order.
const ORDER: &[&str] = &[
    "id",
    "name",
    "key_prefix",
    "status",
    "org",
    "team",
    "user",
    "models",
    "rpm",
    "tpm",
    "max_parallel",
    "budget",
    "expires_at",
    "revoked_at",
    "tags",
    "metadata",
    "guardrails",
    "created_at",
    "updated_at",
];

/// Fields never shown as such: the secret has its own block, the spend is in `budget`.
const HIDDEN: &[&str] = &["object", "key", "budget_spent"];

/// The text printed for `action`'s answer.
pub(super) fn render(kind: Kind, action: &Action, answer: &Value) -> String {
    let id = answer["id"].as_str().unwrap_or_default();
    let name = kind.name();
    match action {
        Action::Create(_) => {
            format!(
                "Created {name} {id}.\n\n{}{}",
                detail(kind, answer),
                secret(answer)
            )
        }
        Action::List => list(kind, answer),
        Action::Get(_) => detail(kind, answer),
        Action::Update(..) => format!("Updated {name} {id}.\n\n{}", detail(kind, answer)),
        Action::Delete(_) if kind == Kind::Key => format!("Revoked key {id}.\n"),
        Action::Delete(_) => format!("Deleted {name} {id}.\n"),
        Action::Revoke(_) => format!(
            "Revoked key {id} (at {}); it no longer works.\n",
            text(&answer["revoked_at"])
        ),
        Action::Rotate(_) => format!(
            "Rotated key {id}; the old secret no longer works.\n{}",
            secret(answer)
        ),
    }
}

/// The secret of a create or rotate answer, set apart, with the warning.
fn secret(answer: &Value) -> String {
    match answer["key"].as_str() {
        Some(key) => format!(
            "\n    {key}\n\nThis is the key's secret. Copy it now: it will not be shown again.\n"
        ),
        None => String::new(),
    }
}

/// One document as aligned `field: value` lines, known fields first.
fn detail(kind: Kind, doc: &Value) -> String {
    let Some(map) = doc.as_object() else {
        return format!("{doc}\n");
    };
    let mut fields: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|f| *f != "status" || kind == Kind::Key)
        .collect();
    fields.extend(
        map.keys()
            .map(String::as_str)
            .filter(|k| !ORDER.contains(k) && !HIDDEN.contains(k)),
    );
    let lines: Vec<(&str, String)> = fields
        .into_iter()
        .filter_map(|f| {
            let value = match f {
                "status" => cell(doc, f),
                "budget" if doc["budget"].is_object() => budget_detail(doc),
                _ if is_empty(&doc[f]) => return None,
                _ => cell(doc, f),
            };
            Some((f, value))
        })
        .collect();
    let width = lines.iter().map(|(f, _)| f.len() + 1).max().unwrap_or(0);
    lines
        .iter()
        .map(|(f, v)| format!("{:<width$} {v}\n", format!("{f}:")))
        .collect()
}

/// The columns of a list of `kind`: `(header, field)`.
fn columns(kind: Kind) -> Vec<(&'static str, &'static str)> {
    let own: &[(&str, &str)] = match kind {
        Kind::Key => &[("PREFIX", "key_prefix"), ("TEAM", "team"), ("USER", "user")],
        Kind::Team => &[("ORG", "org")],
        Kind::User => &[("TEAM", "team")],
        Kind::Org => &[],
    };
    let mut out = vec![("ID", "id"), ("NAME", "name")];
    out.extend_from_slice(own);
    out.extend_from_slice(&[
        ("MODELS", "models"),
        ("RPM", "rpm"),
        ("TPM", "tpm"),
        ("PARALLEL", "max_parallel"),
        ("BUDGET", "budget"),
    ]);
    if kind == Kind::Key {
        out.push(("STATUS", "status"));
    }
    out
}

/// A list answer as a table.
fn list(kind: Kind, page: &Value) -> String {
    let docs = page["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if docs.is_empty() {
        return format!("No {}s.\n", kind.name());
    }
    let columns = columns(kind);
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let right: Vec<bool> = columns
        .iter()
        .map(|(_, f)| matches!(*f, "rpm" | "tpm" | "max_parallel"))
        .collect();
    let rows: Vec<Vec<String>> = docs
        .iter()
        .map(|d| columns.iter().map(|(_, f)| cell(d, f)).collect())
        .collect();
    table(&headers, &right, &rows)
}

/// One field of a document as short text; `-` when it is not set.
fn cell(doc: &Value, field: &str) -> String {
    let value = &doc[field];
    match field {
        "status" if !doc["revoked_at"].is_null() => "revoked".into(),
        "status" => "active".into(),
        "models" if is_empty(value) => "all".into(),
        "budget" if value.is_object() => {
            let limit = money_text(&value["amount"]);
            let period = text(&value["period"]);
            match doc["budget_spent"].as_str().and_then(nanos) {
                Some(spent) => format!("{} of {limit} {period}", usd(spent)),
                None => format!("{limit} {period}"),
            }
        }
        _ if is_empty(value) => "-".into(),
        _ => text(value),
    }
}

/// The budget with its alert settings, for the one-document view.
fn budget_detail(doc: &Value) -> String {
    let budget = &doc["budget"];
    let mut out = cell(doc, "budget");
    if let Some(share) = budget["alert_at"].as_f64() {
        out.push_str(&format!(", alert at {}%", (share * 100.0).round()));
    }
    if let Some(url) = budget["webhook"].as_str() {
        out.push_str(&format!(" to {url}"));
    }
    out
}

/// Whether a value is absent or empty.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A value as text: strings bare, lists comma-separated, maps as `k=v`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// A USD amount the API gives as a decimal string (or number), formatted.
fn money_text(value: &Value) -> String {
    let parsed = match value {
        Value::String(s) => nanos(s),
        Value::Number(n) => n.as_f64().map(nanos_of),
        _ => None,
    };
    parsed.map_or_else(|| text(value), usd)
}

/// Nano-USD of a decimal string like `50`, `12.5` or `0.000123`.
pub(super) fn nanos(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<9}").parse().ok()?;
    whole.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// Nano-USD of a float amount (rounded).
pub(super) fn nanos_of(usd: f64) -> i64 {
    // `as` saturates on overflow; amounts this large are not money anyone spends.
    (usd * 1e9).round() as i64
}

/// `$1,234.56`; amounts under a cent keep their significant digits (`$0.000123`).
pub(super) fn usd(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    if abs != 0 && abs < 10_000_000 {
        let frac = format!("{abs:09}");
        return format!("{sign}$0.{}", frac.trim_end_matches('0'));
    }
    let cents = (abs + 5_000_000) / 10_000_000;
    format!("{sign}${}.{:02}", grouped(cents / 100), cents % 100)
}

/// `1234567` as `1,234,567`.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rows under headers, columns as wide as their widest cell; `right` marks the columns
/// aligned right (numbers).
pub(super) fn table(headers: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .zip(right.iter().chain(std::iter::repeat(&false)))
            .map(|((cell, &width), &right)| {
                if right {
                    format!("{cell:>width$}")
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(usd(1_234_560_000_000), "$1,234.56");
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(50_000_000_000), "$50.00");
        assert_eq!(usd(1_005_000_000), "$1.01");
        assert_eq!(usd(10_000_000), "$0.01");
        // Under a cent, the significant digits stay visible.
        assert_eq!(usd(123_000), "$0.000123");
        assert_eq!(usd(5), "$0.000000005");
        assert_eq!(usd(-2_500_000_000), "-$2.50");
        assert_eq!(nanos("12.5"), Some(12_500_000_000));
        assert_eq!(nanos("0.000123"), Some(123_000));
        assert_eq!(nanos("1.0000000001"), None);
        assert_eq!(nanos("x"), None);
        assert_eq!(nanos_of(0.000123), 123_000);
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn a_created_key_shows_its_secret_once_with_a_warning() {
        let answer = json!({
            "id": "key_1", "object": "key", "name": "bot", "key_prefix": "sk-sluice-AbCd…",
            "models": ["fast"], "rpm": 600, "budget": {"amount": "50.00", "period": "monthly",
            "alert_at": 0.8}, "tags": {"env": "prod"}, "metadata": {}, "guardrails": [],
            "created_at": "2026-01-01T00:00:00Z", "key": "sk-sluice-AbCdEfGh"
        });
        let out = render(Kind::Key, &Action::Create(json!({})), &answer);
        assert_eq!(
            out,
            "Created key key_1.\n\n\
             id:         key_1\n\
             name:       bot\n\
             key_prefix: sk-sluice-AbCd…\n\
             status:     active\n\
             models:     fast\n\
             rpm:        600\n\
             budget:     $50.00 monthly, alert at 80%\n\
             tags:       env=prod\n\
             created_at: 2026-01-01T00:00:00Z\n\
             \n    sk-sluice-AbCdEfGh\n\n\
             This is the key's secret. Copy it now: it will not be shown again.\n"
        );
        // A get never carries the secret, and prints no secret block.
        let got = render(Kind::Key, &Action::Get("key_1".into()), &answer);
        assert!(!got.contains("sk-sluice-AbCdEfGh"), "{got}");
    }

    #[test]
    fn lists_are_tables_with_the_kinds_columns() {
        let page = json!({"object": "list", "data": [
            {"id": "key_1", "name": "bot", "key_prefix": "sk-sluice-AbCd…", "team": "team_1",
             "models": [], "rpm": 600, "budget": {"amount": "50.00", "period": "daily"},
             "budget_spent": "12.3"},
            {"id": "key_2", "key_prefix": "sk-sluice-WxYz…", "models": ["fast", "openai/*"],
             "max_parallel": 4, "revoked_at": "2026-01-02T00:00:00Z"},
        ]});
        assert_eq!(
            render(Kind::Key, &Action::List, &page),
            "ID     NAME  PREFIX           TEAM    USER  MODELS          RPM  TPM  PARALLEL  BUDGET                  STATUS\n\
             key_1  bot   sk-sluice-AbCd…  team_1  -     all             600    -         -  $12.30 of $50.00 daily  active\n\
             key_2  -     sk-sluice-WxYz…  -       -     fast, openai/*    -    -         4  -                       revoked\n"
        );
        let teams = json!({"data": [{"id": "team_1", "org": "org_1"}]});
        let out = render(Kind::Team, &Action::List, &teams);
        assert!(out.starts_with("ID      NAME  ORG    MODELS"), "{out}");
        assert!(!out.contains("STATUS"), "{out}");
        assert_eq!(
            render(Kind::User, &Action::List, &json!({"data": []})),
            "No users.\n"
        );
    }

    #[test]
    fn deletes_and_revokes_say_what_happened() {
        let key = json!({"id": "key_1", "revoked_at": "2026-01-02T00:00:00Z"});
        assert_eq!(
            render(Kind::Key, &Action::Revoke("key_1".into()), &key),
            "Revoked key key_1 (at 2026-01-02T00:00:00Z); it no longer works.\n"
        );
        assert_eq!(
            render(Kind::Key, &Action::Delete("key_1".into()), &key),
            "Revoked key key_1.\n"
        );
        let team = json!({"id": "team_1", "object": "team", "deleted": true});
        assert_eq!(
            render(Kind::Team, &Action::Delete("team_1".into()), &team),
            "Deleted team team_1.\n"
        );
        let rotated = json!({"id": "key_1", "key": "sk-sluice-New"});
        let out = render(Kind::Key, &Action::Rotate("key_1".into()), &rotated);
        assert!(out.contains("\n    sk-sluice-New\n"), "{out}");
        assert!(out.contains("will not be shown again"), "{out}");
    }
}
