//! Routing rules: in config order, the first rule whose conditions all hold sends the
//! request to its model instead of the one the client named.

use sluice_config::RoutingRule;

/// What the rules can see of a request.
pub struct RequestFacts<'a> {
    /// The model name the client sent.
    pub model: &'a str,
    /// Whether the request streams.
    pub stream: bool,
    /// Whether any message has an image part.
    pub has_images: bool,
    /// Whether the request offers tools.
    pub has_tools: bool,
    /// Estimated prompt tokens.
    pub prompt_tokens: u64,
    /// A request header's value by (case-insensitive) name.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    /// An `x-sluice-tags` entry's value.
    pub tag: &'a dyn Fn(&str) -> Option<&'a str>,
    /// The virtual key's id.
    pub key: Option<&'a str>,
    /// The key's team's id.
    pub team: Option<&'a str>,
    /// The end user.
    pub user: Option<&'a str>,
}

/// The rule that fires for `facts`, if any.
pub(crate) fn first_match<'r>(
    rules: &'r [RoutingRule],
    facts: &RequestFacts<'_>,
) -> Option<&'r RoutingRule> {
    rules.iter().find(|rule| matches(rule, facts))
}

fn matches(rule: &RoutingRule, f: &RequestFacts<'_>) -> bool {
    let c = &rule.when;
    c.model.as_deref().is_none_or(|m| m == f.model)
        && c.stream.is_none_or(|s| s == f.stream)
        && c.has_images.is_none_or(|v| v == f.has_images)
        && c.has_tools.is_none_or(|v| v == f.has_tools)
        && c.prompt_tokens_over.is_none_or(|n| f.prompt_tokens > n)
        && c.headers
            .iter()
            .all(|(k, v)| (f.header)(k) == Some(v.as_str()))
        && c.tags.iter().all(|(k, v)| (f.tag)(k) == Some(v.as_str()))
        && c.key.as_deref().is_none_or(|k| f.key == Some(k))
        && c.team.as_deref().is_none_or(|t| f.team == Some(t))
        && c.user.as_deref().is_none_or(|u| f.user == Some(u))
}

#[cfg(test)]
mod tests {
    use sluice_config::RuleCondition;

    use super::*;

    fn rule(name: &str, when: RuleCondition) -> RoutingRule {
        RoutingRule {
            name: name.into(),
            when,
            then: "x".into(),
        }
    }

    #[test]
    fn the_first_rule_whose_conditions_all_hold_fires() {
        let rules = vec![
            rule(
                "team-a",
                RuleCondition {
                    team: Some("team_a".into()),
                    user: Some("bob".into()),
                    ..Default::default()
                },
            ),
            rule(
                "big",
                RuleCondition {
                    prompt_tokens_over: Some(1000),
                    ..Default::default()
                },
            ),
            rule(
                "search",
                RuleCondition {
                    headers: vec![("x-team".into(), "search".into())],
                    tags: vec![("feature".into(), "s".into())],
                    ..Default::default()
                },
            ),
            rule(
                "tools",
                RuleCondition {
                    has_tools: Some(true),
                    model: Some("fast".into()),
                    ..Default::default()
                },
            ),
        ];
        fn header(k: &str) -> Option<&'static str> {
            (k == "x-team").then_some("search")
        }
        fn tag(k: &str) -> Option<&'static str> {
            (k == "feature").then_some("s")
        }
        fn none(_: &str) -> Option<&'static str> {
            None
        }
        type Lookup = &'static dyn Fn(&str) -> Option<&'static str>;
        let facts = |tokens, tools, h: Lookup, t: Lookup| RequestFacts {
            model: "fast",
            stream: false,
            has_images: false,
            has_tools: tools,
            prompt_tokens: tokens,
            header: h,
            tag: t,
            key: None,
            team: None,
            user: None,
        };
        let pick = |f: RequestFacts<'_>| first_match(&rules, &f).map(|r| r.name.clone());
        assert_eq!(pick(facts(5000, true, &header, &tag)), Some("big".into()));
        assert_eq!(pick(facts(10, true, &header, &tag)), Some("search".into()));
        assert_eq!(pick(facts(10, true, &none, &tag)), Some("tools".into()));
        assert_eq!(pick(facts(10, false, &none, &none)), None);
        let bob_of_a = RequestFacts {
            team: Some("team_a"),
            user: Some("bob"),
            ..facts(5000, true, &header, &tag)
        };
        assert_eq!(pick(bob_of_a), Some("team-a".into()));
        let alice_of_a = RequestFacts {
            team: Some("team_a"),
            user: Some("alice"),
            ..facts(10, false, &none, &none)
        };
        assert_eq!(pick(alice_of_a), None);
    }
}
