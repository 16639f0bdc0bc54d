//! The `providers:` section: name → provider.

use secrecy::SecretString;
use serde_norway::{Mapping, Value};

use super::ctx::{Ctx, closest};
use super::vertex;
use crate::presets::{self, lookup_kind};
use crate::runtime::{
    AwsConfig, DEFAULT_AZURE_API_VERSION, Preset, ProviderConfig, ProviderKind, Timeouts,
};

const FIELDS: &[&str] = &[
    "kind",
    "base_url",
    "api_key",
    "api_version",
    "headers",
    "direct",
    "drop_unsupported",
    "native",
    "timeout",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "project",
    "location",
    "credentials",
];
/// The fields only `bedrock` providers take.
const AWS_FIELDS: &[&str] = &[
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
];
const TIMEOUT_FIELDS: &[&str] = &["connect", "first_byte", "total", "idle"];

/// Reads `providers:`, in file order. Providers with problems are left out.
pub(super) fn providers(ctx: &mut Ctx<'_>, value: &Value) -> Vec<ProviderConfig> {
    let Some(map) = ctx.mapping(value) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        let Some(name) = ctx.key_str(key) else {
            continue;
        };
        if let Some(provider) = ctx.key(name, |ctx| provider(ctx, name, value)) {
            out.push(provider);
        }
    }
    out
}

/// Reads one provider; the path is already `providers.<name>`.
fn provider(ctx: &mut Ctx<'_>, name: &str, value: &Value) -> Option<ProviderConfig> {
    let name_ok = check_name(ctx, name);
    let kind = kind(ctx, name, value);
    let map = ctx.object(value, FIELDS, &[])?;

    let base_url = ctx.field(map, "base_url", Ctx::http_url);
    let api_key = ctx.field(map, "api_key", Ctx::secret);
    let api_version = ctx.field(map, "api_version", Ctx::non_empty);
    let headers = ctx.field(map, "headers", Ctx::headers).unwrap_or_default();
    let direct = ctx.field(map, "direct", Ctx::bool).unwrap_or(true);
    let drop_unsupported = ctx
        .field(map, "drop_unsupported", Ctx::bool)
        .unwrap_or(false);
    let native = ctx.field(map, "native", Ctx::bool).unwrap_or(true);
    let timeouts = ctx.field(map, "timeout", timeouts).unwrap_or_default();

    let kind = kind?;
    let aws = aws(ctx, kind, map);
    let vertex = vertex::vertex(
        ctx,
        kind,
        map,
        api_key.as_ref().is_some_and(|k| !k.is_empty()),
    );
    let default_base_url = match kind {
        ProviderKind::OpenAiCompatible(preset) => preset.default_base_url().to_owned(),
        ProviderKind::Anthropic | ProviderKind::Gemini | ProviderKind::Cohere => {
            kind.native().map_or("", |row| row.base_url).to_owned()
        }
        ProviderKind::Bedrock => {
            let region = aws.as_ref().and_then(|aws| aws.region.as_deref());
            if region.is_none() && matches!(map.get("base_url"), None | Some(Value::Null)) {
                ctx.issue(
                    "missing required field \"region\" (kind bedrock needs a region, or a \
                     base_url; AWS_REGION and AWS_DEFAULT_REGION are read when it is absent)",
                );
            }
            region.map(presets::bedrock_base_url).unwrap_or_default()
        }
        ProviderKind::Vertex => vertex
            .as_ref()
            .map(|v| presets::vertex_base_url(&v.location))
            .unwrap_or_default(),
        ProviderKind::AzureOpenAi | ProviderKind::Demo => String::new(),
    };
    let needs_base_url = matches!(
        kind,
        ProviderKind::OpenAiCompatible(Preset::Generic) | ProviderKind::AzureOpenAi
    );
    if needs_base_url && matches!(map.get("base_url"), None | Some(Value::Null)) {
        ctx.issue(format!(
            "missing required field \"base_url\" (kind {} has no default)",
            kind.kind_name()
        ));
    }
    let api_version = match (kind, api_version) {
        (ProviderKind::AzureOpenAi, version) => {
            Some(version.unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()))
        }
        (_, Some(_)) => {
            ctx.issue_at(
                "api_version",
                "only azure-openai providers take an api_version",
            );
            None
        }
        (_, None) => None,
    };
    name_ok.then(|| ProviderConfig {
        name: name.to_owned(),
        kind,
        base_url: base_url.unwrap_or(default_base_url),
        api_key: api_key
            .filter(|key| !key.is_empty())
            .map(SecretString::from),
        api_version,
        headers,
        direct,
        drop_unsupported,
        native,
        timeouts,
        aws,
        vertex,
        image_fetch: Default::default(),
    })
}

/// The AWS settings: `Some` for `bedrock` providers (the region falls back on `AWS_REGION`,
/// then `AWS_DEFAULT_REGION`), and an issue for each AWS field given to another kind.
fn aws(ctx: &mut Ctx<'_>, kind: ProviderKind, map: &Mapping) -> Option<AwsConfig> {
    if kind != ProviderKind::Bedrock {
        for field in AWS_FIELDS {
            if !matches!(map.get(*field), None | Some(Value::Null)) {
                ctx.issue_at(field, "only bedrock providers take AWS settings");
            }
        }
        return None;
    }
    let region = ctx
        .field(map, "region", region)
        .or_else(|| ctx.env_var("AWS_REGION"))
        .or_else(|| ctx.env_var("AWS_DEFAULT_REGION"));
    let secret = |ctx: &mut Ctx<'_>, field: &str| {
        ctx.field(map, field, Ctx::secret)
            .filter(|value| !value.is_empty())
            .map(SecretString::from)
    };
    let access_key_id = secret(ctx, "access_key_id");
    let secret_access_key = secret(ctx, "secret_access_key");
    let session_token = secret(ctx, "session_token");
    match (&access_key_id, &secret_access_key) {
        (Some(_), None) => ctx
            .issue("missing required field \"secret_access_key\" (access_key_id needs its secret)"),
        (None, Some(_)) => ctx
            .issue("missing required field \"access_key_id\" (secret_access_key needs its key id)"),
        (None, None) if session_token.is_some() => ctx.issue_at(
            "session_token",
            "a session token needs access_key_id and secret_access_key",
        ),
        _ => {}
    }
    Some(AwsConfig {
        region,
        access_key_id,
        secret_access_key,
        session_token,
    })
}

/// An AWS region name such as `us-east-1`: lowercase letters, digits and dashes.
fn region(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let region = ctx.non_empty(value)?;
    let region = region.trim();
    let ok = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        ctx.issue(format!(
            "expected an AWS region like us-east-1, got {region:?}"
        ));
        return None;
    }
    Some(region.to_owned())
}

/// Provider names appear in `provider/model` and in URLs, so they are kept simple.
fn check_name(ctx: &mut Ctx<'_>, name: &str) -> bool {
    let ok = !name.is_empty()
        && !name.contains(|c: char| c == '/' || c.is_whitespace() || c.is_control());
    if !ok {
        ctx.issue(format!(
            "invalid provider name {name:?}: it must be non-empty, with no \"/\" or spaces"
        ));
    }
    ok
}

/// Resolves the provider's kind; `None` when it is wrong (the fields are still worth
/// checking).
fn kind(ctx: &mut Ctx<'_>, name: &str, value: &Value) -> Option<ProviderKind> {
    let explicit = match value.get("kind") {
        None | Some(Value::Null) => None,
        Some(kind) => Some(ctx.key("kind", |ctx| ctx.string(kind))?),
    };
    let kind_name = explicit.as_deref().unwrap_or(name);
    if let Some(kind) = lookup_kind(kind_name) {
        return Some(kind);
    }
    let known: Vec<&str> = presets::supported_kind_names().collect();
    let message = match explicit {
        Some(_) => unknown_kind(kind_name, &known),
        None => format!(
            "missing required field \"kind\" (\"{name}\" is not a provider kind); known: {}",
            known.join(", ")
        ),
    };
    ctx.issue_at("kind", message);
    None
}

/// `unknown provider kind "opnai"; known: …; did you mean "openai"?`.
fn unknown_kind(kind: &str, known: &[&str]) -> String {
    let mut message = format!(
        "unknown provider kind \"{kind}\"; known: {}",
        known.join(", ")
    );
    let candidates = known.iter().copied().chain([presets::AZURE_ALIAS]);
    if let Some(close) = closest(kind, candidates) {
        message.push_str(&format!("; did you mean \"{close}\"?"));
    }
    message
}

/// `timeout: { connect, first_byte, total }`.
fn timeouts(ctx: &mut Ctx<'_>, value: &Value) -> Option<Timeouts> {
    let map = ctx.object(value, TIMEOUT_FIELDS, &[])?;
    let mut timeouts = Timeouts::default();
    if let Some(connect) = ctx.field(map, "connect", Ctx::positive_duration) {
        timeouts.connect = connect;
    }
    if let Some(first_byte) = ctx.field(map, "first_byte", Ctx::positive_duration) {
        timeouts.first_byte = first_byte;
    }
    if let Some(total) = ctx.field(map, "total", Ctx::positive_duration) {
        timeouts.total = total;
    }
    if let Some(idle) = ctx.field(map, "idle", Ctx::positive_duration) {
        timeouts.idle = idle;
    }
    Some(timeouts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::parse_str;

    fn errors(yaml: &str) -> Vec<String> {
        parse_str(yaml, &|_| None).unwrap_err().lines()
    }

    #[test]
    fn kinds_default_to_the_name() {
        let yaml = "providers:\n  openai: {}\n  groq:\n  azure: { base_url: \"https://r.openai.azure.com/\" }\n  demo: {}\n  local: { kind: ollama }\n";
        let config = parse_str(yaml, &|_| None).unwrap();
        let kinds: Vec<_> = config
            .providers
            .iter()
            .map(|p| (p.name.as_str(), p.kind.kind_name()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("openai", "openai"),
                ("groq", "groq"),
                ("azure", "azure-openai"),
                ("demo", "demo"),
                ("local", "ollama")
            ]
        );
        let azure = config.provider("azure").unwrap();
        assert_eq!(azure.base_url, "https://r.openai.azure.com");
        assert_eq!(azure.api_version.as_deref(), Some("2024-10-21"));
        assert_eq!(
            config.provider("local").unwrap().base_url,
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(
            config.provider("openai").unwrap().base_url,
            "https://api.openai.com/v1"
        );
        assert!(config.provider("openai").unwrap().direct);
        assert!(config.provider("openai").unwrap().native);
        assert_eq!(
            config.provider("openai").unwrap().timeouts,
            Timeouts::default()
        );
    }

    #[test]
    fn reads_every_field() {
        let yaml = r#"
providers:
  mine:
    kind: openai-compatible
    base_url: http://127.0.0.1:8000/v1/
    api_key: ${KEY}
    headers: { X-Org: "${ORG:-acme}" }
    direct: false
    native: false
    timeout: { connect: 2s, first_byte: 15s, total: 2m }
"#;
        let env = |name: &str| (name == "KEY").then(|| "sk-1".to_owned());
        let config = parse_str(yaml, &env).unwrap();
        let mine = config.provider("mine").unwrap();
        assert_eq!(mine.kind, ProviderKind::OpenAiCompatible(Preset::Generic));
        assert_eq!(mine.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(mine.api_key.as_ref().unwrap().expose_secret(), "sk-1");
        assert_eq!(mine.headers, [("X-Org".to_owned(), "acme".to_owned())]);
        assert!(!mine.direct);
        assert!(!mine.native);
        assert_eq!(
            mine.timeouts,
            Timeouts {
                connect: Duration::from_secs(2),
                first_byte: Duration::from_secs(15),
                total: Duration::from_secs(120),
                idle: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn empty_api_key_is_none() {
        let config =
            parse_str("providers: { openai: { api_key: \"${K:-}\" } }", &|_| None).unwrap();
        assert!(config.provider("openai").unwrap().api_key.is_none());
    }

    #[test]
    fn kind_problems() {
        assert_eq!(
            errors(
                "providers:\n  x: { kind: opnai }\n  vertex: { region: a, project: p, api_key: t }\n  bedrock: { region: us-east-1 }\n  foo: { tiemout: {} }\n"
            ),
            [
                r#"providers.x.kind: unknown provider kind "opnai"; known: openai, groq, together, mistral, deepseek, xai, fireworks, openrouter, perplexity, ollama, vllm, lmstudio, openai-compatible, anthropic, gemini, bedrock, cohere, vertex, azure-openai, demo; did you mean "openai"?"#,
                "providers.vertex.region: only bedrock providers take AWS settings",
                r#"providers.foo.kind: missing required field "kind" ("foo" is not a provider kind); known: openai, groq, together, mistral, deepseek, xai, fireworks, openrouter, perplexity, ollama, vllm, lmstudio, openai-compatible, anthropic, gemini, bedrock, cohere, vertex, azure-openai, demo"#,
                r#"providers.foo.tiemout: unknown field "tiemout"; expected one of: kind, base_url, api_key, api_version, headers, direct, drop_unsupported, native, timeout, region, access_key_id, secret_access_key, session_token, project, location, credentials; did you mean "timeout"?"#,
            ]
        );
    }

    #[test]
    fn field_problems() {
        assert_eq!(
            errors(
                "providers:\n  gen: { kind: openai-compatible }\n  az: { kind: azure }\n  openai: { base_url: api.openai.com, api_version: v1, headers: { \"bad name\": x }, direct: 1, timeout: { total: 0s, connect: soon } }\n  a/b: { kind: demo }\n"
            ),
            [
                r#"providers.gen: missing required field "base_url" (kind openai-compatible has no default)"#,
                r#"providers.az: missing required field "base_url" (kind azure-openai has no default)"#,
                r#"providers.openai.base_url: expected an http:// or https:// URL, got "api.openai.com""#,
                r#"providers.openai.headers.bad name: invalid header name "bad name""#,
                "providers.openai.direct: expected true or false, got 1",
                r#"providers.openai.timeout.connect: expected a duration like 250ms, 30s or 5m, got "soon""#,
                "providers.openai.timeout.total: must be greater than 0",
                "providers.openai.api_version: only azure-openai providers take an api_version",
                r#"providers.a/b: invalid provider name "a/b": it must be non-empty, with no "/" or spaces"#,
            ]
        );
    }

    #[test]
    fn bedrock_settings() {
        let yaml = r#"
providers:
  bedrock: { region: eu-west-3, access_key_id: "${AWS_KEY}", secret_access_key: s, session_token: t }
  br2: { kind: bedrock, base_url: "http://127.0.0.1:9/" }
  br3: { kind: bedrock }
"#;
        let env = |name: &str| match name {
            "AWS_KEY" => Some("AKID".to_owned()),
            "AWS_DEFAULT_REGION" => Some("us-west-2".to_owned()),
            _ => None,
        };
        let config = parse_str(yaml, &env).unwrap();
        let b = config.provider("bedrock").unwrap();
        assert_eq!(b.kind, ProviderKind::Bedrock);
        assert_eq!(
            b.base_url,
            "https://bedrock-runtime.eu-west-3.amazonaws.com"
        );
        let aws = b.aws.as_ref().unwrap();
        assert_eq!(aws.region.as_deref(), Some("eu-west-3"));
        assert_eq!(aws.access_key_id.as_ref().unwrap().expose_secret(), "AKID");
        assert_eq!(aws.session_token.as_ref().unwrap().expose_secret(), "t");
        let br2 = config.provider("br2").unwrap();
        assert_eq!(br2.base_url, "http://127.0.0.1:9");
        assert_eq!(
            br2.aws.as_ref().unwrap().region.as_deref(),
            Some("us-west-2")
        );
        let br3 = config.provider("br3").unwrap();
        assert_eq!(
            br3.base_url,
            "https://bedrock-runtime.us-west-2.amazonaws.com"
        );
        assert!(br3.aws.as_ref().unwrap().access_key_id.is_none());
        assert!(config.provider("openai").is_none());
    }

    #[test]
    fn bedrock_problems() {
        assert_eq!(
            errors(
                "providers:\n  bedrock: { access_key_id: a }\n  b2: { kind: bedrock, region: US East, session_token: t }\n  openai: { region: us-east-1 }\n"
            ),
            [
                r#"providers.bedrock: missing required field "secret_access_key" (access_key_id needs its secret)"#,
                r#"providers.bedrock: missing required field "region" (kind bedrock needs a region, or a base_url; AWS_REGION and AWS_DEFAULT_REGION are read when it is absent)"#,
                r#"providers.b2.region: expected an AWS region like us-east-1, got "US East""#,
                "providers.b2.session_token: a session token needs access_key_id and secret_access_key",
                r#"providers.b2: missing required field "region" (kind bedrock needs a region, or a base_url; AWS_REGION and AWS_DEFAULT_REGION are read when it is absent)"#,
                "providers.openai.region: only bedrock providers take AWS settings",
            ]
        );
    }

    #[test]
    fn unset_variables_are_reported_at_their_value() {
        assert_eq!(
            errors("providers: { openai: { api_key: \"${OPENAI_API_KEY}\" } }"),
            ["providers.openai.api_key: environment variable OPENAI_API_KEY is not set"]
        );
    }
}
