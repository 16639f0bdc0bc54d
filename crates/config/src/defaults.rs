//! The embedded default config, used when there is no config file: one provider per API
//! key found in the environment, plus the offline `demo` provider and model.

use secrecy::SecretString;

use crate::presets::{AZURE_ALIAS, DEMO_KIND, NATIVE, PRESETS, bedrock_base_url};
use crate::runtime::{
    AwsConfig, Config, DEFAULT_AZURE_API_VERSION, DEFAULT_STORE, ModelConfig, ModelTimeouts,
    Preset, ProviderConfig, ProviderKind, RetryConfig, ServerConfig, Strategy, TargetConfig,
};

/// The config used when no file exists, built from `env`.
///
/// Adds a provider for every preset whose API key variable is set (named after the
/// preset, e.g. `openai`, `groq`), `azure` when `AZURE_API_KEY` (or `AZURE_OPENAI_API_KEY`)
/// and `AZURE_API_BASE` (or `AZURE_OPENAI_ENDPOINT`) are set, `bedrock` when
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and a region (`AWS_REGION` or
/// `AWS_DEFAULT_REGION`) are set (with `AWS_SESSION_TOKEN` when present), and always the
/// `demo` provider with a `demo` model. `OPENAI_BASE_URL` overrides OpenAI's base URL.
/// Empty variables count as unset.
pub fn default_config(env: &dyn Fn(&str) -> Option<String>) -> Config {
    let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let first = |names: &[&str]| names.iter().find_map(|name| var(name));
    let mut providers = Vec::new();
    for row in PRESETS {
        let Some(key) = first(row.api_key_env) else {
            continue;
        };
        let base_url = match row.preset {
            Preset::OpenAi => var("OPENAI_BASE_URL"),
            _ => None,
        };
        let base_url = base_url.unwrap_or_else(|| row.base_url.to_owned());
        providers.push(provider(
            row.kind,
            ProviderKind::OpenAiCompatible(row.preset),
            &base_url,
            Some(key),
        ));
    }
    for row in NATIVE {
        if let Some(key) = first(row.api_key_env) {
            providers.push(provider(row.kind_name, row.kind, row.base_url, Some(key)));
        }
    }
    let azure_key = first(&["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"]);
    let azure_base = first(&["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"]);
    if let (Some(key), Some(base_url)) = (azure_key, azure_base) {
        let mut azure = provider(AZURE_ALIAS, ProviderKind::AzureOpenAi, &base_url, Some(key));
        azure.api_version =
            Some(var("AZURE_API_VERSION").unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()));
        providers.push(azure);
    }
    let aws_key = var("AWS_ACCESS_KEY_ID");
    let aws_secret = var("AWS_SECRET_ACCESS_KEY");
    let aws_region = first(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
    if let (Some(key), Some(secret), Some(region)) = (aws_key, aws_secret, aws_region) {
        let region = region.trim().to_owned();
        let mut bedrock = provider(
            "bedrock",
            ProviderKind::Bedrock,
            &bedrock_base_url(&region),
            None,
        );
        bedrock.aws = Some(AwsConfig {
            region: Some(region),
            access_key_id: Some(SecretString::from(key)),
            secret_access_key: Some(SecretString::from(secret)),
            session_token: var("AWS_SESSION_TOKEN").map(SecretString::from),
        });
        providers.push(bedrock);
    }
    providers.push(provider(DEMO_KIND, ProviderKind::Demo, "", None));
    Config {
        server: ServerConfig::default(),
        store: DEFAULT_STORE.to_owned(),
        redis: None,
        providers,
        models: vec![demo_model()],
        routing: Vec::new(),
        logging: Default::default(),
        cache: Default::default(),
        limits: Default::default(),
        pricing: Default::default(),
        metrics: Default::default(),
        telemetry: crate::validate::telemetry_from_env(env),
        guardrails: None,
        ui: Default::default(),
    }
}

fn provider(name: &str, kind: ProviderKind, base_url: &str, key: Option<String>) -> ProviderConfig {
    ProviderConfig {
        api_key: key.map(SecretString::from),
        ..ProviderConfig::new(name, kind, base_url)
    }
}

/// The `demo` model: one target on the `demo` provider.
fn demo_model() -> ModelConfig {
    ModelConfig {
        name: DEMO_KIND.to_owned(),
        strategy: Strategy::default(),
        targets: vec![TargetConfig {
            provider: DEMO_KIND.to_owned(),
            model: DEMO_KIND.to_owned(),
            weight: 1,
            rpm: None,
            tpm: None,
        }],
        fallbacks: Vec::new(),
        retry: RetryConfig::default(),
        timeout: ModelTimeouts::default(),
        split: Vec::new(),
        circuit: Default::default(),
        hedge: None,
        cache: None,
        rpm: None,
        tpm: None,
        guardrails: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn names(config: &Config) -> Vec<&str> {
        config.providers.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn no_keys_means_demo_only() {
        let config = default_config(&|_| None);
        assert_eq!(names(&config), ["demo"]);
        assert_eq!(config.provider("demo").unwrap().kind, ProviderKind::Demo);
        assert_eq!(config.provider("demo").unwrap().base_url, "");
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
        assert_eq!(config.server.max_body, 20 * 1024 * 1024);
        assert_eq!(config.store, "sqlite://sluice.db");
        let demo = config.model("demo").unwrap();
        assert_eq!(
            (
                demo.targets[0].provider.as_str(),
                demo.targets[0].model.as_str()
            ),
            ("demo", "demo")
        );
    }

    #[test]
    fn azure_and_openai_overrides() {
        let env = |name: &str| {
            match name {
                "OPENAI_API_KEY" => Some("sk-o"),
                "OPENAI_BASE_URL" => Some("http://proxy:9000/v1/"),
                "AZURE_OPENAI_API_KEY" => Some("az"),
                "AZURE_OPENAI_ENDPOINT" => Some("https://r.openai.azure.com/"),
                "MISTRAL_API_KEY" => Some(""),
                _ => None,
            }
            .map(str::to_owned)
        };
        let config = default_config(&env);
        assert_eq!(names(&config), ["openai", "azure", "demo"]);
        assert_eq!(
            config.provider("openai").unwrap().base_url,
            "http://proxy:9000/v1"
        );
        let azure = config.provider("azure").unwrap();
        assert_eq!(azure.base_url, "https://r.openai.azure.com");
        assert_eq!(azure.api_key.as_ref().unwrap().expose_secret(), "az");
        assert_eq!(azure.api_version.as_deref(), Some("2024-10-21"));
    }

    #[test]
    fn native_provider_keys_register_their_providers() {
        let env = |name: &str| {
            match name {
                "ANTHROPIC_API_KEY" => Some("sk-ant"),
                "GOOGLE_API_KEY" => Some("g"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let config = default_config(&env);
        assert_eq!(names(&config), ["anthropic", "gemini", "demo"]);
        assert_eq!(
            config.provider("anthropic").unwrap().kind,
            ProviderKind::Anthropic
        );
        assert_eq!(
            config.provider("gemini").unwrap().base_url,
            "https://generativelanguage.googleapis.com"
        );
    }

    #[test]
    fn a_cohere_key_registers_cohere() {
        for var in ["COHERE_API_KEY", "CO_API_KEY"] {
            let env = |name: &str| (name == var).then(|| "co-key".to_owned());
            let config = default_config(&env);
            assert_eq!(names(&config), ["cohere", "demo"], "{var}");
            let cohere = config.provider("cohere").unwrap();
            assert_eq!(cohere.kind, ProviderKind::Cohere);
            assert_eq!(cohere.base_url, "https://api.cohere.com");
            assert_eq!(cohere.api_key.as_ref().unwrap().expose_secret(), "co-key");
        }
    }

    #[test]
    fn aws_credentials_and_a_region_register_bedrock() {
        let env = |name: &str| {
            match name {
                "AWS_ACCESS_KEY_ID" => Some("AKID"),
                "AWS_SECRET_ACCESS_KEY" => Some("secret"),
                "AWS_SESSION_TOKEN" => Some("token"),
                "AWS_DEFAULT_REGION" => Some("eu-central-1"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let config = default_config(&env);
        assert_eq!(names(&config), ["bedrock", "demo"]);
        let bedrock = config.provider("bedrock").unwrap();
        assert_eq!(bedrock.kind, ProviderKind::Bedrock);
        assert_eq!(
            bedrock.base_url,
            "https://bedrock-runtime.eu-central-1.amazonaws.com"
        );
        let aws = bedrock.aws.as_ref().unwrap();
        assert_eq!(aws.region.as_deref(), Some("eu-central-1"));
        assert_eq!(aws.session_token.as_ref().unwrap().expose_secret(), "token");
        // Without a region there is nowhere to send requests.
        let no_region = |name: &str| (name != "AWS_DEFAULT_REGION").then(|| env(name)).flatten();
        assert_eq!(names(&default_config(&no_region)), ["demo"]);
    }
}
