//! What a request costs: the price of the target that answered, from the config's prices,
//! the user's price file and the built-in catalogue, applied to the usage.

use std::collections::HashMap;

use sluice_config::{Config, Preset, ProviderKind};
use sluice_pricing::{Catalogue, Price, Rate, Tokens, Usd};
use sluice_router::ModelGroup;
use sluice_types::GatewayError;

/// Requests whose cost is unknown (no price), by provider.
pub(crate) const COST_UNKNOWN: &str = "sluice_cost_unknown_total";

/// Prices for every provider of a config.
#[derive(Debug)]
pub(crate) struct Pricing {
    catalogue: Catalogue,
    /// The catalogue vendor of each provider name (`azure` for Azure OpenAI, the preset's
    /// vendor for OpenAI-compatible providers).
    vendors: HashMap<String, &'static str>,
    /// The offline demo model's price: nothing.
    free: Price,
}

impl Pricing {
    /// The built-in catalogue, with `pricing.file` merged over it and `pricing.models` over
    /// both.
    pub fn from_config(config: &Config) -> Result<Self, GatewayError> {
        let mut catalogue = Catalogue::builtin();
        if let Some(path) = &config.pricing.file {
            let bytes = std::fs::read(path).map_err(|e| {
                GatewayError::internal(format!("pricing.file: cannot read {}: {e}", path.display()))
            })?;
            catalogue.merge_litellm(&bytes).map_err(|e| {
                GatewayError::internal(format!("pricing.file {}: {e}", path.display()))
            })?;
        }
        for (name, price) in &config.pricing.models {
            catalogue.set(name, *price);
        }
        let vendors = config
            .providers
            .iter()
            .map(|p| (p.name.clone(), vendor(p.kind)))
            .collect();
        let free = Price {
            input: Rate(0),
            output: Rate(0),
            cache_read: None,
            cache_write: None,
            reasoning: None,
            per_image: None,
            per_audio_second: None,
        };
        Ok(Self {
            catalogue,
            vendors,
            free,
        })
    }

    /// The price of `model` at the provider named `provider`: a price set for that provider
    /// name first, then the catalogue's price for its vendor.
    pub fn price(&self, provider: &str, model: &str) -> Option<&Price> {
        if let Some(p) = self.catalogue.lookup(provider, model) {
            return Some(p);
        }
        match *self.vendors.get(provider)? {
            "demo" => Some(&self.free),
            vendor => self.catalogue.lookup(vendor, model),
        }
    }

    /// The cost of `tokens` at `provider`/`model`; `None` when the price is unknown (and
    /// counted in `sluice_cost_unknown_total` by provider).
    pub fn cost(&self, provider: &str, model: &str, tokens: &Tokens) -> Option<Usd> {
        match self.price(provider, model) {
            Some(p) => Some(p.cost(tokens)),
            None => {
                // Labelled by provider only: model names can come from clients.
                metrics::counter!(COST_UNKNOWN, "provider" => provider.to_owned()).increment(1);
                tracing::debug!(
                    provider,
                    model,
                    "no price for this model: its cost is unknown"
                );
                None
            }
        }
    }

    /// The most a request of `prompt` tokens and at most `output` more can cost on any
    /// target of `group` (0 when no target has a known price).
    pub fn max_cost(&self, group: &ModelGroup, prompt: u64, output: u64) -> i64 {
        group
            .slots
            .iter()
            .filter_map(|s| self.price(&s.target.provider, &s.target.model))
            .map(|p| p.max_cost(prompt, output).0)
            .max()
            .unwrap_or(0)
    }
}

/// The catalogue vendor a provider kind bills as.
fn vendor(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenAiCompatible(preset) => match preset {
            Preset::OpenAi | Preset::Generic => "openai",
            Preset::Groq => "groq",
            Preset::Together => "together",
            Preset::Mistral => "mistral",
            Preset::DeepSeek => "deepseek",
            Preset::Xai => "xai",
            Preset::Fireworks => "fireworks",
            Preset::OpenRouter => "openrouter",
            Preset::Perplexity => "perplexity",
            Preset::Ollama | Preset::Vllm | Preset::LmStudio => "local",
        },
        ProviderKind::AzureOpenAi => "azure",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gemini",
        ProviderKind::Bedrock => "bedrock",
        ProviderKind::Cohere => "cohere",
        ProviderKind::Vertex => "vertex",
        ProviderKind::Demo => "demo",
    }
}
