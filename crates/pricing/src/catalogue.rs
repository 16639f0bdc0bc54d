//! The [`Catalogue`]: prices by `vendor/model`, the built-in file, overrides and lookup.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::PricingError;
use crate::money::{Rate, Usd};
use crate::normalise;
use crate::price::Price;

/// The price file shipped in this crate (`prices.json`).
const BUILTIN: &str = include_str!("../prices.json");

/// The one version of the built-in file format this crate reads.
const FORMAT_VERSION: u64 = 1;

/// Known fields of one built-in entry; anything else is a mistake in the file.
const ENTRY_FIELDS: [&str; 7] = [
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "per_image",
    "per_audio_second",
];

/// Prices by `vendor/model`, with the lookup rules of [`Catalogue::lookup`].
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// The `updated` date of the built-in file.
    updated: String,
    /// Prices by lower-case `vendor/model`.
    prices: HashMap<String, Price>,
}

impl Catalogue {
    /// The catalogue shipped in this crate (`prices.json`).
    pub fn builtin() -> Catalogue {
        // A unit test proves the embedded file parses; were it ever broken, an empty
        // catalogue prices nothing (costs are recorded as unknown) instead of panicking.
        parse_native(BUILTIN.as_bytes()).unwrap_or_default()
    }

    /// The date the built-in prices were last checked (`2026-11-01`).
    pub fn version(&self) -> &str {
        &self.updated
    }

    /// How many `vendor/model` entries the catalogue holds.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Whether the catalogue holds no price at all.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Sets (or replaces) the price of `vendor/model`, as a config override does. Case and
    /// vendor aliases are ignored as in [`Catalogue::lookup`] (`Azure-OpenAI/x` is `azure/x`).
    pub fn set(&mut self, vendor_model: &str, price: Price) {
        let key = vendor_model.trim().to_ascii_lowercase();
        let key = match key.split_once('/') {
            Some((vendor, model)) => format!("{}/{model}", normalise::canonical_vendor(vendor)),
            None => key,
        };
        self.prices.insert(key, price);
    }

    /// Loads a file in LiteLLM's `model_prices_and_context_window.json` format, replacing
    /// the prices of the models it names. Returns how many entries were merged; entries
    /// without token prices (image generation, `sample_spec`, …) and values that are not
    /// entries (`"last_updated": "…"`) are skipped. A file with any bad entry is refused
    /// whole and changes nothing.
    pub fn merge_litellm(&mut self, bytes: &[u8]) -> Result<usize, PricingError> {
        let entries = crate::litellm::parse(bytes)?;
        let merged = entries.len();
        self.prices.extend(entries);
        Ok(merged)
    }

    /// The price of `model` served by `vendor`, or `None` when it is unknown.
    ///
    /// Tried in order: the exact `vendor/model`; the model with version suffixes stripped
    /// (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `…-20250929`, Bedrock `…-v1:0`, Vertex
    /// `…@20250929`, Gemini `-001` and `-latest`); the same without a Gemini `models/` or a
    /// Bedrock cross-region (`us.`, `eu.`, `apac.`, `global.`) prefix; then, for resellers,
    /// the original vendor's price (azure → openai, vertex → gemini or anthropic, bedrock
    /// `anthropic.*` → anthropic, openrouter `anthropic/claude-…` → anthropic). Vendor
    /// aliases (`azure-openai`, `vertex_ai`, `google`, `x-ai`, …) and case are ignored.
    pub fn lookup(&self, vendor: &str, model: &str) -> Option<&Price> {
        let vendor = vendor.trim().to_ascii_lowercase();
        let model = model.trim().to_ascii_lowercase();
        normalise::keys(&vendor, &model)
            .iter()
            .find_map(|key| self.prices.get(key))
    }
}

/// Parses the built-in file format (see `prices.json`).
fn parse_native(bytes: &[u8]) -> Result<Catalogue, PricingError> {
    let file = |reason: String| PricingError::File(reason);
    let root: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| file(format!("not a JSON object: {e}")))?;
    let version = root.get("version").and_then(Value::as_u64);
    if version != Some(FORMAT_VERSION) {
        return Err(file(format!("\"version\" must be {FORMAT_VERSION}")));
    }
    if root.get("currency").and_then(Value::as_str) != Some("USD") {
        return Err(file("\"currency\" must be \"USD\"".to_owned()));
    }
    if root.get("unit").and_then(Value::as_str) != Some("per 1M tokens") {
        return Err(file("\"unit\" must be \"per 1M tokens\"".to_owned()));
    }
    let updated = root
        .get("updated")
        .and_then(Value::as_str)
        .ok_or_else(|| file("\"updated\" must be a date".to_owned()))?;
    let models = root
        .get("models")
        .and_then(Value::as_object)
        .ok_or_else(|| file("\"models\" must be an object".to_owned()))?;

    let mut prices = HashMap::with_capacity(models.len());
    for (key, entry) in models {
        let valid_key = key
            .split_once('/')
            .is_some_and(|(v, m)| !v.is_empty() && !m.is_empty());
        if !valid_key || *key != key.to_ascii_lowercase() {
            return Err(PricingError::Entry {
                entry: key.clone(),
                reason: "keys are lower-case \"vendor/model\"".to_owned(),
            });
        }
        let Value::Object(fields) = entry else {
            return Err(PricingError::Entry {
                entry: key.clone(),
                reason: "not an object".to_owned(),
            });
        };
        if let Some(unknown) = fields.keys().find(|f| !ENTRY_FIELDS.contains(&f.as_str())) {
            return Err(PricingError::field(key, unknown, "unknown field"));
        }
        let price = Price {
            input: rate(key, fields, "input")?
                .ok_or_else(|| PricingError::field(key, "input", "missing"))?,
            output: rate(key, fields, "output")?
                .ok_or_else(|| PricingError::field(key, "output", "missing"))?,
            cache_read: rate(key, fields, "cache_read")?,
            cache_write: rate(key, fields, "cache_write")?,
            reasoning: rate(key, fields, "reasoning")?,
            per_image: usd(key, fields, "per_image")?,
            per_audio_second: usd(key, fields, "per_audio_second")?,
        };
        prices.insert(key.clone(), price);
    }
    Ok(Catalogue {
        updated: updated.to_owned(),
        prices,
    })
}

/// An optional price per million tokens, written as a decimal string.
fn rate(
    entry: &str,
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<Rate>, PricingError> {
    decimal(
        entry,
        fields,
        field,
        Rate::per_million,
        "USD per million tokens with at most 6 decimals",
    )
}

/// An optional amount of USD, written as a decimal string.
fn usd(entry: &str, fields: &Map<String, Value>, field: &str) -> Result<Option<Usd>, PricingError> {
    decimal(
        entry,
        fields,
        field,
        Usd::parse,
        "USD with at most 9 decimals",
    )
}

/// Reads an optional decimal-string field with `parse`.
fn decimal<T>(
    entry: &str,
    fields: &Map<String, Value>,
    field: &str,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, PricingError> {
    match fields.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => parse(s).map(Some).ok_or_else(|| {
            PricingError::field(
                entry,
                field,
                format!("{s:?} is not a non-negative {expected}"),
            )
        }),
        Some(_) => Err(PricingError::field(
            entry,
            field,
            format!("must be a decimal string ({expected})"),
        )),
    }
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod tests;
