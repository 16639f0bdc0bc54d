//! The `guardrails:` section: named checks, compiled into one [`Guard`].
//!
//! Each entry maps a name to `{kind, stage, action, sample, …}` plus the kind's own
//! settings. Every check is built alone first, so a problem the engine finds (a bad regex,
//! a mask on output) is reported at the check's path; the guard is then built once from
//! the checks that passed.

use std::sync::Arc;
use std::time::Duration;

use serde_norway::{Mapping, Value};
use sluice_guard::{
    Action, Check, CheckKind, CustomPattern, DEFAULT_THRESHOLD, Entity, Guard, GuardError,
    JudgeEndpoint, JudgeSpec, LimitSpec, OnError, PiiSpec, Stage, WebhookSpec,
};

use super::ctx::{Ctx, unknown};

/// Fields every check has.
const COMMON: &[&str] = &["kind", "stage", "action", "sample"];
/// The kinds, with the fields each adds.
const KINDS: &[(&str, &[&str])] = &[
    ("pii", &["entities", "patterns", "words", "restore"]),
    ("injection", &["threshold"]),
    ("limits", &["max_prompt_tokens", "max_messages"]),
    ("json_schema", &["retries"]),
    (
        "judge",
        &[
            "model",
            "endpoint",
            "instructions",
            "timeout",
            "on_error",
            "parallel",
        ],
    ),
    ("webhook", &["url", "headers", "timeout", "on_error"]),
];
/// How long a judge's verdict is waited for, unless `timeout` says otherwise.
const JUDGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a webhook's answer is waited for, unless `timeout` says otherwise.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(2);
/// The most `retries` a `json_schema` check may ask for.
const MAX_SCHEMA_RETRIES: u32 = 5;
const PATTERN_FIELDS: &[&str] = &["name", "regex"];

/// Reads `guardrails:`; `None` when it names no check. `models` are the configured model
/// names a judge may ask.
pub(super) fn guardrails(
    ctx: &mut Ctx<'_>,
    value: &Value,
    models: &[String],
) -> Option<Arc<Guard>> {
    let map = ctx.mapping(value)?;
    let mut checks = Vec::with_capacity(map.len());
    for (key, value) in map {
        let Some(name) = ctx.key_str(key) else {
            continue;
        };
        let check = ctx.key(name, |ctx| {
            let check = check(ctx, name, value, models)?;
            match Guard::new(vec![check.clone()]) {
                Ok(_) => Some(check),
                Err(e) => {
                    ctx.issue(problem(e));
                    None
                }
            }
        });
        checks.extend(check);
    }
    if checks.is_empty() {
        return None;
    }
    match Guard::new(checks) {
        Ok(guard) => Some(Arc::new(guard)),
        Err(e) => {
            ctx.issue(problem(e));
            None
        }
    }
}

/// The engine's complaint without the check's name, which the path already shows.
fn problem(e: GuardError) -> String {
    match e {
        GuardError::InvalidCheck { problem, .. } => problem,
        other => other.to_string(),
    }
}

/// Reads one check; the path is already `guardrails.<name>`.
fn check(ctx: &mut Ctx<'_>, name: &str, value: &Value, models: &[String]) -> Option<Check> {
    let map = ctx.mapping(value)?;
    let kind_name = ctx.required(map, "kind", |ctx, v| {
        let kind = ctx.string(v)?;
        if KINDS.iter().any(|(k, _)| *k == kind) {
            return Some(kind);
        }
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        ctx.issue(unknown("kind", &kind, &known, "expected one of"));
        None
    });
    let kind_name = kind_name?;
    let extra = KINDS
        .iter()
        .find(|(k, _)| *k == kind_name)
        .map_or(&[][..], |(_, f)| *f);
    let fields: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
    ctx.object(value, &fields, &[])?;
    let default_stage = match kind_name.as_str() {
        "json_schema" => Stage::Output,
        _ => Stage::Input,
    };
    let stage = ctx.field(map, "stage", stage).unwrap_or(default_stage);
    let action = ctx.field(map, "action", action).unwrap_or(Action::Block);
    let sample = ctx.field(map, "sample", Ctx::fraction).unwrap_or(1.0);
    let kind = match kind_name.as_str() {
        "pii" => pii(ctx, map)?,
        "injection" => CheckKind::Injection {
            threshold: ctx
                .field(map, "threshold", Ctx::fraction)
                .unwrap_or(DEFAULT_THRESHOLD),
        },
        "limits" => CheckKind::Limits(LimitSpec {
            max_prompt_tokens: ctx
                .field(map, "max_prompt_tokens", |ctx, v| ctx.whole(v, 1))
                .map(u64::from),
            max_messages: ctx
                .field(map, "max_messages", |ctx, v| ctx.whole(v, 1))
                .and_then(|n| usize::try_from(n).ok()),
        }),
        "judge" => judge(ctx, map, models)?,
        "webhook" => webhook(ctx, map)?,
        _ => CheckKind::JsonSchema {
            retries: ctx
                .field(map, "retries", |ctx, v| {
                    let n = ctx.whole(v, 0)?;
                    if n > MAX_SCHEMA_RETRIES {
                        ctx.issue(format!("at most {MAX_SCHEMA_RETRIES} retries, not {n}"));
                        return None;
                    }
                    Some(n)
                })
                .unwrap_or(0),
        },
    };
    Some(Check {
        name: name.to_owned(),
        kind,
        stage,
        action,
        sample,
    })
}

/// The settings of a `judge` check; `model` must be a configured model.
fn judge(ctx: &mut Ctx<'_>, map: &Mapping, names: &[String]) -> Option<CheckKind> {
    let model = ctx.required(map, "model", |ctx, v| {
        let name = ctx.non_empty(v)?;
        if names.contains(&name) {
            return Some(name);
        }
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        ctx.issue(unknown("model", &name, &known, "known"));
        None
    });
    let endpoint = ctx
        .field(map, "endpoint", |ctx, v| {
            let name = ctx.string(v)?;
            match name.as_str() {
                "chat" => Some(JudgeEndpoint::Chat),
                "moderations" => Some(JudgeEndpoint::Moderations),
                _ => {
                    let known = ["chat", "moderations"];
                    ctx.issue(unknown("endpoint", &name, &known, "expected one of"));
                    None
                }
            }
        })
        .unwrap_or(JudgeEndpoint::Chat);
    let instructions = ctx.field(map, "instructions", Ctx::non_empty);
    let timeout = ctx.field(map, "timeout", Ctx::positive_duration);
    let on_error = ctx.field(map, "on_error", on_error);
    let parallel = ctx.field(map, "parallel", Ctx::bool).unwrap_or(false);
    Some(CheckKind::Judge(JudgeSpec {
        model: model?,
        endpoint,
        instructions,
        timeout: timeout.unwrap_or(JUDGE_TIMEOUT),
        on_error: on_error.unwrap_or(OnError::Allow),
        parallel,
    }))
}

/// The settings of a `webhook` check.
fn webhook(ctx: &mut Ctx<'_>, map: &Mapping) -> Option<CheckKind> {
    let url = ctx.required(map, "url", Ctx::http_url);
    let headers = ctx.field(map, "headers", Ctx::headers);
    let timeout = ctx.field(map, "timeout", Ctx::positive_duration);
    let on_error = ctx.field(map, "on_error", on_error);
    Some(CheckKind::Webhook(WebhookSpec {
        url: url?,
        headers: headers.unwrap_or_default(),
        timeout: timeout.unwrap_or(WEBHOOK_TIMEOUT),
        on_error: on_error.unwrap_or(OnError::Allow),
    }))
}

/// `on_error: allow | block`.
fn on_error(ctx: &mut Ctx<'_>, v: &Value) -> Option<OnError> {
    let name = ctx.string(v)?;
    match name.as_str() {
        "allow" => Some(OnError::Allow),
        "block" => Some(OnError::Block),
        _ => {
            ctx.issue(unknown(
                "on_error",
                &name,
                &["allow", "block"],
                "expected one of",
            ));
            None
        }
    }
}

/// The settings of a `pii` check; with no detector named, every built-in entity.
fn pii(ctx: &mut Ctx<'_>, map: &Mapping) -> Option<CheckKind> {
    let entities = ctx.field(map, "entities", |ctx, v| {
        let items = ctx.list(v)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(ctx.index(i, |ctx| {
                let name = ctx.string(item)?;
                match name.parse::<Entity>() {
                    Ok(e) => Some(e),
                    Err(_) => {
                        let known: Vec<&str> = Entity::ALL.iter().map(|e| e.name()).collect();
                        ctx.issue(unknown("entity", &name, &known, "expected one of"));
                        None
                    }
                }
            }));
        }
        Some(out)
    });
    let patterns = ctx.field(map, "patterns", |ctx, v| {
        let items = ctx.list(v)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(ctx.index(i, |ctx| {
                let m = ctx.object(item, PATTERN_FIELDS, &[])?;
                let name = ctx.required(m, "name", Ctx::non_empty);
                let regex = ctx.required(m, "regex", Ctx::non_empty);
                let pattern = CustomPattern {
                    name: name?,
                    regex: regex?,
                };
                if let Err(e) = regex_ok(&pattern) {
                    ctx.issue_at("regex", e);
                    return None;
                }
                Some(pattern)
            }));
        }
        Some(out)
    });
    let words = ctx.field(map, "words", |ctx, v| {
        let items = ctx.list(v)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(ctx.index(i, |ctx| ctx.non_empty(item)));
        }
        Some(out)
    });
    let restore = ctx.field(map, "restore", Ctx::bool).unwrap_or(false);
    let none = entities.is_none() && patterns.is_none() && words.is_none();
    let spec = PiiSpec {
        entities: if none {
            Entity::ALL.to_vec()
        } else {
            entities.unwrap_or_default()
        },
        patterns: patterns.unwrap_or_default(),
        words: words.unwrap_or_default(),
    };
    Some(CheckKind::Pii { spec, restore })
}

/// Compiles one custom pattern alone, so a bad regex is reported at its own path.
fn regex_ok(pattern: &CustomPattern) -> Result<(), String> {
    let spec = PiiSpec {
        patterns: vec![pattern.clone()],
        ..PiiSpec::default()
    };
    sluice_guard::Scanner::new(&spec)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn stage(ctx: &mut Ctx<'_>, v: &Value) -> Option<Stage> {
    Some(
        match one_of(ctx, v, "stage", &["input", "output", "both"])? {
            "input" => Stage::Input,
            "output" => Stage::Output,
            _ => Stage::Both,
        },
    )
}

fn action(ctx: &mut Ctx<'_>, v: &Value) -> Option<Action> {
    Some(
        match one_of(ctx, v, "action", &["block", "mask", "flag"])? {
            "block" => Action::Block,
            "mask" => Action::Mask,
            _ => Action::Flag,
        },
    )
}

/// A string that must be one of `known`.
fn one_of<'k>(ctx: &mut Ctx<'_>, v: &Value, what: &str, known: &[&'k str]) -> Option<&'k str> {
    let text = ctx.string(v)?;
    let found = known.iter().find(|k| **k == text).copied();
    if found.is_none() {
        ctx.issue(unknown(what, &text, known, "expected one of"));
    }
    found
}

/// Reads a model's `guardrails: [names]`, each a configured check.
pub(super) fn names(ctx: &mut Ctx<'_>, value: &Value, declared: &[String]) -> Option<Vec<String>> {
    let items = ctx.list(value)?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        ctx.index(i, |ctx| {
            let name = ctx.non_empty(item)?;
            if declared.is_empty() {
                ctx.issue(format!(
                    "unknown guardrail \"{name}\": the guardrails section defines none"
                ));
                return None;
            }
            if !declared.contains(&name) {
                let known: Vec<&str> = declared.iter().map(String::as_str).collect();
                ctx.issue(unknown("guardrail", &name, &known, "known"));
                return None;
            }
            if !out.contains(&name) {
                out.push(name);
            }
            Some(())
        });
    }
    Some(out)
}

/// The keys of `guardrails:`, so models can refer to them whatever the key order.
pub(super) fn declared(root: &Value) -> Vec<String> {
    match root.get("guardrails") {
        Some(Value::Mapping(map)) => map
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use sluice_guard::{
        Action, CheckKind, Entity, JudgeEndpoint, JudgeSpec, OnError, Stage, WebhookSpec,
    };

    use crate::parse_str;

    const MODELS: &str = "providers:\n  openai: { api_key: k }\nmodels:\n  - { name: fast, targets: [ { provider: openai, model: m } ], guardrails: [pii, injection, pii] }\n  - { name: guard-model, targets: [ { provider: openai, model: g } ] }\n";

    #[test]
    fn reads_the_design_example() {
        let yaml = format!(
            "{MODELS}guardrails:\n  pii:       {{ kind: pii, stage: input, action: mask, restore: true, entities: [email, phone, card] }}\n  injection: {{ kind: injection, stage: input, action: block, threshold: 0.8 }}\n  policy:    {{ kind: injection }}\n  size:      {{ kind: limits, max_messages: 50, sample: 0.5 }}\n  shape:     {{ kind: json_schema }}\n  words:     {{ kind: pii, action: flag, words: [bluebird], patterns: [ {{ name: employee_id, regex: 'E-\\d{{6}}' }} ] }}\n"
        );
        let config = parse_str(&yaml, &|_| None).unwrap();
        assert_eq!(config.models[0].guardrails, ["pii", "injection"]);
        let guard = config.guardrails.unwrap();
        let pii = guard.check("pii").unwrap();
        assert_eq!((pii.stage, pii.action), (Stage::Input, Action::Mask));
        let CheckKind::Pii { spec, restore } = &pii.kind else {
            panic!("{pii:?}")
        };
        assert!(*restore);
        assert_eq!(spec.entities, [Entity::Email, Entity::Phone, Entity::Card]);
        let policy = guard.check("policy").unwrap();
        assert_eq!(policy.action, Action::Block, "block is the default action");
        assert_eq!(guard.check("size").unwrap().sample, 0.5);
        assert_eq!(guard.check("shape").unwrap().stage, Stage::Output);
        let CheckKind::Pii { spec, .. } = &guard.check("words").unwrap().kind else {
            panic!()
        };
        assert!(
            spec.entities.is_empty(),
            "naming detectors replaces the default set"
        );
        assert_eq!(spec.patterns[0].name, "employee_id");
    }

    #[test]
    fn a_pii_check_naming_no_detector_runs_them_all() {
        let yaml = "guardrails:\n  pii: { kind: pii, action: mask }\n";
        let guard = parse_str(yaml, &|_| None).unwrap().guardrails.unwrap();
        let CheckKind::Pii { spec, .. } = &guard.check("pii").unwrap().kind else {
            panic!()
        };
        assert_eq!(spec.entities, Entity::ALL);
    }

    #[test]
    fn reports_every_bad_check() {
        let yaml = format!(
            "{MODELS}guardrails:\n  pii: {{ kind: pii, action: mask, stage: output, entities: [email, passport] }}\n  injection: {{ kind: injection, threshold: 2, restore: true }}\n  a: {{ kind: judge, model: smart }}\n  b: {{ kind: webhook }}\n  c: {{ kind: moderation }}\n  d: {{ kind: pii, patterns: [ {{ name: x, regex: '(' }} ] }}\n  e: {{ kind: limits }}\n  f: {{ stage: input }}\n"
        );
        let lines = parse_str(&yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines[0],
            r#"guardrails.pii.entities[1]: unknown entity "passport"; expected one of: email, phone, card, iban, ssn, ip, secret"#
        );
        assert_eq!(
            lines[1],
            "guardrails.pii: mask applies to input only; use block or flag on output"
        );
        assert_eq!(
            lines[2],
            r#"guardrails.injection.restore: unknown field "restore"; expected one of: kind, stage, action, sample, threshold"#
        );
        assert_eq!(
            lines[3],
            "guardrails.injection.threshold: expected a number greater than 0 and at most 1, got 2"
        );
        assert_eq!(
            lines[4],
            r#"guardrails.a.model: unknown model "smart"; known: fast, guard-model"#
        );
        assert_eq!(lines[5], r#"guardrails.b: missing required field "url""#);
        assert_eq!(
            lines[6],
            r#"guardrails.c.kind: unknown kind "moderation"; expected one of: pii, injection, limits, json_schema, judge, webhook"#
        );
        assert!(
            lines[7].starts_with("guardrails.d.patterns[0].regex: invalid regex"),
            "{}",
            lines[7]
        );
        assert_eq!(
            lines[8],
            "guardrails.e: limits needs max_prompt_tokens or max_messages"
        );
        assert_eq!(lines[9], r#"guardrails.f: missing required field "kind""#);
        assert_eq!(lines.len(), 10, "{lines:#?}");
    }

    /// A judge model, and no model naming checks.
    const JUDGE: &str = "providers:\n  openai: { api_key: k }\nmodels:\n  - { name: guard-model, targets: [ { provider: openai, model: g } ] }\n";

    #[test]
    fn reads_judges_webhooks_and_schema_retries() {
        let yaml = format!(
            "{JUDGE}guardrails:\n  guard: {{ kind: judge, model: guard-model, stage: both, timeout: 800ms, on_error: block }}\n  early: {{ kind: judge, model: guard-model, endpoint: moderations, parallel: true, instructions: Answer JSON }}\n  policy: {{ kind: webhook, url: 'https://policy.example/check/', headers: {{ authorization: Bearer t }}, action: flag }}\n  shape: {{ kind: json_schema, retries: 2 }}\n"
        );
        let guard = parse_str(&yaml, &|_| None).unwrap().guardrails.unwrap();
        let g = guard.check("guard").unwrap();
        assert_eq!(g.stage, Stage::Both);
        assert_eq!(
            g.kind,
            CheckKind::Judge(JudgeSpec {
                model: "guard-model".into(),
                endpoint: JudgeEndpoint::Chat,
                instructions: None,
                timeout: Duration::from_millis(800),
                on_error: OnError::Block,
                parallel: false,
            })
        );
        let CheckKind::Judge(early) = &guard.check("early").unwrap().kind else {
            panic!()
        };
        assert_eq!(early.endpoint, JudgeEndpoint::Moderations);
        assert_eq!(early.instructions.as_deref(), Some("Answer JSON"));
        assert_eq!(early.timeout, Duration::from_secs(5), "the default timeout");
        assert_eq!(early.on_error, OnError::Allow, "the default failure mode");
        assert!(early.parallel);
        let policy = guard.check("policy").unwrap();
        assert_eq!(policy.action, Action::Flag);
        assert_eq!(
            policy.kind,
            CheckKind::Webhook(WebhookSpec {
                url: "https://policy.example/check".into(),
                headers: vec![("authorization".into(), "Bearer t".into())],
                timeout: Duration::from_secs(2),
                on_error: OnError::Allow,
            })
        );
        assert_eq!(
            guard.check("shape").unwrap().kind,
            CheckKind::JsonSchema { retries: 2 }
        );
    }

    #[test]
    fn reports_bad_judges_and_webhooks() {
        let yaml = format!(
            "{JUDGE}guardrails:\n  a: {{ kind: judge, model: guard-model, endpoint: classify, on_error: retry, timeout: 0s }}\n  b: {{ kind: judge, model: guard-model, stage: output, parallel: true }}\n  c: {{ kind: webhook, url: 'ftp://x', headers: {{ 'bad name': x }} }}\n  d: {{ kind: json_schema, retries: 9 }}\n  e: {{ kind: webhook, url: 'http://x', action: mask }}\n"
        );
        let lines = parse_str(&yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"guardrails.a.endpoint: unknown endpoint "classify"; expected one of: chat, moderations"#,
                "guardrails.a.timeout: must be greater than 0",
                r#"guardrails.a.on_error: unknown on_error "retry"; expected one of: allow, block"#,
                "guardrails.b: parallel applies to input only (an output judge reads the answer)",
                r#"guardrails.c.url: expected an http:// or https:// URL, got "ftp://x""#,
                r#"guardrails.c.headers.bad name: invalid header name "bad name""#,
                "guardrails.d.retries: at most 5 retries, not 9",
                "guardrails.e: webhook checks cannot mask; use block or flag",
            ]
        );
    }

    #[test]
    fn models_name_configured_checks() {
        let yaml = format!("{MODELS}guardrails:\n  pii: {{ kind: pii }}\n");
        let lines = parse_str(&yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [r#"models[0].guardrails[1]: unknown guardrail "injection"; known: pii"#]
        );
    }
}
