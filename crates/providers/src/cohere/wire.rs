//! Serde types of Cohere's Chat API v2 (`POST /v2/chat`): the request, the response, the
//! stream events and the error body, named as Cohere's API reference names them.
//!
//! Optional fields are skipped when absent, so an encoded request carries only what was set.
//! Content block and stream event types this build does not model decode as `Unknown`
//! instead of failing, so a new block or event type does not break an answer or a stream.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_types::JsonMap;

/// A Chat API v2 request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model that answers.
    pub model: String,
    /// The conversation, in order.
    pub messages: Vec<Message>,
    /// Whether to answer with server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Tools (functions) the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    /// Make tool calls follow the tool definitions strictly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_tools: Option<bool>,
    /// `REQUIRED` or `NONE`; absent lets the model decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// JSON output, optionally with a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Up to 5 strings that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Penalty proportional to how often a token appeared, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Penalty for any token that appeared, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Top-k sampling (0 turns it off), up to 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u64>,
    /// Nucleus sampling mass, 0.01 to 0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// Return the log probabilities of the generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Reasoning of hybrid reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// Cohere's own fields a client sent as they are (`documents`, `citation_options`,
    /// `safety_mode`, `priority`).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One message of the conversation, tagged by its `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// Instructions for the model.
    System {
        /// Text, or text blocks.
        content: Content,
    },
    /// A user turn.
    User {
        /// Text, or text and image blocks.
        content: Content,
    },
    /// An earlier answer of the model.
    Assistant {
        /// Text, or text and thinking blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// The tool calls the model made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// The model's plan for its tool calls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
    },
    /// The output of one tool call.
    Tool {
        /// The `id` of the call it answers.
        tool_call_id: String,
        /// The output: text (ideally a JSON object), or text and document blocks.
        content: Content,
    },
}

/// Message content: a string or blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<Block>),
}

/// A content block, in requests and responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image (user turns).
    ImageUrl {
        /// Where the image is.
        image_url: ImageUrl,
    },
    /// The model's reasoning (assistant turns and responses).
    Thinking {
        /// The reasoning text.
        thinking: String,
    },
    /// A document (tool results).
    Document {
        /// `{data, id}`, kept as sent.
        document: Value,
    },
    /// A block type this build does not model.
    #[serde(other)]
    Unknown,
}

/// The `image_url` of an image block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// A web URL or a base64 data URL.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A tool call, complete (responses, assistant turns) or starting (streams).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, echoed by the tool message that answers it.
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Function name and JSON arguments.
    #[serde(default)]
    pub function: FunctionCall,
}

/// The function of a tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    #[serde(default)]
    pub name: String,
    /// Arguments as a JSON string.
    #[serde(default)]
    pub arguments: String,
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionDef,
}

/// The function of a tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments (required by the API).
    pub parameters: Value,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text` or `json_object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON Schema the output follows (only with `json_object`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
}

/// `thinking`: reasoning of hybrid reasoning models (on by default for them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thinking {
    /// `enabled` or `disabled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The most tokens the model may think with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
}

/// A complete Chat API v2 response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The reply's id.
    pub id: String,
    /// `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`, `ERROR` or `TIMEOUT`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The answer.
    #[serde(default)]
    pub message: AssistantMessage,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Log probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<Vec<LogprobItem>>,
}

/// The `message` of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Always `assistant`.
    #[serde(default)]
    pub role: String,
    /// Text and thinking blocks.
    #[serde(default)]
    pub content: Option<Vec<Block>>,
    /// Tool calls.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The model's plan for its tool calls.
    #[serde(default)]
    pub tool_plan: Option<String>,
    /// Citations of documents and tool outputs, kept as sent.
    #[serde(default)]
    pub citations: Option<Value>,
}

/// Token counts: what was billed and what the model processed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Billed tokens.
    #[serde(default)]
    pub billed_units: Option<Units>,
    /// Tokens the model read and produced (prompt template included).
    #[serde(default)]
    pub tokens: Option<Units>,
    /// Prompt tokens served from the cache.
    #[serde(default)]
    pub cached_tokens: Option<f64>,
}

/// Input and output token counts (numbers in the API's schema).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Units {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: Option<f64>,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: Option<f64>,
}

/// The log probabilities of one chunk of generated text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogprobItem {
    /// The text chunk.
    #[serde(default)]
    pub text: Option<String>,
    /// The tokens the chunk is made of.
    #[serde(default)]
    pub token_ids: Vec<u64>,
    /// The log probability of each token.
    #[serde(default)]
    pub logprobs: Vec<f64>,
}

/// One event of a Chat stream (the `data:` of an SSE event), tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StreamEvent {
    /// The stream begins.
    MessageStart {
        /// The reply's id.
        #[serde(default)]
        id: Option<String>,
    },
    /// A content block (text or thinking) begins.
    ContentStart {
        /// The block's position.
        #[serde(default)]
        index: u32,
        /// The block's type and first text.
        #[serde(default)]
        delta: ContentEventDelta,
    },
    /// A piece of a content block.
    ContentDelta {
        /// The block's position.
        #[serde(default)]
        index: u32,
        /// The piece.
        #[serde(default)]
        delta: ContentEventDelta,
        /// Log probabilities of the piece, when asked for.
        #[serde(default)]
        logprobs: Option<LogprobItem>,
    },
    /// A piece of the tool plan.
    ToolPlanDelta {
        /// The piece.
        #[serde(default)]
        delta: ToolPlanEventDelta,
    },
    /// A tool call begins: id, name and empty arguments.
    ToolCallStart {
        /// The call's position.
        #[serde(default)]
        index: u32,
        /// The call.
        #[serde(default)]
        delta: ToolCallEventDelta,
    },
    /// A piece of a tool call's arguments.
    ToolCallDelta {
        /// The call's position.
        #[serde(default)]
        index: u32,
        /// The piece.
        #[serde(default)]
        delta: ToolCallEventDelta,
    },
    /// The answer is complete: finish reason and usage, or an error.
    MessageEnd {
        /// The end.
        #[serde(default)]
        delta: MessageEndDelta,
    },
    /// `content-end`, `tool-call-end`, `citation-start`, `citation-end`, `debug` and event
    /// types this build does not model.
    #[serde(other)]
    Unknown,
}

/// The `delta` of content events: `{message: {content: {type?, text?, thinking?}}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentEventDelta {
    /// The message part.
    #[serde(default)]
    pub message: ContentEventMessage,
}

/// The `message` of a content event delta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentEventMessage {
    /// The content piece.
    #[serde(default)]
    pub content: ContentPiece,
}

/// A piece of a content block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPiece {
    /// `text` or `thinking` (on `content-start`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Answer text.
    #[serde(default)]
    pub text: Option<String>,
    /// Reasoning text.
    #[serde(default)]
    pub thinking: Option<String>,
}

/// The `delta` of `tool-plan-delta`: `{message: {tool_plan}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolPlanEventDelta {
    /// The message part.
    #[serde(default)]
    pub message: ToolPlanMessage,
}

/// The `message` of a tool plan delta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolPlanMessage {
    /// The piece of the plan.
    #[serde(default)]
    pub tool_plan: String,
}

/// The `delta` of tool-call events: `{message: {tool_calls: {id?, type?, function}}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallEventDelta {
    /// The message part.
    #[serde(default)]
    pub message: ToolCallMessage,
}

/// The `message` of a tool-call event delta: one call (not a list, despite the name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallMessage {
    /// The call, or the piece of it.
    #[serde(default)]
    pub tool_calls: ToolCall,
}

/// The `delta` of `message-end`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageEndDelta {
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token counts of the whole answer.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// What went wrong, when generation failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// An error body: `{"id": …, "message": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The request's id.
    #[serde(default)]
    pub id: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn events_without_a_model_and_unknown_types_do_not_fail() {
        for data in [
            r#"{"type":"content-end","index":0}"#,
            r#"{"type":"tool-call-end","index":1}"#,
            r#"{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":1}}}}"#,
            r#"{"type":"debug","prompt":"x"}"#,
            r#"{"type":"future-event","x":1}"#,
        ] {
            let ev: StreamEvent = serde_json::from_str(data).unwrap();
            assert_eq!(ev, StreamEvent::Unknown, "{data}");
        }
        let b: Block = serde_json::from_str(r#"{"type":"future","x":1}"#).unwrap();
        assert_eq!(b, Block::Unknown);
    }

    #[test]
    fn messages_are_tagged_by_role_and_skip_absent_fields() {
        let m = Message::Assistant {
            content: None,
            tool_calls: Some(vec![ToolCall {
                id: "c1".into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "f".into(),
                    arguments: "{}".into(),
                },
            }]),
            tool_plan: None,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]})
        );
        let u = Message::User {
            content: Content::Blocks(vec![Block::ImageUrl {
                image_url: ImageUrl {
                    url: "u".into(),
                    detail: None,
                },
            }]),
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]})
        );
    }
}
