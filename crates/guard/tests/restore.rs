//! The streaming restorer against whole-text restore, over random texts and random splits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use sluice_guard::{CustomPattern, Entity, Masker, PiiSpec, Restorer, Scanner, Vault};
use sluice_types::{ChatRequest, Content, Message};

/// A vault with `[EMAIL_1]`…`[EMAIL_12]`, `[PHONE_1]` and `[IP_1]`.
fn vault() -> Arc<Vault> {
    let mut text: String = (1..=12).map(|i| format!("user{i}@example.com ")).collect();
    text.push_str("+1 415 555 2671 and 10.0.0.1");
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![Message {
            role: "user".into(),
            content: Some(Content::Text(text)),
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let scanner = Scanner::new(&PiiSpec {
        entities: vec![Entity::Email, Entity::Phone, Entity::Ip],
        ..PiiSpec::default()
    })
    .unwrap();
    let vault = Masker::new().add(&scanner, true).mask(&mut req).vault;
    assert_eq!(vault.len(), 14);
    Arc::new(vault)
}

/// Pieces a model's answer is made of: placeholders, near misses and plain text.
const PIECES: &[&str] = &[
    "[EMAIL_1]",
    "[EMAIL_12]",
    "[EMAIL_2]",
    "[PHONE_1]",
    "[IP_1]",
    "[EMAIL_13]",
    "[EMAIL_",
    "[EMA",
    "[",
    "]",
    "[[EMAIL_1]]",
    "[PHONE_1",
    "[phone_1]",
    "[EMAIL_1 ]",
    "hello ",
    "naïve ",
    "日本 ",
    "\n",
    "a",
    " ",
    "[x]",
    "[EMAIL_11][IP_1]",
];

fn random_text(rng: &mut fastrand::Rng) -> String {
    (0..rng.usize(0..40))
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect()
}

/// Splits `text` at random character boundaries.
fn random_split<'t>(rng: &mut fastrand::Rng, text: &'t str) -> Vec<&'t str> {
    let mut cuts: Vec<usize> = (0..rng.usize(0..12))
        .map(|_| rng.usize(0..=text.len()))
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    cuts.extend([0, text.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

#[test]
fn any_split_restores_like_the_whole_text_within_the_holdback_bound() {
    let vault = vault();
    let bound = vault.max_placeholder_len() - 1;
    assert_eq!(bound, "[EMAIL_12]".len() - 1);
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..3000 {
        let text = random_text(&mut rng);
        let expected = vault.restore(&text);
        let mut restorer = Restorer::text(Arc::clone(&vault));
        let mut got = String::new();
        let mut fed = 0;
        for chunk in random_split(&mut rng, &text) {
            got.push_str(&restorer.push(chunk));
            fed += chunk.len();
            let held = restorer.held();
            assert!(held <= bound, "held {held} bytes of {text:?}");
            let tail = &text[fed - held..fed];
            assert!(
                held == 0 || tail.starts_with('['),
                "held {tail:?}, which cannot start a placeholder"
            );
        }
        got.push_str(&restorer.finish());
        assert_eq!(got, expected, "split of {text:?}");
    }
}

#[test]
fn a_placeholder_split_in_every_way_comes_out_whole() {
    let vault = vault();
    let text = "Write to [EMAIL_12] now.";
    for cut in 1..text.len() {
        let mut r = Restorer::text(Arc::clone(&vault));
        let mut out = r.push(&text[..cut]);
        out.push_str(&r.push(&text[cut..]));
        out.push_str(&r.finish());
        assert_eq!(out, "Write to user12@example.com now.", "cut at {cut}");
    }
}

#[test]
fn text_that_cannot_become_a_placeholder_is_not_held() {
    let vault = vault();
    let mut r = Restorer::text(vault);
    assert_eq!(r.push("array[0"), "array[0");
    assert_eq!(r.push("] and [EM"), "] and ");
    assert_eq!(r.held(), 3);
    assert_eq!(r.push("PTY]"), "[EMPTY]");
    assert_eq!(r.push("[EMAIL_1"), "");
    assert_eq!(r.finish(), "[EMAIL_1");
}

#[test]
fn json_restorer_escapes_values() {
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![Message {
            role: "user".into(),
            content: Some(Content::Text("set name=\"Ann\\Lee\" now".into())),
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let tags = Scanner::new(&PiiSpec {
        patterns: vec![CustomPattern {
            name: "tag".into(),
            regex: r#"name="[^"]+""#.into(),
        }],
        ..PiiSpec::default()
    })
    .unwrap();
    let vault = Arc::new(Masker::new().add(&tags, true).mask(&mut req).vault);
    let mut r = Restorer::json(Arc::clone(&vault));
    let mut out = r.push("{\"k\":\"[TA");
    out.push_str(&r.push("G_1]\"}"));
    out.push_str(&r.finish());
    assert_eq!(out, r#"{"k":"name=\"Ann\\Lee\""}"#);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["k"], "name=\"Ann\\Lee\"");
    assert_eq!(vault.restore("[TAG_1]"), "name=\"Ann\\Lee\"");
}
