//! Reading LiteLLM's `model_prices_and_context_window.json` format.
//!
//! Keys are model names, sometimes prefixed by the provider (`gemini/gemini-2.5-flash`);
//! `litellm_provider` names the provider, which maps to our vendors (`vertex_ai-*` →
//! `vertex`, `bedrock_converse` → `bedrock`, `text-completion-openai` → `openai`, …; any
//! other provider keeps its own name). Prices are floats in USD per token.

use serde_json::{Map, Value};

use crate::error::PricingError;
use crate::money::{Rate, Usd};
use crate::normalise::canonical_vendor;
use crate::price::Price;

/// LiteLLM's documentation entry, not a model.
const SAMPLE_SPEC: &str = "sample_spec";

/// The priced entries of a LiteLLM file, keyed `vendor/model`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<(String, Price)>, PricingError> {
    let root: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| PricingError::File(format!("not a JSON object: {e}")))?;
    let mut out = Vec::with_capacity(root.len());
    for (name, entry) in &root {
        // Copies of the file sometimes carry metadata such as `"last_updated": "…"`.
        let Value::Object(fields) = entry else {
            continue;
        };
        if name == SAMPLE_SPEC {
            continue;
        }
        if let Some(priced) = entry_price(name, fields)? {
            out.push(priced);
        }
    }
    Ok(out)
}

/// One entry's key and price, or `None` when it has no token price or no known vendor.
fn entry_price(
    name: &str,
    fields: &Map<String, Value>,
) -> Result<Option<(String, Price)>, PricingError> {
    let input = rate(name, fields, "input_cost_per_token")?;
    let output = rate(name, fields, "output_cost_per_token")?;
    if input.is_none() && output.is_none() {
        return Ok(None);
    }
    let provider = match fields.get("litellm_provider") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.to_ascii_lowercase()),
        Some(_) => {
            return Err(PricingError::field(
                name,
                "litellm_provider",
                "must be a string",
            ));
        }
    };
    let Some(key) = key(name, provider.as_deref()) else {
        return Ok(None);
    };
    let per_image = match usd(name, fields, "input_cost_per_image")? {
        Some(price) => Some(price),
        None => usd(name, fields, "output_cost_per_image")?,
    };
    let price = Price {
        input: input.unwrap_or_default(),
        output: output.unwrap_or_default(),
        cache_read: rate(name, fields, "cache_read_input_token_cost")?,
        cache_write: rate(name, fields, "cache_creation_input_token_cost")?,
        reasoning: rate(name, fields, "output_cost_per_reasoning_token")?,
        per_image,
        per_audio_second: usd(name, fields, "input_cost_per_audio_per_second")?,
    };
    Ok(Some((key, price)))
}

/// The `vendor/model` key of entry `name`: the vendor comes from `litellm_provider` (or,
/// without one, from a `provider/` prefix of the name), and a leading segment naming that
/// same provider is dropped from the model.
fn key(name: &str, provider: Option<&str>) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let prefix = name
        .split_once('/')
        .map(|(head, rest)| (head.to_owned(), rest.to_owned()));
    let vendor = match (provider, &prefix) {
        (Some(p), _) => canonical_vendor(p).to_owned(),
        (None, Some((head, _))) => canonical_vendor(head).to_owned(),
        (None, None) => return None,
    };
    let model = match prefix {
        Some((head, rest))
            if canonical_vendor(&head) == vendor || Some(head.as_str()) == provider =>
        {
            rest
        }
        _ => name,
    };
    (!vendor.is_empty() && !model.is_empty()).then(|| format!("{vendor}/{model}"))
}

/// An optional USD-per-token float field.
fn rate(
    entry: &str,
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<Rate>, PricingError> {
    number(entry, fields, field, Rate::from_per_token_f64)
}

/// An optional USD float field (per image, per second).
fn usd(entry: &str, fields: &Map<String, Value>, field: &str) -> Result<Option<Usd>, PricingError> {
    number(entry, fields, field, Usd::from_f64_usd)
}

/// Reads an optional non-negative number field with `convert`.
fn number<T>(
    entry: &str,
    fields: &Map<String, Value>,
    field: &str,
    convert: fn(f64) -> Option<T>,
) -> Result<Option<T>, PricingError> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().and_then(convert).map(Some).ok_or_else(|| {
            PricingError::field(
                entry,
                field,
                format!("{n} is not a usable non-negative price"),
            )
        }),
        Some(_) => Err(PricingError::field(entry, field, "must be a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_the_vendor_from_the_provider_and_drop_its_prefix() {
        assert_eq!(
            key("gemini/gemini-2.5-flash", Some("gemini")).as_deref(),
            Some("gemini/gemini-2.5-flash")
        );
        assert_eq!(
            key("gpt-4o", Some("openai")).as_deref(),
            Some("openai/gpt-4o")
        );
        assert_eq!(
            key(
                "vertex_ai/claude-opus-4-8@default",
                Some("vertex_ai-anthropic_models")
            )
            .as_deref(),
            Some("vertex/claude-opus-4-8@default")
        );
        assert_eq!(
            key("gemini-2.5-pro", Some("vertex_ai-language-models")).as_deref(),
            Some("vertex/gemini-2.5-pro")
        );
        assert_eq!(
            key("anthropic.claude-3-haiku-20240307-v1:0", Some("bedrock")).as_deref(),
            Some("bedrock/anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(
            key("amazon.nova-pro-v1:0", Some("bedrock_converse")).as_deref(),
            Some("bedrock/amazon.nova-pro-v1:0")
        );
        assert_eq!(
            key(
                "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
                Some("together_ai")
            )
            .as_deref(),
            Some("together/meta-llama/llama-3.3-70b-instruct-turbo")
        );
        assert_eq!(
            key("groq/openai/gpt-oss-120b", Some("groq")).as_deref(),
            Some("groq/openai/gpt-oss-120b")
        );
        assert_eq!(
            key("babbage-002", Some("text-completion-openai")).as_deref(),
            Some("openai/babbage-002")
        );
    }

    #[test]
    fn without_a_provider_the_prefix_names_the_vendor() {
        assert_eq!(
            key("mistral/mistral-large-latest", None).as_deref(),
            Some("mistral/mistral-large-latest")
        );
        assert_eq!(key("some-model", None), None);
    }
}
