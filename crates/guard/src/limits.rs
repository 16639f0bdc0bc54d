//! Size limits on a request: prompt tokens and messages.

use sluice_types::ChatRequest;

/// What a `limits` check allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitSpec {
    /// The most prompt tokens, counted with `sluice_tokens::prompt_tokens` (o200k_base).
    pub max_prompt_tokens: Option<u64>,
    /// The most messages.
    pub max_messages: Option<usize>,
}

/// A limit a request exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The prompt has `actual` tokens, more than `limit`.
    PromptTokens {
        /// Tokens counted.
        actual: u64,
        /// The limit.
        limit: u64,
    },
    /// The request has `actual` messages, more than `limit`.
    Messages {
        /// Messages counted.
        actual: usize,
        /// The limit.
        limit: usize,
    },
}

impl Exceeded {
    /// `max_prompt_tokens` or `max_messages`: the hit kind in outcomes.
    pub fn kind(&self) -> &'static str {
        match self {
            Exceeded::PromptTokens { .. } => "max_prompt_tokens",
            Exceeded::Messages { .. } => "max_messages",
        }
    }

    /// A sentence for the client.
    pub fn reason(&self) -> String {
        match self {
            Exceeded::PromptTokens { actual, limit } => {
                format!("the prompt has {actual} tokens; at most {limit} are allowed")
            }
            Exceeded::Messages { actual, limit } => {
                format!("the request has {actual} messages; at most {limit} are allowed")
            }
        }
    }
}

impl LimitSpec {
    /// The first limit `req` exceeds: messages are counted first, since that is free;
    /// tokens only when a token limit is set.
    pub fn check(&self, req: &ChatRequest) -> Option<Exceeded> {
        let messages = req.messages.len();
        if let Some(limit) = self.max_messages.filter(|&l| messages > l) {
            return Some(Exceeded::Messages {
                actual: messages,
                limit,
            });
        }
        let limit = self.max_prompt_tokens?;
        let actual = sluice_tokens::prompt_tokens(req);
        (actual > limit).then_some(Exceeded::PromptTokens { actual, limit })
    }
}
