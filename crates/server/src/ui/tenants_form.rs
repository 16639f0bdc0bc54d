//! The form that creates or edits a key or team, and its translation into the admin API's
//! JSON: a document for create, an RFC 7386 merge patch for update (an emptied field
//! becomes `null`, which removes it).

use std::collections::HashMap;

use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::csrf;
use super::range::instant;
use crate::tenancy::doc::{Kind, format_time};

/// Whole-number limits: field, label.
const LIMITS: [(&str, &str); 3] = [
    ("rpm", "Requests per minute"),
    ("tpm", "Tokens per minute"),
    ("max_parallel", "Requests in flight (per replica)"),
];
/// Budget periods.
const PERIODS: [&str; 4] = ["daily", "weekly", "monthly", "total"];

/// What a select offers: `(id, label)`.
pub(crate) type Choices = Vec<(String, String)>;

/// The form's current values: from a stored document, or from a form sent back.
pub(crate) struct Values(HashMap<String, String>);

impl Values {
    /// The fields of a stored document (`GET /admin/v1/{kind}/{id}`).
    pub(crate) fn of_doc(doc: &Value) -> Values {
        let mut v = HashMap::new();
        for f in ["name", "team", "user", "org", "rpm", "tpm", "max_parallel"] {
            match &doc[f] {
                Value::String(s) => v.insert(f.to_owned(), s.clone()),
                Value::Number(n) => v.insert(f.to_owned(), n.to_string()),
                _ => None,
            };
        }
        let models: Vec<&str> = doc["models"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        v.insert("models".into(), models.join(", "));
        if let Some(b) = doc["budget"].as_object() {
            let s = |k: &str| {
                b.get(k)
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            };
            v.extend(s("amount").map(|a| ("budget_amount".to_owned(), a)));
            v.extend(s("period").map(|p| ("budget_period".to_owned(), p)));
            v.extend(s("alert_at").map(|a| ("budget_alert_at".to_owned(), a)));
        }
        if let Some(e) = doc["expires_at"].as_str() {
            v.insert("expires_at".into(), e.get(..16).unwrap_or(e).to_owned());
            v.insert(
                "expires_ms".into(),
                crate::tenancy::doc::parse_time(e).unwrap_or(0).to_string(),
            );
        }
        Values(v)
    }

    /// The fields of a form sent back (to show it again after a refusal).
    pub(crate) fn of_form(form: &HashMap<String, String>) -> Values {
        Values(form.clone())
    }

    fn get(&self, f: &str) -> &str {
        self.0.get(f).map_or("", String::as_str)
    }
}

/// The create or edit form for `kind`, posting to `action`.
pub(crate) fn render(
    kind: Kind,
    action: &str,
    csrf_token: &str,
    values: &Values,
    parents: &Choices,
    submit: &str,
) -> Markup {
    let id = |f: &str| format!("{}-{f}", kind.name());
    let (parent_field, parent_label) = match kind {
        Kind::Key => ("team", "Team"),
        _ => ("org", "Org"),
    };
    html! {
        form.filters method="post" action=(action) {
            (csrf::field(csrf_token))
            input type="hidden" name="tz" value="0";
            div {
                label for=(id("name")) { "Name" }
                input id=(id("name")) type="text" name="name" value=(values.get("name")) required[kind == Kind::Key];
            }
            div {
                label for=(id(parent_field)) { (parent_label) }
                select id=(id(parent_field)) name=(parent_field) {
                    option value="" { "none" }
                    @for (pid, label) in parents {
                        option value=(pid) selected[values.get(parent_field) == pid] { (label) }
                    }
                }
            }
            @if kind == Kind::Key {
                div {
                    label for=(id("user")) { "User " span.hint { "(default owner)" } }
                    input id=(id("user")) type="text" name="user" value=(values.get("user"));
                }
            }
            div {
                label for=(id("models")) { "Allowed models " span.hint { "(comma-separated globs; empty: all)" } }
                input id=(id("models")) type="text" name="models" value=(values.get("models")) placeholder="fast, openai/*";
            }
            @for (f, label) in LIMITS {
                div {
                    label for=(id(f)) { (label) }
                    input id=(id(f)) type="number" min="0" step="1" name=(f) value=(values.get(f));
                }
            }
            div {
                label for=(id("budget_amount")) { "Budget (USD)" }
                input id=(id("budget_amount")) type="text" inputmode="decimal" name="budget_amount" value=(values.get("budget_amount")) placeholder="50.00";
            }
            div {
                label for=(id("budget_period")) { "Budget period" }
                select id=(id("budget_period")) name="budget_period" {
                    @for p in PERIODS {
                        option value=(p) selected[values.get("budget_period") == p || (values.get("budget_period").is_empty() && p == "monthly")] { (p) }
                    }
                }
            }
            div {
                label for=(id("budget_alert_at")) { "Alert at " span.hint { "(share, default 0.8)" } }
                input id=(id("budget_alert_at")) type="number" min="0" max="1" step="0.05" name="budget_alert_at" value=(values.get("budget_alert_at"));
            }
            @if kind == Kind::Key {
                div {
                    label for=(id("expires_at")) { "Expires" }
                    input id=(id("expires_at")) type="datetime-local" name="expires_at" value=(values.get("expires_at"))
                        data-ms=[values.0.get("expires_ms")];
                }
            }
            div.actions { button type="submit" { (submit) } }
        }
    }
}

/// The JSON document a create form describes (empty fields left out, so defaults apply).
pub(crate) fn create_body(kind: Kind, form: &HashMap<String, String>) -> Result<Value, String> {
    let mut fields = read(kind, form)?;
    if let Some(Value::Object(budget)) = fields.get_mut("budget") {
        budget.retain(|_, v| !v.is_null());
    }
    Ok(Value::Object(
        fields.into_iter().filter(|(_, v)| !v.is_null()).collect(),
    ))
}

/// The merge patch an edit form describes: every field it shows, emptied ones as `null`.
pub(crate) fn patch_body(kind: Kind, form: &HashMap<String, String>) -> Result<Value, String> {
    Ok(Value::Object(read(kind, form)?))
}

/// Every field of `kind`'s form: its JSON value, `null` when empty.
fn read(kind: Kind, form: &HashMap<String, String>) -> Result<Map<String, Value>, String> {
    let text = |f: &str| form.get(f).map_or("", |v| v.trim());
    let opt = |f: &str| match text(f) {
        "" => Value::Null,
        v => Value::String(v.to_owned()),
    };
    let mut out = Map::new();
    out.insert("name".into(), opt("name"));
    match kind {
        Kind::Key => {
            out.insert("team".into(), opt("team"));
            out.insert("user".into(), opt("user"));
            let expires = match text("expires_at") {
                "" => Value::Null,
                t => {
                    let tz = text("tz").parse().unwrap_or(0);
                    let ms = instant(t, tz)
                        .ok_or_else(|| format!("Expires: expected a date and time, got {t:?}"))?;
                    Value::String(format_time(ms))
                }
            };
            out.insert("expires_at".into(), expires);
        }
        _ => {
            out.insert("org".into(), opt("org"));
        }
    }
    let models: Vec<Value> = text("models")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| Value::String(m.to_owned()))
        .collect();
    out.insert(
        "models".into(),
        if models.is_empty() {
            Value::Null
        } else {
            Value::Array(models)
        },
    );
    for (f, label) in LIMITS {
        let v = match text(f) {
            "" => Value::Null,
            t => json!(
                t.parse::<u64>()
                    .map_err(|_| format!("{label}: expected a whole number, got {t:?}"))?
            ),
        };
        out.insert(f.into(), v);
    }
    let budget = match text("budget_amount") {
        "" => Value::Null,
        amount => {
            let mut b = Map::new();
            b.insert("amount".into(), json!(amount));
            let period = match text("budget_period") {
                "" => "monthly",
                p => p,
            };
            b.insert("period".into(), json!(period));
            let alert =
                match text("budget_alert_at") {
                    "" => Value::Null,
                    a => json!(a.parse::<f64>().map_err(|_| format!(
                        "Alert at: expected a share such as 0.8, got {a:?}"
                    ))?),
                };
            b.insert("alert_at".into(), alert);
            Value::Object(b)
        }
    };
    out.insert("budget".into(), budget);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_create_form_becomes_a_document_of_the_fields_given() {
        let body = create_body(
            Kind::Key,
            &form(&[
                ("name", " ci-bot "),
                ("team", ""),
                ("models", "fast, openai/* ,"),
                ("rpm", "600"),
                ("tpm", ""),
                ("budget_amount", "50.00"),
                ("budget_period", "daily"),
                ("expires_at", "2026-12-31T01:00"),
                ("tz", "60"),
                ("_csrf", "t"),
            ]),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({"name": "ci-bot", "models": ["fast", "openai/*"], "rpm": 600,
                   "budget": {"amount": "50.00", "period": "daily"},
                   "expires_at": "2026-12-31T02:00:00Z"})
        );
    }

    #[test]
    fn an_edit_form_becomes_a_merge_patch_that_clears_emptied_fields() {
        let patch = patch_body(
            Kind::Team,
            &form(&[("name", "Search"), ("org", "org_1"), ("rpm", "")]),
        )
        .unwrap();
        assert_eq!(
            patch,
            json!({"name": "Search", "org": "org_1", "models": null, "rpm": null, "tpm": null,
                   "max_parallel": null, "budget": null})
        );
    }

    #[test]
    fn bad_numbers_are_named() {
        let e = create_body(Kind::Key, &form(&[("name", "k"), ("rpm", "lots")])).unwrap_err();
        assert!(e.starts_with("Requests per minute"), "{e}");
        let e = create_body(
            Kind::Key,
            &form(&[
                ("name", "k"),
                ("budget_amount", "5"),
                ("budget_alert_at", "x"),
            ]),
        )
        .unwrap_err();
        assert!(e.starts_with("Alert at"), "{e}");
    }

    #[test]
    fn a_stored_document_fills_the_form() {
        let doc = json!({"name": "k", "models": ["a", "b"], "rpm": 5,
                         "budget": {"amount": "1.50", "period": "weekly", "alert_at": 0.5},
                         "expires_at": "2026-01-02T03:04:05Z"});
        let v = Values::of_doc(&doc);
        assert_eq!(
            (
                v.get("models"),
                v.get("rpm"),
                v.get("budget_amount"),
                v.get("budget_alert_at")
            ),
            ("a, b", "5", "1.50", "0.5")
        );
        assert_eq!(v.get("expires_at"), "2026-01-02T03:04");
        let html = render(Kind::Key, "/ui/keys/k", "tok", &v, &vec![], "Save").into_string();
        assert!(
            html.contains(r#"<option value="weekly" selected>weekly</option>"#),
            "{html}"
        );
        assert!(html.contains(r#"name="_csrf" value="tok""#));
    }
}
