//! The LLM judge's pure side: the transcript it reads and the verdict it answers.
//!
//! A chat judge reads the conversation's user, assistant and tool turns as a transcript
//! (consecutive turns of one role merged, tool results as user turns, tool calls as text),
//! ending with the answer on the output stage, and answers either the Llama Guard way
//! (`safe`, or `unsafe` with a line of category codes) or with a JSON object. A moderation
//! judge reads the same texts as a list and answers OpenAI's moderation object.

use serde_json::{Value, json};
use sluice_types::{ChatRequest, ChatResponse, Message};

use crate::fields::{Form, message_texts};

/// What a judge decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// True when the judge found the conversation unsafe.
    pub flagged: bool,
    /// The categories it named: Llama Guard codes (`S1`), moderation category names, or a
    /// JSON verdict's own.
    pub categories: Vec<String>,
    /// The judge's own reason, when it gave one.
    pub reason: Option<String>,
}

/// Llama Guard 3's hazard categories, by code.
const LLAMA_GUARD: &[(&str, &str)] = &[
    ("S1", "violent crimes"),
    ("S2", "non-violent crimes"),
    ("S3", "sex-related crimes"),
    ("S4", "child sexual exploitation"),
    ("S5", "defamation"),
    ("S6", "specialized advice"),
    ("S7", "privacy"),
    ("S8", "intellectual property"),
    ("S9", "indiscriminate weapons"),
    ("S10", "hate"),
    ("S11", "suicide and self-harm"),
    ("S12", "sexual content"),
    ("S13", "elections"),
    ("S14", "code interpreter abuse"),
];

/// Words a JSON verdict uses for "let it through" and for "refuse".
const ALLOW_WORDS: &[&str] = &["allow", "safe", "pass", "ok", "approve", "accept"];
const BLOCK_WORDS: &[&str] = &["block", "unsafe", "deny", "flag", "flagged", "reject"];

impl Verdict {
    /// Reads a chat judge's answer: a JSON object (`verdict` or `decision` naming allow /
    /// safe or block / unsafe, or a boolean `flagged` / `unsafe` / `safe`; `categories` as a
    /// list or an object of booleans; `reason`), possibly in a Markdown code fence, or a
    /// Llama Guard answer (`safe`, or `unsafe` and a line of codes). Anything else is an
    /// error, which the check's `on_error` decides.
    pub fn parse(text: &str) -> Result<Verdict, String> {
        let text = text.trim();
        let fenced = text
            .strip_prefix("```json")
            .or_else(|| text.strip_prefix("```"))
            .and_then(|t| t.strip_suffix("```"))
            .map_or(text, str::trim);
        if fenced.starts_with('{') {
            let v: Value = serde_json::from_str(fenced)
                .map_err(|e| format!("the judge's JSON verdict does not parse: {e}"))?;
            return json_verdict(&v);
        }
        llama_guard(text)
    }

    /// Reads an OpenAI moderation answer: flagged when any result is, with the categories
    /// that are `true` in any result.
    pub fn from_moderation(body: &Value) -> Result<Verdict, String> {
        let results = body
            .get("results")
            .and_then(Value::as_array)
            .ok_or("the moderation answer has no `results` list")?;
        let mut verdict = Verdict {
            flagged: false,
            categories: Vec::new(),
            reason: None,
        };
        for r in results {
            verdict.flagged |= r
                .get("flagged")
                .and_then(Value::as_bool)
                .ok_or("a moderation result has no boolean `flagged`")?;
            add_categories(&mut verdict.categories, r.get("categories"));
        }
        Ok(verdict)
    }

    /// The block reason: `the judge "guard" found it unsafe: S1 (violent crimes)`.
    pub fn describe(&self, what: &str) -> String {
        let mut out = format!("the judge found the {what} unsafe");
        if !self.categories.is_empty() {
            let named: Vec<String> = self
                .categories
                .iter()
                .map(|c| match LLAMA_GUARD.iter().find(|(code, _)| code == c) {
                    Some((code, name)) => format!("{code} ({name})"),
                    None => c.clone(),
                })
                .collect();
            out.push_str(": ");
            out.push_str(&named.join(", "));
        }
        if let Some(reason) = &self.reason {
            out.push_str(" — ");
            out.push_str(reason);
        }
        out
    }
}

/// `safe`, or `unsafe` followed by comma-separated codes on the next line.
fn llama_guard(text: &str) -> Result<Verdict, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_ascii_lowercase();
    let flagged = match first.as_str() {
        "safe" => false,
        "unsafe" => true,
        _ => {
            let shown: String = text.chars().take(80).collect();
            return Err(format!(
                "the judge answered neither a verdict nor JSON: {shown:?}"
            ));
        }
    };
    let categories = if flagged {
        lines
            .next()
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(Verdict {
        flagged,
        categories,
        reason: None,
    })
}

fn json_verdict(v: &Value) -> Result<Verdict, String> {
    let word = ["verdict", "decision", "action"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_ascii_lowercase);
    let flagged = match word.as_deref() {
        Some(w) if ALLOW_WORDS.contains(&w) => false,
        Some(w) if BLOCK_WORDS.contains(&w) => true,
        Some(w) => {
            return Err(format!(
                "the judge's verdict {w:?} is neither allow nor block"
            ));
        }
        None => match (
            v.get("flagged")
                .or_else(|| v.get("unsafe"))
                .and_then(Value::as_bool),
            v.get("safe").and_then(Value::as_bool),
        ) {
            (Some(flagged), _) => flagged,
            (None, Some(safe)) => !safe,
            (None, None) => {
                return Err(
                    "the judge's JSON has no `verdict`, `flagged`, `unsafe` or `safe`".into(),
                );
            }
        },
    };
    let mut categories = Vec::new();
    add_categories(&mut categories, v.get("categories"));
    Ok(Verdict {
        flagged,
        categories,
        reason: v.get("reason").and_then(Value::as_str).map(str::to_owned),
    })
}

/// Adds a list of names, or the `true` keys of an object, once each.
fn add_categories(out: &mut Vec<String>, categories: Option<&Value>) {
    let names: Vec<&str> = match categories {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.as_str())
            .collect(),
        _ => Vec::new(),
    };
    for name in names {
        if !out.iter().any(|c| c == name) {
            out.push(name.to_owned());
        }
    }
}

/// One message's text as the judge reads it: its text, then each tool call as
/// `[called name(arguments)]`.
fn judged_text(m: &Message) -> String {
    let mut parts: Vec<String> = Vec::new();
    message_texts(m, &mut |t: &str, form| {
        if form == Form::Text && !t.is_empty() {
            parts.push(t.to_owned());
        }
    });
    for call in m.tool_calls.iter().flatten() {
        parts.push(format!(
            "[called {}({})]",
            call.function.name, call.function.arguments
        ));
    }
    parts.join("\n")
}

/// The turns the judge reads, as (role, text): user, assistant and tool turns (tool results
/// as user turns), then the answer's first choice on the output stage. System and developer
/// prompts are the operator's and are left out.
fn turns(req: &ChatRequest, answer: Option<&ChatResponse>) -> Vec<(&'static str, String)> {
    let answer = answer
        .and_then(|a| a.choices.first())
        .map(|c| &c.message)
        .into_iter();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for m in req.messages.iter().chain(answer) {
        let role = match m.role.as_str() {
            "user" | "tool" | "function" => "user",
            "assistant" => "assistant",
            _ => continue,
        };
        let text = judged_text(m);
        if text.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, prev)) if *last == role => {
                prev.push_str("\n\n");
                prev.push_str(&text);
            }
            _ => out.push((role, text)),
        }
    }
    out
}

/// The messages of a chat judge's request: `instructions` as a system message when given,
/// then the transcript.
pub fn transcript(
    req: &ChatRequest,
    answer: Option<&ChatResponse>,
    instructions: Option<&str>,
) -> Vec<Value> {
    let system = instructions.map(|i| json!({"role": "system", "content": i}));
    system
        .into_iter()
        .chain(
            turns(req, answer)
                .into_iter()
                .map(|(role, text)| json!({"role": role, "content": text})),
        )
        .collect()
}

/// The texts a moderation judge reads: the transcript's turns, or on the output stage the
/// answer's alone.
pub fn moderation_input(req: &ChatRequest, answer: Option<&ChatResponse>) -> Vec<String> {
    match answer {
        Some(a) => a
            .choices
            .iter()
            .map(|c| judged_text(&c.message))
            .filter(|t| !t.is_empty())
            .collect(),
        None => turns(req, None).into_iter().map(|(_, t)| t).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn llama_guard_answers() {
        assert!(!Verdict::parse("safe").unwrap().flagged);
        assert!(!Verdict::parse("\n\nsafe\n").unwrap().flagged);
        let v = Verdict::parse("unsafe\nS1,S10").unwrap();
        assert!(v.flagged);
        assert_eq!(v.categories, ["S1", "S10"]);
        assert_eq!(
            v.describe("request"),
            "the judge found the request unsafe: S1 (violent crimes), S10 (hate)"
        );
        assert_eq!(
            Verdict::parse("unsafe").unwrap().categories,
            Vec::<String>::new()
        );
        assert!(Verdict::parse("I think this is fine").is_err());
        assert!(Verdict::parse("").is_err());
    }

    #[test]
    fn json_verdicts() {
        let v = Verdict::parse(
            r#"{"verdict": "block", "categories": ["self-harm"], "reason": "asks for a method"}"#,
        )
        .unwrap();
        assert!(v.flagged);
        assert_eq!(
            v.describe("answer"),
            "the judge found the answer unsafe: self-harm — asks for a method"
        );
        assert!(!Verdict::parse(r#"{"decision": "ALLOW"}"#).unwrap().flagged);
        assert!(Verdict::parse(r#"{"flagged": true}"#).unwrap().flagged);
        assert!(Verdict::parse(r#"{"safe": false}"#).unwrap().flagged);
        let fenced = Verdict::parse("```json\n{\"verdict\": \"safe\"}\n```").unwrap();
        assert!(!fenced.flagged);
        assert!(Verdict::parse(r#"{"verdict": "maybe"}"#).is_err());
        assert!(Verdict::parse(r#"{"score": 0.3}"#).is_err());
        assert!(Verdict::parse("{not json").is_err());
    }

    #[test]
    fn moderation_answers() {
        let body = json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [
            {"flagged": false, "categories": {"hate": false}},
            {"flagged": true, "categories": {"hate": false, "violence": true, "violence/graphic": true}},
        ]});
        let v = Verdict::from_moderation(&body).unwrap();
        assert!(v.flagged);
        assert_eq!(v.categories, ["violence", "violence/graphic"]);
        assert!(Verdict::from_moderation(&json!({"error": "x"})).is_err());
        assert!(Verdict::from_moderation(&json!({"results": [{}]})).is_err());
    }

    #[test]
    fn the_transcript_is_what_users_tools_and_the_model_said() {
        let r = req(json!({"model": "m", "messages": [
            {"role": "system", "content": "secret operator prompt"},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}, {"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"q\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ]}));
        let answer: ChatResponse = serde_json::from_value(json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "it is 42"}, "finish_reason": "stop"}]
        }))
        .unwrap();
        assert_eq!(
            transcript(&r, None, Some("Judge it")),
            vec![
                json!({"role": "system", "content": "Judge it"}),
                json!({"role": "user", "content": "hi\n\nthere"}),
                json!({"role": "assistant", "content": "[called get({\"q\":1})]"}),
                json!({"role": "user", "content": "42"}),
            ]
        );
        let with_answer = transcript(&r, Some(&answer), None);
        assert_eq!(
            with_answer.last().unwrap(),
            &json!({"role": "assistant", "content": "it is 42"})
        );
        assert_eq!(moderation_input(&r, Some(&answer)), ["it is 42"]);
        assert_eq!(
            moderation_input(&r, None),
            ["hi\n\nthere", "[called get({\"q\":1})]", "42"]
        );
    }
}
