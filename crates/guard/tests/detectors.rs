//! Walks `tests/corpora/<detector>/{positive,negative}.txt`.
//!
//! One case per line; `#` starts a comment line and `\n` stands for a newline. In a
//! positive case, `«…»` marks every value the detector must find: the scanner must report
//! exactly those spans, no more and no fewer. A negative case must give no detection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::ops::Range;
use std::path::PathBuf;

use sluice_guard::{CustomPattern, Entity, PiiSpec, Scanner};

const MIN_CASES: usize = 15;

fn corpus(detector: &str, file: &str) -> Vec<String> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/corpora", detector, file]
        .iter()
        .collect();
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.replace("\\n", "\n"))
        .collect();
    assert!(
        cases.len() >= MIN_CASES,
        "{detector}/{file} has {} cases; at least {MIN_CASES} are required",
        cases.len()
    );
    cases
}

/// The case without its markers, and the marked spans.
fn unmark(case: &str) -> (String, Vec<Range<usize>>) {
    let mut text = String::with_capacity(case.len());
    let mut spans = Vec::new();
    let mut start = None;
    for c in case.chars() {
        match c {
            '«' => start = Some(text.len()),
            '»' => spans.push(start.take().expect("» without «")..text.len()),
            c => text.push(c),
        }
    }
    (text, spans)
}

fn check(detector: &str, scanner: &Scanner) {
    let mut failures = Vec::new();
    for case in corpus(detector, "positive.txt") {
        let (text, expected) = unmark(&case);
        assert!(
            !expected.is_empty(),
            "{detector}: positive case without «»: {case}"
        );
        let found: Vec<Range<usize>> = scanner.find(&text).into_iter().map(|f| f.span).collect();
        if found != expected {
            let shown: Vec<&str> = found.iter().map(|r| &text[r.clone()]).collect();
            failures.push(format!("missed or wrong: {case:?}, found {shown:?}"));
        }
    }
    for case in corpus(detector, "negative.txt") {
        let found: Vec<&str> = scanner
            .find(&case)
            .into_iter()
            .map(|f| &case[f.span])
            .collect();
        if !found.is_empty() {
            failures.push(format!("false positive: {case:?}, found {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{detector}:\n{}", failures.join("\n"));
}

fn entity(e: Entity) -> Scanner {
    Scanner::new(&PiiSpec {
        entities: vec![e],
        ..PiiSpec::default()
    })
    .unwrap()
}

#[test]
fn email() {
    check("email", &entity(Entity::Email));
}

#[test]
fn phone() {
    check("phone", &entity(Entity::Phone));
}

#[test]
fn card() {
    check("card", &entity(Entity::Card));
}

#[test]
fn iban() {
    check("iban", &entity(Entity::Iban));
}

#[test]
fn ssn() {
    check("ssn", &entity(Entity::Ssn));
}

#[test]
fn ip() {
    check("ip", &entity(Entity::Ip));
}

#[test]
fn secret() {
    check("secret", &entity(Entity::Secret));
}

#[test]
fn custom_patterns_and_words() {
    let scanner = Scanner::new(&PiiSpec {
        patterns: vec![CustomPattern {
            name: "employee_id".into(),
            regex: r"\bEMP-[0-9]{6}\b".into(),
        }],
        words: vec![
            "Project Falcon".into(),
            "bluebird".into(),
            "Zephyr Labs".into(),
        ],
        ..PiiSpec::default()
    })
    .unwrap();
    check("custom", &scanner);
}

/// Every detector together still finds each positive case's values: no detector hides
/// another's by overlapping it.
#[test]
fn all_detectors_together_keep_every_positive() {
    let all = Scanner::new(&PiiSpec {
        entities: Entity::ALL.to_vec(),
        ..PiiSpec::default()
    })
    .unwrap();
    for e in Entity::ALL {
        for case in corpus(e.name(), "positive.txt") {
            let (text, expected) = unmark(&case);
            let found = all.find(&text);
            for span in expected {
                assert!(
                    found.iter().any(|f| f.span == span && f.label == e.name()),
                    "{e}: {:?} is not found as {e} in {case:?} with every detector on: {found:?}",
                    &text[span.clone()],
                );
            }
        }
    }
}
