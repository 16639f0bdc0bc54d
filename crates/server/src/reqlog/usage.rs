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

/// The usage of a body relayed undecoded, from its `tail` and, for what the tail's usage
/// lacks (an Anthropic stream names its prompt tokens only in `message_start`), its `head`.
pub(crate) fn of_body(head: &[u8], tail: &[u8]) -> Option<Tokens> {
    let last = from_tail(tail);
    match last {
        Some(t) if t.prompt.is_some() => Some(t),
        _ => {
            let first = from_head(head);
            match (last, first) {
                (Some(mut t), Some(f)) => {
                    t.prompt = f.prompt;
                    t.cached = t.cached.or(f.cached);
                    t.cache_write = t.cache_write.or(f.cache_write);
                    Some(t)
                }
                (last, first) => last.or(first),
            }
        }
    }
}

/// The model a relayed body names (`"model": "…"`, as OpenAI, Anthropic and Cohere answers
/// do near their start), if its start names one.
pub(crate) fn model_of_body(head: &[u8]) -> Option<String> {
    let at = find(head, b"\"model\"")?;
    let rest = &head[at + 7..];
    let colon = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest[colon] != b':' {
        return None;
    }
    let value = serde_json::Deserializer::from_slice(&rest[colon + 1..])
        .into_iter::<Value>()
        .next()?
        .ok()?;
    value.as_str().filter(|m| !m.is_empty()).map(str::to_owned)
}

/// The last usage object in `tail` (the end of a JSON or SSE body), in any of the shapes the
/// gateway relays: OpenAI chat, completions and embeddings (`prompt_tokens`), Responses
/// (`input_tokens` with `*_details`), Anthropic (`input_tokens` plus cache counts, which are
/// part of the prompt), Bedrock (`inputTokens`), Cohere (`tokens`) and Gemini
/// (`usageMetadata`).
pub(crate) fn from_tail(tail: &[u8]) -> Option<Tokens> {
    let (key, at) = USAGE_KEYS
        .into_iter()
        .filter_map(|key| rfind(tail, key).map(|at| (key, at)))
        .max_by_key(|(_, at)| *at)?;
    usage_at(tail, key, at)
}

/// The first usage object in `head` (the start of a body).
fn from_head(head: &[u8]) -> Option<Tokens> {
    let (key, at) = USAGE_KEYS
        .into_iter()
        .filter_map(|key| find(head, key).map(|at| (key, at)))
        .min_by_key(|(_, at)| *at)?;
    usage_at(head, key, at)
}

/// The keys usage objects are found under.
const USAGE_KEYS: [&[u8]; 2] = [b"\"usageMetadata\"", b"\"usage\""];

/// The usage object of `key` found at `at` in `body`.
fn usage_at(body: &[u8], key: &[u8], at: usize) -> Option<Tokens> {
    let rest = &body[at + key.len()..];
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
    if u.get("inputTokens").is_some() || u.get("outputTokens").is_some() {
        // Bedrock Converse.
        return Some(cache_apart(
            u,
            [
                "inputTokens",
                "cacheReadInputTokens",
                "cacheWriteInputTokens",
                "outputTokens",
            ],
        ));
    }
    if let Some(tokens) = u.get("tokens").filter(|t| t.is_object()) {
        // Cohere v2: `tokens` counts what the model read and wrote.
        return Some(Tokens {
            prompt: n(tokens, "input_tokens"),
            completion: n(tokens, "output_tokens"),
            ..Tokens::default()
        });
    }
    if u.get("input_tokens").is_some() || u.get("output_tokens").is_some() {
        // Anthropic.
        return Some(cache_apart(
            u,
            [
                "input_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
                "output_tokens",
            ],
        ));
    }
    None
}

/// Usage whose cache reads and writes are billed apart from its input count (Anthropic,
/// Bedrock): they are part of the prompt. `keys` name input, cache reads, cache writes and
/// output.
fn cache_apart(u: &Value, [input, read, write, output]: [&str; 4]) -> Tokens {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let (read, write) = (n(read), n(write));
    Tokens {
        prompt: n(input).map(|i| i + read.unwrap_or(0) + write.unwrap_or(0)),
        completion: n(output),
        cached: read,
        cache_write: write,
        reasoning: None,
    }
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
    fn bedrock_cohere_and_anthropic_streams() {
        let bedrock = br#"{"output":{},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":5,"totalTokens":17,"cacheReadInputTokens":3}}"#;
        assert_eq!(
            from_tail(bedrock),
            Some(Tokens {
                prompt: Some(15),
                completion: Some(5),
                cached: Some(3),
                ..Tokens::default()
            })
        );
        let cohere = br#"{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2},"tokens":{"input_tokens":70,"output_tokens":2}}}"#;
        assert_eq!(
            from_tail(cohere).map(|t| (t.prompt, t.completion)),
            Some((Some(70), Some(2)))
        );
        // An Anthropic stream: the prompt in `message_start`, the output in `message_delta`.
        let head = br#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":25,"cache_read_input_tokens":10,"output_tokens":1}}}"#;
        let tail = br#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}"#;
        assert_eq!(
            of_body(head, tail),
            Some(Tokens {
                prompt: Some(35),
                completion: Some(15),
                cached: Some(10),
                ..Tokens::default()
            })
        );
        assert_eq!(model_of_body(head).as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(
            model_of_body(br#"{"id":"x","object":"chat.completion","model": "gpt-4o-mini-2024"}"#)
                .as_deref(),
            Some("gpt-4o-mini-2024")
        );
        assert_eq!(model_of_body(br#"{"candidates":[]}"#), None);
    }

    #[test]
    fn no_usage_or_a_cut_object() {
        assert_eq!(from_tail(b"{\"data\":[]}"), None);
        assert_eq!(from_tail(b"{\"usage\":{\"prompt_tok"), None);
        assert_eq!(from_tail(b""), None);
    }
}
