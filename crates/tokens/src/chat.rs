//! Prompt and completion counts of chat requests, by OpenAI's recipe for chat models.
//!
//! OpenAI's "How to count tokens with tiktoken" recipe for GPT-4o-era models: every message
//! costs [`TOKENS_PER_MESSAGE`] plus the tokens of its role and text, a `name` costs its
//! tokens plus [`TOKENS_PER_NAME`], and the reply is primed with [`REPLY_PRIMER_TOKENS`].
//! Beyond the recipe: an assistant turn's tool calls count their function names and
//! argument text; tool and legacy function definitions count the tokens of their JSON (the
//! model sees them rendered differently, so this is an estimate, a little high); an image
//! costs a fixed amount by its detail; audio and file parts are not counted.

use serde_json::Value;
use sluice_types::{ChatRequest, Content, ContentPart, Message};

use crate::count;

/// Fixed tokens every message adds (its start, role and end markers).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra tokens a message's `name` adds beyond its own text.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens that prime the reply (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMER_TOKENS: u64 = 3;
/// An image part with `detail: low`: OpenAI's flat cost for GPT-4o.
pub const IMAGE_LOW_DETAIL_TOKENS: u64 = 85;
/// An image part with `detail` `high`, `auto` or unset, whose size the gateway does not
/// know: OpenAI's documented cost of a 1024×1024 image in high detail on GPT-4o (85 base
/// tokens plus four 512-pixel tiles of 170).
pub const IMAGE_DEFAULT_TOKENS: u64 = 765;

/// Prompt tokens of a chat request the way OpenAI counts them for chat models: per message
/// [`TOKENS_PER_MESSAGE`], its role, its text parts, its name (plus [`TOKENS_PER_NAME`]) and
/// its tool calls; image parts at [`IMAGE_LOW_DETAIL_TOKENS`] or [`IMAGE_DEFAULT_TOKENS`];
/// the JSON of `tools` (and of legacy `functions`); and [`REPLY_PRIMER_TOKENS`].
pub fn prompt_tokens(req: &ChatRequest) -> u64 {
    let messages: u64 = req.messages.iter().map(message_tokens).sum();
    let tools = req.tools.as_ref().map_or(0, json_tokens);
    let functions = req.extra.get("functions").map_or(0, json_tokens);
    messages + tools + functions + REPLY_PRIMER_TOKENS
}

/// Tokens of delivered completion text, for a stream cut before the provider's usage
/// arrived: pass everything the client received (content, reasoning and tool-call
/// arguments), concatenated. No overhead is added; completions carry none.
pub fn completion_tokens(text: &str) -> u64 {
    count(text)
}

fn message_tokens(m: &Message) -> u64 {
    let content = match &m.content {
        Some(Content::Text(text)) => count(text),
        Some(Content::Parts(parts)) => parts.iter().map(part_tokens).sum(),
        None => 0,
    };
    let name = m.name.as_deref().map_or(0, |n| count(n) + TOKENS_PER_NAME);
    let tool_calls: u64 = m
        .tool_calls
        .iter()
        .flatten()
        .map(|call| count(&call.function.name) + count(&call.function.arguments))
        .sum();
    TOKENS_PER_MESSAGE + count(&m.role) + content + name + tool_calls
}

fn part_tokens(part: &ContentPart) -> u64 {
    if let Some(text) = &part.text {
        return count(text);
    }
    if part.kind != "image_url" {
        return 0;
    }
    let detail = part
        .extra
        .get("image_url")
        .and_then(|image| image.get("detail"))
        .and_then(Value::as_str);
    match detail {
        Some("low") => IMAGE_LOW_DETAIL_TOKENS,
        _ => IMAGE_DEFAULT_TOKENS,
    }
}

/// Tokens of `value` written as compact JSON.
fn json_tokens<T: serde::Serialize>(value: &T) -> u64 {
    serde_json::to_string(value).map_or(0, |json| count(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> ChatRequest {
        serde_json::from_value(json).unwrap()
    }

    /// OpenAI's recipe by hand, with each text's `o200k_base` count from `tiktoken`:
    /// - system "You are a terse assistant.": 3 + `system` 1 + 6 = 10
    /// - user "What is 2+2?" named "ada": 3 + `user` 1 + 7 + (`ada` 1 + 1) = 13
    /// - assistant "4.": 3 + `assistant` 1 + 2 = 6
    /// - user parts "And 3+3?", a low-detail image and audio: 3 + 1 + 6 + 85 + 0 = 95
    /// - reply primer: 3
    ///
    /// Total 127. Without the image message's image and audio, the recipe's own example
    /// code gives 42 for the same conversation: 10 + 13 + 6 + 10 + 3.
    #[test]
    fn chat_prompt_follows_openais_recipe() {
        let req = request(serde_json::json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "name": "ada", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4."},
                {"role": "user", "content": [
                    {"type": "text", "text": "And 3+3?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
                ]}
            ]
        }));
        assert_eq!(prompt_tokens(&req), 127);
    }

    #[test]
    fn images_cost_by_detail() {
        let with_detail = |detail: Option<&str>| {
            let mut image = serde_json::json!({"url": "https://example.com/cat.png"});
            if let Some(d) = detail {
                image["detail"] = d.into();
            }
            let req = request(serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}]
            }));
            // 3 per message + `user` 1 + the image + 3 for the primer.
            prompt_tokens(&req) - 7
        };
        assert_eq!(with_detail(Some("low")), IMAGE_LOW_DETAIL_TOKENS);
        assert_eq!(with_detail(Some("high")), IMAGE_DEFAULT_TOKENS);
        assert_eq!(with_detail(None), IMAGE_DEFAULT_TOKENS);
    }

    /// - user "Weather in Paris?": 3 + 1 + 4 = 8
    /// - assistant calling `get_weather` (2) with `{"city":"Paris"}` (5): 3 + 1 + 7 = 11
    /// - tool "Sunny, 21°C.": 3 + `tool` 1 + 6 = 10
    /// - tools, as JSON (see `TOOLS`): 29
    /// - reply primer: 3
    #[test]
    fn tool_calls_and_definitions_are_counted() {
        let req = request(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                }]},
                {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21°C."}
            ],
            "tools": serde_json::from_str::<serde_json::Value>(TOOLS).unwrap()
        }));
        assert_eq!(prompt_tokens(&req), 8 + 11 + 10 + 29 + 3);
    }

    const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","parameters":{"properties":{"city":{"type":"string"}},"type":"object"}}}]"#;

    #[test]
    fn legacy_functions_count_like_tools() {
        let functions = serde_json::json!([{"name": "get_weather"}]);
        let req =
            request(serde_json::json!({"model": "m", "messages": [], "functions": functions}));
        // `[{"name":"get_weather"}]` is 8 tokens; plus the primer.
        assert_eq!(prompt_tokens(&req), 8 + REPLY_PRIMER_TOKENS);
    }

    #[test]
    fn an_empty_conversation_costs_the_primer_and_completions_no_overhead() {
        let req = request(serde_json::json!({"model": "m", "messages": []}));
        assert_eq!(prompt_tokens(&req), REPLY_PRIMER_TOKENS);
        assert_eq!(completion_tokens(""), 0);
        assert_eq!(completion_tokens("Sunny, 21°C."), 6);
    }
}
