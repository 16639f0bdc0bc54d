//! The built-in file, lookup normalisation, overrides and LiteLLM merging.

use super::*;
use crate::Tokens;

/// Vendors a built-in key may name.
const VENDORS: [&str; 12] = [
    "openai",
    "anthropic",
    "gemini",
    "vertex",
    "bedrock",
    "mistral",
    "cohere",
    "deepseek",
    "xai",
    "groq",
    "together",
    "fireworks",
];

fn input_per_million(c: &Catalogue, vendor: &str, model: &str) -> Option<u64> {
    c.lookup(vendor, model).map(|p| p.input.0)
}

#[test]
fn builtin_parses_and_is_dated() {
    let c = Catalogue::builtin();
    assert_eq!(c.version(), "2026-11-01");
    assert!(c.len() >= 80, "only {} entries", c.len());
    assert!(!c.is_empty());
    for vendor in [
        "openai",
        "anthropic",
        "gemini",
        "bedrock",
        "mistral",
        "cohere",
        "deepseek",
        "xai",
    ] {
        assert!(
            c.prices
                .keys()
                .any(|k| k.starts_with(&format!("{vendor}/"))),
            "no {vendor} prices"
        );
    }
}

#[test]
fn builtin_entries_are_sane() {
    let c = Catalogue::builtin();
    for (key, p) in &c.prices {
        let (vendor, model) = key.split_once('/').unwrap();
        assert!(VENDORS.contains(&vendor), "{key}: unknown vendor");
        assert!(p.input.0 > 0, "{key}: free input");
        // Embeddings have no output price; everything else costs at least its input.
        assert!(
            p.output.0 == 0 || p.output >= p.input,
            "{key}: output cheaper than input"
        );
        if p.output.0 == 0 {
            assert!(
                model.contains("embed"),
                "{key}: no output price but not an embedding model"
            );
        }
        if let Some(read) = p.cache_read {
            assert!(read < p.input, "{key}: cache reads cost at least input");
        }
        if let Some(write) = p.cache_write {
            assert!(write >= p.input, "{key}: cache writes cheaper than input");
        }
        if let Some(reasoning) = p.reasoning {
            assert!(
                reasoning >= p.output,
                "{key}: reasoning cheaper than output"
            );
        }
        for unit in [p.per_image, p.per_audio_second].into_iter().flatten() {
            assert!(unit > Usd(0), "{key}: free per-unit price");
        }
        // Every key is found by its own name.
        assert_eq!(c.lookup(vendor, model), Some(p), "{key}");
    }
}

#[test]
fn builtin_regional_bedrock_claude_costs_ten_percent_more() {
    let c = Catalogue::builtin();
    for (key, regional) in c
        .prices
        .iter()
        .filter(|(k, _)| k.starts_with("bedrock/us.") || k.starts_with("bedrock/eu."))
    {
        let claude = key.split_once(".anthropic.").map(|(_, m)| m).unwrap();
        let list = c.lookup("anthropic", claude).unwrap();
        assert_eq!(regional.input.0 * 10, list.input.0 * 11, "{key}");
        assert_eq!(regional.output.0 * 10, list.output.0 * 11, "{key}");
    }
}

#[test]
fn exact_and_dated_model_ids() {
    let c = Catalogue::builtin();
    let mini = c.lookup("openai", "gpt-4o-mini").unwrap();
    assert_eq!(c.lookup("openai", "gpt-4o-mini-2024-07-18"), Some(mini));
    assert_eq!(c.lookup("OpenAI", " GPT-4o-Mini "), Some(mini));
    // A dated id priced differently from its family keeps its own price.
    assert_eq!(
        input_per_million(&c, "openai", "gpt-4o-2024-05-13"),
        Some(5_000_000)
    );
    assert_eq!(
        input_per_million(&c, "openai", "gpt-4o-2024-08-06"),
        Some(2_500_000)
    );
    assert_eq!(
        input_per_million(&c, "anthropic", "claude-sonnet-4-5-20250929"),
        Some(3_000_000)
    );
    assert_eq!(
        input_per_million(&c, "anthropic", "claude-3-5-haiku-20241022"),
        Some(800_000)
    );
    assert_eq!(
        input_per_million(&c, "xai", "grok-4-latest"),
        Some(3_000_000)
    );
}

#[test]
fn bedrock_ids_versions_and_region_prefixes() {
    let c = Catalogue::builtin();
    // `-v1:0` and the date go, then Bedrock falls back to Anthropic's price.
    assert_eq!(
        input_per_million(&c, "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        Some(3_000_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "anthropic.claude-opus-4-6-v1"),
        Some(5_000_000)
    );
    // Geographic profiles have their own (higher) price; global. uses the list price.
    assert_eq!(
        input_per_million(&c, "bedrock", "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
        Some(1_100_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "global.anthropic.claude-opus-4-6-v1"),
        Some(5_000_000)
    );
    assert_eq!(
        input_per_million(
            &c,
            "bedrock",
            "apac.anthropic.claude-sonnet-4-20250514-v1:0"
        ),
        Some(3_000_000)
    );
    // Bedrock's own Claude 3 Haiku price wins over Anthropic's (cache reads differ).
    let haiku = c
        .lookup("bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0")
        .unwrap();
    assert_eq!(haiku.cache_read, Some(Rate(25_000)));
    // Non-Claude models.
    assert_eq!(
        input_per_million(&c, "bedrock", "amazon.nova-pro-v1:0"),
        Some(800_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "us.amazon.nova-lite-v1:0"),
        Some(60_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "amazon.titan-embed-text-v2:0"),
        Some(20_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "amazon.titan-embed-text-v1"),
        Some(100_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "cohere.embed-v4:0"),
        Some(120_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "meta.llama3-3-70b-instruct-v1:0"),
        Some(720_000)
    );
}

#[test]
fn vertex_and_gemini_ids() {
    let c = Catalogue::builtin();
    let flash = c.lookup("gemini", "gemini-2.5-flash").unwrap();
    assert_eq!(c.lookup("gemini", "models/gemini-2.5-flash"), Some(flash));
    assert_eq!(c.lookup("google", "gemini-2.5-flash"), Some(flash));
    assert_eq!(c.lookup("vertex", "gemini-2.5-flash"), Some(flash));
    assert_eq!(
        input_per_million(&c, "gemini", "models/gemini-2.0-flash-001"),
        Some(100_000)
    );
    // Claude on Vertex: `@version` goes, then Anthropic's price.
    let sonnet = c.lookup("anthropic", "claude-sonnet-4-5").unwrap();
    assert_eq!(
        c.lookup("vertex_ai", "claude-sonnet-4-5@20250929"),
        Some(sonnet)
    );
    assert_eq!(
        c.lookup("vertex", "claude-opus-4-8@default"),
        c.lookup("anthropic", "claude-opus-4-8")
    );
    // Vertex-only embeddings.
    assert_eq!(
        input_per_million(&c, "vertex", "text-embedding-005"),
        Some(100_000)
    );
    assert_eq!(c.lookup("gemini", "text-embedding-005"), None);
}

#[test]
fn resellers_fall_back_to_the_original_vendor() {
    let c = Catalogue::builtin();
    let gpt41 = c.lookup("openai", "gpt-4.1").unwrap();
    assert_eq!(c.lookup("azure", "gpt-4.1-2025-04-14"), Some(gpt41));
    assert_eq!(c.lookup("azure-openai", "gpt-4.1"), Some(gpt41));
    assert_eq!(
        c.lookup("openrouter", "anthropic/claude-sonnet-4.5"),
        c.lookup("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!(
        c.lookup("openrouter", "openai/gpt-5-mini"),
        c.lookup("openai", "gpt-5-mini")
    );
    assert_eq!(
        c.lookup("openrouter", "google/gemini-2.5-pro"),
        c.lookup("gemini", "gemini-2.5-pro")
    );
    assert_eq!(
        c.lookup("openrouter", "x-ai/grok-4"),
        c.lookup("xai", "grok-4")
    );
    // Vendors that resell nothing do not borrow prices.
    assert_eq!(c.lookup("groq", "gpt-4o"), None);
    assert_eq!(c.lookup("bedrock", "claude-sonnet-4-5"), None);
}

#[test]
fn unknown_models_have_no_price() {
    let c = Catalogue::builtin();
    assert_eq!(c.lookup("openai", "gpt-99"), None);
    assert_eq!(c.lookup("nosuchvendor", "gpt-4o"), None);
    assert_eq!(c.lookup("bedrock", "meta.unknown-v1:0"), None);
    assert_eq!(c.lookup("openrouter", "gpt-4o"), None);
    assert_eq!(c.lookup("openai", ""), None);
}

#[test]
fn set_overrides_a_price_and_its_dated_ids() {
    let mut c = Catalogue::builtin();
    let custom = Price {
        input: Rate(1),
        output: Rate(2),
        ..Price::default()
    };
    c.set("openai/gpt-4o-mini", custom);
    assert_eq!(c.lookup("openai", "gpt-4o-mini-2024-07-18"), Some(&custom));
    assert_eq!(c.lookup("azure", "gpt-4o-mini"), Some(&custom));
    c.set("Local/My-Model", custom);
    assert_eq!(c.lookup("local", "my-model"), Some(&custom));
    c.set("Azure-OpenAI/my-deployment", custom);
    assert_eq!(c.lookup("azure", "my-deployment"), Some(&custom));
}

#[test]
fn bad_builtin_files_are_refused_with_the_entry_and_field() {
    let doc = |models: &str| {
        format!(
            r#"{{"version": 1, "updated": "2026-11-01", "currency": "USD", "unit": "per 1M tokens", "models": {models}}}"#
        )
    };
    let err = |text: String| parse_native(text.as_bytes()).unwrap_err();

    assert_eq!(
        err(doc(r#"{"openai/x": {"input": "0.1.2", "output": "1"}}"#)),
        PricingError::field(
            "openai/x",
            "input",
            "\"0.1.2\" is not a non-negative USD per million tokens with at most 6 decimals"
        )
    );
    let e = err(doc(r#"{"openai/x": {"input": "1"}}"#));
    assert_eq!(e, PricingError::field("openai/x", "output", "missing"));
    assert_eq!(
        e.to_string(),
        "price file entry \"openai/x\", field \"output\": missing"
    );
    assert!(
        matches!(err(doc(r#"{"openai/x": {"input": 1, "output": "1"}}"#)), PricingError::Field { field, .. } if field == "input")
    );
    assert!(
        matches!(err(doc(r#"{"openai/x": {"input": "1", "output": "1", "cached": "1"}}"#)), PricingError::Field { field, .. } if field == "cached")
    );
    assert!(
        matches!(err(doc(r#"{"openai/x": {"input": "1", "output": "1", "per_image": "-1"}}"#)), PricingError::Field { field, .. } if field == "per_image")
    );
    assert!(matches!(
        err(doc(r#"{"OpenAI/x": {"input": "1", "output": "1"}}"#)),
        PricingError::Entry { .. }
    ));
    assert!(matches!(
        err(doc(r#"{"gpt-4o": {"input": "1", "output": "1"}}"#)),
        PricingError::Entry { .. }
    ));
    assert!(matches!(
        err(doc(r#"{"openai/x": []}"#)),
        PricingError::Entry { .. }
    ));
    assert!(matches!(err(doc("[]")), PricingError::File(_)));
    assert!(matches!(
        err(r#"{"version": 2}"#.to_owned()),
        PricingError::File(_)
    ));
    assert!(matches!(err("not json".to_owned()), PricingError::File(_)));
    let eur = doc("{}").replace("USD", "EUR");
    assert!(matches!(err(eur), PricingError::File(_)));
}

/// A small LiteLLM-format file: a spec entry, chat, embedding, image and unknown providers.
const LITELLM: &str = r#"{
    "sample_spec": {
        "input_cost_per_token": 0.0,
        "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
        "max_tokens": "LEGACY parameter"
    },
    "gpt-4o-mini": {
        "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
        "cache_read_input_token_cost": 7.5e-08, "litellm_provider": "openai", "mode": "chat"
    },
    "claude-sonnet-4-5-20250929": {
        "input_cost_per_token": 3.1e-06, "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
        "litellm_provider": "anthropic"
    },
    "gemini/gemini-9-flash": {
        "input_cost_per_token": 5e-07, "output_cost_per_token": 3e-06,
        "output_cost_per_reasoning_token": 3.5e-06, "litellm_provider": "gemini"
    },
    "gemini-9-flash": {
        "input_cost_per_token": 6e-07, "output_cost_per_token": 3.6e-06,
        "litellm_provider": "vertex_ai-language-models"
    },
    "anthropic.claude-9-v1:0": {
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "bedrock_converse"
    },
    "multimodalembedding": {
        "input_cost_per_token": 8e-07, "input_cost_per_image": 0.0001,
        "litellm_provider": "vertex_ai-embedding-models", "mode": "embedding"
    },
    "babbage-002": {
        "input_cost_per_token": 4e-07, "output_cost_per_token": 4e-07, "litellm_provider": "text-completion-openai"
    },
    "gpt-9-audio": {
        "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
        "input_cost_per_audio_per_second": 0.0001, "litellm_provider": "openai"
    },
    "perplexity/sonar": {
        "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "litellm_provider": "perplexity"
    },
    "dall-e-3": { "litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04 },
    "no-provider-model": { "input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06 }
}"#;

#[test]
fn litellm_files_merge_over_the_builtin_prices() {
    let mut c = Catalogue::builtin();
    let before = c.len();
    assert_eq!(c.merge_litellm(LITELLM.as_bytes()), Ok(9));

    // New models, under our vendor names.
    let flash = c.lookup("gemini", "models/gemini-9-flash").unwrap();
    assert_eq!(
        (flash.input, flash.output, flash.reasoning),
        (Rate(500_000), Rate(3_000_000), Some(Rate(3_500_000)))
    );
    assert_eq!(
        input_per_million(&c, "vertex", "gemini-9-flash"),
        Some(600_000)
    );
    assert_eq!(
        input_per_million(&c, "bedrock", "us.anthropic.claude-9-v1:0"),
        Some(1_000_000)
    );
    assert_eq!(
        input_per_million(&c, "openai", "babbage-002"),
        Some(400_000)
    );
    assert_eq!(
        input_per_million(&c, "perplexity", "sonar"),
        Some(1_000_000)
    );
    assert_eq!(
        c.lookup("vertex", "multimodalembedding").unwrap().per_image,
        Some(Usd(100_000))
    );
    assert_eq!(
        c.lookup("openai", "gpt-9-audio").unwrap().per_audio_second,
        Some(Usd(100_000))
    );
    // The user's file wins: its dated Claude id is found before the built-in family price.
    assert_eq!(
        input_per_million(&c, "anthropic", "claude-sonnet-4-5-20250929"),
        Some(3_100_000)
    );
    assert_eq!(
        input_per_million(&c, "anthropic", "claude-sonnet-4-5"),
        Some(3_000_000)
    );
    // Skipped: the spec, the image model, and the entry with no vendor.
    assert_eq!(c.lookup("openai", "dall-e-3"), None);
    assert_eq!(c.lookup("openai", "sample_spec"), None);
    assert_eq!(
        c.len(),
        before + 8,
        "gpt-4o-mini replaced, eight entries added"
    );

    // Merged prices cost exactly: 1 000 × 500 000 + 100 × 3 500 000 reasoning = 850 000 000 pico.
    let t = Tokens {
        prompt: 1_000,
        completion: 100,
        reasoning: 100,
        ..Tokens::default()
    };
    assert_eq!(flash.cost(&t), Usd(850_000));
}

#[test]
fn bad_litellm_files_change_nothing() {
    let mut c = Catalogue::builtin();
    let before = c.len();
    let mini = *c.lookup("openai", "gpt-4o-mini").unwrap();
    let cases = [
        (
            r#"{"gpt-4o-mini": {"input_cost_per_token": 1e-9, "litellm_provider": "openai"}, "bad": {"input_cost_per_token": "cheap", "litellm_provider": "openai"}}"#,
            "bad",
            "input_cost_per_token",
        ),
        (
            r#"{"neg": {"input_cost_per_token": -1e-6, "litellm_provider": "openai"}}"#,
            "neg",
            "input_cost_per_token",
        ),
        (
            r#"{"m": {"input_cost_per_token": 1e-6, "cache_read_input_token_cost": "x", "litellm_provider": "openai"}}"#,
            "m",
            "cache_read_input_token_cost",
        ),
        (
            r#"{"m": {"input_cost_per_token": 1e-6, "litellm_provider": 7}}"#,
            "m",
            "litellm_provider",
        ),
        (
            r#"{"m": {"input_cost_per_token": 1e-6, "input_cost_per_image": -2, "litellm_provider": "openai"}}"#,
            "m",
            "input_cost_per_image",
        ),
    ];
    for (file, entry, field) in cases {
        let err = c.merge_litellm(file.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, PricingError::Field { entry: e, field: f, .. } if e == entry && f == field),
            "{file}: {err}"
        );
    }
    // Metadata that is not an entry is skipped, not an error.
    assert_eq!(
        c.merge_litellm(br#"{"last_updated": "2026-07-24", "m": 3}"#),
        Ok(0)
    );
    assert!(matches!(
        c.merge_litellm(b"[1, 2]"),
        Err(PricingError::File(_))
    ));
    assert!(matches!(c.merge_litellm(b""), Err(PricingError::File(_))));
    assert_eq!(c.len(), before);
    assert_eq!(c.lookup("openai", "gpt-4o-mini"), Some(&mini));
}
