//! The `routing:` section: rules, evaluated in order, that send a request to a model.

use serde_norway::Value;

use super::ctx::Ctx;
use super::models::{Names, model_ref};
use crate::runtime::{RoutingRule, RuleCondition};

const RULE_FIELDS: &[&str] = &["name", "if", "then"];
const IF_FIELDS: &[&str] = &[
    "model",
    "header",
    "tags",
    "stream",
    "has_images",
    "has_tools",
    "prompt_tokens_over",
    "key",
    "team",
    "user",
];

/// Reads `routing:`, a list of `{ name, if: {…}, then: model }`.
pub(super) fn routing(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Vec<RoutingRule> {
    let Some(items) = ctx.list(value) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let rule = ctx.index(index, |ctx| {
            let map = ctx.object(item, RULE_FIELDS, &[])?;
            let name = ctx
                .field(map, "name", Ctx::non_empty)
                .unwrap_or_else(|| format!("routing[{index}]"));
            let when = ctx.required(map, "if", condition);
            let then = ctx.required(map, "then", |ctx, value| {
                let model = ctx.non_empty(value)?;
                model_ref(ctx, model, names)
            });
            Some(RoutingRule {
                name,
                when: when?,
                then: then?,
            })
        });
        out.extend(rule);
    }
    out
}

fn condition(ctx: &mut Ctx<'_>, value: &Value) -> Option<RuleCondition> {
    let map = ctx.object(value, IF_FIELDS, &[])?;
    if map.is_empty() {
        ctx.issue("a rule needs at least one condition");
        return None;
    }
    Some(RuleCondition {
        model: ctx.field(map, "model", Ctx::non_empty),
        headers: ctx.field(map, "header", string_map).unwrap_or_default(),
        tags: ctx.field(map, "tags", string_map).unwrap_or_default(),
        stream: ctx.field(map, "stream", Ctx::bool),
        has_images: ctx.field(map, "has_images", Ctx::bool),
        has_tools: ctx.field(map, "has_tools", Ctx::bool),
        prompt_tokens_over: ctx
            .field(map, "prompt_tokens_over", |ctx, value| ctx.whole(value, 0))
            .map(u64::from),
        key: ctx.field(map, "key", Ctx::non_empty),
        team: ctx.field(map, "team", Ctx::non_empty),
        user: ctx.field(map, "user", Ctx::non_empty),
    })
}

/// A mapping of string keys to string values (header names are lower-cased).
fn string_map(ctx: &mut Ctx<'_>, value: &Value) -> Option<Vec<(String, String)>> {
    let map = ctx.mapping(value)?;
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = ctx.key_str(k)?.to_owned();
        let value = ctx.key(&key, |ctx| ctx.string(v))?;
        out.push((key, value));
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::parse_str;

    const BASE: &str = "providers: { demo: {} }\nmodels:\n  - { name: fast, targets: [ { provider: demo, model: d } ] }\n  - { name: smart, targets: [ { provider: demo, model: d } ] }\n";

    #[test]
    fn rules_parse_in_order() {
        let yaml = format!(
            "{BASE}routing:\n  - name: long\n    if: {{ prompt_tokens_over: 8000, model: fast }}\n    then: smart\n  - if: {{ header: {{ X-Team: search }}, tags: {{ feature: s }}, stream: true, has_images: true, has_tools: false, key: key_1, team: team_1, user: bob }}\n    then: fast\n"
        );
        let config = parse_str(&yaml, &|_| None).unwrap();
        assert_eq!(config.routing.len(), 2);
        assert_eq!(config.routing[0].name, "long");
        assert_eq!(config.routing[0].when.prompt_tokens_over, Some(8000));
        assert_eq!(config.routing[1].name, "routing[1]");
        assert_eq!(
            config.routing[1].when.headers,
            [("X-Team".to_owned(), "search".to_owned())]
        );
        assert_eq!(config.routing[1].when.has_tools, Some(false));
    }

    #[test]
    fn rule_problems_are_reported_with_paths() {
        let yaml = format!(
            "{BASE}routing:\n  - if: {{ stram: true }}\n    then: smrt\n  - if: {{}}\n    then: fast\n"
        );
        let lines = parse_str(&yaml, &|_| None).unwrap_err().lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("routing[0].if.stram: unknown field")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("routing[0].then: unknown model \"smrt\"")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "routing[1].if: a rule needs at least one condition"),
            "{lines:?}"
        );
    }
}
