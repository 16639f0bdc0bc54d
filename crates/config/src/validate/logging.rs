//! The `logging:` section: the request log's writer, journal, retention and bodies.

use std::path::PathBuf;

use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::LoggingConfig;

const FIELDS: &[&str] = &[
    "enabled",
    "batch_interval",
    "batch_size",
    "queue",
    "journal",
    "retention",
    "max_rows",
    "bodies",
    "max_body_bytes",
];

/// Reads `logging:`; missing keys take their defaults.
pub(super) fn logging(ctx: &mut Ctx<'_>, value: &Value) -> LoggingConfig {
    let mut logging = LoggingConfig::default();
    let Some(map) = ctx.object(value, FIELDS, &[]) else {
        return logging;
    };
    if let Some(enabled) = ctx.field(map, "enabled", Ctx::bool) {
        logging.enabled = enabled;
    }
    if let Some(interval) = ctx.field(map, "batch_interval", Ctx::positive_duration) {
        logging.batch_interval = interval;
    }
    if let Some(size) = ctx.field(map, "batch_size", |ctx, v| ctx.whole(v, 1)) {
        logging.batch_size = size;
    }
    if let Some(queue) = ctx.field(map, "queue", |ctx, v| ctx.whole(v, 1)) {
        logging.queue = queue;
    }
    if let Some(journal) = ctx.field(map, "journal", Ctx::non_empty) {
        logging.journal = PathBuf::from(journal);
    }
    if let Some(retention) = ctx.field(map, "retention", |ctx, v| match v {
        // A bare `0` keeps records forever.
        Value::Number(n) if n.as_u64() == Some(0) => Some(std::time::Duration::ZERO),
        _ => ctx.duration(v),
    }) {
        logging.retention = (!retention.is_zero()).then_some(retention);
    }
    logging.max_rows = ctx
        .field(map, "max_rows", |ctx, v| ctx.whole(v, 1))
        .map(u64::from);
    if let Some(bodies) = ctx.field(map, "bodies", Ctx::bool) {
        logging.bodies = bodies;
    }
    if let Some(max) = ctx.field(map, "max_body_bytes", Ctx::size) {
        if max == 0 {
            ctx.issue_at("max_body_bytes", "must be greater than 0");
        } else {
            logging.max_body_bytes = max;
        }
    }
    logging
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use crate::parse_str;

    #[test]
    fn defaults() {
        let logging = parse_str("", &|_| None).unwrap().logging;
        assert!(logging.enabled && !logging.bodies);
        assert_eq!(logging.batch_interval, Duration::from_millis(200));
        assert_eq!((logging.batch_size, logging.queue), (1000, 10_000));
        assert_eq!(logging.journal.to_str(), Some("./sluice-journal/"));
        assert_eq!(logging.retention, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(logging.max_rows, None);
        assert_eq!(logging.max_body_bytes, 64 * 1024);
    }

    #[test]
    fn reads_every_field() {
        let yaml = "logging:\n  enabled: false\n  batch_interval: 50ms\n  batch_size: 10\n  queue: 20\n  journal: ${DIR}/j\n  retention: 0\n  max_rows: 5000\n  bodies: true\n  max_body_bytes: 1KiB\n";
        let env = |name: &str| (name == "DIR").then(|| "/var/lib/sluice".to_owned());
        let logging = parse_str(yaml, &env).unwrap().logging;
        assert!(!logging.enabled && logging.bodies);
        assert_eq!(logging.batch_interval, Duration::from_millis(50));
        assert_eq!((logging.batch_size, logging.queue), (10, 20));
        assert_eq!(logging.journal.to_str(), Some("/var/lib/sluice/j"));
        assert_eq!(logging.retention, None, "0 keeps records forever");
        assert_eq!(logging.max_rows, Some(5000));
        assert_eq!(logging.max_body_bytes, 1024);
    }

    #[test]
    fn reports_every_bad_field() {
        let yaml = "logging:\n  enabled: maybe\n  batch_interval: 0s\n  batch_size: 0\n  queue: -1\n  journal: \"\"\n  retention: forever\n  max_rows: lots\n  bodies: 1\n  max_body_bytes: 0\n  level: debug\n";
        let lines = parse_str(yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"logging.level: unknown field "level"; expected one of: enabled, batch_interval, batch_size, queue, journal, retention, max_rows, bodies, max_body_bytes"#,
                r#"logging.enabled: expected true or false, got "maybe""#,
                "logging.batch_interval: must be greater than 0",
                "logging.batch_size: expected a whole number of at least 1, got 0",
                "logging.queue: expected a whole number of at least 1, got -1",
                "logging.journal: must not be empty",
                r#"logging.retention: expected a duration like 250ms, 30s or 5m, got "forever""#,
                r#"logging.max_rows: expected a whole number of at least 1, got "lots""#,
                "logging.bodies: expected true or false, got 1",
                "logging.max_body_bytes: must be greater than 0",
            ]
        );
    }
}
