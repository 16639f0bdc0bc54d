//! The request log record: one per request, documented field by field in `docs/logging.md`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which client API a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/messages` (Anthropic Messages) and its `count_tokens`.
    Messages,
    /// `/v1/responses` (OpenAI Responses).
    Responses,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/completions` (legacy completions).
    Completions,
    /// Other OpenAI endpoints passed through (images, audio, files, batches, moderations, …).
    Passthrough,
    /// A provider's own API under `/{provider}/…`.
    Native,
    /// Anything else (the model list, unknown routes).
    #[default]
    Other,
}

impl Api {
    /// Every API with its stored name.
    pub const ALL: [(Api, &'static str); 8] = [
        (Api::Chat, "chat"),
        (Api::Messages, "messages"),
        (Api::Responses, "responses"),
        (Api::Embeddings, "embeddings"),
        (Api::Completions, "completions"),
        (Api::Passthrough, "passthrough"),
        (Api::Native, "native"),
        (Api::Other, "other"),
    ];

    /// The stored name, e.g. `chat`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(api, _)| *api == self)
            .map_or("other", |(_, name)| name)
    }

    /// The API stored as `name`; unknown names are [`Api::Other`].
    pub fn from_name(name: &str) -> Api {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(Api::Other, |(api, _)| *api)
    }
}

/// Where a record's token counts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageSource {
    /// The upstream reported usage.
    Upstream,
    /// The gateway counted the tokens with its tokenizer (a stream cut before usage arrived).
    Estimated,
    /// No usage is known (an error, a hang-up before usage arrived, an endpoint without usage).
    #[default]
    None,
}

impl UsageSource {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            UsageSource::Upstream => "upstream",
            UsageSource::Estimated => "estimated",
            UsageSource::None => "none",
        }
    }

    /// The source stored as `name`.
    pub fn from_name(name: &str) -> UsageSource {
        match name {
            "upstream" => UsageSource::Upstream,
            "estimated" => UsageSource::Estimated,
            _ => UsageSource::None,
        }
    }
}

/// One attempt the router made on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Provider name.
    pub provider: String,
    /// The provider's model.
    pub model: String,
    /// `ok`, `cancelled` (a hedge that lost, or a request abandoned mid-attempt) or the error
    /// class (`connect`, `timeout`, `5xx`, `429`, `context-length`, `content-policy`, `4xx`).
    pub outcome: String,
    /// The upstream's HTTP status, when it answered with an error status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// Request parameters the provider could not honour and dropped (`drop_unsupported`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

/// One request as the gateway saw it. Timestamps are unix milliseconds; `None` means unknown
/// or not applicable.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LogRecord {
    /// The request id (`x-request-id`).
    pub id: String,
    /// When the request arrived.
    pub received_at: i64,
    /// When the first byte of the response body was sent.
    pub first_byte_at: Option<i64>,
    /// When the response ended (or the client went away).
    pub done_at: i64,
    /// Which client API was used.
    pub api: Api,
    /// HTTP method.
    pub method: String,
    /// Request path (no query string).
    pub path: String,
    /// The virtual key's id.
    pub key: Option<String>,
    /// The key's team.
    pub team: Option<String>,
    /// The team's org.
    pub org: Option<String>,
    /// The end user (`x-sluice-user`, else the body's `user`).
    pub user: Option<String>,
    /// `x-sluice-tags`, a JSON object.
    pub tags: Option<Value>,
    /// The model name the client sent.
    pub requested_model: Option<String>,
    /// The model group it resolved to (after routing rules).
    pub resolved_model: Option<String>,
    /// The A/B variant, when the model was a split.
    pub variant: Option<String>,
    /// The routing rule that chose the model, when one fired.
    pub rule: Option<String>,
    /// The provider that answered.
    pub provider: Option<String>,
    /// The provider's model that answered.
    pub upstream_model: Option<String>,
    /// Every attempt, in order.
    pub attempts: Vec<AttemptRecord>,
    /// The HTTP status the client got (499: the client went away first).
    pub status: u16,
    /// The error's type (`upstream_error`, `rate_limit_error`, …), when the request failed.
    pub error_type: Option<String>,
    /// The error's machine-readable code, when it has one.
    pub error_code: Option<String>,
    /// The error message.
    pub error_message: Option<String>,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// Time to first token (first content of a stream), in milliseconds.
    pub ttft_ms: Option<u64>,
    /// Total duration, in milliseconds.
    pub duration_ms: u64,
    /// Prompt (input) tokens.
    pub prompt_tokens: Option<u64>,
    /// Completion (output) tokens.
    pub completion_tokens: Option<u64>,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_tokens: Option<u64>,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write_tokens: Option<u64>,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
    /// Where the token counts come from.
    pub usage_source: UsageSource,
    /// Cost in USD (unset until pricing exists).
    pub cost_usd: Option<f64>,
    /// USD saved by the response cache (unset until caching exists).
    pub saved_usd: Option<f64>,
    /// Cache outcome (`HIT`, `SEMANTIC-HIT`, `MISS`, `BYPASS`, `SEMANTIC-SKIP`,
    /// `SEMANTIC-VETO`), for models that cache.
    pub cache: Option<String>,
    /// The similarity of a semantic hit (or of the best match the verifier vetoed).
    pub cache_score: Option<f64>,
    /// Guardrail outcomes (unset until guardrails exist).
    pub guardrails: Option<Value>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The client's `user-agent`.
    pub user_agent: Option<String>,
    /// The request body, when `logging.bodies` is on (capped at `logging.max_body_bytes`).
    pub request_body: Option<String>,
    /// The response body, when `logging.bodies` is on (capped at `logging.max_body_bytes`).
    pub response_body: Option<String>,
}

impl LogRecord {
    /// Replaces NUL characters, which Postgres cannot store in text or JSONB, in every string.
    pub(crate) fn sanitized(&self) -> std::borrow::Cow<'_, LogRecord> {
        if !self.has_nul() {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut r = self.clone();
        for s in r.strings_mut() {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{fffd}");
            }
        }
        for a in &mut r.attempts {
            a.provider = a.provider.replace('\0', "\u{fffd}");
            a.model = a.model.replace('\0', "\u{fffd}");
        }
        r.tags = r.tags.take().map(strip_json_nul);
        r.guardrails = r.guardrails.take().map(strip_json_nul);
        std::borrow::Cow::Owned(r)
    }

    fn has_nul(&self) -> bool {
        let json_nul = |v: &Option<Value>| {
            v.as_ref()
                .is_some_and(|v| v.to_string().contains("\\u0000"))
        };
        self.strings().any(|s| s.contains('\0'))
            || self
                .attempts
                .iter()
                .any(|a| a.provider.contains('\0') || a.model.contains('\0'))
            || json_nul(&self.tags)
            || json_nul(&self.guardrails)
    }

    fn strings(&self) -> impl Iterator<Item = &str> {
        [&self.id, &self.method, &self.path]
            .into_iter()
            .map(String::as_str)
            .chain(
                [
                    &self.key,
                    &self.team,
                    &self.org,
                    &self.user,
                    &self.requested_model,
                    &self.resolved_model,
                    &self.variant,
                    &self.rule,
                    &self.provider,
                    &self.upstream_model,
                    &self.error_type,
                    &self.error_code,
                    &self.error_message,
                    &self.cache,
                    &self.client_ip,
                    &self.user_agent,
                    &self.request_body,
                    &self.response_body,
                ]
                .into_iter()
                .filter_map(Option::as_deref),
            )
    }

    fn strings_mut(&mut self) -> impl Iterator<Item = &mut String> {
        [&mut self.id, &mut self.method, &mut self.path]
            .into_iter()
            .chain(
                [
                    &mut self.key,
                    &mut self.team,
                    &mut self.org,
                    &mut self.user,
                    &mut self.requested_model,
                    &mut self.resolved_model,
                    &mut self.variant,
                    &mut self.rule,
                    &mut self.provider,
                    &mut self.upstream_model,
                    &mut self.error_type,
                    &mut self.error_code,
                    &mut self.error_message,
                    &mut self.cache,
                    &mut self.client_ip,
                    &mut self.user_agent,
                    &mut self.request_body,
                    &mut self.response_body,
                ]
                .into_iter()
                .filter_map(Option::as_mut),
            )
    }
}

/// `value` with NUL characters replaced in every string and key.
fn strip_json_nul(value: Value) -> Value {
    let fix = |s: String| {
        if s.contains('\0') {
            s.replace('\0', "\u{fffd}")
        } else {
            s
        }
    };
    match value {
        Value::String(s) => Value::String(fix(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_json_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (fix(k), strip_json_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_names_round_trip() {
        for (api, name) in Api::ALL {
            assert_eq!(api.name(), name);
            assert_eq!(Api::from_name(name), api);
            assert_eq!(serde_json::to_value(api).unwrap(), name);
        }
        assert_eq!(Api::from_name("nope"), Api::Other);
    }

    #[test]
    fn usage_source_names_round_trip() {
        for source in [
            UsageSource::Upstream,
            UsageSource::Estimated,
            UsageSource::None,
        ] {
            assert_eq!(UsageSource::from_name(source.name()), source);
            assert_eq!(serde_json::to_value(source).unwrap(), source.name());
        }
        assert_eq!(UsageSource::from_name("nope"), UsageSource::None);
    }

    #[test]
    fn nul_characters_are_replaced() {
        let r = LogRecord {
            id: "a".into(),
            requested_model: Some("m\0x".into()),
            tags: Some(serde_json::json!({"k\0": ["v\0"]})),
            ..LogRecord::default()
        };
        let clean = r.sanitized();
        assert_eq!(clean.requested_model.as_deref(), Some("m\u{fffd}x"));
        assert_eq!(
            clean.tags,
            Some(serde_json::json!({"k\u{fffd}": ["v\u{fffd}"]}))
        );
        let plain = LogRecord::default();
        assert!(matches!(plain.sanitized(), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn records_round_trip_as_json_and_missing_fields_default() {
        let r = LogRecord {
            id: "req_1".into(),
            api: Api::Chat,
            attempts: vec![AttemptRecord {
                provider: "p".into(),
                model: "m".into(),
                outcome: "ok".into(),
                status: None,
                duration_ms: 3,
                dropped: Vec::new(),
            }],
            usage_source: UsageSource::Upstream,
            ..LogRecord::default()
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<LogRecord>(&line).unwrap(), r);
        // A journal line written before a field existed still parses.
        let sparse: LogRecord = serde_json::from_str(r#"{"id":"x","status":200}"#).unwrap();
        assert_eq!((sparse.id.as_str(), sparse.status), ("x", 200));
        assert_eq!(sparse.org, None);
    }
}
