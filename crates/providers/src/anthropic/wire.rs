//! Serde types of the Anthropic Messages API (`POST /v1/messages`): the request, the response,
//! the stream events and the error envelope, as Anthropic's API reference names them.
//!
//! They are public so that the inbound `/v1/messages` API can decode and encode the same
//! shapes. Optional fields are skipped when absent, so an encoded request carries only what
//! was set. Content block, delta and event types this build does not model decode as
//! `Unknown` instead of failing, so a new block type in a response does not break a stream.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_types::JsonMap;

/// The value of the `anthropic-version` header this codec speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A Messages API request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The model that will answer; left out when empty (Claude on Vertex AI names the model
    /// in the URL instead).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// The conversation: alternating `user` and `assistant` turns, starting with `user`.
    pub messages: Vec<InputMessage>,
    /// The most tokens to generate (required by the API).
    pub max_tokens: u64,
    /// The system prompt: a string, or text blocks (needed for `cache_control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// Request metadata (`user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Custom sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Whether to answer with server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sample only from the top K options of each token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    /// Tools the model may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    /// How the model may use the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingConfig>,
    /// Fields this build does not model.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// The top-level `system` prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks, which may carry `cache_control`.
    Blocks(Vec<ContentBlock>),
}

/// `metadata` of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// An opaque id of the end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// Text, or content blocks.
    pub content: MessageContent,
}

/// The content of a turn: a string or blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text (one text block).
    Text(String),
    /// Content blocks.
    Blocks(Vec<ContentBlock>),
}

/// A content block, in requests and in responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Citations attached to the text (responses).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        citations: Option<Value>,
        /// Prompt-cache breakpoint, e.g. `{"type": "ephemeral"}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// An image.
    Image {
        /// Where the image comes from.
        source: ImageSource,
        /// Prompt-cache breakpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// A document (PDF or plain text).
    Document {
        /// Where the document comes from (`base64`, `text`, `url`, …), kept as sent.
        source: Value,
        /// Optional title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Prompt-cache breakpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// A tool call made by the model.
    ToolUse {
        /// Call id (`toolu_…`), echoed by the result.
        id: String,
        /// Tool name.
        name: String,
        /// The arguments, a JSON object.
        input: Value,
        /// Prompt-cache breakpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// The result of a tool call, sent in a `user` turn.
    ToolResult {
        /// The `id` of the `tool_use` block this answers.
        tool_use_id: String,
        /// The result: text or blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<ToolResultContent>,
        /// Whether the tool failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
        /// Prompt-cache breakpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// The model's extended thinking, signed.
    Thinking {
        /// The thinking text (empty in a stream's `content_block_start`).
        #[serde(default)]
        thinking: String,
        /// Anthropic's signature over the block; must come back unchanged. A stream's
        /// `content_block_start` may leave it out: it arrives as a `signature_delta`.
        #[serde(default)]
        signature: String,
    },
    /// Thinking that was encrypted by the safety system.
    RedactedThinking {
        /// The encrypted payload; must come back unchanged.
        data: String,
    },
    /// A block type this build does not model (server tools, …).
    #[serde(other)]
    Unknown,
}

/// The content of a `tool_result` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    /// Plain text.
    Text(String),
    /// Text and image blocks.
    Blocks(Vec<ContentBlock>),
}

/// The `source` of an image block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// Inline bytes.
    Base64 {
        /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`.
        media_type: String,
        /// The base64 data.
        data: String,
    },
    /// An image the API fetches itself.
    Url {
        /// An `http(s)` URL.
        url: String,
    },
    /// A file uploaded with the Files API.
    File {
        /// The file id.
        file_id: String,
    },
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Tool name, `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the input object.
    pub input_schema: Value,
    /// Prompt-cache breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one tool call when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// Exactly one tool call when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call the named tool.
    Tool {
        /// The tool to call.
        name: String,
        /// Exactly one tool call when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model may not call tools.
    None,
}

/// `thinking` of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingConfig {
    /// Extended thinking with a token budget (at least 1024, below `max_tokens`).
    Enabled {
        /// Tokens the model may think with.
        budget_tokens: u64,
    },
    /// No extended thinking.
    Disabled,
}

/// A complete Messages API response (also the `message` of `message_start`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// `msg_…`.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Always `assistant`.
    #[serde(default)]
    pub role: String,
    /// The generated blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`, `refusal`, …
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: Usage,
}

/// Token usage. In `message_delta` events every field is optional and cumulative.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens not read from or written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens (thinking included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Other usage fields (`service_tier`, `server_tool_use`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One event of a Messages stream (the `data:` of an SSE event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message begins; `content` is empty.
    MessageStart {
        /// The message so far.
        message: MessagesResponse,
    },
    /// A content block begins.
    ContentBlockStart {
        /// Position of the block in the final `content`.
        index: u32,
        /// The block, with empty text / input.
        content_block: ContentBlock,
    },
    /// A piece of a content block.
    ContentBlockDelta {
        /// The block it extends.
        index: u32,
        /// The piece.
        delta: BlockDelta,
    },
    /// A content block is complete.
    ContentBlockStop {
        /// The block.
        index: u32,
    },
    /// Top-level changes: the stop reason and cumulative usage.
    MessageDelta {
        /// `stop_reason` and `stop_sequence`.
        delta: MessageDeltaBody,
        /// Cumulative usage.
        #[serde(default)]
        usage: Option<Usage>,
    },
    /// The stream is complete.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// An error after the stream began (e.g. `overloaded_error`).
    Error {
        /// What went wrong.
        error: ErrorBody,
    },
    /// An event type this build does not model.
    #[serde(other)]
    Unknown,
}

/// The `delta` of a `content_block_delta` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// Text of a `text` block.
    TextDelta {
        /// The fragment.
        text: String,
    },
    /// A fragment of a `tool_use` block's input, as partial JSON text.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// Text of a `thinking` block.
    ThinkingDelta {
        /// The fragment.
        thinking: String,
    },
    /// The signature of a `thinking` block, sent just before its `content_block_stop`.
    SignatureDelta {
        /// The whole signature.
        signature: String,
    },
    /// A delta type this build does not model (`citations_delta`, …).
    #[serde(other)]
    Unknown,
}

/// The `delta` of a `message_delta` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// The stop sequence that matched, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
}

/// An error response body: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Always `error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What went wrong.
    pub error: ErrorBody,
    /// Anthropic's request id, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The `error` object of an error body or `error` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unknown_block_and_event_types_do_not_fail() {
        let b: ContentBlock =
            serde_json::from_str(r#"{"type":"server_tool_use","id":"x","name":"web_search"}"#)
                .unwrap();
        assert_eq!(b, ContentBlock::Unknown);
        let e: StreamEvent = serde_json::from_str(r#"{"type":"future_event","x":1}"#).unwrap();
        assert_eq!(e, StreamEvent::Unknown);
        let d: StreamEvent = serde_json::from_str(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}"#,
        )
        .unwrap();
        assert!(matches!(
            d,
            StreamEvent::ContentBlockDelta {
                delta: BlockDelta::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn request_skips_absent_fields() {
        let req = MessagesRequest {
            model: "m".into(),
            max_tokens: 10,
            messages: vec![InputMessage {
                role: "user".into(),
                content: MessageContent::Text("hi".into()),
            }],
            tool_choice: Some(ToolChoice::None),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"none"}})
        );
    }
}
