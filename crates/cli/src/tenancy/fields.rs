//! The flags of create and update, and the request body they make: [`Limits`] for every
//! kind, and one small struct per kind for the flags that are its own ([`OwnFields`]).

use clap::Args;
use clap::builder::PossibleValuesParser;
use serde_json::{Map, Value};
use sluice_limits::Period;

use super::Kind;

/// The flags only some kinds take: each kind's set is one small struct.
pub trait OwnFields: Args {
    /// The kind these flags belong to.
    const KIND: Kind;
    /// The kind's own fields that `--clear` removes: `(flag, JSON field)`.
    const CLEARABLE: &'static [(&'static str, &'static str)];
    /// Writes the flags that were given into a request body.
    fn write(&self, body: &mut Map<String, Value>);
}

/// Fields every kind can clear: `(flag, JSON field)`.
const COMMON_CLEARABLE: &[(&str, &str)] = &[
    ("name", "name"),
    ("models", "models"),
    ("rpm", "rpm"),
    ("tpm", "tpm"),
    ("max-parallel", "max_parallel"),
    ("budget", "budget"),
    ("tags", "tags"),
];

/// A key's own flags.
#[derive(Args, Debug, Default)]
pub struct KeyFields {
    /// The key's team (a `team_…` id).
    #[arg(long)]
    team: Option<String>,
    /// The end user the key's requests are attributed to.
    #[arg(long)]
    user: Option<String>,
    /// When the key stops working (RFC 3339, e.g. 2026-12-31T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    expires: Option<String>,
}

impl OwnFields for KeyFields {
    const KIND: Kind = Kind::Key;
    const CLEARABLE: &'static [(&'static str, &'static str)] = &[
        ("team", "team"),
        ("user", "user"),
        ("expires", "expires_at"),
    ];

    fn write(&self, body: &mut Map<String, Value>) {
        put(body, "team", &self.team);
        put(body, "user", &self.user);
        put(body, "expires_at", &self.expires);
    }
}

/// A team's own flags.
#[derive(Args, Debug, Default)]
pub struct TeamFields {
    /// The team's org (an `org_…` id).
    #[arg(long)]
    org: Option<String>,
}

impl OwnFields for TeamFields {
    const KIND: Kind = Kind::Team;
    const CLEARABLE: &'static [(&'static str, &'static str)] = &[("org", "org")];

    fn write(&self, body: &mut Map<String, Value>) {
        put(body, "org", &self.org);
    }
}

/// A user's own flags.
#[derive(Args, Debug, Default)]
pub struct UserFields {
    /// The user's team (a `team_…` id).
    #[arg(long)]
    team: Option<String>,
}

impl OwnFields for UserFields {
    const KIND: Kind = Kind::User;
    const CLEARABLE: &'static [(&'static str, &'static str)] = &[("team", "team")];

    fn write(&self, body: &mut Map<String, Value>) {
        put(body, "team", &self.team);
    }
}

/// An org has no flags of its own.
#[derive(Args, Debug, Default)]
pub struct OrgFields {}

impl OwnFields for OrgFields {
    const KIND: Kind = Kind::Org;
    const CLEARABLE: &'static [(&'static str, &'static str)] = &[];

    fn write(&self, _body: &mut Map<String, Value>) {}
}

/// A `--period` value: the limiter's own periods, by the names the admin API takes.
fn parse_period(text: &str) -> Result<Period, String> {
    Period::parse(text)
        .ok_or_else(|| format!("unknown period {text:?}; expected daily, weekly, monthly or total"))
}

/// The limit flags every kind takes.
#[derive(Args, Debug, Default)]
pub struct Limits {
    /// A display name.
    #[arg(long)]
    name: Option<String>,
    /// Allowed models, comma-separated (globs over aliases and provider/model; none: all).
    #[arg(long, value_delimiter = ',', value_name = "MODELS")]
    models: Option<Vec<String>>,
    /// Requests per minute.
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<u64>,
    /// Requests in flight at once (per replica).
    #[arg(long)]
    max_parallel: Option<u64>,
    /// Budget in USD per period, e.g. 50.00.
    #[arg(long, value_name = "USD")]
    budget: Option<String>,
    /// The budget's period: daily, weekly, monthly or total (default on create: monthly).
    #[arg(long, value_parser = parse_period)]
    period: Option<Period>,
    /// The share of the budget at which the alert fires, in (0, 1] (default 0.8).
    #[arg(long, value_name = "SHARE")]
    alert_at: Option<f64>,
    /// A URL that receives a JSON POST when the budget alert fires.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// A tag added to every request's record and spend, as key=value (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
}

impl Limits {
    /// Writes the flags that were given into a body; on create, a budget needs `--budget`
    /// and its period defaults to monthly.
    pub(super) fn write(
        &self,
        body: &mut Map<String, Value>,
        creating: bool,
    ) -> Result<(), String> {
        put(body, "name", &self.name);
        if let Some(models) = &self.models {
            let models = models.iter().map(|m| Value::String(m.clone())).collect();
            body.insert("models".into(), Value::Array(models));
        }
        for (field, value) in [
            ("rpm", self.rpm),
            ("tpm", self.tpm),
            ("max_parallel", self.max_parallel),
        ] {
            if let Some(n) = value {
                body.insert(field.into(), Value::from(n));
            }
        }
        let mut budget = Map::new();
        put(&mut budget, "amount", &self.budget);
        let period = match (self.period, creating && self.budget.is_some()) {
            (Some(p), _) => Some(p),
            (None, true) => Some(Period::Monthly),
            (None, false) => None,
        };
        put(
            &mut budget,
            "period",
            &period.map(|p| p.as_str().to_owned()),
        );
        if let Some(share) = self.alert_at {
            budget.insert("alert_at".into(), Value::from(share));
        }
        put(&mut budget, "webhook", &self.webhook);
        if creating && !budget.is_empty() && self.budget.is_none() {
            return Err("--period, --alert-at and --webhook need --budget".into());
        }
        if !budget.is_empty() {
            body.insert("budget".into(), Value::Object(budget));
        }
        if !self.tags.is_empty() {
            let tags = self
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            body.insert("tags".into(), Value::Object(tags));
        }
        Ok(())
    }
}

/// Inserts `field` when `value` was given.
pub(super) fn put(body: &mut Map<String, Value>, field: &str, value: &Option<String>) {
    if let Some(v) = value {
        body.insert(field.into(), Value::String(v.clone()));
    }
}

/// Parses `key=value`.
fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// The flag names `--clear` accepts for kind `F`.
pub(super) fn clear_parser<F: OwnFields>() -> PossibleValuesParser {
    PossibleValuesParser::new(
        COMMON_CLEARABLE
            .iter()
            .chain(F::CLEARABLE)
            .map(|(flag, _)| *flag),
    )
}

/// The JSON field that `--clear flag` removes for kind `F`.
pub(super) fn cleared_field<F: OwnFields>(flag: &str) -> Option<&'static str> {
    COMMON_CLEARABLE
        .iter()
        .chain(F::CLEARABLE)
        .find(|(f, _)| *f == flag)
        .map(|(_, field)| *field)
}
