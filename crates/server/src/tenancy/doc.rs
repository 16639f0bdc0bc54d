//! The admin API's tenant documents: keys, teams, users and orgs share one shape, and each
//! kind accepts the fields that make sense for it.
//!
//! A document is what the admin API shows and what the store keeps (as JSON, with a key's
//! secret only as its SHA-256 hash in its own column). Updates are JSON merge patches
//! (RFC 7386) on the stored document, validated again as a whole.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sluice_limits::Period;
use sluice_pricing::Usd;
use sluice_types::GatewayError;

/// The kinds of tenant, from the top of the hierarchy down (users stand beside keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An organisation: teams belong to one.
    Org,
    /// A team: keys belong to one.
    Team,
    /// A virtual key.
    Key,
    /// An end user, named by `x-sluice-user` or the body's `user`.
    User,
}

impl Kind {
    /// The stored and displayed name (`key`, `team`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Org => "org",
            Kind::Team => "team",
            Kind::Key => "key",
            Kind::User => "user",
        }
    }

    /// The kind stored as `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        [Kind::Org, Kind::Team, Kind::Key, Kind::User]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// The prefix of generated ids (`key_…`); users have no generated ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Org => "org_",
            Kind::Team => "team_",
            Kind::Key => "key_",
            Kind::User => "",
        }
    }

    /// Fields a document of this kind may carry besides the common ones.
    fn own_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Org => &[],
            Kind::Team => &["org"],
            Kind::Key => &["team", "user", "expires_at", "revoked_at", "key_prefix"],
            Kind::User => &["team"],
        }
    }
}

/// Fields every kind accepts.
const COMMON: &[&str] = &[
    "id",
    "name",
    "models",
    "rpm",
    "tpm",
    "max_parallel",
    "budget",
    "metadata",
    "tags",
    "guardrails",
    "created_at",
    "updated_at",
];

/// A budget: an amount of USD per calendar period (UTC), with a soft alert threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The amount, in USD.
    #[serde(serialize_with = "usd_out", deserialize_with = "usd_in")]
    pub amount: Usd,
    /// `daily`, `weekly`, `monthly` or `total`.
    #[serde(serialize_with = "period_out", deserialize_with = "period_in")]
    pub period: Period,
    /// The share of the amount at which an alert is raised once per period (default 0.8).
    #[serde(default = "default_alert_at")]
    pub alert_at: f64,
    /// A URL that receives a JSON POST when the alert threshold is crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

fn default_alert_at() -> f64 {
    0.8
}

/// One tenant document. Which fields are allowed depends on its [`Kind`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    /// The id: generated (`key_…`, `team_…`, `org_…`) or, for users and when given on
    /// create, the client's.
    #[serde(default)]
    pub id: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A team's org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// A key's (or user's) team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A key's user: requests with the key are attributed to this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Model names allowed: globs over aliases and `provider/model`; empty allows all.
    #[serde(default)]
    pub models: Vec<String>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests in flight at once (per replica).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u64>,
    /// The spending limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// When a key stops working (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When a key was revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The first characters of a key's secret, to recognise it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Free-form data.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Tags added to every request's record and spend.
    #[serde(default)]
    pub tags: Map<String, Value>,
    /// Guardrail checks run on every request.
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// When the document was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the document last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl Doc {
    /// Parses and checks a document of `kind` from JSON: unknown or misplaced fields, wrong
    /// types, negative limits and bad timestamps are 400s naming the field.
    pub fn parse(kind: Kind, value: &Value) -> Result<Doc, GatewayError> {
        let Some(map) = value.as_object() else {
            return Err(GatewayError::invalid_request(format!(
                "a {} must be a JSON object",
                kind.name()
            )));
        };
        for field in map.keys() {
            if !COMMON.contains(&field.as_str()) && !kind.own_fields().contains(&field.as_str()) {
                return Err(GatewayError::invalid_request(format!(
                    "unknown field `{field}` for a {}",
                    kind.name()
                ))
                .with_param(field.clone()));
            }
        }
        let doc: Doc = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            GatewayError::invalid_request(format!("{path}: {}", e.inner())).with_param(path)
        })?;
        for (field, at) in [
            ("expires_at", &doc.expires_at),
            ("revoked_at", &doc.revoked_at),
        ] {
            if let Some(text) = at {
                if parse_time(text).is_none() {
                    return Err(GatewayError::invalid_request(format!(
                        "{field}: expected an RFC 3339 time such as 2026-12-31T00:00:00Z, got {text:?}"
                    ))
                    .with_param(field));
                }
            }
        }
        if let Some(b) = &doc.budget {
            if !(b.alert_at > 0.0 && b.alert_at <= 1.0) {
                return Err(
                    GatewayError::invalid_request("budget.alert_at: must be in (0, 1]")
                        .with_param("budget.alert_at"),
                );
            }
        }
        if doc.models.iter().any(String::is_empty) {
            return Err(
                GatewayError::invalid_request("models: names must not be empty")
                    .with_param("models"),
            );
        }
        Ok(doc)
    }

    /// The document as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Applies a JSON merge patch (RFC 7386): `null` removes a field, objects merge, anything
/// else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (k, v) in patch {
            if v.is_null() {
                map.remove(k);
            } else {
                merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Parses an RFC 3339 time into unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Formats unix milliseconds as RFC 3339 (UTC).
pub fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn usd_out<S: Serializer>(v: &Usd, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

fn usd_in<'de, D: Deserializer<'de>>(d: D) -> Result<Usd, D::Error> {
    use serde::de::Error;
    let v = Value::deserialize(d)?;
    let parsed = match &v {
        Value::String(s) => Usd::parse(s),
        Value::Number(n) => Usd::parse(&n.to_string()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        D::Error::custom(format!(
            "expected a non-negative USD amount such as \"50.00\", got {v}"
        ))
    })
}

fn period_out<S: Serializer>(p: &Period, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

fn period_in<'de, D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
    use serde::de::Error;
    let s = String::deserialize(d)?;
    Period::parse(&s).ok_or_else(|| {
        D::Error::custom(format!(
            "unknown period {s:?}; expected daily, weekly, monthly or total"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_checked_per_kind() {
        let key = Doc::parse(
            Kind::Key,
            &json!({"name": "bot", "team": "t1", "models": ["fast", "openai/*"], "rpm": 600,
                    "budget": {"amount": "50.00", "period": "monthly"}, "tags": {"env": "prod"}}),
        )
        .unwrap();
        assert_eq!(key.rpm, Some(600));
        let budget = key.budget.unwrap();
        assert_eq!(budget.amount, Usd::parse("50").unwrap());
        assert_eq!(budget.alert_at, 0.8);
        // A team has no expiry; a key has no org.
        let e = Doc::parse(Kind::Team, &json!({"expires_at": "2026-01-01T00:00:00Z"})).unwrap_err();
        assert_eq!(e.param(), Some("expires_at"));
        assert!(Doc::parse(Kind::Key, &json!({"org": "o"})).is_err());
        let e = Doc::parse(Kind::Key, &json!({"rpm": -1})).unwrap_err();
        assert_eq!(e.param(), Some("rpm"));
        let e = Doc::parse(
            Kind::Key,
            &json!({"budget": {"amount": "x", "period": "monthly"}}),
        )
        .unwrap_err();
        assert_eq!(e.param(), Some("budget.amount"));
        let e = Doc::parse(
            Kind::Key,
            &json!({"budget": {"amount": 5, "period": "yearly"}}),
        )
        .unwrap_err();
        assert!(e.message().contains("yearly"), "{}", e.message());
        let e = Doc::parse(Kind::Key, &json!({"expires_at": "tomorrow"})).unwrap_err();
        assert_eq!(e.param(), Some("expires_at"));
        assert!(Doc::parse(Kind::Key, &json!([1])).is_err());
    }

    #[test]
    fn merge_patches_replace_merge_and_remove() {
        let mut doc = json!({"name": "a", "rpm": 5, "tags": {"x": 1, "y": 2}});
        merge_patch(
            &mut doc,
            &json!({"rpm": null, "tags": {"y": null, "z": 3}, "tpm": 9}),
        );
        assert_eq!(
            doc,
            json!({"name": "a", "tags": {"x": 1, "z": 3}, "tpm": 9})
        );
    }

    #[test]
    fn times_round_trip() {
        let ms = parse_time("2026-11-25T12:00:00Z").unwrap();
        assert_eq!(ms, 1_795_608_000_000);
        assert_eq!(format_time(ms), "2026-11-25T12:00:00Z");
        assert_eq!(parse_time("2026-11-25T13:00:00+01:00"), Some(ms));
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
    }
}
