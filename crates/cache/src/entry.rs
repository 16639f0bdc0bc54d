//! A cached answer and its stored form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sluice_types::ChatResponse;

use crate::CacheError;

/// Version of the stored form; entries of another version are misses.
const ENTRY_VERSION: u32 = 1;

/// One cached answer: the complete response as OpenAI chat JSON, who answered it, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The model group the request was routed to.
    pub model: String,
    /// The scope id the entry belongs to ([`crate::Scope::as_str`]).
    pub scope: String,
    /// The provider of the target that answered.
    pub provider: String,
    /// The upstream model of the target that answered.
    pub upstream_model: String,
    /// When the answer was stored, in Unix milliseconds.
    pub created_ms: u64,
    /// How long the entry lives, in milliseconds.
    pub ttl_ms: u64,
    /// The answer; its `raw` always holds its OpenAI chat JSON.
    pub response: ChatResponse,
}

/// The stored form: the entry's fields with the response's JSON embedded as it is.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    v: u32,
    model: &'a str,
    scope: &'a str,
    provider: &'a str,
    upstream_model: &'a str,
    created_ms: u64,
    ttl_ms: u64,
    #[serde(borrow)]
    response: &'a RawValue,
}

impl Entry {
    /// An entry for `response` created now. The response's JSON is its `raw` bytes when the
    /// upstream's OpenAI JSON is at hand, else its serialized fields.
    pub fn new(
        model: &str,
        scope: &str,
        target: (&str, &str),
        mut response: ChatResponse,
        ttl: Duration,
    ) -> Result<Self, CacheError> {
        let json = response.openai_json()?;
        response.raw = Some(json);
        Ok(Self {
            model: model.to_owned(),
            scope: scope.to_owned(),
            provider: target.0.to_owned(),
            upstream_model: target.1.to_owned(),
            created_ms: now_ms(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
            response,
        })
    }

    /// The response's OpenAI chat JSON.
    pub fn json(&self) -> &[u8] {
        self.response.raw.as_deref().unwrap_or_default()
    }

    /// How long ago the entry was stored (zero when the clock went back).
    pub fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.created_ms))
    }

    /// How long the entry lives.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms)
    }

    /// The entry's stored size in bytes, as the memory backend weighs it.
    pub fn size(&self) -> u64 {
        let strings = self.model.len() + self.scope.len() + self.provider.len();
        (self.json().len() + strings + self.upstream_model.len() + 160) as u64
    }

    /// The stored form: compact JSON with the response embedded as it is.
    pub fn encode(&self) -> Result<Vec<u8>, CacheError> {
        let json = std::str::from_utf8(self.json())
            .map_err(|e| CacheError::Encoding(format!("the response is not UTF-8: {e}")))?;
        let response: &RawValue = serde_json::from_str(json)?;
        let stored = Stored {
            v: ENTRY_VERSION,
            model: &self.model,
            scope: &self.scope,
            provider: &self.provider,
            upstream_model: &self.upstream_model,
            created_ms: self.created_ms,
            ttl_ms: self.ttl_ms,
            response,
        };
        Ok(serde_json::to_vec(&stored)?)
    }

    /// Reads a stored form back.
    pub fn decode(bytes: &[u8]) -> Result<Self, CacheError> {
        let stored: Stored<'_> = serde_json::from_slice(bytes)?;
        if stored.v != ENTRY_VERSION {
            return Err(CacheError::Encoding(format!(
                "stored entry version {} is not {ENTRY_VERSION}",
                stored.v
            )));
        }
        let mut response: ChatResponse = serde_json::from_str(stored.response.get())?;
        response.raw = Some(Bytes::copy_from_slice(stored.response.get().as_bytes()));
        Ok(Self {
            model: stored.model.to_owned(),
            scope: stored.scope.to_owned(),
            provider: stored.provider.to_owned(),
            upstream_model: stored.upstream_model.to_owned(),
            created_ms: stored.created_ms,
            ttl_ms: stored.ttl_ms,
            response,
        })
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips_with_the_upstream_bytes() {
        let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        let mut resp: ChatResponse = serde_json::from_str(body).unwrap();
        resp.raw = Some(Bytes::from_static(body.as_bytes()));
        let e = Entry::new(
            "fast",
            "global",
            ("openai", "gpt"),
            resp,
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            e.json(),
            body.as_bytes(),
            "the upstream's bytes, nulls included"
        );
        let back = Entry::decode(&e.encode().unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.ttl(), Duration::from_secs(60));
        assert!(back.age() < Duration::from_secs(5));
        assert!(e.size() > body.len() as u64);
    }

    #[test]
    fn responses_without_upstream_bytes_are_serialized() {
        let resp = ChatResponse {
            id: "x".into(),
            ..Default::default()
        };
        let e = Entry::new("m", "global", ("p", "u"), resp, Duration::ZERO).unwrap();
        assert_eq!(e.ttl_ms, 1, "a ttl is at least 1 ms");
        let v: serde_json::Value = serde_json::from_slice(e.json()).unwrap();
        assert_eq!(v["id"], "x");
        assert!(Entry::decode(b"{\"v\":2}").is_err());
        assert!(Entry::decode(b"not json").is_err());
    }
}
