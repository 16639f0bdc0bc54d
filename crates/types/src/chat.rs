//! Chat request, response and stream chunk types (OpenAI chat shape, lossless).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonMap;

/// A chat completion request as the gateway understands it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model name the client asked for (an alias, `provider/model`, or an upstream name).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Whether the client wants server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options such as `include_usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `auto`, `none`, `required`, or a named function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `text`, `json_object` or `json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Legacy output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Output token limit including reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// Number of choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequence(s): a string or an array of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    /// Seed for deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Penalty for tokens already present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty proportional to token frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `minimal`, `low`, `medium` or `high`: how much the model may reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Whether to return log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many top log probabilities per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Every other field, forwarded untouched to OpenAI-family upstreams.
    #[serde(flatten)]
    pub extra: JsonMap,
    /// The client's own OpenAI chat JSON for this request, while the request is unchanged:
    /// OpenAI-family codecs forward it with only `model` replaced, so every byte the client
    /// sent (explicit `null`s included) reaches the upstream. Anything that modifies the
    /// request must set it to `None`.
    #[serde(skip)]
    pub raw: Option<Bytes>,
}

impl ChatRequest {
    /// True when the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Removes the top-level parameter `name` (a typed field or an extra one); true when it
    /// was set. The request no longer matches the client's bytes afterwards, so `raw` is
    /// cleared.
    pub fn remove_param(&mut self, name: &str) -> bool {
        fn take<T>(field: &mut Option<T>) -> bool {
            field.take().is_some()
        }
        let removed = match name {
            "stream_options" => take(&mut self.stream_options),
            "tools" => take(&mut self.tools),
            "tool_choice" => take(&mut self.tool_choice),
            "parallel_tool_calls" => take(&mut self.parallel_tool_calls),
            "response_format" => take(&mut self.response_format),
            "temperature" => take(&mut self.temperature),
            "top_p" => take(&mut self.top_p),
            "max_tokens" => take(&mut self.max_tokens),
            "max_completion_tokens" => take(&mut self.max_completion_tokens),
            "n" => take(&mut self.n),
            "stop" => take(&mut self.stop),
            "seed" => take(&mut self.seed),
            "user" => take(&mut self.user),
            "presence_penalty" => take(&mut self.presence_penalty),
            "frequency_penalty" => take(&mut self.frequency_penalty),
            "reasoning_effort" => take(&mut self.reasoning_effort),
            "logprobs" => take(&mut self.logprobs),
            "top_logprobs" => take(&mut self.top_logprobs),
            "model" | "messages" | "stream" => false,
            other => self.extra.remove(other).is_some(),
        };
        if removed {
            self.raw = None;
        }
        removed
    }

    /// A rough prompt size for routing decisions: four characters per token of every text
    /// part, plus a few tokens per message. Not for billing.
    pub fn estimated_prompt_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .map(|m| match &m.content {
                Some(Content::Text(t)) => t.len(),
                Some(Content::Parts(parts)) => parts
                    .iter()
                    .filter_map(|p| p.text.as_ref())
                    .map(String::len)
                    .sum(),
                None => 0,
            })
            .sum();
        (chars as u64).div_ceil(4) + 4 * self.messages.len() as u64
    }

    /// Whether any message carries an image part.
    pub fn has_images(&self) -> bool {
        self.messages.iter().any(|m| {
            matches!(&m.content, Some(Content::Parts(parts)) if parts.iter().any(|p| p.kind == "image_url"))
        })
    }

    /// True when a streaming client asked for a final usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

impl ChatResponse {
    /// This response as OpenAI chat JSON: the upstream's bytes when they are OpenAI JSON and
    /// unchanged, else the serialized fields.
    pub fn openai_json(&self) -> Result<Bytes, serde_json::Error> {
        raw_or_serialized(self.raw.as_ref(), self)
    }
}

impl ChatChunk {
    /// This chunk as OpenAI chunk JSON: the upstream's bytes when they are OpenAI JSON and
    /// unchanged, else the serialized fields.
    pub fn openai_json(&self) -> Result<Bytes, serde_json::Error> {
        raw_or_serialized(self.raw.as_ref(), self)
    }
}

fn raw_or_serialized<T: Serialize>(
    raw: Option<&Bytes>,
    value: &T,
) -> Result<Bytes, serde_json::Error> {
    match raw {
        Some(raw) => Ok(raw.clone()),
        None => serde_json::to_vec(value).map(Bytes::from),
    }
}

/// `stream_options` of a chat request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a last chunk that carries usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Other stream options.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One message of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or an array of content parts; absent on some assistant tool-call turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A refusal from an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The model's visible reasoning, as text (`reasoning_content`, the common extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Provider thinking blocks with their signatures, kept byte for byte so that a later
    /// turn can send them back (required for multi-turn tool use with extended thinking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// Other message fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Message content: a plain string or typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Text, image, audio and file parts.
    Parts(Vec<ContentPart>),
}

/// One content part (`text`, `image_url`, `input_audio`, `file`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// The part's type tag.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The payload of other part types (`image_url`, `input_audio`, `file`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Other tool fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What the function does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A tool call made by the model (complete, in a message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool result.
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type")]
    pub kind: String,
    /// Function name and JSON arguments.
    pub function: FunctionCall,
    /// Other fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Function name and arguments of a complete tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON-encoded string.
    pub arguments: String,
}

/// A non-streaming chat response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Response id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The upstream model that answered.
    #[serde(default)]
    pub model: String,
    /// Generated choices.
    pub choices: Vec<Choice>,
    /// Token usage, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Other fields (`system_fingerprint`, `service_tier`, …).
    /// The upstream's own OpenAI-format JSON for this value, relayed byte for byte to OpenAI
    /// clients by [`Self::openai_json`] so that nothing the upstream sent is lost (explicit
    /// `null`s included). Codecs set it only when they decoded OpenAI JSON; anything that
    /// modifies the value must set it to `None`.
    #[serde(skip)]
    pub raw: Option<Bytes>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One choice of a non-streaming response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Choice index.
    pub index: u32,
    /// The generated message.
    pub message: Message,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Other fields (`logprobs`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Token usage of one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of both.
    #[serde(default)]
    pub total_tokens: u64,
    /// Breakdown of the prompt tokens (cache reads and writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of the completion tokens (reasoning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Usage {
    /// Adds `other`'s counts to these (two calls made for one request).
    pub fn absorb(&mut self, other: &Usage) {
        fn sum(a: &mut Option<u64>, b: Option<u64>) {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0) + b);
            }
        }
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
        if let Some(d) = &other.prompt_tokens_details {
            let mine = self
                .prompt_tokens_details
                .get_or_insert_with(Default::default);
            sum(&mut mine.cached_tokens, d.cached_tokens);
            sum(&mut mine.cache_creation_tokens, d.cache_creation_tokens);
        }
        if let Some(d) = &other.completion_tokens_details {
            let mine = self
                .completion_tokens_details
                .get_or_insert_with(Default::default);
            sum(&mut mine.reasoning_tokens, d.reasoning_tokens);
        }
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the provider's prompt cache (Anthropic `cache_creation_input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// Other fields (`audio_tokens`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Completion tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Other fields (`audio_tokens`, prediction tokens, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A provider thinking block (Anthropic `thinking` / `redacted_thinking`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// `thinking` or `redacted_thinking`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The thinking text (`thinking` blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// The provider's signature over the block, opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The encrypted payload (`redacted_thinking` blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// One streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Response id, the same on every chunk of a stream.
    #[serde(default)]
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The upstream model that answers.
    #[serde(default)]
    pub model: String,
    /// Deltas; empty on the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the final chunk when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Other fields.
    /// The upstream's own OpenAI-format JSON for this value, relayed byte for byte to OpenAI
    /// clients by [`Self::openai_json`] so that nothing the upstream sent is lost (explicit
    /// `null`s included). Codecs set it only when they decoded OpenAI JSON; anything that
    /// modifies the value must set it to `None`.
    #[serde(skip)]
    pub raw: Option<Bytes>,
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One choice delta of a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Choice index.
    pub index: u32,
    /// What this chunk adds.
    pub delta: Delta,
    /// Set on the chunk that ends the choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Other fields (`logprobs`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The incremental part of a streamed message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Set on the first delta of a choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Refusal fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Thinking block fragments: text and, once known, the block's signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A fragment of a tool call in a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the choice this fragment extends.
    pub index: u32,
    /// Call id, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on the first fragment.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name (first fragment) and argument text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Name and argument fragments of a streamed tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// Function name, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"low"}}],"x_msg":1}],"logit_bias":{"50256":-100},"metadata":{"a":"b"},"temperature":0.7}"#;
        let req: ChatRequest = serde_json::from_str(body).unwrap();
        let back: serde_json::Value = serde_json::to_value(&req).unwrap();
        let orig: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn parameters_can_be_removed_by_name() {
        let body = r#"{"model":"m","messages":[],"seed":1,"logit_bias":{"1":2},"temperature":0.5}"#;
        let mut req: ChatRequest = serde_json::from_str(body).unwrap();
        req.raw = Some(Bytes::from_static(b"{}"));
        assert!(req.remove_param("seed") && req.remove_param("logit_bias"));
        assert!(!req.remove_param("seed") && !req.remove_param("messages"));
        assert_eq!(req.raw, None);
        assert_eq!(req.temperature, Some(0.5));
    }

    #[test]
    fn response_extras_survive() {
        let body = r#"{"id":"c","object":"chat.completion","created":1,"model":"gpt","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":"hi","annotations":[]},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}"#;
        let resp: ChatResponse = serde_json::from_str(body).unwrap();
        let back = serde_json::to_value(&resp).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(body).unwrap()
        );
    }
}
