//! Serde types of the Bedrock Converse API (`POST /model/{modelId}/converse` and
//! `/converse-stream`), named as its API reference names them (camelCase on the wire).
//!
//! Converse's unions (`ContentBlock`, `ToolChoice`, …) hold exactly one member, written as an
//! object with one key (`{"text": "…"}`, `{"toolUse": {…}}`). They are modelled as structs of
//! optional members, so a request sets one and a response member this build does not know
//! lands in `extra` instead of failing the decode. Absent members are never serialized.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_types::JsonMap;

/// A Converse / ConverseStream request body (the model is in the URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    /// The conversation: `user` and `assistant` turns, alternating, starting with `user`.
    pub messages: Vec<Message>,
    /// System prompt blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Vec<SystemBlock>>,
    /// Limits and sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    /// Tools and tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// A guardrail to apply (`guardrailIdentifier`, `guardrailVersion`, `trace`, …), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<Value>,
    /// Model-specific fields (`thinking`, `top_k`, …), sent to the model as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<JsonMap>,
    /// Other top-level fields (`performanceConfig`, `requestMetadata`, …), as sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// The turn's blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// A content block: exactly one member is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlock {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBlock>,
    /// A tool call made by the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlock>,
    /// The result of a tool call, in a `user` turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResultBlock>,
    /// The model's reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<ReasoningBlock>,
    /// A prompt-cache checkpoint, `{"type": "default"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
    /// Members this build does not model (`document`, `guardContent`, `citationsContent`, …).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// An image block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// Where the image is.
    pub source: ImageSource,
}

/// The source of an image: inline bytes (base64 in JSON) or an S3 location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// The image, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// Other sources (`s3Location`), as sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    /// The call's id (`tooluse_…`), echoed by its result.
    pub tool_use_id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default)]
    pub input: Value,
}

/// The result of a tool call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    /// The `toolUseId` of the call this answers.
    pub tool_use_id: String,
    /// The result: text, JSON, image or document members.
    #[serde(default)]
    pub content: Vec<ToolResultContent>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One member of a tool result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolResultContent {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// An image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBlock>,
    /// Other members, as sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Reasoning: signed text, or content the provider encrypted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningBlock {
    /// The reasoning text and its signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_text: Option<ReasoningText>,
    /// Encrypted reasoning (base64), sent back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_content: Option<String>,
}

/// Reasoning text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasoningText {
    /// The text.
    pub text: String,
    /// The model's signature over the text; must come back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A system block: exactly one member is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemBlock {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A prompt-cache checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
}

/// `inferenceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// The most tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

impl InferenceConfig {
    /// Whether nothing is set (the object is then left out).
    pub fn is_empty(&self) -> bool {
        self == &InferenceConfig::default()
    }
}

/// `toolConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// The tools.
    pub tools: Vec<Tool>,
    /// How the model may use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// A tool: a specification (or a cache checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The specification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_spec: Option<ToolSpec>,
    /// A prompt-cache checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_point: Option<Value>,
}

/// A tool's specification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// The name, `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The input schema.
    pub input_schema: InputSchema,
}

/// `inputSchema`: a JSON Schema under `json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    /// The schema.
    pub json: Value,
}

/// `toolChoice`: exactly one member is set; `auto` and `any` are empty objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolChoice {
    /// The model decides (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<JsonMap>,
    /// The model must call some tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<JsonMap>,
    /// The model must call this tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<SpecificTool>,
}

/// `toolChoice.tool`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpecificTool {
    /// The tool to call.
    pub name: String,
}

/// A Converse response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    /// The answer.
    #[serde(default)]
    pub output: Option<ConverseOutput>,
    /// `end_turn`, `tool_use`, `max_tokens`, `stop_sequence`, `guardrail_intervened`,
    /// `content_filtered`, `model_context_window_exceeded`, …
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    /// `latencyMs`, `trace`, `metrics`, `additionalModelResponseFields`, …
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `output`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConverseOutput {
    /// The assistant's message.
    #[serde(default)]
    pub message: Option<Message>,
}

/// `usage`. Input tokens read from or written to the prompt cache are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens not read from or written to the cache.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Their total as Bedrock counts it.
    #[serde(default)]
    pub total_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

/// `contentBlockStart`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    /// The block's index in the message.
    #[serde(default)]
    pub content_block_index: u32,
    /// What starts: a tool call (text and reasoning blocks have no start event).
    #[serde(default)]
    pub start: StartMember,
}

/// `contentBlockStart.start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartMember {
    /// A tool call: its id and name (the input follows in deltas).
    #[serde(default)]
    pub tool_use: Option<ToolUseStart>,
    /// Other members, as sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `contentBlockStart.start.toolUse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    /// The call's id.
    pub tool_use_id: String,
    /// The tool's name.
    pub name: String,
}

/// `contentBlockDelta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    /// The block's index in the message.
    #[serde(default)]
    pub content_block_index: u32,
    /// The piece.
    #[serde(default)]
    pub delta: DeltaMember,
}

/// `contentBlockDelta.delta`: one member is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaMember {
    /// Text.
    #[serde(default)]
    pub text: Option<String>,
    /// A fragment of a tool call's input, as partial JSON text.
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    /// A piece of reasoning: text, the signature, or redacted content.
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
    /// Other members, as sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `delta.toolUse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolUseDelta {
    /// Partial JSON of the input.
    #[serde(default)]
    pub input: String,
}

/// `delta.reasoningContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningDelta {
    /// Reasoning text.
    #[serde(default)]
    pub text: Option<String>,
    /// The signature of the reasoning block.
    #[serde(default)]
    pub signature: Option<String>,
    /// Encrypted reasoning.
    #[serde(default)]
    pub redacted_content: Option<String>,
}

/// `messageStop`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Token usage of the whole stream.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// An error body (`{"message": …}`; some carry `__type` too) and the payload of a stream
/// exception.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable detail (`message`, or `Message` in some AWS front ends).
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
    /// The exception type, when the body names it (`ValidationException`, or a
    /// `namespace#ValidationException` form).
    #[serde(default, rename = "__type", alias = "code")]
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn unions_carry_one_member_and_unknown_members_survive() {
        let b = ContentBlock {
            text: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(&b).unwrap(), json!({"text": "hi"}));
        let b: ContentBlock =
            serde_json::from_value(json!({"citationsContent": {"content": []}})).unwrap();
        assert!(b.text.is_none() && b.extra.contains_key("citationsContent"));
        let c = ToolChoice {
            any: Some(JsonMap::new()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_value(&c).unwrap(), json!({"any": {}}));
    }

    #[test]
    fn request_skips_absent_fields() {
        let req = ConverseRequest {
            messages: vec![Message {
                role: "user".into(),
                content: vec![ContentBlock {
                    text: Some("hi".into()),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        );
    }
}
