//! One model's [`Price`] and the exact cost of the [`Tokens`] a request used.

use sluice_types::Usage;

use crate::money::{Rate, Usd};

/// Pico-USD in one nano-USD.
const PICOS_PER_NANO: u128 = 1_000;

/// What one model costs. Token rates are per token; optional rates fall back as
/// [`Price::cost`] documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: Rate,
    /// Completion tokens (and reasoning tokens when `reasoning` is unset).
    pub output: Rate,
    /// Prompt tokens read from the provider's prompt cache; `None` bills them as `input`.
    pub cache_read: Option<Rate>,
    /// Prompt tokens written to the provider's prompt cache; `None` bills them as `input`.
    pub cache_write: Option<Rate>,
    /// Reasoning tokens; `None` bills them as `output`.
    pub reasoning: Option<Rate>,
    /// Each input image billed apart from tokens (embedding models that price per image).
    pub per_image: Option<Usd>,
    /// Each second of input audio billed apart from tokens.
    pub per_audio_second: Option<Usd>,
}

/// What one request used, in OpenAI's terms (Sluice normalises every provider to them).
///
/// `prompt` includes `cached` and `cache_write`; `completion` includes `reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// All prompt tokens, cache reads and writes included.
    pub prompt: u64,
    /// All completion tokens, reasoning included.
    pub completion: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning: u64,
    /// Input images billed per image.
    pub images: u64,
    /// Seconds of input audio billed per second.
    pub audio_seconds: u64,
}

impl From<&Usage> for Tokens {
    fn from(usage: &Usage) -> Self {
        let prompt_details = usage.prompt_tokens_details.as_ref();
        let completion_details = usage.completion_tokens_details.as_ref();
        Tokens {
            prompt: usage.prompt_tokens,
            completion: usage.completion_tokens,
            cached: prompt_details.and_then(|d| d.cached_tokens).unwrap_or(0),
            cache_write: prompt_details
                .and_then(|d| d.cache_creation_tokens)
                .unwrap_or(0),
            reasoning: completion_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            images: 0,
            audio_seconds: 0,
        }
    }
}

impl Price {
    /// The exact cost of `t`: every part is summed in pico-USD and rounded half-up to a
    /// nano-USD once, at the end.
    ///
    /// cost = (prompt − cached − cache_write)·input + cached·(cache_read or input)
    ///      + cache_write·(cache_write or input) + (completion − reasoning)·output
    ///      + reasoning·(reasoning or output) + images·per_image
    ///      + audio_seconds·per_audio_second.
    ///
    /// Inconsistent counts never panic: `cached` is capped at `prompt`, `cache_write` at
    /// what is left of it, and `reasoning` at `completion`, so the parts never exceed the
    /// totals the provider reported. Sums saturate at the largest [`Usd`].
    pub fn cost(&self, t: &Tokens) -> Usd {
        let cached = t.cached.min(t.prompt);
        let cache_write = t.cache_write.min(t.prompt - cached);
        let uncached = t.prompt - cached - cache_write;
        let reasoning = t.reasoning.min(t.completion);
        let answer = t.completion - reasoning;

        let pico = [
            times(uncached, self.input),
            times(cached, self.cache_read.unwrap_or(self.input)),
            times(cache_write, self.cache_write.unwrap_or(self.input)),
            times(answer, self.output),
            times(reasoning, self.reasoning.unwrap_or(self.output)),
            per_unit(t.images, self.per_image),
            per_unit(t.audio_seconds, self.per_audio_second),
        ]
        .into_iter()
        .fold(0u128, u128::saturating_add);
        to_usd(pico)
    }

    /// An upper bound on the cost of a request with `prompt` tokens that may generate up to
    /// `max_output` tokens, for reserving budget before the request runs:
    /// prompt·input + max_output·max(output, reasoning).
    pub fn max_cost(&self, prompt: u64, max_output: u64) -> Usd {
        let output = self.output.max(self.reasoning.unwrap_or(self.output));
        to_usd(times(prompt, self.input).saturating_add(times(max_output, output)))
    }

    /// Input plus output pico-USD per token: one number to sort targets cheapest-first.
    pub fn blended(&self) -> u64 {
        self.input.0.saturating_add(self.output.0)
    }
}

/// `tokens × rate` in pico-USD; cannot overflow (`u64::MAX² < u128::MAX`).
fn times(tokens: u64, rate: Rate) -> u128 {
    u128::from(tokens) * u128::from(rate.0)
}

/// `units × price` in pico-USD; a negative or missing price counts as zero.
fn per_unit(units: u64, price: Option<Usd>) -> u128 {
    let nanos = price.map_or(0, |p| u128::try_from(p.0).unwrap_or(0));
    u128::from(units).saturating_mul(nanos.saturating_mul(PICOS_PER_NANO))
}

/// Rounds pico-USD half-up to nano-USD, saturating at the largest [`Usd`].
fn to_usd(pico: u128) -> Usd {
    let nanos = pico.saturating_add(PICOS_PER_NANO / 2) / PICOS_PER_NANO;
    Usd(i64::try_from(nanos).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "price_tests.rs"]
mod tests;
