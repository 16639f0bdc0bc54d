//! The `metrics:` section: what `/metrics` labels its series with.

use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::MetricsConfig;

const FIELDS: &[&str] = &["per_key"];

/// Reads `metrics:`; missing keys take their defaults.
pub(super) fn metrics(ctx: &mut Ctx<'_>, value: &Value) -> MetricsConfig {
    let mut metrics = MetricsConfig::default();
    let Some(map) = ctx.object(value, FIELDS, &[]) else {
        return metrics;
    };
    if let Some(per_key) = ctx.field(map, "per_key", Ctx::bool) {
        metrics.per_key = per_key;
    }
    metrics
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::parse_str;

    #[test]
    fn per_key_is_off_unless_asked() {
        assert!(!parse_str("", &|_| None).unwrap().metrics.per_key);
        let config = parse_str("metrics: { per_key: true }\n", &|_| None).unwrap();
        assert!(config.metrics.per_key);
    }

    #[test]
    fn reports_bad_fields() {
        let lines = parse_str("metrics: { per_key: yes please, labels: [] }\n", &|_| None)
            .unwrap_err()
            .lines();
        assert_eq!(
            lines,
            [
                r#"metrics.labels: unknown field "labels"; expected one of: per_key"#,
                r#"metrics.per_key: expected true or false, got "yes please""#,
            ]
        );
    }
}
