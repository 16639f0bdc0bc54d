//! The `telemetry:` section: OpenTelemetry traces exported over OTLP; without it, the
//! standard `OTEL_EXPORTER_OTLP_*` variables.

use std::time::Duration;

use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::{OtlpProtocol, TelemetryConfig};

const FIELDS: &[&str] = &["enabled", "otlp", "service_name", "sample"];
const OTLP_FIELDS: &[&str] = &["endpoint", "protocol", "headers", "timeout"];
const PROTOCOLS: &[&str] = &["http", "grpc"];

/// Reads `telemetry:`; `None` when it turns traces off (`enabled: false`).
pub(super) fn telemetry(ctx: &mut Ctx<'_>, value: &Value) -> Option<TelemetryConfig> {
    let mut enabled = true;
    let mut endpoint = None;
    let mut t = TelemetryConfig::new(OtlpProtocol::Http);
    let map = ctx.object(value, FIELDS, &[])?;
    if let Some(on) = ctx.field(map, "enabled", Ctx::bool) {
        enabled = on;
    }
    if let Some(otlp) = map.get("otlp") {
        ctx.key("otlp", |ctx| {
            let Some(otlp) = ctx.object(otlp, OTLP_FIELDS, &[]) else {
                return;
            };
            if let Some(protocol) = ctx.field(otlp, "protocol", protocol) {
                t.protocol = protocol;
            }
            endpoint = ctx.field(otlp, "endpoint", endpoint_url);
            if let Some(headers) = ctx.field(otlp, "headers", Ctx::headers) {
                t.headers = headers;
            }
            if let Some(timeout) = ctx.field(otlp, "timeout", Ctx::positive_duration) {
                t.timeout = timeout;
            }
        });
    }
    t.endpoint = endpoint.unwrap_or_else(|| default_endpoint(t.protocol));
    match ctx.field(map, "service_name", Ctx::non_empty) {
        Some(name) => t.service_name = name,
        None => {
            if let Some(name) = ctx.env_var("OTEL_SERVICE_NAME") {
                t.service_name = name;
            }
        }
    }
    if let Some(sample) = ctx.field(map, "sample", Ctx::fraction) {
        t.sample = sample;
    }
    enabled.then_some(t)
}

/// Traces configured by the environment, for a config without a `telemetry:` section:
/// on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not `true`),
/// over gRPC when `OTEL_EXPORTER_OTLP_PROTOCOL` is `grpc` and OTLP/HTTP otherwise, named
/// by `OTEL_SERVICE_NAME`.
pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<TelemetryConfig> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let protocol = match var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Some("grpc") => OtlpProtocol::Grpc,
        _ => OtlpProtocol::Http,
    };
    let mut t = TelemetryConfig::new(protocol);
    t.endpoint = endpoint;
    if let Some(name) = var("OTEL_SERVICE_NAME") {
        t.service_name = name;
    }
    Some(t)
}

/// The OpenTelemetry default endpoint of `protocol`.
fn default_endpoint(protocol: OtlpProtocol) -> String {
    match protocol {
        OtlpProtocol::Http => "http://localhost:4318",
        OtlpProtocol::Grpc => "http://localhost:4317",
    }
    .to_owned()
}

fn protocol(ctx: &mut Ctx<'_>, value: &Value) -> Option<OtlpProtocol> {
    match ctx.string(value)?.as_str() {
        "http" | "http/protobuf" => Some(OtlpProtocol::Http),
        "grpc" => Some(OtlpProtocol::Grpc),
        other => {
            let message = super::ctx::unknown("protocol", other, PROTOCOLS, "expected one of");
            ctx.issue(message);
            None
        }
    }
}

/// An `http://` or `https://` URL with a host, without a trailing slash.
fn endpoint_url(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let url = ctx.string(value)?;
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => {
            Some(url.trim_end_matches('/').to_owned())
        }
        _ => {
            ctx.issue(format!(
                "expected an http:// or https:// URL with a host, got {url:?}"
            ));
            None
        }
    }
}

impl TelemetryConfig {
    /// The defaults for `protocol`: its default local endpoint, no headers, a 5 s
    /// timeout, service `sluice`, every trace sampled.
    fn new(protocol: OtlpProtocol) -> Self {
        Self {
            endpoint: default_endpoint(protocol),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            service_name: "sluice".to_owned(),
            sample: 1.0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use crate::parse_str;
    use crate::runtime::OtlpProtocol;

    #[test]
    fn off_without_the_section() {
        assert_eq!(parse_str("", &|_| None).unwrap().telemetry, None);
    }

    #[test]
    fn reads_every_field() {
        let yaml = "telemetry:\n  otlp:\n    endpoint: https://otel.example.com:4317/\n    protocol: grpc\n    headers: { authorization: \"Bearer ${TOKEN}\" }\n    timeout: 2s\n  service_name: gw-eu\n  sample: 0.25\n";
        let env = |name: &str| (name == "TOKEN").then(|| "t0k".to_owned());
        let t = parse_str(yaml, &env).unwrap().telemetry.unwrap();
        assert_eq!(t.endpoint, "https://otel.example.com:4317");
        assert_eq!(t.protocol, OtlpProtocol::Grpc);
        assert_eq!(
            t.headers,
            [("authorization".to_owned(), "Bearer t0k".to_owned())]
        );
        assert_eq!(t.timeout, Duration::from_secs(2));
        assert_eq!((t.service_name.as_str(), t.sample), ("gw-eu", 0.25));
    }

    #[test]
    fn an_empty_section_exports_to_the_local_collector() {
        let t = parse_str("telemetry: {}\n", &|_| None)
            .unwrap()
            .telemetry
            .unwrap();
        assert_eq!(t.endpoint, "http://localhost:4318");
        assert_eq!(t.protocol, OtlpProtocol::Http);
        assert_eq!((t.service_name.as_str(), t.sample), ("sluice", 1.0));
        assert_eq!(t.timeout, Duration::from_secs(5));
        let grpc = parse_str("telemetry: { otlp: { protocol: grpc } }\n", &|_| None)
            .unwrap()
            .telemetry
            .unwrap();
        assert_eq!(grpc.endpoint, "http://localhost:4317");
        let off = parse_str("telemetry: { enabled: false }\n", &|_| None).unwrap();
        assert_eq!(off.telemetry, None);
    }

    #[test]
    fn reports_every_bad_field() {
        let yaml = "telemetry:\n  otlp:\n    endpoint: collector:4318\n    protocol: grcp\n    headers: { \"bad name\": x }\n    timeout: 0s\n    compression: gzip\n  service_name: \"\"\n  sample: 2\n  enabled: yes\n";
        let lines = parse_str(yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"telemetry.enabled: expected true or false, got "yes""#,
                r#"telemetry.otlp.compression: unknown field "compression"; expected one of: endpoint, protocol, headers, timeout"#,
                r#"telemetry.otlp.protocol: unknown protocol "grcp"; expected one of: http, grpc; did you mean "grpc"?"#,
                r#"telemetry.otlp.endpoint: expected an http:// or https:// URL with a host, got "collector:4318""#,
                r#"telemetry.otlp.headers.bad name: invalid header name "bad name""#,
                "telemetry.otlp.timeout: must be greater than 0",
                "telemetry.service_name: must not be empty",
                "telemetry.sample: expected a number greater than 0 and at most 1, got 2",
            ]
        );
    }

    #[test]
    fn the_environment_turns_traces_on_without_a_section() {
        let env = |name: &str| {
            match name {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4317"),
                "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc"),
                "OTEL_SERVICE_NAME" => Some("gw"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let t = parse_str("", &env).unwrap().telemetry.unwrap();
        assert_eq!(
            (t.endpoint.as_str(), t.protocol, t.service_name.as_str()),
            ("http://collector:4317", OtlpProtocol::Grpc, "gw")
        );
        let default = crate::default_config(&env).telemetry.unwrap();
        assert_eq!(default.endpoint, "http://collector:4317");
        // The section wins over the environment.
        let off = parse_str("telemetry: { enabled: false }\n", &env).unwrap();
        assert_eq!(off.telemetry, None);
        let disabled = |name: &str| match name {
            "OTEL_SDK_DISABLED" => Some("true".to_owned()),
            _ => env(name),
        };
        assert_eq!(parse_str("", &disabled).unwrap().telemetry, None);
    }
}
