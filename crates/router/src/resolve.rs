//! Building the router from config, and resolving a client's `model` to a group.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_config::{
    CircuitConfig, Config, ModelConfig, ProviderConfig, RetryConfig, Strategy, Timeouts,
};
use sluice_providers::{Provider, Target};
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::group::{ModelGroup, TargetSlot};

struct ProviderEntry {
    config: ProviderConfig,
    provider: Arc<dyn Provider>,
}

/// An A/B split: variants (model names) with cumulative weights.
struct Split {
    variants: Vec<(String, u64)>,
    total: u64,
}

impl Split {
    /// The variant for `sticky` (the same key always gets the same variant), or a random one.
    fn pick(&self, name: &str, sticky: Option<&str>) -> &str {
        use std::hash::{Hash, Hasher};
        let roll = match sticky {
            Some(key) => {
                // DefaultHasher::new() has fixed keys: the same assignment on every replica.
                let mut h = std::hash::DefaultHasher::new();
                (name, key).hash(&mut h);
                h.finish() % self.total.max(1)
            }
            None => fastrand::u64(0..self.total.max(1)),
        };
        self.variants
            .iter()
            .find(|(_, upto)| roll < *upto)
            .or(self.variants.last())
            .map_or("", |(v, _)| v.as_str())
    }

    /// The variants' model names.
    fn variants(&self) -> impl Iterator<Item = &str> {
        self.variants.iter().map(|(v, _)| v.as_str())
    }
}

/// Where a request goes: the group, and the A/B variant when the name was a split.
pub struct Route {
    /// The group that serves the request.
    pub group: Arc<ModelGroup>,
    /// The split's variant (a model name), when the requested name was a split.
    pub variant: Option<String>,
}

/// Every configured model group and provider.
pub struct Router {
    groups: HashMap<String, Arc<ModelGroup>>,
    splits: HashMap<String, Split>,
    rules: Vec<sluice_config::RoutingRule>,
    /// Model names in config order, for listings.
    names: Vec<String>,
    providers: HashMap<String, ProviderEntry>,
}

impl Router {
    /// Builds providers and groups from a validated config. `price` is a target's blended
    /// price (input plus output per token, in any fixed unit) by provider name and model,
    /// for `least-cost` models; every target of such a model needs one.
    pub fn new(
        config: &Config,
        price: &dyn Fn(&str, &str) -> Option<u64>,
    ) -> Result<Self, GatewayError> {
        let mut providers = HashMap::new();
        for p in &config.providers {
            let provider = sluice_providers::build(p)?;
            providers.insert(
                p.name.clone(),
                ProviderEntry {
                    config: p.clone(),
                    provider,
                },
            );
        }
        let mut router = Self {
            groups: HashMap::new(),
            splits: HashMap::new(),
            rules: config.routing.clone(),
            names: Vec::new(),
            providers,
        };
        for m in &config.models {
            router.names.push(m.name.clone());
            if m.split.is_empty() {
                let group = router.group_for(m, price)?;
                router.groups.insert(m.name.clone(), Arc::new(group));
                continue;
            }
            let mut upto = 0u64;
            let variants = m
                .split
                .iter()
                .map(|v| {
                    upto += u64::from(v.weight);
                    (v.model.clone(), upto)
                })
                .collect();
            router.splits.insert(
                m.name.clone(),
                Split {
                    variants,
                    total: upto,
                },
            );
        }
        for (name, split) in &router.splits {
            if let Some((bad, _)) = split
                .variants
                .iter()
                .find(|(v, _)| !router.groups.contains_key(v))
            {
                return Err(GatewayError::internal(format!(
                    "model {name}: split variant {bad} must be a model with targets"
                )));
            }
        }
        Ok(router)
    }

    fn group_for(
        &self,
        m: &ModelConfig,
        price: &dyn Fn(&str, &str) -> Option<u64>,
    ) -> Result<ModelGroup, GatewayError> {
        let mut slots = Vec::with_capacity(m.targets.len());
        for t in &m.targets {
            let entry = self.providers.get(&t.provider).ok_or_else(|| {
                GatewayError::internal(format!("model {}: unknown provider {}", m.name, t.provider))
            })?;
            let mut timeouts = entry.config.timeouts;
            if let Some(d) = m.timeout.first_byte {
                timeouts.first_byte = d;
            }
            if let Some(d) = m.timeout.total {
                timeouts.total = d;
            }
            if let Some(d) = m.timeout.idle {
                timeouts.idle = d;
            }
            slots.push(
                TargetSlot::new(
                    target(&entry.config.name, &t.model, timeouts),
                    entry.provider.clone(),
                    t.weight,
                    m.circuit,
                )
                .with_limits(t.rpm, t.tpm),
            );
        }
        if m.strategy == Strategy::LeastCost {
            // Cheapest first; the strategy then always starts with the first slot.
            let mut priced = Vec::with_capacity(slots.len());
            for slot in slots {
                let t = &slot.target;
                let p = price(&t.provider, &t.model).ok_or_else(|| {
                    GatewayError::internal(format!(
                        "model {}: strategy least-cost needs a price for every target, and {}/{} has none; set one under pricing.models",
                        m.name, t.provider, t.model
                    ))
                })?;
                priced.push((p, slot));
            }
            priced.sort_by_key(|(p, _)| *p);
            slots = priced.into_iter().map(|(_, slot)| slot).collect();
        }
        Ok(ModelGroup::new(
            m.name.clone(),
            m.strategy,
            slots,
            m.fallbacks.clone(),
            m.retry,
        )
        .with_hedge(m.hedge))
    }

    /// The configured model names, in config order.
    pub fn model_names(&self) -> &[String] {
        &self.names
    }

    /// The group for a configured model name, without direct `provider/model` resolution.
    pub fn group(&self, name: &str) -> Option<&Arc<ModelGroup>> {
        self.groups.get(name)
    }

    /// The first OpenAI-family provider, preferring one named `openai`: where requests that
    /// name no model (files, batches) go.
    pub fn default_passthrough(&self) -> Option<(Target, Arc<dyn Provider>)> {
        let pick = self.providers.get("openai").or_else(|| {
            self.providers
                .values()
                .filter(|e| e.config.kind != sluice_config::ProviderKind::Demo)
                .min_by(|a, b| a.config.name.cmp(&b.config.name))
        })?;
        Some((
            target(&pick.config.name, "", pick.config.timeouts),
            pick.provider.clone(),
        ))
    }

    /// The provider named `name`, as a target with no model.
    pub fn provider(&self, name: &str) -> Option<(Target, Arc<dyn Provider>)> {
        let e = self.providers.get(name)?;
        Some((
            target(&e.config.name, "", e.config.timeouts),
            e.provider.clone(),
        ))
    }

    /// The provider named `name` when it serves native pass-through (`/{name}/…`; its
    /// `native` setting, default true), as a target with no model.
    pub fn native_provider(&self, name: &str) -> Option<(Target, Arc<dyn Provider>)> {
        let e = self.providers.get(name).filter(|e| e.config.native)?;
        Some((
            target(&e.config.name, "", e.config.timeouts),
            e.provider.clone(),
        ))
    }

    /// Whether any routing rule is configured (so callers can skip gathering request facts).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The routing rule that fires for a request, if any: its name and the model it picks.
    pub fn rule_for(&self, facts: &crate::RequestFacts<'_>) -> Option<(&str, &str)> {
        crate::rules::first_match(&self.rules, facts).map(|r| (r.name.as_str(), r.then.as_str()))
    }

    /// Routes what a client sent as `model`: a split picks its variant, sticky by `sticky`
    /// (the user or key); anything else resolves as [`Router::resolve`] does.
    pub fn route(&self, name: &str, sticky: Option<&str>) -> Result<Route, GatewayError> {
        if let Some(split) = self.splits.get(name) {
            let variant = split.pick(name, sticky);
            let group = self.groups.get(variant).cloned().ok_or_else(|| {
                GatewayError::internal(format!("split {name}: no model {variant}"))
            })?;
            return Ok(Route {
                group,
                variant: Some(variant.to_owned()),
            });
        }
        Ok(Route {
            group: self.resolve(name)?,
            variant: None,
        })
    }

    /// Whether every target `name` reaches (each variant of a split) is served by an
    /// OpenAI-family provider (OpenAI, Azure OpenAI, any OpenAI-compatible server), which
    /// takes OpenAI's own APIs as they are; `None` for a name that does not resolve.
    pub fn openai_family(&self, name: &str) -> Option<bool> {
        let groups: Vec<Arc<ModelGroup>> = match self.splits.get(name) {
            Some(split) => split
                .variants()
                .filter_map(|v| self.groups.get(v).cloned())
                .collect(),
            None => self.resolve(name).into_iter().collect(),
        };
        if groups.is_empty() {
            return None;
        }
        Some(groups.iter().flat_map(|g| &g.slots).all(|s| {
            self.providers.get(&*s.target.provider).is_some_and(|e| {
                matches!(
                    e.config.kind,
                    sluice_config::ProviderKind::OpenAiCompatible(_)
                        | sluice_config::ProviderKind::AzureOpenAi
                )
            })
        }))
    }

    /// Resolves what a client sent as `model`: an alias, or `provider/model` for a provider
    /// that allows direct calls. Unknown names get a 404 that lists close matches.
    pub fn resolve(&self, name: &str) -> Result<Arc<ModelGroup>, GatewayError> {
        if let Some(g) = self.groups.get(name) {
            return Ok(g.clone());
        }
        if let Some((provider, model)) = name.split_once('/') {
            if let Some(e) = self
                .providers
                .get(provider)
                .filter(|e| e.config.direct && !model.is_empty())
            {
                // A direct name has no configured group to keep state in: no circuit.
                let slot = TargetSlot::new(
                    target(provider, model, e.config.timeouts),
                    e.provider.clone(),
                    1,
                    CircuitConfig::default(),
                );
                let retry = RetryConfig {
                    max: 0,
                    ..RetryConfig::default()
                };
                return Ok(Arc::new(ModelGroup::new(
                    name.to_owned(),
                    Strategy::Ordered,
                    vec![slot],
                    Vec::new(),
                    retry,
                )));
            }
        }
        Err(self.not_found(name))
    }

    fn not_found(&self, name: &str) -> GatewayError {
        let mut close: Vec<(f64, &str)> = self
            .names
            .iter()
            .map(|n| {
                (
                    strsim::jaro_winkler(&name.to_lowercase(), &n.to_lowercase()),
                    n.as_str(),
                )
            })
            .filter(|(score, _)| *score >= 0.75)
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut msg = format!("The model `{name}` does not exist.");
        if !close.is_empty() {
            let list: Vec<String> = close
                .iter()
                .take(3)
                .map(|(_, n)| format!("`{n}`"))
                .collect();
            msg.push_str(&format!(" Did you mean {}?", list.join(" or ")));
        }
        let direct: Vec<&str> = self
            .providers
            .values()
            .filter(|e| e.config.direct && e.config.kind != sluice_config::ProviderKind::Demo)
            .map(|e| e.config.name.as_str())
            .collect();
        if !self.names.is_empty() {
            msg.push_str(&format!(" Configured models: {}.", self.names.join(", ")));
        }
        if !direct.is_empty() {
            let mut direct = direct;
            direct.sort_unstable();
            msg.push_str(&format!(
                " Any model can also be named as provider/model with providers: {}.",
                direct.join(", ")
            ));
        }
        GatewayError::new(ErrorKind::ModelNotFound, Origin::Client, msg).with_param("model")
    }
}

#[cfg(test)]
impl Router {
    /// A router over ready-made groups, for tests.
    pub(crate) fn for_tests(groups: Vec<ModelGroup>) -> Self {
        let names = groups.iter().map(|g| g.name.clone()).collect();
        let splits = HashMap::new();
        let groups = groups
            .into_iter()
            .map(|g| (g.name.clone(), Arc::new(g)))
            .collect();
        Self {
            groups,
            splits,
            rules: Vec::new(),
            names,
            providers: HashMap::new(),
        }
    }
}

fn target(provider: &str, model: &str, timeouts: Timeouts) -> Target {
    Target {
        provider: provider.into(),
        model: model.into(),
        timeouts,
    }
}

#[cfg(test)]
mod tests {
    use super::Split;

    #[test]
    fn splits_are_sticky_per_key_and_follow_weights() {
        let split = Split {
            variants: vec![("a".into(), 90), ("b".into(), 100)],
            total: 100,
        };
        let first = split.pick("exp", Some("user-1"));
        assert!((0..20).all(|_| split.pick("exp", Some("user-1")) == first));
        let b = (0..2000)
            .filter(|i| split.pick("exp", Some(&format!("u{i}"))) == "b")
            .count();
        assert!((120..=280).contains(&b), "about 10% of users get b: {b}");
    }
}
