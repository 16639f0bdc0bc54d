//! Provider kinds as data: the OpenAI-compatible presets, and the kinds a config may name.
//!
//! Adding an OpenAI-compatible vendor is one row in [`PRESETS`].

use crate::runtime::{Preset, ProviderKind};

/// One OpenAI-compatible vendor Sluice knows defaults for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresetRow {
    /// The `kind` name written in the config.
    pub kind: &'static str,
    /// The preset.
    pub preset: Preset,
    /// Default `base_url`; empty when the config must give one.
    pub base_url: &'static str,
    /// Environment variables holding the API key, in order of preference. Empty for
    /// local servers and for the generic kind; those are never added by default.
    pub api_key_env: &'static [&'static str],
    /// Whether Sluice adds `stream_options: {"include_usage": true}` to streaming requests
    /// the client sent without it, so that every stream ends with the vendor's usage.
    /// False where the vendor rejects the field or always sends usage anyway.
    pub stream_usage: bool,
}

/// Every OpenAI-compatible preset.
pub const PRESETS: &[PresetRow] = &[
    row(
        "openai",
        Preset::OpenAi,
        "https://api.openai.com/v1",
        &["OPENAI_API_KEY"],
        true,
    ),
    row(
        "groq",
        Preset::Groq,
        "https://api.groq.com/openai/v1",
        &["GROQ_API_KEY"],
        true,
    ),
    row(
        "together",
        Preset::Together,
        "https://api.together.xyz/v1",
        &["TOGETHER_API_KEY"],
        true,
    ),
    // Mistral rejects `stream_options` (422 `extra_forbidden`) and always ends a stream
    // with usage.
    row(
        "mistral",
        Preset::Mistral,
        "https://api.mistral.ai/v1",
        &["MISTRAL_API_KEY"],
        false,
    ),
    row(
        "deepseek",
        Preset::DeepSeek,
        "https://api.deepseek.com/v1",
        &["DEEPSEEK_API_KEY"],
        true,
    ),
    row(
        "xai",
        Preset::Xai,
        "https://api.x.ai/v1",
        &["XAI_API_KEY"],
        true,
    ),
    // Newer Fireworks models send usage only when asked.
    row(
        "fireworks",
        Preset::Fireworks,
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_API_KEY"],
        true,
    ),
    // OpenRouter always sends usage in the last chunk; it documents `include_usage` as
    // deprecated with no effect.
    row(
        "openrouter",
        Preset::OpenRouter,
        "https://openrouter.ai/api/v1",
        &["OPENROUTER_API_KEY"],
        false,
    ),
    // Perplexity sends cumulative usage on every chunk, the last included.
    row(
        "perplexity",
        Preset::Perplexity,
        "https://api.perplexity.ai",
        &["PERPLEXITY_API_KEY"],
        false,
    ),
    // Ollama has accepted `stream_options` since 0.5.2.
    row(
        "ollama",
        Preset::Ollama,
        "http://127.0.0.1:11434/v1",
        &[],
        true,
    ),
    row("vllm", Preset::Vllm, "http://127.0.0.1:8000/v1", &[], true),
    row(
        "lmstudio",
        Preset::LmStudio,
        "http://127.0.0.1:1234/v1",
        &[],
        true,
    ),
    // Most OpenAI-compatible servers (llama.cpp, SGLang, TGI, LiteLLM, …) accept it.
    row("openai-compatible", Preset::Generic, "", &[], true),
];

const fn row(
    kind: &'static str,
    preset: Preset,
    base_url: &'static str,
    api_key_env: &'static [&'static str],
    stream_usage: bool,
) -> PresetRow {
    PresetRow {
        kind,
        preset,
        base_url,
        api_key_env,
        stream_usage,
    }
}

/// The `kind` name of Azure OpenAI.
pub const AZURE_KIND: &str = "azure-openai";
/// The short alias of [`AZURE_KIND`].
pub const AZURE_ALIAS: &str = "azure";
/// The `kind` name of the built-in offline provider.
pub const DEMO_KIND: &str = "demo";

/// A provider with its own wire format.
#[derive(Debug, Clone, Copy)]
pub struct NativeRow {
    /// The `kind` name.
    pub kind_name: &'static str,
    /// The kind.
    pub kind: ProviderKind,
    /// Default `base_url` (the host root, as the provider's SDK means it); empty when it
    /// depends on other settings (Bedrock's follows the region: [`bedrock_base_url`];
    /// Vertex AI's the location: [`vertex_base_url`]).
    pub base_url: &'static str,
    /// Environment variables holding the API key, in order of preference.
    pub api_key_env: &'static [&'static str],
}

/// Providers with their own wire formats.
pub const NATIVE: &[NativeRow] = &[
    NativeRow {
        kind_name: "anthropic",
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com",
        api_key_env: &["ANTHROPIC_API_KEY"],
    },
    NativeRow {
        kind_name: "gemini",
        kind: ProviderKind::Gemini,
        base_url: "https://generativelanguage.googleapis.com",
        api_key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    },
    NativeRow {
        kind_name: "bedrock",
        kind: ProviderKind::Bedrock,
        base_url: "",
        // SigV4 credentials, not an API key: see `bedrock_base_url` and the defaults.
        api_key_env: &[],
    },
    NativeRow {
        kind_name: "cohere",
        kind: ProviderKind::Cohere,
        base_url: "https://api.cohere.com",
        api_key_env: &["COHERE_API_KEY", "CO_API_KEY"],
    },
    NativeRow {
        kind_name: "vertex",
        kind: ProviderKind::Vertex,
        base_url: "",
        // A service-account key file, not an API key: see `vertex_base_url` and
        // `crate::vertex`.
        api_key_env: &[],
    },
];

/// The default `base_url` of a `bedrock` provider in `region`: the Bedrock runtime endpoint,
/// `https://bedrock-runtime.{region}.amazonaws.com`.
pub fn bedrock_base_url(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// The default `base_url` of a `vertex` provider in `location`: the regional endpoint
/// `https://{location}-aiplatform.googleapis.com`, or `https://aiplatform.googleapis.com` for
/// the `global` location.
pub fn vertex_base_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// Looks up a `kind` name (`openai`, `azure`, `anthropic`, …); `None` when it is not a kind.
pub fn lookup_kind(name: &str) -> Option<ProviderKind> {
    if let Some(preset) = Preset::from_kind_name(name) {
        Some(ProviderKind::OpenAiCompatible(preset))
    } else if name == AZURE_KIND || name == AZURE_ALIAS {
        Some(ProviderKind::AzureOpenAi)
    } else if name == DEMO_KIND {
        Some(ProviderKind::Demo)
    } else {
        NATIVE
            .iter()
            .find(|row| row.kind_name == name)
            .map(|row| row.kind)
    }
}

/// The kind names this build supports, in table order, for error messages.
pub fn supported_kind_names() -> impl Iterator<Item = &'static str> {
    PRESETS
        .iter()
        .map(|row| row.kind)
        .chain(NATIVE.iter().map(|row| row.kind_name))
        .chain([AZURE_KIND, DEMO_KIND])
}

impl Preset {
    /// This preset's row of [`PRESETS`].
    pub fn row(self) -> &'static PresetRow {
        // Every variant has a row; the unit test `every_preset_has_one_row` checks it.
        PRESETS
            .iter()
            .find(|row| row.preset == self)
            .unwrap_or(&PRESETS[PRESETS.len() - 1])
    }

    /// The `kind` name written in the config, e.g. `groq` or `openai-compatible`.
    pub fn kind_name(self) -> &'static str {
        self.row().kind
    }

    /// The default `base_url`; empty for [`Preset::Generic`], which needs one.
    pub fn default_base_url(self) -> &'static str {
        self.row().base_url
    }

    /// Environment variables holding the API key, in order of preference.
    pub fn api_key_env(self) -> &'static [&'static str] {
        self.row().api_key_env
    }

    /// The preset with this `kind` name.
    pub fn from_kind_name(name: &str) -> Option<Preset> {
        PRESETS
            .iter()
            .find(|row| row.kind == name)
            .map(|row| row.preset)
    }
}

impl ProviderKind {
    /// The canonical `kind` name, e.g. `openai`, `azure-openai` or `demo`.
    pub fn kind_name(self) -> &'static str {
        match self {
            ProviderKind::OpenAiCompatible(preset) => preset.kind_name(),
            ProviderKind::AzureOpenAi => AZURE_KIND,
            ProviderKind::Demo => DEMO_KIND,
            ProviderKind::Anthropic
            | ProviderKind::Gemini
            | ProviderKind::Bedrock
            | ProviderKind::Cohere
            | ProviderKind::Vertex => self.native().map_or("", |row| row.kind_name),
        }
    }

    /// The row of [`NATIVE`] for a provider with its own wire format.
    pub fn native(self) -> Option<&'static NativeRow> {
        NATIVE.iter().find(|row| row.kind == self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALL: [Preset; 13] = [
        Preset::Generic,
        Preset::OpenAi,
        Preset::Groq,
        Preset::Together,
        Preset::Mistral,
        Preset::DeepSeek,
        Preset::Xai,
        Preset::Fireworks,
        Preset::OpenRouter,
        Preset::Perplexity,
        Preset::Ollama,
        Preset::Vllm,
        Preset::LmStudio,
    ];

    #[test]
    fn every_preset_has_one_row() {
        assert_eq!(PRESETS.len(), ALL.len());
        for preset in ALL {
            assert_eq!(
                PRESETS.iter().filter(|row| row.preset == preset).count(),
                1,
                "{preset:?}"
            );
            assert_eq!(Preset::from_kind_name(preset.kind_name()), Some(preset));
        }
    }

    #[test]
    fn base_urls_have_no_trailing_slash() {
        for row in PRESETS {
            assert!(!row.base_url.ends_with('/'), "{}", row.kind);
        }
        assert_eq!(
            Preset::Groq.default_base_url(),
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(Preset::Generic.default_base_url(), "");
    }

    #[test]
    fn stream_usage_is_asked_only_where_the_vendor_accepts_it() {
        let not_asked: Vec<&str> = PRESETS
            .iter()
            .filter(|row| !row.stream_usage)
            .map(|row| row.kind)
            .collect();
        assert_eq!(not_asked, ["mistral", "openrouter", "perplexity"]);
    }

    #[test]
    fn lookups() {
        assert_eq!(
            lookup_kind("openai"),
            Some(ProviderKind::OpenAiCompatible(Preset::OpenAi))
        );
        assert_eq!(lookup_kind("azure"), Some(ProviderKind::AzureOpenAi));
        assert_eq!(lookup_kind("azure-openai"), Some(ProviderKind::AzureOpenAi));
        assert_eq!(lookup_kind("demo"), Some(ProviderKind::Demo));
        assert_eq!(lookup_kind("vertex"), Some(ProviderKind::Vertex));
        assert_eq!(ProviderKind::Vertex.kind_name(), "vertex");
        assert_eq!(
            vertex_base_url("europe-west4"),
            "https://europe-west4-aiplatform.googleapis.com"
        );
        assert_eq!(
            vertex_base_url("global"),
            "https://aiplatform.googleapis.com"
        );
        assert_eq!(lookup_kind("bedrock"), Some(ProviderKind::Bedrock));
        assert_eq!(ProviderKind::Bedrock.kind_name(), "bedrock");
        assert_eq!(lookup_kind("cohere"), Some(ProviderKind::Cohere));
        assert_eq!(ProviderKind::Cohere.kind_name(), "cohere");
        assert_eq!(
            ProviderKind::Cohere.native().map(|row| row.base_url),
            Some("https://api.cohere.com")
        );
        assert_eq!(
            bedrock_base_url("eu-west-3"),
            "https://bedrock-runtime.eu-west-3.amazonaws.com"
        );
        assert_eq!(lookup_kind("anthropic"), Some(ProviderKind::Anthropic));
        assert_eq!(lookup_kind("opnai"), None);
        assert_eq!(ProviderKind::AzureOpenAi.kind_name(), "azure-openai");
        assert_eq!(
            ProviderKind::OpenAiCompatible(Preset::LmStudio).kind_name(),
            "lmstudio"
        );
    }
}
