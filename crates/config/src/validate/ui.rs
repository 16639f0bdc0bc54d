//! The `ui:` section: the dashboard at `/ui` and its read-only viewer logins.

use std::collections::HashSet;

use secrecy::SecretString;
use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::{UiConfig, Viewer, ViewerSecret};

const FIELDS: &[&str] = &["enabled", "session_ttl", "viewers"];
const VIEWER_FIELDS: &[&str] = &["name", "password", "key"];
/// The shortest viewer password.
const MIN_PASSWORD: usize = 8;
/// The shortest viewer key.
const MIN_KEY: usize = 16;

/// Reads `ui:`; missing keys take their defaults. Viewers need `server.admin_key`: without
/// it the admin API is open, so a read-only login would protect nothing.
pub(super) fn ui(ctx: &mut Ctx<'_>, value: &Value, admin_key: bool) -> UiConfig {
    let mut ui = UiConfig::default();
    let Some(map) = ctx.object(value, FIELDS, &[]) else {
        return ui;
    };
    if let Some(enabled) = ctx.field(map, "enabled", Ctx::bool) {
        ui.enabled = enabled;
    }
    if let Some(ttl) = ctx.field(map, "session_ttl", Ctx::positive_duration) {
        ui.session_ttl = ttl;
    }
    if let Some(viewers) = ctx.field(map, "viewers", |ctx, v| Some(viewers(ctx, v))) {
        if !viewers.is_empty() && !admin_key {
            ctx.issue_at(
                "viewers",
                "viewers need server.admin_key: without it the dashboard and the admin API are open to anyone who can reach them",
            );
        }
        ui.viewers = viewers;
    }
    ui
}

/// `viewers:`: a list of `{name, password}` or `{name, key}`, names unique.
fn viewers(ctx: &mut Ctx<'_>, value: &Value) -> Vec<Viewer> {
    let Some(items) = ctx.list(value) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let viewer = ctx.index(i, |ctx| viewer(ctx, item));
        if let Some(viewer) = viewer {
            if !seen.insert(viewer.name.clone()) {
                ctx.index(i, |ctx| {
                    ctx.issue_at("name", format!("duplicate viewer name {:?}", viewer.name));
                });
                continue;
            }
            out.push(viewer);
        }
    }
    out
}

fn viewer(ctx: &mut Ctx<'_>, value: &Value) -> Option<Viewer> {
    let map = ctx.object(value, VIEWER_FIELDS, &[])?;
    let name = ctx.required(map, "name", Ctx::non_empty);
    let password = ctx.field(map, "password", |ctx, v| secret(ctx, v, MIN_PASSWORD));
    let key = ctx.field(map, "key", |ctx, v| secret(ctx, v, MIN_KEY));
    let both = map.get("password").is_some() && map.get("key").is_some();
    if both {
        ctx.issue("give a viewer either a password or a key, not both");
        return None;
    }
    let secret = match (password, key) {
        (Some(p), None) => ViewerSecret::Password(SecretString::from(p)),
        (None, Some(k)) => ViewerSecret::Key(SecretString::from(k)),
        _ => {
            if map.get("password").is_none() && map.get("key").is_none() {
                ctx.issue("a viewer needs a password or a key");
            }
            return None;
        }
    };
    Some(Viewer {
        name: name?,
        secret,
    })
}

/// A secret of at least `min` characters (its value never echoed).
fn secret(ctx: &mut Ctx<'_>, value: &Value, min: usize) -> Option<String> {
    let text = ctx.secret(value)?;
    if text.chars().count() < min {
        ctx.issue(format!("must be at least {min} characters"));
        return None;
    }
    Some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use crate::parse_str;
    use crate::runtime::ViewerSecret;

    const ADMIN: &str = "server: { admin_key: sk-admin-0123456789 }\n";

    #[test]
    fn the_dashboard_is_on_by_default() {
        let ui = parse_str("", &|_| None).unwrap().ui;
        assert!(ui.enabled && ui.viewers.is_empty());
        assert_eq!(ui.session_ttl, Duration::from_secs(12 * 3600));
    }

    #[test]
    fn reads_viewers_with_passwords_or_keys() {
        let yaml = format!(
            "{ADMIN}ui:\n  enabled: true\n  session_ttl: 30m\n  viewers:\n    - {{ name: alice, password: \"${{ALICE}}\" }}\n    - {{ name: wall, key: viewer-key-0123456789 }}\n"
        );
        let env = |name: &str| (name == "ALICE").then(|| "correct horse".to_owned());
        let ui = parse_str(&yaml, &env).unwrap().ui;
        assert_eq!(ui.session_ttl, Duration::from_secs(1800));
        let names: Vec<_> = ui.viewers.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["alice", "wall"]);
        match &ui.viewers[0].secret {
            ViewerSecret::Password(p) => assert_eq!(p.expose_secret(), "correct horse"),
            ViewerSecret::Key(_) => panic!("alice has a password"),
        }
        assert!(matches!(ui.viewers[1].secret, ViewerSecret::Key(_)));
    }

    #[test]
    fn reports_every_bad_viewer() {
        let yaml = format!(
            "{ADMIN}ui:\n  session_ttl: 0s\n  theme: dark\n  viewers:\n    - {{ name: a, password: short }}\n    - {{ name: b }}\n    - {{ name: c, password: long-enough-1, key: long-enough-key-123 }}\n    - {{ password: long-enough-2 }}\n    - {{ name: d, key: viewer-key-0123456789 }}\n    - {{ name: d, key: viewer-key-9876543210 }}\n"
        );
        let lines = parse_str(&yaml, &|_| None).unwrap_err().lines();
        assert_eq!(
            lines,
            [
                r#"ui.theme: unknown field "theme"; expected one of: enabled, session_ttl, viewers"#,
                "ui.session_ttl: must be greater than 0",
                "ui.viewers[0].password: must be at least 8 characters",
                "ui.viewers[1]: a viewer needs a password or a key",
                "ui.viewers[2]: give a viewer either a password or a key, not both",
                "ui.viewers[3]: missing required field \"name\"",
                "ui.viewers[5].name: duplicate viewer name \"d\"",
            ]
        );
    }

    #[test]
    fn viewers_need_an_admin_key() {
        let lines = parse_str(
            "ui: { viewers: [ { name: a, password: long-enough } ] }\n",
            &|_| None,
        )
        .unwrap_err()
        .lines();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("ui.viewers: viewers need server.admin_key"),
            "{}",
            lines[0]
        );
    }
}
