//! How a `(vendor, model)` pair becomes the catalogue keys to try, most specific first.
//!
//! Keys are `vendor/model`, lower case. A model name is tried as sent, then with one
//! version-like suffix stripped at a time (`@20250929`, `:0`, `-v1`, `-latest`,
//! `-2024-07-18`, `-20250929`, `-001`), then the same again without a `models/` or
//! cross-region (`us.`, `eu.`, `global.`, …) prefix. Vendors that resell other vendors'
//! models then fall back to the original vendor's price.

/// Bedrock cross-region inference profile prefixes.
const REGION_PREFIXES: [&str; 8] = [
    "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.",
];

/// The catalogue's name for a vendor, provider kind or LiteLLM provider (`azure-openai` →
/// `azure`, `vertex_ai` → `vertex`, `google` → `gemini`, `x-ai` → `xai`, …).
pub(crate) fn canonical_vendor(vendor: &str) -> &str {
    match vendor {
        "openai" | "text-completion-openai" => "openai",
        "azure" | "azure-openai" | "azure_openai" | "azure_text" => "azure",
        "gemini" | "google" | "google-ai-studio" | "google_ai_studio" => "gemini",
        "vertex" | "vertex_ai" | "vertex-ai" | "google-vertex" => "vertex",
        "bedrock" | "bedrock_converse" | "aws-bedrock" | "aws_bedrock" => "bedrock",
        "mistral" | "mistralai" => "mistral",
        "cohere" | "cohere_chat" => "cohere",
        "xai" | "x-ai" => "xai",
        "together" | "together_ai" | "togetherai" => "together",
        "fireworks" | "fireworks_ai" => "fireworks",
        other if other.starts_with("vertex_ai") => "vertex",
        other if other.starts_with("fireworks_ai") => "fireworks",
        other => other,
    }
}

/// Every key to try for `model` at `vendor` (both already lower case), in order.
pub(crate) fn keys(vendor: &str, model: &str) -> Vec<String> {
    let vendor = canonical_vendor(vendor);
    let mut keys: Vec<String> = candidates(model)
        .into_iter()
        .map(|m| format!("{vendor}/{m}"))
        .collect();
    if let Some((origin, original)) = resold(vendor, model) {
        keys.extend(
            candidates(&original)
                .into_iter()
                .map(|m| format!("{origin}/{m}")),
        );
    }
    keys
}

/// `model` as sent, then stripped of suffixes, then the same without its prefix.
fn candidates(model: &str) -> Vec<String> {
    let mut out = Vec::new();
    strip_chain(model, &mut out);
    let base = strip_prefix(model);
    if base != model {
        strip_chain(base, &mut out);
    }
    out
}

/// Pushes `model` and each successively suffix-stripped form of it.
fn strip_chain(model: &str, out: &mut Vec<String>) {
    let mut current = model;
    out.push(current.to_owned());
    while let Some(shorter) = strip_suffix(current) {
        out.push(shorter.to_owned());
        current = shorter;
    }
}

/// Drops a Gemini `models/` prefix and a Bedrock cross-region prefix.
fn strip_prefix(model: &str) -> &str {
    let model = model.strip_prefix("models/").unwrap_or(model);
    REGION_PREFIXES
        .iter()
        .find_map(|p| model.strip_prefix(p))
        .unwrap_or(model)
}

/// Drops one version-like suffix, or returns `None` when there is none.
fn strip_suffix(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((head, _)) = model.rsplit_once('@') {
        return Some(head); // Vertex `claude-sonnet-4-5@20250929`
    }
    if let Some((head, tail)) = model.rsplit_once(':') {
        if digits(tail) {
            return Some(head); // Bedrock `…-v1:0`
        }
    }
    if let Some(head) = model.strip_suffix("-latest") {
        return Some(head);
    }
    if let Some(head) = iso_date_suffix(model) {
        return Some(head); // OpenAI `gpt-4o-mini-2024-07-18`
    }
    let (head, tail) = model.rsplit_once('-')?;
    let version = tail.strip_prefix('v').is_some_and(digits); // Bedrock `-v1`
    let compact_date = tail.len() == 8 && digits(tail); // Anthropic `-20250929`
    let revision = tail.len() == 3 && digits(tail); // Gemini `-001`
    (version || compact_date || revision).then_some(head)
}

/// `model` without a trailing `-YYYY-MM-DD`, if it has one.
fn iso_date_suffix(model: &str) -> Option<&str> {
    let cut = model.len().checked_sub(11)?;
    let tail = model.get(cut..)?.as_bytes();
    let shape = tail.iter().enumerate().all(|(i, b)| match i {
        0 | 5 | 8 => *b == b'-',
        _ => b.is_ascii_digit(),
    });
    shape.then(|| &model[..cut])
}

/// For a vendor that resells others' models, the original vendor and its model name.
fn resold(vendor: &str, model: &str) -> Option<(String, String)> {
    let base = strip_prefix(model);
    match vendor {
        "azure" => Some(("openai".to_owned(), model.to_owned())),
        "vertex" if base.starts_with("claude") => Some(("anthropic".to_owned(), base.to_owned())),
        "vertex" => Some(("gemini".to_owned(), base.to_owned())),
        "bedrock" => {
            let claude = base.strip_prefix("anthropic.")?;
            Some(("anthropic".to_owned(), claude.to_owned()))
        }
        "openrouter" => {
            let (org, name) = model.split_once('/')?;
            let origin = canonical_vendor(org);
            // OpenRouter writes Claude versions with dots: `claude-sonnet-4.5`.
            let name = if origin == "anthropic" {
                name.replace('.', "-")
            } else {
                name.to_owned()
            };
            Some((origin.to_owned(), name))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_stripped_one_at_a_time() {
        assert_eq!(
            candidates("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            [
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "anthropic.claude-3-5-sonnet-20240620-v1",
                "anthropic.claude-3-5-sonnet-20240620",
                "anthropic.claude-3-5-sonnet",
            ]
        );
        assert_eq!(
            candidates("gpt-4o-mini-2024-07-18"),
            ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]
        );
        assert_eq!(
            candidates("gemini-2.0-flash-001"),
            ["gemini-2.0-flash-001", "gemini-2.0-flash"]
        );
        assert_eq!(
            candidates("claude-opus-4-1@20250805"),
            ["claude-opus-4-1@20250805", "claude-opus-4-1"]
        );
    }

    #[test]
    fn names_without_versions_are_left_alone() {
        for model in [
            "gpt-5",
            "o3-mini",
            "text-embedding-3-small",
            "grok-4-0709",
            "command-r-08-2024",
        ] {
            assert_eq!(candidates(model), [model], "{model}");
        }
    }

    #[test]
    fn prefixed_names_fall_back_to_the_base_name() {
        assert_eq!(
            candidates("us.anthropic.claude-sonnet-4-6"),
            [
                "us.anthropic.claude-sonnet-4-6",
                "anthropic.claude-sonnet-4-6"
            ]
        );
        assert_eq!(
            candidates("models/gemini-2.5-flash"),
            ["models/gemini-2.5-flash", "gemini-2.5-flash"]
        );
    }

    #[test]
    fn resellers_fall_back_to_the_original_vendor() {
        assert_eq!(
            keys("azure-openai", "gpt-4o"),
            ["azure/gpt-4o", "openai/gpt-4o"]
        );
        let openrouter = keys("openrouter", "anthropic/claude-3.5-sonnet");
        assert_eq!(
            openrouter.last().map(String::as_str),
            Some("anthropic/claude-3-5-sonnet")
        );
        assert_eq!(
            keys("groq", "llama-3.3-70b-versatile"),
            ["groq/llama-3.3-70b-versatile"]
        );
    }

    #[test]
    fn non_ascii_names_do_not_panic() {
        assert_eq!(candidates("modèle-é"), ["modèle-é"]);
        assert_eq!(candidates("ü-2024-07-1é"), ["ü-2024-07-1é"]);
    }
}
