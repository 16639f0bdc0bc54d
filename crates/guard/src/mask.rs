//! Replacing detected values in a request with stable placeholders.

use serde_json::Value;
use sluice_types::ChatRequest;

use crate::fields::{Form, request_texts, request_texts_mut};
use crate::pii::{Finding, Scanner};
use crate::vault::Vault;
use crate::{Hit, add_hit};

#[derive(Debug)]
struct Layer<'s> {
    scanner: &'s Scanner,
    restore: bool,
}

/// What [`Masker::mask`] did.
#[derive(Debug, Default)]
pub struct Masked {
    /// The placeholders given in this request and their values.
    pub vault: Vault,
    /// Detections by label, one list per scanner in the order they were added.
    pub hits: Vec<Vec<Hit>>,
    /// True when the request was changed (and its `raw` bytes cleared).
    pub changed: bool,
}

/// Masks a request with one or more scanners (one per PII check with `action: mask`).
///
/// Each text of the request (see the crate docs for which) is scanned by every scanner,
/// overlapping detections are resolved in favour of the earlier scanner, and each detected
/// value is replaced with its placeholder: `[EMAIL_1]`, `[PHONE_2]`, numbered per label in
/// the order met, the same value always getting the same placeholder within the request.
/// Placeholder-shaped text the client wrote itself is never reused as a placeholder. Tool-call
/// arguments are parsed as JSON and their string values masked (falling back to the raw
/// text when they do not parse). When anything changes, `req.raw` is set to `None`, so that
/// codecs encode the masked fields instead of relaying the client's original bytes.
#[derive(Debug, Default)]
pub struct Masker<'s> {
    layers: Vec<Layer<'s>>,
}

impl<'s> Masker<'s> {
    /// A masker with no scanner yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a scanner; `restore` says whether its values are put back in the answer.
    pub fn add(&mut self, scanner: &'s Scanner, restore: bool) -> &mut Self {
        self.layers.push(Layer { scanner, restore });
        self
    }

    /// Masks `req` in place.
    pub fn mask(&self, req: &mut ChatRequest) -> Masked {
        let mut masked = Masked {
            hits: vec![Vec::new(); self.layers.len()],
            ..Masked::default()
        };
        if self.layers.is_empty() {
            return masked;
        }
        request_texts(
            req,
            |_| true,
            |text, _| reserve_literals(&mut masked.vault, text),
        );
        request_texts_mut(req, |text, form| {
            let new = match form {
                Form::Json => match serde_json::from_str::<Value>(text) {
                    Ok(mut value) => self.mask_json(&mut value, &mut masked),
                    Err(_) => self.mask_text(text, &mut masked),
                },
                Form::Text => self.mask_text(text, &mut masked),
            };
            if let Some(new) = new {
                *text = new;
                masked.changed = true;
            }
        });
        if masked.changed {
            req.raw = None;
        }
        masked
    }

    fn findings<'t>(&self, text: &'t str) -> Vec<(usize, Finding<'s>)> {
        let mut all: Vec<(usize, Finding<'s>)> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.scanner.find(text).into_iter().map(move |f| (i, f)))
            .collect();
        if self.layers.len() > 1 {
            all.sort_by_key(|(i, f)| (f.span.start, std::cmp::Reverse(f.span.end), *i));
            let mut last_end = 0;
            all.retain(|(_, f)| {
                let keep = f.span.start >= last_end;
                if keep {
                    last_end = f.span.end;
                }
                keep
            });
        }
        all
    }

    /// The masked text, or `None` when nothing was detected.
    fn mask_text(&self, text: &str, masked: &mut Masked) -> Option<String> {
        let found = self.findings(text);
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (layer, f) in found {
            let restore = self.layers[layer].restore;
            out.push_str(&text[copied..f.span.start]);
            out.push_str(
                &masked
                    .vault
                    .placeholder(f.label, &text[f.span.clone()], restore),
            );
            add_hit(&mut masked.hits[layer], f.label);
            copied = f.span.end;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }

    /// Masks the string values of a JSON document; `None` when nothing was detected.
    fn mask_json(&self, value: &mut Value, masked: &mut Masked) -> Option<String> {
        let mut changed = false;
        self.mask_value(value, masked, &mut changed);
        changed.then(|| value.to_string())
    }

    fn mask_value(&self, value: &mut Value, masked: &mut Masked, changed: &mut bool) {
        match value {
            Value::String(s) => {
                if let Some(new) = self.mask_text(s, masked) {
                    *s = new;
                    *changed = true;
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.mask_value(v, masked, changed)),
            Value::Object(map) => map
                .values_mut()
                .for_each(|v| self.mask_value(v, masked, changed)),
            _ => {}
        }
    }
}

/// Reserves every `[LABEL_N]`-shaped text the client wrote.
fn reserve_literals(vault: &mut Vault, text: &str) {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(off) = bytes[from..].iter().position(|&b| b == b'[') {
        let open = from + off;
        let body_len = bytes[open + 1..]
            .iter()
            .take(64)
            .position(|&b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        from = open + 1;
        let Some(len) = body_len else { continue };
        let close = open + 1 + len;
        let body = &text[open + 1..close];
        let shaped = bytes.get(close) == Some(&b']')
            && body.rsplit_once('_').is_some_and(|(l, n)| {
                !l.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
        if shaped {
            vault.reserve(&text[open..=close]);
        }
    }
}
