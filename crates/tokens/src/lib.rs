//! Sluice's token counts: OpenAI's `o200k_base` byte-pair encoding, computed in process.
//!
//! The gateway needs token counts before and without the provider's answer: to admit a
//! request against a tokens-per-minute limit (prompt plus maximum output), to reserve a
//! budget, and to price a stream that was cut before the provider's usage arrived (such a
//! record says `usage_source: estimated`). [`count`] runs the real BPE, the one GPT-4o, the
//! o-series and GPT-4.1 use, through `tiktoken-rs`; its results equal OpenAI's `tiktoken`
//! token for token. Other vendors' tokenizers differ by some percent, which is close enough
//! for limits and estimates; bills use the provider's own usage whenever it reports one.
//! [`prompt_tokens`] applies OpenAI's documented recipe for chat prompts (a fixed overhead
//! per message and for the reply primer) on top of [`count`]; [`completion_tokens`] counts
//! the text a stream delivered. Everything here is pure, synchronous and thread-safe. The
//! vocabulary is embedded in the binary and decoded once, on first use (about 150 ms in a
//! release build): call `count("")` at startup to pay that before the first request.

mod bpe;
mod chat;

pub use bpe::count;
pub use chat::{
    IMAGE_DEFAULT_TOKENS, IMAGE_LOW_DETAIL_TOKENS, REPLY_PRIMER_TOKENS, TOKENS_PER_MESSAGE,
    TOKENS_PER_NAME, completion_tokens, prompt_tokens,
};
