//! The Vertex AI settings of a `vertex` provider: `project`, `location` and `credentials`.
//!
//! The credentials are a service-account key file, named by `credentials` or, when the
//! provider has neither that nor an `api_key`, by `GOOGLE_APPLICATION_CREDENTIALS`. The file
//! is read and checked here; `project` defaults to the file's `project_id`.

use serde_norway::{Mapping, Value};

use super::ctx::Ctx;
use crate::runtime::ProviderKind;
use crate::vertex::{DEFAULT_LOCATION, ServiceAccount, VertexConfig};

/// The fields only `vertex` providers take.
const FIELDS: &[&str] = &["project", "location", "credentials"];

/// The environment variable naming a key file, as Google's client libraries read it.
const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// The Vertex AI settings: `Some` for a `vertex` provider whose settings are complete, and an
/// issue for each problem (or for each of these fields given to another kind).
/// `has_api_key` says whether the provider has an access token of its own.
pub(super) fn vertex(
    ctx: &mut Ctx<'_>,
    kind: ProviderKind,
    map: &Mapping,
    has_api_key: bool,
) -> Option<VertexConfig> {
    if kind != ProviderKind::Vertex {
        for field in FIELDS {
            if !matches!(map.get(*field), None | Some(Value::Null)) {
                ctx.issue_at(field, "only vertex providers take Vertex AI settings");
            }
        }
        return None;
    }
    let location = ctx.field(map, "location", location);
    let project = ctx.field(map, "project", project);
    let named = !matches!(map.get("credentials"), None | Some(Value::Null));
    if named && has_api_key {
        ctx.issue_at(
            "credentials",
            "give either credentials or an api_key (an access token), not both",
        );
        return None;
    }
    let service_account = if named {
        ctx.field(map, "credentials", |ctx, value| {
            let path = ctx.non_empty(value)?;
            read_key_file(ctx, &path, "")
        })
    } else if has_api_key {
        None
    } else if let Some(path) = ctx.env_var(CREDENTIALS_ENV) {
        read_key_file(ctx, &path, &format!("{CREDENTIALS_ENV}: "))
    } else {
        ctx.issue(format!(
            "missing required field \"credentials\" (kind vertex needs a service-account key \
             file, or {CREDENTIALS_ENV} in the environment, or an api_key holding an access \
             token)"
        ));
        return None;
    };
    if service_account.is_none() && !has_api_key {
        // The key file's problem is reported; without it the project cannot be known.
        return None;
    }
    let project = project.or_else(|| service_account.as_ref()?.project_id.clone());
    if project.is_none() {
        let why = match service_account {
            Some(_) => "; the key file names none",
            None => "",
        };
        ctx.issue(format!(
            "missing required field \"project\" (kind vertex needs the Google Cloud project{why})"
        ));
    }
    Some(VertexConfig {
        project: project?,
        location: location.unwrap_or_else(|| DEFAULT_LOCATION.to_owned()),
        service_account,
    })
}

/// Reads the key file at `path`; `prefix` starts the message of a problem.
fn read_key_file(ctx: &mut Ctx<'_>, path: &str, prefix: &str) -> Option<ServiceAccount> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            ctx.issue(format!("{prefix}cannot read {path:?}: {e}"));
            return None;
        }
    };
    match ServiceAccount::from_json(&text) {
        Ok(account) => Some(account),
        Err(why) => {
            ctx.issue(format!(
                "{prefix}{path:?} is not a usable service-account key file: {why}"
            ));
            None
        }
    }
}

/// A location such as `us-central1`, `europe-west4` or `global`: lowercase letters, digits
/// and inner dashes (it becomes part of a host name).
fn location(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let text = ctx.non_empty(value)?;
    let location = text.trim();
    let ok = location
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !location.starts_with('-')
        && !location.ends_with('-');
    if !ok {
        ctx.issue(format!(
            "expected a Google Cloud location like us-central1, europe-west4 or global, got \
             {location:?}"
        ));
        return None;
    }
    Some(location.to_owned())
}

/// A project id such as `my-project-123` (or a project number, or a domain-scoped
/// `example.com:my-project`): lowercase letters, digits, `-`, `.` and `:`.
fn project(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let text = ctx.non_empty(value)?;
    let project = text.trim();
    let ok = project
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b));
    if !ok {
        ctx.issue(format!(
            "expected a Google Cloud project id like my-project-123, got {project:?}"
        ));
        return None;
    }
    Some(project.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use crate::parse_str;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\\nAAEC\\n-----END PRIVATE KEY-----\\n";

    fn key_file(dir: &Path, name: &str, project: Option<&str>) -> String {
        let project = project.map_or(String::new(), |p| format!(r#""project_id": "{p}","#));
        let text = format!(
            r#"{{"type": "service_account", {project} "private_key": "{PEM}",
                "client_email": "gw@p.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:9/token"}}"#
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn errors(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        parse_str(yaml, env).unwrap_err().lines()
    }

    #[test]
    fn reads_the_settings_and_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let named = key_file(dir.path(), "sa.json", Some("from-file"));
        let from_env = key_file(dir.path(), "env.json", Some("env-project"));
        let yaml = format!(
            r#"
providers:
  vertex: {{ credentials: "{named}" }}
  eu: {{ kind: vertex, project: mine, location: europe-west4, credentials: "{named}" }}
  world: {{ kind: vertex, location: global }}
  token: {{ kind: vertex, project: p, api_key: ya29.token, base_url: "http://127.0.0.1:9" }}
"#
        );
        let env = |name: &str| (name == "GOOGLE_APPLICATION_CREDENTIALS").then(|| from_env.clone());
        let config = parse_str(&yaml, &env).unwrap();

        let v = config.provider("vertex").unwrap();
        let vertex = v.vertex.as_ref().unwrap();
        assert_eq!(
            (vertex.project.as_str(), vertex.location.as_str()),
            ("from-file", "us-central1")
        );
        assert_eq!(v.base_url, "https://us-central1-aiplatform.googleapis.com");
        let sa = vertex.service_account.as_ref().unwrap();
        assert_eq!(sa.client_email, "gw@p.iam.gserviceaccount.com");
        assert_eq!(sa.token_uri, "http://127.0.0.1:9/token");

        let eu = config.provider("eu").unwrap();
        assert_eq!(eu.vertex.as_ref().unwrap().project, "mine");
        assert_eq!(
            eu.base_url,
            "https://europe-west4-aiplatform.googleapis.com"
        );

        let world = config.provider("world").unwrap();
        assert_eq!(world.vertex.as_ref().unwrap().project, "env-project");
        assert_eq!(world.base_url, "https://aiplatform.googleapis.com");

        let token = config.provider("token").unwrap();
        let vertex = token.vertex.as_ref().unwrap();
        assert!(vertex.service_account.is_none());
        assert_eq!(token.base_url, "http://127.0.0.1:9");
        assert!(config.provider("vertex").unwrap().aws.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let no_project = key_file(dir.path(), "np.json", None);
        let not_json = dir.path().join("bad.json");
        std::fs::write(&not_json, "{").unwrap();
        let user = dir.path().join("user.json");
        std::fs::write(&user, r#"{"type": "authorized_user"}"#).unwrap();
        let missing = dir.path().join("missing.json").display().to_string();
        let yaml = format!(
            r#"
providers:
  a: {{ kind: vertex }}
  b: {{ kind: vertex, credentials: "{no_project}", location: US Central }}
  c: {{ kind: vertex, project: p, credentials: "{missing}" }}
  d: {{ kind: vertex, project: My Project, credentials: "{not}" }}
  e: {{ kind: vertex, credentials: "{user}" }}
  openai: {{ project: p, location: l }}
"#,
            not = not_json.display(),
            user = user.display(),
        );
        let got = errors(&yaml, &|_| None);
        assert_eq!(got.len(), 9, "{got:#?}");
        assert_eq!(
            got[0],
            r#"providers.a: missing required field "credentials" (kind vertex needs a service-account key file, or GOOGLE_APPLICATION_CREDENTIALS in the environment, or an api_key holding an access token)"#
        );
        assert_eq!(
            got[1],
            r#"providers.b.location: expected a Google Cloud location like us-central1, europe-west4 or global, got "US Central""#
        );
        assert_eq!(
            got[2],
            r#"providers.b: missing required field "project" (kind vertex needs the Google Cloud project; the key file names none)"#
        );
        assert!(
            got[3].starts_with(&format!(
                "providers.c.credentials: cannot read {missing:?}: "
            )),
            "{}",
            got[3]
        );
        assert_eq!(
            got[4],
            r#"providers.d.project: expected a Google Cloud project id like my-project-123, got "My Project""#
        );
        assert!(
            got[5].starts_with(&format!(
                "providers.d.credentials: {:?} is not a usable service-account key file: it is not a JSON key file",
                not_json.display().to_string()
            )),
            "{}",
            got[5]
        );
        assert!(
            got[6].ends_with(
                r#"is not a usable service-account key file: expected a service-account key ("type": "service_account"), got "type": "authorized_user""#
            ),
            "{}",
            got[6]
        );
        assert_eq!(
            &got[7..],
            [
                "providers.openai.project: only vertex providers take Vertex AI settings",
                "providers.openai.location: only vertex providers take Vertex AI settings",
            ]
        );

        // An access token replaces the key file; both is a mistake.
        assert_eq!(
            errors(
                "providers:\n  vertex: { project: p, api_key: t, credentials: sa.json }\n",
                &|_| None
            ),
            [
                "providers.vertex.credentials: give either credentials or an api_key (an access token), not both"
            ]
        );

        // A key file named by the environment is reported as such.
        let env = |name: &str| (name == "GOOGLE_APPLICATION_CREDENTIALS").then(|| missing.clone());
        let got = errors("providers:\n  vertex: { project: p }\n", &env);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with(&format!(
                "providers.vertex: GOOGLE_APPLICATION_CREDENTIALS: cannot read {missing:?}: "
            )),
            "{}",
            got[0]
        );
    }
}
