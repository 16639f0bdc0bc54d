//! What routing rules see of a chat request: its shape, headers, `x-sluice-tags`, and who
//! sent it (key, team, end user).

use http::HeaderMap;
use serde_json::{Map, Value};
use sluice_types::{ChatRequest, GatewayError};

/// Parses `x-sluice-tags` (a JSON object); absent means no tags.
pub fn tags(headers: &HeaderMap) -> Result<Map<String, Value>, GatewayError> {
    let Some(raw) = headers.get("x-sluice-tags") else {
        return Ok(Map::new());
    };
    let bad = || {
        GatewayError::invalid_request(
            "x-sluice-tags must be a JSON object, like {\"feature\":\"search\"}",
        )
        .with_param("x-sluice-tags")
    };
    serde_json::from_slice::<Map<String, Value>>(raw.as_bytes()).map_err(|_| bad())
}

/// The model a chat request goes to after routing rules, and the rule that fired.
/// `prompt_tokens` is the request's estimate, computed once by the caller.
pub fn apply_rules(
    router: &sluice_router::Router,
    req: &ChatRequest,
    prompt_tokens: u64,
    headers: &HeaderMap,
    tags: &Map<String, Value>,
    who: (&crate::Principal, Option<&str>),
) -> (String, Option<String>) {
    if !router.has_rules() {
        return (req.model.clone(), None);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let tag = |name: &str| tags.get(name).and_then(Value::as_str);
    let facts = sluice_router::RequestFacts {
        model: &req.model,
        stream: req.is_stream(),
        has_images: req.has_images(),
        has_tools: req.tools.as_ref().is_some_and(|t| !t.is_empty()),
        prompt_tokens,
        header: &header,
        tag: &tag,
        key: who.0.key.as_ref().map(|t| t.doc.id.as_str()),
        team: who.0.team.as_ref().map(|t| t.doc.id.as_str()),
        user: who.1,
    };
    match router.rule_for(&facts) {
        Some((rule, model)) => (model.to_owned(), Some(rule.to_owned())),
        None => (req.model.clone(), None),
    }
}
