//! The `server:` section.

use std::net::IpAddr;

use secrecy::SecretString;
use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::{ImageFetchConfig, ServerConfig};

const FIELDS: &[&str] = &[
    "listen",
    "admin_key",
    "max_body",
    "allow_unauthenticated",
    "shutdown_grace",
    "image_fetch",
];

const IMAGE_FETCH_FIELDS: &[&str] = &["max_bytes", "timeout", "allow_private"];

/// Reads `server:`; missing keys take their defaults.
pub(super) fn server(ctx: &mut Ctx<'_>, value: &Value) -> ServerConfig {
    let mut server = ServerConfig::default();
    let Some(map) = ctx.object(value, FIELDS, &[]) else {
        return server;
    };
    if let Some(listen) = ctx.field(map, "listen", Ctx::socket_addr) {
        server.listen = listen;
    }
    if let Some(key) = ctx.field(map, "admin_key", Ctx::secret) {
        server.admin_key = (!key.is_empty()).then(|| SecretString::from(key));
    }
    if let Some(max_body) = ctx.field(map, "max_body", Ctx::size) {
        server.max_body = max_body;
    }
    if let Some(allow) = ctx.field(map, "allow_unauthenticated", Ctx::bool) {
        server.allow_unauthenticated = allow;
    }
    if let Some(grace) = ctx.field(map, "shutdown_grace", Ctx::duration) {
        server.shutdown_grace = grace;
    }
    if let Some(fetch) = ctx.field(map, "image_fetch", image_fetch) {
        server.image_fetch = fetch;
    }
    server
}

/// Reads `server.image_fetch`; missing keys take their defaults.
fn image_fetch(ctx: &mut Ctx<'_>, value: &Value) -> Option<ImageFetchConfig> {
    let mut fetch = ImageFetchConfig::default();
    let map = ctx.object(value, IMAGE_FETCH_FIELDS, &[])?;
    if let Some(max) = ctx.field(map, "max_bytes", Ctx::size) {
        if max == 0 {
            ctx.issue_at("max_bytes", "must be greater than 0");
        } else {
            fetch.max_bytes = max;
        }
    }
    if let Some(timeout) = ctx.field(map, "timeout", Ctx::positive_duration) {
        fetch.timeout = timeout;
    }
    if let Some(list) = ctx.field(map, "allow_private", Ctx::list) {
        ctx.key("allow_private", |ctx| {
            for (i, item) in list.iter().enumerate() {
                ctx.index(i, |ctx| {
                    let text = ctx.string(item)?;
                    match text.parse::<IpAddr>() {
                        Ok(ip) => fetch.allow_private.push(ip),
                        Err(_) => ctx.issue(format!(
                            "expected an IP address like 127.0.0.1 or ::1, got {text:?}"
                        )),
                    }
                    Some(())
                });
            }
        });
    }
    Some(fetch)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use crate::parse_str;

    #[test]
    fn reads_every_field() {
        let yaml = "server:\n  listen: 0.0.0.0:8080\n  admin_key: ${ADMIN}\n  max_body: 1MiB\n  allow_unauthenticated: true\n  shutdown_grace: 5s\n";
        let env = |name: &str| (name == "ADMIN").then(|| "sk-admin".to_owned());
        let server = parse_str(yaml, &env).unwrap().server;
        assert_eq!(server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(
            server
                .admin_key
                .as_ref()
                .map(|key| key.expose_secret().to_owned())
                .as_deref(),
            Some("sk-admin")
        );
        assert_eq!(server.max_body, 1 << 20);
        assert!(server.allow_unauthenticated);
        assert_eq!(server.shutdown_grace, Duration::from_secs(5));
        assert_eq!(server.image_fetch, crate::ImageFetchConfig::default());
        assert_eq!(server.image_fetch.max_bytes, 20 << 20);
    }

    #[test]
    fn image_fetch_settings_reach_every_provider() {
        let yaml = "server:\n  image_fetch: { max_bytes: 1MiB, timeout: 3s, allow_private: [127.0.0.1, \"::1\"] }\nproviders:\n  aws: { kind: bedrock, region: us-east-1, access_key_id: a, secret_access_key: b }\n";
        let config = parse_str(yaml, &|_| None).unwrap();
        let fetch = &config.server.image_fetch;
        assert_eq!(fetch.max_bytes, 1 << 20);
        assert_eq!(fetch.timeout, Duration::from_secs(3));
        assert_eq!(
            fetch.allow_private,
            [
                "127.0.0.1".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(&config.providers[0].image_fetch, fetch);
    }

    #[test]
    fn bad_image_fetch_settings_are_reported_at_their_paths() {
        let yaml = "server:\n  image_fetch: { max_bytes: 0, timeout: 0s, allow_private: [localhost], private: true }\n";
        let lines = parse_str(yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"server.image_fetch.private: unknown field "private"; expected one of: max_bytes, timeout, allow_private"#,
                "server.image_fetch.max_bytes: must be greater than 0",
                "server.image_fetch.timeout: must be greater than 0",
                r#"server.image_fetch.allow_private[0]: expected an IP address like 127.0.0.1 or ::1, got "localhost""#,
            ]
        );
    }

    #[test]
    fn empty_admin_key_is_none() {
        let server = parse_str(
            "server: { admin_key: \"${ADMIN:-}\", listen: \"localhost:9000\" }",
            &|_| None,
        )
        .unwrap()
        .server;
        assert!(server.admin_key.is_none());
        assert_eq!(server.listen.to_string(), "127.0.0.1:9000");
    }

    #[test]
    fn reports_every_bad_field() {
        let yaml = "server:\n  listen: nowhere\n  admin_key: 12345\n  max_body: huge\n  allow_unauthenticated: yes\n  shutdown_grace: 30\n  tls: true\n";
        let lines = parse_str(yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"server.tls: unknown field "tls"; expected one of: listen, admin_key, max_body, allow_unauthenticated, shutdown_grace, image_fetch"#,
                r#"server.listen: expected a socket address like 127.0.0.1:4000 or 0.0.0.0:4000, got "nowhere""#,
                "server.admin_key: expected a string, got a number (quote it)",
                r#"server.max_body: expected a size like 512, 10KiB or 20MiB, got "huge""#,
                r#"server.allow_unauthenticated: expected true or false, got "yes""#,
                "server.shutdown_grace: expected a duration like 250ms, 30s or 5m, got 30",
            ]
        );
    }
}
