//! The walking context: the current path, every issue found so far, and typed readers
//! that report a problem at the current path and return `None` instead of stopping.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_norway::{Mapping, Sequence, Value};

use crate::error::{ConfigErrors, ConfigIssue};
use crate::interpolate::interpolate;
use crate::units;

/// Looks up an environment variable.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One step of a path.
enum Segment {
    Key(String),
    Index(usize),
}

/// Tracks where the walk is and collects issues.
pub(crate) struct Ctx<'a> {
    env: Env<'a>,
    path: Vec<Segment>,
    issues: Vec<ConfigIssue>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(env: Env<'a>) -> Self {
        Self {
            env,
            path: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// An environment variable of the interpolation environment; empty values count as unset.
    pub(crate) fn env_var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|value| !value.trim().is_empty())
    }

    /// `value` when nothing was reported, every issue otherwise.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.issues.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors {
                issues: self.issues,
            })
        }
    }

    /// The current path, e.g. `models[2].targets[0].provider`.
    fn path(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(key) if out.is_empty() => out.push_str(key),
                Segment::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }

    /// Reports a problem at the current path.
    pub(crate) fn issue(&mut self, message: impl Into<String>) {
        let path = self.path();
        self.issues.push(ConfigIssue::new(path, message));
    }

    /// Runs `f` with `key` appended to the path.
    pub(crate) fn key<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(Segment::Key(key.to_owned()));
        let result = f(self);
        self.path.pop();
        result
    }

    /// Runs `f` with `[index]` appended to the path.
    pub(crate) fn index<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(Segment::Index(index));
        let result = f(self);
        self.path.pop();
        result
    }

    /// Reports a problem at `key` below the current path.
    pub(crate) fn issue_at(&mut self, key: &str, message: impl Into<String>) {
        self.key(key, |ctx| ctx.issue(message));
    }

    /// Checks that `value` is a mapping whose keys are all in `fields`. Keys in
    /// `unsupported` get their own message instead of "unknown field".
    pub(crate) fn object<'v>(
        &mut self,
        value: &'v Value,
        fields: &[&str],
        unsupported: &[(&str, &str)],
    ) -> Option<&'v Mapping> {
        let map = self.mapping(value)?;
        for key in map.keys() {
            let Some(key) = self.key_str(key) else {
                continue;
            };
            if fields.contains(&key) {
                continue;
            }
            match unsupported.iter().find(|(name, _)| *name == key) {
                Some((_, message)) => self.issue_at(key, *message),
                None => {
                    let message = unknown("field", key, fields, "expected one of");
                    self.issue_at(key, message);
                }
            }
        }
        Some(map)
    }

    /// Checks that `value` is a mapping (`null` counts as an empty one).
    pub(crate) fn mapping<'v>(&mut self, value: &'v Value) -> Option<&'v Mapping> {
        static EMPTY: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
        match value {
            Value::Mapping(map) => Some(map),
            Value::Null => Some(EMPTY.get_or_init(Mapping::new)),
            other => self.expected("a mapping", other),
        }
    }

    /// A mapping key as a string, reporting non-string keys.
    pub(crate) fn key_str<'v>(&mut self, key: &'v Value) -> Option<&'v str> {
        match key {
            Value::String(key) => Some(key),
            other => self.expected("string keys", other),
        }
    }

    /// Reads `map[key]` with `read` under `key`'s path; `None` when absent, null or wrong.
    pub(crate) fn field<'v, T>(
        &mut self,
        map: &'v Mapping,
        key: &str,
        read: impl FnOnce(&mut Self, &'v Value) -> Option<T>,
    ) -> Option<T> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.key(key, |ctx| read(ctx, value)),
        }
    }

    /// Like [`Ctx::field`], but reports `missing required field` when absent or null.
    pub(crate) fn required<'v, T>(
        &mut self,
        map: &'v Mapping,
        key: &str,
        read: impl FnOnce(&mut Self, &'v Value) -> Option<T>,
    ) -> Option<T> {
        if matches!(map.get(key), None | Some(Value::Null)) {
            self.issue(format!("missing required field \"{key}\""));
            return None;
        }
        self.field(map, key, read)
    }

    /// Reports a type mismatch and returns `None`.
    pub(crate) fn expected<T>(&mut self, what: &str, got: &Value) -> Option<T> {
        self.issue(format!("expected {what}, got {}", describe(got)));
        None
    }

    /// A list.
    pub(crate) fn list<'v>(&mut self, value: &'v Value) -> Option<&'v Sequence> {
        match value {
            Value::Sequence(items) => Some(items),
            other => self.expected("a list", other),
        }
    }

    /// A string, with `${VAR}` interpolated.
    pub(crate) fn string(&mut self, value: &Value) -> Option<String> {
        match value {
            Value::String(text) => self.interpolated(text),
            other => self.expected("a string", other),
        }
    }

    /// A string that must not be empty after interpolation.
    pub(crate) fn non_empty(&mut self, value: &Value) -> Option<String> {
        let text = self.string(value)?;
        if text.trim().is_empty() {
            self.issue("must not be empty");
            return None;
        }
        Some(text)
    }

    /// A secret string; a wrong type is reported without echoing the value.
    pub(crate) fn secret(&mut self, value: &Value) -> Option<String> {
        match value {
            Value::String(text) => self.interpolated(text),
            Value::Number(_) => self.secret_type_error("a number"),
            Value::Bool(_) => self.secret_type_error("a boolean"),
            other => self.expected("a string", other),
        }
    }

    fn secret_type_error<T>(&mut self, got: &str) -> Option<T> {
        self.issue(format!("expected a string, got {got} (quote it)"));
        None
    }

    /// Interpolates `text`, reporting every problem.
    fn interpolated(&mut self, text: &str) -> Option<String> {
        match interpolate(text, self.env) {
            Ok(text) => Some(text.into_owned()),
            Err(errors) => {
                for error in errors {
                    self.issue(error.to_string());
                }
                None
            }
        }
    }

    /// The text of a scalar that is written as a string only when it uses `${VAR}`.
    /// `None` (and nothing reported) means the value is not such a string.
    fn env_scalar(&mut self, value: &Value) -> Option<Option<String>> {
        match value {
            Value::String(text) if text.contains("${") => Some(self.interpolated(text)),
            _ => None,
        }
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self, value: &Value) -> Option<bool> {
        const WHAT: &str = "true or false";
        match value {
            Value::Bool(flag) => Some(*flag),
            other => match self.env_scalar(other) {
                Some(text) => match text?.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => self.expected(WHAT, other),
                },
                None => self.expected(WHAT, other),
            },
        }
    }

    /// A whole number of at least `min`.
    pub(crate) fn whole(&mut self, value: &Value, min: u32) -> Option<u32> {
        let what = format!("a whole number of at least {min}");
        let number = match value {
            Value::Number(number) => number.as_u64(),
            other => match self.env_scalar(other) {
                Some(text) => text?.trim().parse::<u64>().ok(),
                None => None,
            },
        };
        match number.and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= min => Some(n),
            _ => self.expected(&what, value),
        }
    }

    /// A number in `(0, 1]`.
    pub(crate) fn fraction(&mut self, value: &Value) -> Option<f64> {
        let number = match value {
            Value::Number(number) => number.as_f64(),
            other => match self.env_scalar(other) {
                Some(text) => text?.trim().parse::<f64>().ok(),
                None => None,
            },
        };
        match number {
            Some(n) if n > 0.0 && n <= 1.0 => Some(n),
            _ => self.expected("a number greater than 0 and at most 1", value),
        }
    }

    /// An `http://` or `https://` URL with a host, without its trailing slashes.
    pub(crate) fn http_url(&mut self, value: &Value) -> Option<String> {
        let url = self.string(value)?;
        let url = url.trim();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(rest)
                if !rest.is_empty()
                    && !rest.starts_with('/')
                    && !url.contains(char::is_whitespace) =>
            {
                Some(url.trim_end_matches('/').to_owned())
            }
            _ => {
                self.issue(format!("expected an http:// or https:// URL, got {url:?}"));
                None
            }
        }
    }

    /// A `headers:` map: header name → value (with `${ENV}` secrets), in file order.
    pub(crate) fn headers(&mut self, value: &Value) -> Option<Vec<(String, String)>> {
        let map = self.mapping(value)?;
        let mut out = Vec::with_capacity(map.len());
        for (key, value) in map {
            let Some(name) = self.key_str(key) else {
                continue;
            };
            let header = self.key(name, |ctx| {
                let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || !name.chars().all(tchar) {
                    ctx.issue(format!("invalid header name {name:?}"));
                    return None;
                }
                let value = ctx.secret(value)?;
                if value.contains(['\r', '\n', '\0']) {
                    ctx.issue("header values must not contain line breaks");
                    return None;
                }
                Some((name.to_owned(), value))
            });
            out.extend(header);
        }
        Some(out)
    }

    /// A duration (`250ms`, `30s`, `5m`).
    pub(crate) fn duration(&mut self, value: &Value) -> Option<Duration> {
        let text = self.unit_text(value, units::DURATION_HINT)?;
        match units::parse_duration(&text) {
            Ok(duration) => Some(duration),
            Err(error) => self.unit_error(error),
        }
    }

    /// A duration greater than zero.
    pub(crate) fn positive_duration(&mut self, value: &Value) -> Option<Duration> {
        let duration = self.duration(value)?;
        if duration.is_zero() {
            self.issue("must be greater than 0");
            return None;
        }
        Some(duration)
    }

    /// A size in bytes (`512`, `10KiB`, `20MiB`).
    pub(crate) fn size(&mut self, value: &Value) -> Option<u64> {
        if let Value::Number(number) = value {
            return match number.as_u64() {
                Some(bytes) => Some(bytes),
                None => self.expected(units::SIZE_HINT, value),
            };
        }
        let text = self.unit_text(value, units::SIZE_HINT)?;
        match units::parse_size(&text) {
            Ok(bytes) => Some(bytes),
            Err(error) => self.unit_error(error),
        }
    }

    fn unit_text(&mut self, value: &Value, hint: &str) -> Option<String> {
        match value {
            Value::String(text) => self.interpolated(text),
            other => self.expected(hint, other),
        }
    }

    fn unit_error<T>(&mut self, error: units::UnitError) -> Option<T> {
        self.issue(error.to_string());
        None
    }

    /// A socket address (`127.0.0.1:4000`, `[::]:4000`, `localhost:4000`).
    pub(crate) fn socket_addr(&mut self, value: &Value) -> Option<SocketAddr> {
        const WHAT: &str = "a socket address like 127.0.0.1:4000 or 0.0.0.0:4000";
        let text = match value {
            Value::String(text) => self.interpolated(text)?,
            other => return self.expected(WHAT, other),
        };
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Some(addr);
        }
        if let Some(port) = text
            .strip_prefix("localhost:")
            .and_then(|port| port.parse::<u16>().ok())
        {
            return Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        }
        self.issue(format!("expected {WHAT}, got {text:?}"));
        None
    }
}

/// `unknown <what> "<name>"; <known_label>: a, b, c`, plus `; did you mean "x"?` when close.
pub(crate) fn unknown(what: &str, name: &str, known: &[&str], known_label: &str) -> String {
    let mut message = format!(
        "unknown {what} \"{name}\"; {known_label}: {}",
        known.join(", ")
    );
    if let Some(close) = closest(name, known.iter().copied()) {
        message.push_str(&format!("; did you mean \"{close}\"?"));
    }
    message
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub(crate) fn closest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let name = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim::osa_distance(&name, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(name.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A short description of a YAML value for "expected …, got …" messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) if text.chars().count() > 60 => {
            format!("{:?}…", text.chars().take(60).collect::<String>())
        }
        Value::String(text) => format!("{text:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(tagged) => format!("a value tagged {}", tagged.tag),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("tiemout", ["kind", "timeout", "direct"]),
            Some("timeout")
        );
        assert_eq!(closest("opnai", ["openai", "groq"]), Some("openai"));
        assert_eq!(closest("Listen", ["listen"]), Some("listen"));
        assert_eq!(closest("zzz", ["openai", "groq"]), None);
        assert_eq!(closest("ab", ["xy"]), None);
    }

    #[test]
    fn paths() {
        let env = |_: &str| None;
        let mut ctx = Ctx::new(&env);
        ctx.key("models", |ctx| {
            ctx.index(2, |ctx| {
                ctx.key("targets", |ctx| ctx.index(0, |ctx| ctx.issue("x")))
            })
        });
        ctx.key("server", |ctx| ctx.issue_at("listen", "y"));
        ctx.issue("z");
        let lines = ctx.finish(()).unwrap_err().lines();
        assert_eq!(lines, ["models[2].targets[0]: x", "server.listen: y", "z"]);
    }
}
