//! Putting masked values back, in whole texts and in streams.
//!
//! A placeholder is `[`, a label, `_`, a number and `]`, so it has one `[` and it ends at
//! the first `]`. Restoring walks the `[`s: one that opens a known placeholder is replaced,
//! any other is text. In a stream a delta can end inside a placeholder; the [`Restorer`]
//! then holds back the tail from its last `[` only while that tail is the start of a known
//! placeholder, which is never more than the longest placeholder's length minus one byte,
//! and the concatenation of what it emits equals [`crate::Vault::restore`] of the whole
//! text, however the text was split.

use std::sync::Arc;

use crate::fields::Form;
use crate::vault::Vault;

fn push_value(out: &mut String, value: &str, form: Form) {
    match form {
        Form::Text => out.push_str(value),
        Form::Json => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
        }
    }
}

/// Appends `text` to `out` with placeholders restored and answers how many bytes of `text`
/// it consumed: all of it when `at_end`, else up to a tail that may still become a
/// placeholder.
pub(crate) fn restore_into(
    vault: &Vault,
    text: &str,
    out: &mut String,
    form: Form,
    at_end: bool,
) -> usize {
    let max = vault.max_placeholder_len();
    if max == 0 {
        out.push_str(text);
        return text.len();
    }
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut from = 0;
    while let Some(off) = bytes[from..].iter().position(|&b| b == b'[') {
        let open = from + off;
        let window = &bytes[open..bytes.len().min(open + max)];
        match window.iter().position(|&b| b == b']') {
            Some(rel) => {
                let close = open + rel + 1;
                if let Some(value) = vault.lookup(&text[open..close]) {
                    out.push_str(&text[copied..open]);
                    push_value(out, value, form);
                    copied = close;
                    from = close;
                } else {
                    from = open + 1;
                }
            }
            None if !at_end && vault.could_start(&text[open..]) => {
                out.push_str(&text[copied..open]);
                return open;
            }
            None => from = open + 1,
        }
    }
    out.push_str(&text[copied..]);
    text.len()
}

/// Restores placeholders in a stream of text deltas (one per choice and channel). Build it
/// with [`Restorer::text`] for content, reasoning and refusals, or [`Restorer::json`] for
/// tool-call argument deltas, which are JSON text.
#[derive(Debug)]
pub struct Restorer {
    vault: Arc<Vault>,
    form: Form,
    pending: String,
}

impl Restorer {
    /// A restorer for plain text deltas.
    pub fn text(vault: Arc<Vault>) -> Self {
        Self {
            vault,
            form: Form::Text,
            pending: String::new(),
        }
    }

    /// A restorer for JSON deltas (tool-call arguments): values come out JSON-escaped.
    pub fn json(vault: Arc<Vault>) -> Self {
        Self {
            vault,
            form: Form::Json,
            pending: String::new(),
        }
    }

    /// Takes the next delta and answers the restored text that can be emitted now.
    pub fn push(&mut self, delta: &str) -> String {
        if self.pending.is_empty() && !delta.contains('[') {
            return delta.to_owned();
        }
        self.pending.push_str(delta);
        let mut out = String::with_capacity(self.pending.len());
        let used = restore_into(&self.vault, &self.pending, &mut out, self.form, false);
        self.pending.drain(..used);
        out
    }

    /// How many bytes are held back, waiting to see whether they are a placeholder.
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Emits whatever is held back (the stream ended inside something that only looked like
    /// the start of a placeholder).
    pub fn finish(&mut self) -> String {
        let mut out = String::with_capacity(self.pending.len());
        restore_into(&self.vault, &self.pending, &mut out, self.form, true);
        self.pending.clear();
        out
    }
}
