//! The `server:` section.

use secrecy::SecretString;
use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::ServerConfig;

const FIELDS: &[&str] = &[
    "listen",
    "admin_key",
    "max_body",
    "allow_unauthenticated",
    "shutdown_grace",
];

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
    server
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
                r#"server.tls: unknown field "tls"; expected one of: listen, admin_key, max_body, allow_unauthenticated, shutdown_grace"#,
                r#"server.listen: expected a socket address like 127.0.0.1:4000 or 0.0.0.0:4000, got "nowhere""#,
                "server.admin_key: expected a string, got a number (quote it)",
                r#"server.max_body: expected a size like 512, 10KiB or 20MiB, got "huge""#,
                r#"server.allow_unauthenticated: expected true or false, got "yes""#,
                "server.shutdown_grace: expected a duration like 250ms, 30s or 5m, got 30",
            ]
        );
    }
}
