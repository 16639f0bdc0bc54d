//! Sluice's price catalogue and the exact cost of a request, with no I/O.
//!
//! Money never passes through floating point on the way to a bill. An amount is a [`Usd`],
//! an integer count of nano-dollars; a per-token price is a [`Rate`], an integer count of
//! pico-dollars per token, parsed exactly from the decimal "USD per million tokens" that
//! providers publish (six decimals per million is one pico-dollar per token). A request's
//! cost ([`Price::cost`]) multiplies each kind of [`Tokens`] (uncached prompt, cache reads,
//! cache writes, answer, reasoning, images, audio seconds) by its rate in `u128`, sums in
//! pico-dollars and rounds half-up to a nano-dollar once, so huge counts cannot overflow
//! and no rounding error accumulates across parts. Token counts follow OpenAI's semantics,
//! which Sluice normalises every provider to: the prompt includes cache reads and writes,
//! the completion includes reasoning. Prices come from the [`Catalogue`]: a dated,
//! versioned `prices.json` shipped in the crate, optionally overlaid by a user's LiteLLM
//! price file and by config overrides, and looked up by `vendor/model` with normalisation
//! of dated and regional model ids and a fall-back from resellers (Azure, Vertex, Bedrock,
//! OpenRouter) to the original vendor's price. An unknown model has no price: the caller
//! records its cost as unknown rather than guessing.

mod catalogue;
mod error;
mod litellm;
mod money;
mod normalise;
mod price;

pub use catalogue::Catalogue;
pub use error::PricingError;
pub use money::{Rate, Usd};
pub use price::{Price, Tokens};
