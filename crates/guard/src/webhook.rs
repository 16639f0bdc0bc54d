//! A policy webhook's answer: allow, deny with a reason, or a modified body.

use serde_json::Value;

/// What a webhook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookAnswer {
    /// Let it through unchanged.
    Allow,
    /// Refuse it, for this reason.
    Deny(String),
    /// Let through this body instead: the chat request on the input stage, the chat
    /// completion on the output stage.
    Modify(Value),
}

impl WebhookAnswer {
    /// Reads `{"action": "allow"}`, `{"action": "deny", "reason": "…"}` or
    /// `{"action": "modify", "<field>": {…}}`, where `field` is `request` or `response` as
    /// the stage sent. Anything else is an error, which the check's `on_error` decides.
    pub fn parse(body: &[u8], field: &str) -> Result<WebhookAnswer, String> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| format!("the webhook's answer is not JSON: {e}"))?;
        let action = v
            .get("action")
            .and_then(Value::as_str)
            .ok_or("the webhook's answer has no `action` string")?;
        match action {
            "allow" => Ok(WebhookAnswer::Allow),
            "deny" => Ok(WebhookAnswer::Deny(
                v.get("reason")
                    .and_then(Value::as_str)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("the policy webhook denied it")
                    .to_owned(),
            )),
            "modify" => match v.get(field) {
                Some(body @ Value::Object(_)) => Ok(WebhookAnswer::Modify(body.clone())),
                _ => Err(format!(
                    "the webhook answered modify without a `{field}` object"
                )),
            },
            other => Err(format!(
                "the webhook's action {other:?} is not allow, deny or modify"
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            WebhookAnswer::parse(br#"{"action":"allow"}"#, "request").unwrap(),
            WebhookAnswer::Allow
        );
        assert_eq!(
            WebhookAnswer::parse(
                br#"{"action":"deny","reason":"no medical advice"}"#,
                "request"
            )
            .unwrap(),
            WebhookAnswer::Deny("no medical advice".into())
        );
        assert_eq!(
            WebhookAnswer::parse(br#"{"action":"deny"}"#, "request").unwrap(),
            WebhookAnswer::Deny("the policy webhook denied it".into())
        );
        assert_eq!(
            WebhookAnswer::parse(br#"{"action":"modify","response":{"id":"x"}}"#, "response")
                .unwrap(),
            WebhookAnswer::Modify(json!({"id": "x"}))
        );
        for bad in [
            &br#"{"action":"modify","request":{"id":"x"}}"#[..],
            br#"{"action":"maybe"}"#,
            br#"{"allow":true}"#,
            b"<html>",
        ] {
            assert!(WebhookAnswer::parse(bad, "response").is_err());
        }
    }
}
