//! `parse_str` as `sluice check-config` uses it: whole files in, every problem out.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use secrecy::ExposeSecret;
use sluice_config::{Preset, ProviderKind, Strategy, default_config, load_file, parse_str};

fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

fn problems(yaml: &str) -> Vec<String> {
    match parse_str(yaml, &env(&[])) {
        Ok(_) => panic!("expected problems"),
        Err(errors) => errors.lines(),
    }
}

/// The example of DESIGN.md, without the provider kinds this build does not have yet.
const DESIGN_EXAMPLE: &str = r#"
server:
  listen: 0.0.0.0:4000
  admin_key: ${SLUICE_ADMIN_KEY}     # guards /admin and /ui; with it set, /v1 needs a virtual key
  max_body: 20MiB
store: sqlite://sluice.db            # or postgres://user@host/db — keys, spend, logs
redis: redis://127.0.0.1:6379        # optional: shared limits, budgets, cache across replicas

providers:                           # name → provider; `kind` defaults to the name when it is a known kind
  openai:    { api_key: "${OPENAI_API_KEY}" }
  azure:     { kind: azure-openai, base_url: "https://res.openai.azure.com", api_key: "${AZURE_API_KEY}", api_version: "2024-10-21" }
  local:     { kind: openai-compatible, base_url: "http://127.0.0.1:8000/v1" }   # vLLM, Ollama, LM Studio, …

models:                              # the names clients send as "model"
  - name: fast
    strategy: p2c                    # p2c | weighted | round-robin | least-latency | least-cost | ordered
    targets:
      - { provider: openai, model: gpt-4o-mini, weight: 3 }
      - { provider: azure, model: gpt-4o-mini-deployment, weight: 1 }
    fallbacks: [smart]               # other model names, tried in order when every target failed
    retry: { max: 2, backoff: 200ms }   # up to 2 retries after the first attempt
    timeout: { first_byte: 15s, total: 120s }
    cache: { ttl: 1h }               # or { ttl: 1h, semantic: { embedder: embed-small, threshold: 0.95 } }
  - name: smart
    targets: [ { provider: local, model: qwen3-32b } ]
"#;

const DESIGN_ENV: &[(&str, &str)] = &[
    ("SLUICE_ADMIN_KEY", "sk-admin"),
    ("ANTHROPIC_API_KEY", "sk-ant"),
    ("GEMINI_API_KEY", "g-key"),
    ("OPENAI_API_KEY", "sk-openai"),
    ("AZURE_API_KEY", "az-key"),
];

#[test]
fn the_design_example_parses() {
    let config = parse_str(DESIGN_EXAMPLE, &env(DESIGN_ENV)).unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:4000");
    assert_eq!(
        config.server.admin_key.as_ref().unwrap().expose_secret(),
        "sk-admin"
    );
    assert_eq!(config.server.exposure_problem(), None);
    assert_eq!(config.redis.as_deref(), Some("redis://127.0.0.1:6379"));

    let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "azure", "local"]);
    let openai = config.provider("openai").unwrap();
    assert_eq!(openai.kind, ProviderKind::OpenAiCompatible(Preset::OpenAi));
    assert_eq!(
        openai.api_key.as_ref().unwrap().expose_secret(),
        "sk-openai"
    );
    assert_eq!(
        config.provider("azure").unwrap().kind,
        ProviderKind::AzureOpenAi
    );
    assert_eq!(
        config.provider("local").unwrap().kind,
        ProviderKind::OpenAiCompatible(Preset::Generic)
    );

    let fast = config.model("fast").unwrap();
    assert_eq!(fast.strategy, Strategy::P2c);
    assert_eq!(fast.targets.len(), 2);
    assert_eq!(fast.fallbacks, ["smart"]);
    assert_eq!(fast.retry.max, 2);
    assert_eq!(fast.timeout.total, Some(Duration::from_secs(120)));
    assert_eq!(fast.cache.as_ref().unwrap().ttl, Duration::from_secs(3600));
    assert!(config.model("smart").is_some());
}

#[test]
fn the_full_design_example_parses_with_every_kind() {
    let yaml = DESIGN_EXAMPLE.replace(
        "  azure:",
        "  anthropic: { api_key: \"${ANTHROPIC_API_KEY}\" }\n  gemini: { api_key: \"${GEMINI_API_KEY}\" }\n  bedrock:   { region: us-east-1 }\n  azure:",
    );
    let config = parse_str(&yaml, &env(DESIGN_ENV)).unwrap();
    let bedrock = config.provider("bedrock").unwrap();
    assert_eq!(bedrock.kind, ProviderKind::Bedrock);
    assert_eq!(
        bedrock.base_url,
        "https://bedrock-runtime.us-east-1.amazonaws.com"
    );
    assert_eq!(
        bedrock.aws.as_ref().unwrap().region.as_deref(),
        Some("us-east-1")
    );
}

#[test]
fn every_mistake_is_reported_with_its_path() {
    let yaml = r#"
server:
  listen: 0.0.0.0:4000
  shutdown_grace: fast
providers:
  openai: { api_key: "${OPENAI_API_KEY}", tiemout: { total: 30s } }
  azure: { kind: azure-openai, base_url: "https://res.openai.azure.com", api_key: "${AZURE_API_KEY:-}" }
  local: { kind: openai-compatible, base_url: "http://127.0.0.1:8000/v1" }
models:
  - name: fast
    targets:
      - { provider: opnai, model: gpt-4o-mini }
    retry: { max: 2, backoff: soon }
  - name: smart
    targets: [ { provider: local, model: m } ]
    fallbacks: [fsat]
guardrails:
  pii: { kind: pii, action: mask, stage: both }
"#;
    assert_eq!(
        problems(yaml),
        [
            r#"server.shutdown_grace: expected a duration like 250ms, 30s or 5m, got "fast""#,
            r#"providers.openai.tiemout: unknown field "tiemout"; expected one of: kind, base_url, api_key, api_version, headers, direct, drop_unsupported, native, timeout, region, access_key_id, secret_access_key, session_token, project, location, credentials; did you mean "timeout"?"#,
            "providers.openai.api_key: environment variable OPENAI_API_KEY is not set",
            r#"models[0].targets[0].provider: unknown provider "opnai"; known: openai, azure, local"#,
            r#"models[0].retry.backoff: expected a duration like 250ms, 30s or 5m, got "soon""#,
            r#"models[1].fallbacks[0]: unknown model "fsat"; known: fast, smart; did you mean "fast"?"#,
            "guardrails.pii: mask applies to input only; use block or flag on output",
        ]
    );
}

#[test]
fn the_display_is_one_problem_per_line() {
    let errors = parse_str("store: x\nredis: y\n", &env(&[])).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "store: expected a store URL starting with sqlite://, postgres://, postgresql://, got a value with no scheme\n\
         redis: expected a Redis URL starting with redis://, rediss://, got a value with no scheme"
    );
}

#[test]
fn yaml_syntax_errors_are_one_problem_with_a_location() {
    let lines = problems("providers:\n  openai: { api_key: x\nmodels: []\n");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("invalid YAML: ") && lines[0].contains("line 3"),
        "{}",
        lines[0]
    );
}

#[test]
fn interpolation_with_defaults() {
    let yaml = r#"
server:
  listen: "${HOST:-127.0.0.1}:${PORT:-4000}"
  max_body: "${MAX_BODY:-1MiB}"
providers:
  local:
    kind: openai-compatible
    base_url: "${LOCAL_URL:-http://127.0.0.1:11434/v1}"
    api_key: "${LOCAL_KEY:-}"
    headers: { X-Note: "$${NOT_A_VAR} # not a comment: ${NOTE}" }
"#;
    let config = parse_str(yaml, &env(&[("PORT", "9999"), ("NOTE", "a: b")])).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(config.server.max_body, 1 << 20);
    let local = config.provider("local").unwrap();
    assert_eq!(local.base_url, "http://127.0.0.1:11434/v1");
    assert!(local.api_key.is_none());
    assert_eq!(
        local.headers,
        [(
            "X-Note".to_owned(),
            "${NOT_A_VAR} # not a comment: a: b".to_owned()
        )]
    );
}

#[test]
fn default_config_uses_the_keys_in_the_environment() {
    let config = default_config(&env(&[
        ("OPENAI_API_KEY", "sk-o"),
        ("GROQ_API_KEY", "gsk-g"),
    ]));
    let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "groq", "demo"]);
    assert_eq!(
        config.provider("groq").unwrap().base_url,
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(
        config
            .provider("groq")
            .unwrap()
            .api_key
            .as_ref()
            .unwrap()
            .expose_secret(),
        "gsk-g"
    );
    let models: Vec<_> = config.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(models, ["demo"]);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(config.server.shutdown_grace, Duration::from_secs(30));
    assert!(config.redis.is_none() && config.server.admin_key.is_none());
}

#[test]
fn load_file_reads_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.yaml");
    std::fs::write(&path, "store: sqlite://test.db\n").unwrap();
    assert_eq!(load_file(&path).unwrap().store, "sqlite://test.db");

    let missing = dir.path().join("missing.yaml");
    let errors = load_file(&missing).unwrap_err();
    assert_eq!(errors.issues.len(), 1);
    assert_eq!(errors.issues[0].path, "");
    assert!(errors.to_string().starts_with("cannot read "), "{errors}");
}

/// The config tour in the README stays valid.
#[test]
fn the_readme_config_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("```yaml").expect("a yaml block") + "```yaml".len();
    let end = start + readme[start..].find("```").unwrap();
    let any_var = |_: &str| Some("set".to_owned());
    if let Err(e) = parse_str(&readme[start..end], &any_var) {
        panic!("README config is invalid:\n{e}");
    }
}
