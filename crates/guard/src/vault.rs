//! The placeholders of one request and the values they stand for.

use std::collections::{HashMap, HashSet};
use std::fmt;

use sluice_types::ChatResponse;

use crate::fields::{Form, response_texts_mut};
use crate::restore::restore_into;

struct Entry {
    original: String,
    restore: bool,
}

/// The masked values of one request: placeholder (`[EMAIL_1]`) → original value. Built by
/// [`crate::Masker`], read by [`Vault::restore`] and [`crate::Restorer`]. Only values of
/// checks with `restore` on are put back; the others stay masked in the answer. Its
/// `Debug` output shows counts, never values.
#[derive(Default)]
pub struct Vault {
    entries: HashMap<String, Entry>,
    by_value: HashMap<String, String>,
    counters: HashMap<String, usize>,
    reserved: HashSet<String>,
    restorable: Vec<String>,
    max_len: usize,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("values", &self.entries.len())
            .field("restorable", &self.restorable.len())
            .finish()
    }
}

/// `employee-id` → `EMPLOYEE_ID`.
fn prefix(label: &str) -> String {
    let p: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if p.is_empty() { "PII".to_owned() } else { p }
}

impl Vault {
    /// How many distinct values were masked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was masked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value a placeholder stands for, whether or not it is restored.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.entries.get(placeholder).map(|e| e.original.as_str())
    }

    /// The length in bytes of the longest placeholder that is restored: a [`crate::Restorer`]
    /// holds back at most this minus one.
    pub fn max_placeholder_len(&self) -> usize {
        self.max_len
    }

    /// `text` with every restorable placeholder replaced by its value.
    pub fn restore(&self, text: &str) -> String {
        self.restore_as(text, Form::Text)
    }

    /// Like [`Vault::restore`] for JSON text (tool-call arguments): values are written
    /// JSON-escaped, as they stand inside a JSON string.
    pub fn restore_json(&self, json: &str) -> String {
        self.restore_as(json, Form::Json)
    }

    fn restore_as(&self, text: &str, form: Form) -> String {
        let mut out = String::with_capacity(text.len());
        restore_into(self, text, &mut out, form, true);
        out
    }

    /// Restores every choice's content, refusal, reasoning and tool-call arguments; true
    /// when something changed, in which case `raw` is cleared so the fields are encoded.
    pub fn restore_response(&self, resp: &mut ChatResponse) -> bool {
        if self.restorable.is_empty() {
            return false;
        }
        let mut changed = false;
        response_texts_mut(resp, |text, form| {
            let restored = self.restore_as(text, form);
            if restored != *text {
                *text = restored;
                changed = true;
            }
        });
        if changed {
            resp.raw = None;
        }
        changed
    }

    /// Marks a placeholder-shaped text the client wrote itself, so no value is given it.
    pub(crate) fn reserve(&mut self, literal: &str) {
        self.reserved.insert(literal.to_owned());
    }

    /// The placeholder for `value`: the one it already has in this request, else the next
    /// free `[LABEL_N]`.
    pub(crate) fn placeholder(&mut self, label: &str, value: &str, restore: bool) -> String {
        if let Some(p) = self.by_value.get(value) {
            let p = p.clone();
            if restore {
                self.make_restorable(&p);
            }
            return p;
        }
        let prefix = prefix(label);
        let counter = self.counters.entry(prefix.clone()).or_insert(0);
        let placeholder = loop {
            *counter += 1;
            let p = format!("[{prefix}_{counter}]");
            if !self.reserved.contains(&p) {
                break p;
            }
        };
        self.by_value.insert(value.to_owned(), placeholder.clone());
        self.entries.insert(
            placeholder.clone(),
            Entry {
                original: value.to_owned(),
                restore: false,
            },
        );
        if restore {
            self.make_restorable(&placeholder);
        }
        placeholder
    }

    fn make_restorable(&mut self, placeholder: &str) {
        let Some(entry) = self.entries.get_mut(placeholder) else {
            return;
        };
        if entry.restore {
            return;
        }
        entry.restore = true;
        let at = self
            .restorable
            .partition_point(|p| p.as_str() < placeholder);
        self.restorable.insert(at, placeholder.to_owned());
        self.max_len = self.max_len.max(placeholder.len());
    }

    /// The value of a restorable placeholder.
    pub(crate) fn lookup(&self, placeholder: &str) -> Option<&str> {
        self.entries
            .get(placeholder)
            .filter(|e| e.restore)
            .map(|e| e.original.as_str())
    }

    /// True when `tail` is the start of a restorable placeholder, but not all of it.
    pub(crate) fn could_start(&self, tail: &str) -> bool {
        if tail.len() >= self.max_len {
            return false;
        }
        let at = self.restorable.partition_point(|p| p.as_str() < tail);
        self.restorable
            .get(at)
            .is_some_and(|p| p.len() > tail.len() && p.starts_with(tail))
    }
}
