//! [`PricingError`]: why a price file was refused.

/// Why a price file (the built-in one, or a LiteLLM file a user supplied) was refused.
/// A refused file changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// The file as a whole is not usable: not JSON, not an object, or an unsupported
    /// version, currency or unit.
    #[error("price file: {0}")]
    File(String),
    /// One entry is not an object, or its name is not a usable key.
    #[error("price file entry {entry:?}: {reason}")]
    Entry {
        /// The entry's key in the file.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One field of one entry is missing, of the wrong type or out of range.
    #[error("price file entry {entry:?}, field {field:?}: {reason}")]
    Field {
        /// The entry's key in the file.
        entry: String,
        /// The field's name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl PricingError {
    /// A [`PricingError::Field`] error.
    pub(crate) fn field(entry: &str, field: &str, reason: impl Into<String>) -> Self {
        PricingError::Field {
            entry: entry.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
