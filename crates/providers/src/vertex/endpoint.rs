//! Vertex AI URLs: `{base_url}/v1/projects/{project}/locations/{location}/publishers/
//! {publisher}/models/{model}:{method}`. The base URL is the regional host
//! `https://{location}-aiplatform.googleapis.com`, or `https://aiplatform.googleapis.com` for
//! the `global` location (the config sets it; a configured `base_url` replaces it).

use sluice_config::ProviderConfig;
use sluice_types::GatewayError;

/// Who publishes a model on Vertex AI, which decides its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    /// Google's Gemini models: `generateContent` / `streamGenerateContent`.
    Google,
    /// Anthropic's Claude models: `rawPredict` / `streamRawPredict`.
    Anthropic,
}

impl Publisher {
    /// The publisher of `model`: Anthropic for names starting with `claude`, Google for every
    /// other name.
    pub fn of(model: &str) -> Self {
        let claude = model
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("claude"));
        if claude {
            Publisher::Anthropic
        } else {
            Publisher::Google
        }
    }

    /// The publisher's segment in URLs.
    fn segment(self) -> &'static str {
        match self {
            Publisher::Google => "google",
            Publisher::Anthropic => "anthropic",
        }
    }
}

/// One provider's project and location on its Vertex AI host.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `{base_url}/v1/projects/{project}/locations/{location}`.
    location_url: String,
}

impl Endpoint {
    /// The endpoint of a `vertex` provider entry.
    pub(crate) fn for_config(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let vertex = cfg.vertex.as_ref().ok_or_else(|| {
            GatewayError::internal(format!(
                "provider {} has no Vertex AI project and location",
                cfg.name
            ))
        })?;
        Ok(Self {
            location_url: format!(
                "{}/v1/projects/{}/locations/{}",
                cfg.base_url.trim_end_matches('/'),
                vertex.project,
                vertex.location
            ),
        })
    }

    /// The URL of `method` (`generateContent`, `rawPredict`, …, with its query if any) on
    /// `model` of `publisher`. Model names are refused unless they are plain Vertex AI model
    /// ids (letters, digits, `-`, `_`, `.`, and `@` before a version).
    pub(crate) fn model_url(
        &self,
        publisher: Publisher,
        model: &str,
        method: &str,
    ) -> Result<String, GatewayError> {
        let plain = !model.is_empty()
            && model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !plain {
            return Err(GatewayError::invalid_request(format!(
                "{model:?} is not a Vertex AI model id (letters, digits, '-', '_', '.' and '@')"
            ))
            .with_param("model"));
        }
        Ok(format!(
            "{}/publishers/{}/models/{model}:{method}",
            self.location_url,
            publisher.segment()
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn endpoint(base_url: &str, location: &str) -> Endpoint {
        Endpoint {
            location_url: format!("{base_url}/v1/projects/my-proj/locations/{location}"),
        }
    }

    #[test]
    fn publishers_follow_the_model_name() {
        assert_eq!(
            Publisher::of("claude-sonnet-4-5@20250929"),
            Publisher::Anthropic
        );
        assert_eq!(Publisher::of("Claude-3-haiku"), Publisher::Anthropic);
        assert_eq!(Publisher::of("gemini-2.5-flash"), Publisher::Google);
        assert_eq!(Publisher::of("claud"), Publisher::Google);
        assert_eq!(Publisher::of("é-claude"), Publisher::Google);
    }

    #[test]
    fn regional_and_global_urls() {
        let regional = endpoint(
            "https://europe-west4-aiplatform.googleapis.com",
            "europe-west4",
        );
        assert_eq!(
            regional
                .model_url(Publisher::Google, "gemini-2.5-flash", "generateContent")
                .unwrap(),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/\
             europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        let global = endpoint("https://aiplatform.googleapis.com", "global");
        assert_eq!(
            global
                .model_url(
                    Publisher::Anthropic,
                    "claude-sonnet-4-5@20250929",
                    "streamRawPredict"
                )
                .unwrap(),
            "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/\
             publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
        );
    }

    #[test]
    fn model_ids_cannot_change_the_url() {
        let e = endpoint("https://aiplatform.googleapis.com", "global");
        for bad in ["", "gemini/../../x", "m?alt=json", "m#x", "a b"] {
            let err = e
                .model_url(Publisher::Google, bad, "generateContent")
                .unwrap_err();
            assert_eq!((err.status(), err.param()), (400, Some("model")), "{bad}");
        }
    }
}
