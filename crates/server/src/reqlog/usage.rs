//! Token counts for the log: from the gateway's own `Usage`, or found in the tail of a body
//! the gateway relayed without decoding it (pass-through JSON or SSE).

use serde_json::Value;
use sluice_types::Usage;

/// The token counts a record stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tokens {
    pub prompt: Option<u64>,
    pub completion: Option<u64>,
    pub cached: Option<u64>,
    pub cache_write: Option<u64>,
    pub reasoning: Option<u64>,
}

impl Tokens {
    /// The counts as the price list reads them.
    pub(crate) fn priced(&self) -> sluice_pricing::Tokens {
        sluice_pricing::Tokens {
            prompt: self.prompt.unwrap_or(0),
            completion: self.completion.unwrap_or(0),
            cached: self.cached.unwrap_or(0),
            cache_write: self.cache_write.unwrap_or(0),
            reasoning: self.reasoning.unwrap_or(0),
            ..sluice_pricing::Tokens::default()
        }
    }
}

impl From<&Usage> for Tokens {
    fn from(u: &Usage) -> Self {
        let prompt = u.prompt_tokens_details.as_ref();
        Tokens {
            prompt: Some(u.prompt_tokens),
            completion: Some(u.completion_tokens),
            cached: prompt.and_then(|d| d.cached_tokens),
            cache_write: prompt.and_then(|d| d.cache_creation_tokens),
            reasoning: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
        }
    }
}

/// The last usage object in `tail` (the end of a JSON or SSE body), in any of the shapes the
/// gateway relays: OpenAI chat, completions and embeddings (`prompt_tokens`), Responses
/// (`input_tokens` with `*_details`), Anthropic (`input_tokens` plus cache counts, which are
/// part of the prompt) and Gemini (`usageMetadata`).
pub(crate) fn from_tail(tail: &[u8]) -> Option<Tokens> {
    let (key, at) = [&b"\"usageMetadata\""[..], &b"\"usage\""[..]]
        .into_iter()
        .filter_map(|key| rfind(tail, key).map(|at| (key, at)))
        .max_by_key(|(_, at)| *at)?;
    let rest = &tail[at + key.len()..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let value = serde_json::Deserializer::from_slice(&rest[colon + 1..])
        .into_iter::<Value>()
        .next()?
        .ok()?;
    if key == b"\"usageMetadata\"" {
        return Some(gemini(&value));
    }
    usage_object(&value)
}

fn usage_object(u: &Value) -> Option<Tokens> {
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    if !u.is_object() {
        return None;
    }
    if u.get("prompt_tokens").is_some() {
        // OpenAI chat, completions, embeddings.
        return Some(Tokens {
            prompt: n(u, "prompt_tokens"),
            completion: n(u, "completion_tokens").or(Some(0)),
            cached: u
                .get("prompt_tokens_details")
                .and_then(|d| n(d, "cached_tokens")),
            cache_write: None,
            reasoning: u
                .get("completion_tokens_details")
                .and_then(|d| n(d, "reasoning_tokens")),
        });
    }
    if u.get("input_tokens_details").is_some() || u.get("output_tokens_details").is_some() {
        // OpenAI Responses.
        return Some(Tokens {
            prompt: n(u, "input_tokens"),
            completion: n(u, "output_tokens"),
            cached: u
                .get("input_tokens_details")
                .and_then(|d| n(d, "cached_tokens")),
            cache_write: None,
            reasoning: u
                .get("output_tokens_details")
                .and_then(|d| n(d, "reasoning_tokens")),
        });
    }
    if u.get("input_tokens").is_some() || u.get("output_tokens").is_some() {
        // Anthropic: cache reads and writes are billed apart from `input_tokens`.
        let read = n(u, "cache_read_input_tokens");
        let write = n(u, "cache_creation_input_tokens");
        let input = n(u, "input_tokens");
        let prompt = input.map(|i| i + read.unwrap_or(0) + write.unwrap_or(0));
        return Some(Tokens {
            prompt,
            completion: n(u, "output_tokens"),
            cached: read,
            cache_write: write,
            reasoning: None,
        });
    }
    None
}

fn gemini(u: &Value) -> Tokens {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    Tokens {
        prompt: n("promptTokenCount"),
        completion: n("candidatesTokenCount"),
        cached: n("cachedContentTokenCount"),
        cache_write: None,
        reasoning: n("thoughtsTokenCount"),
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_json_and_sse() {
        let json = br#"{"object":"list","data":[{"embedding":[0.1]}],"usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        assert_eq!(
            from_tail(json),
            Some(Tokens {
                prompt: Some(5),
                completion: Some(0),
                ..Tokens::default()
            })
        );
        let sse = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":1},\"completion_tokens_details\":{\"reasoning_tokens\":2}}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            from_tail(sse),
            Some(Tokens {
                prompt: Some(3),
                completion: Some(4),
                cached: Some(1),
                cache_write: None,
                reasoning: Some(2),
            })
        );
        // A null usage (an earlier chunk) is not usage.
        assert_eq!(from_tail(br#"data: {"usage":null}"#), None);
    }

    #[test]
    fn responses_anthropic_and_gemini_shapes() {
        let responses = br#"{"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2}}}"#;
        assert_eq!(
            from_tail(responses),
            Some(Tokens {
                prompt: Some(9),
                completion: Some(6),
                cached: Some(4),
                cache_write: None,
                reasoning: Some(2),
            })
        );
        let anthropic = br#"{"type":"message","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":7}}"#;
        assert_eq!(
            from_tail(anthropic),
            Some(Tokens {
                prompt: Some(17),
                completion: Some(7),
                cached: Some(5),
                cache_write: Some(2),
                reasoning: None,
            })
        );
        let gemini = br#"{"candidates":[],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":8,"thoughtsTokenCount":3}}"#;
        assert_eq!(
            from_tail(gemini),
            Some(Tokens {
                prompt: Some(4),
                completion: Some(8),
                cached: None,
                cache_write: None,
                reasoning: Some(3),
            })
        );
    }

    #[test]
    fn no_usage_or_a_cut_object() {
        assert_eq!(from_tail(b"{\"data\":[]}"), None);
        assert_eq!(from_tail(b"{\"usage\":{\"prompt_tok"), None);
        assert_eq!(from_tail(b""), None);
    }
}
