//! Config problems: each one has the path of the value it is about.

use std::fmt;

/// One problem in a config, e.g. `models[2].targets[0].provider: unknown provider "opnai"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where: `server.listen`, `providers.openai.kind`, `models[2].targets[0].provider`;
    /// empty for problems with the whole file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config, in the order the walk met them (top to bottom; a
/// mapping's unknown keys before its other problems). Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.issues))]
pub struct ConfigErrors {
    /// The problems.
    pub issues: Vec<ConfigIssue>,
}

impl ConfigErrors {
    /// A single problem with the whole file.
    pub fn whole_file(message: impl Into<String>) -> Self {
        Self {
            issues: vec![ConfigIssue::new("", message)],
        }
    }

    /// The problems rendered one per line, as `path: message`.
    pub fn lines(&self) -> Vec<String> {
        self.issues.iter().map(ToString::to_string).collect()
    }
}

fn render(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_issue_per_line() {
        let errors = ConfigErrors {
            issues: vec![
                ConfigIssue::new("", "bad file"),
                ConfigIssue::new("server.listen", "bad address"),
            ],
        };
        assert_eq!(errors.to_string(), "bad file\nserver.listen: bad address");
        assert_eq!(errors.lines(), ["bad file", "server.listen: bad address"]);
    }
}
