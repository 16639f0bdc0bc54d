//! Precision and recall of the injection heuristic on the labelled sets in
//! `tests/corpora/injection/`: `{attack,benign}.txt`, which the rules were tuned on, and
//! `heldout_{attack,benign}.txt`, written afterwards and never tuned on (the honest
//! estimate). The floors are what was measured (see `docs/guardrails.md`); a change that
//! lowers any of them fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use sluice_guard::{DEFAULT_THRESHOLD, InjectionDetector};

/// A measurement floor, at [`DEFAULT_THRESHOLD`].
struct Floor {
    precision: f64,
    recall: f64,
}

/// Perfect by construction: the rules were written against this set.
const TUNED: Floor = Floor {
    precision: 1.0,
    recall: 1.0,
};
/// 16 of 17 alarms right, 16 of 37 attacks caught: phrase rules do not generalize far.
const HELD_OUT: Floor = Floor {
    precision: 0.94,
    recall: 0.43,
};

/// Lines of a corpus file, with `\n` and `\u{XXXX}` escapes decoded.
fn cases(file: &str, min: usize) -> Vec<String> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/corpora/injection", file]
        .iter()
        .collect();
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(unescape)
        .collect();
    assert!(
        cases.len() >= min,
        "{file}: {} cases, fewer than {min}",
        cases.len()
    );
    cases
}

fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("\\n") {
            out.push('\n');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("\\u{") {
            let end = after.find('}').expect("unclosed \\u{");
            let code = u32::from_str_radix(&after[..end], 16).expect("hex code point");
            out.push(char::from_u32(code).expect("a valid code point"));
            rest = &after[end + 1..];
        } else {
            out.push('\\');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn measure(attack_file: &str, benign_file: &str, min: usize, floor: &Floor) {
    let detector = InjectionDetector::new().unwrap();
    let attacks = cases(attack_file, min);
    let benign = cases(benign_file, min);
    let missed: Vec<(f64, &String)> = attacks
        .iter()
        .map(|a| (detector.score(a).value, a))
        .filter(|(s, _)| *s < DEFAULT_THRESHOLD)
        .collect();
    let false_alarms: Vec<(f64, &String)> = benign
        .iter()
        .map(|b| (detector.score(b).value, b))
        .filter(|(s, _)| *s >= DEFAULT_THRESHOLD)
        .collect();
    let tp = (attacks.len() - missed.len()) as f64;
    let fp = false_alarms.len() as f64;
    let precision = tp / (tp + fp);
    let recall = tp / attacks.len() as f64;
    println!(
        "{attack_file} {} / {benign_file} {}: precision {precision:.3}, recall {recall:.3}",
        attacks.len(),
        benign.len()
    );
    for (s, a) in &missed {
        println!("missed ({s:.2}): {a}");
    }
    for (s, b) in &false_alarms {
        println!("false alarm ({s:.2}): {b}");
    }
    assert!(
        precision >= floor.precision && recall >= floor.recall,
        "precision {precision:.3} (floor {}), recall {recall:.3} (floor {})",
        floor.precision,
        floor.recall
    );
}

#[test]
fn the_tuning_set_stays_at_its_measured_floors() {
    measure("attack.txt", "benign.txt", 100, &TUNED);
}

#[test]
fn the_held_out_set_stays_at_its_measured_floors() {
    measure("heldout_attack.txt", "heldout_benign.txt", 30, &HELD_OUT);
}
