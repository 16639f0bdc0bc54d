//! Precision and recall of the semantic cache on the labelled corpus, with the testkit's
//! deterministic embedder (the one the mock upstream serves). The numbers are printed
//! (`--nocapture`) and recorded in docs/caching.md; the same measurement with a real model
//! is the `semantic_eval` example.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;

use corpus::{Judged, cosine, judge, pairs, score};

fn judged() -> Vec<Judged> {
    let embed = |t: &str| sluice_testkit::embed(t, 512);
    judge(&pairs(), |p| cosine(&embed(&p.cached), &embed(&p.asked)))
}

#[test]
fn the_corpus_has_at_least_a_hundred_pairs_of_each_kind() {
    let all: Vec<_> = pairs().into_iter().filter(|p| p.set == "dev").collect();
    let paraphrases = all.iter().filter(|p| p.paraphrase).count();
    assert!(paraphrases >= 100, "{paraphrases} paraphrases");
    assert!(
        all.len() - paraphrases >= 100,
        "{} near-misses",
        all.len() - paraphrases
    );
    const KINDS: &[&str] = &[
        "synonym",
        "restructure",
        "casing",
        "typo",
        "contraction",
        "order",
        "entity",
        "number",
        "time",
        "unit",
        "negation",
        "lexical",
    ];
    for p in pairs() {
        assert!(KINDS.contains(&p.category.as_str()), "{p:?}");
    }
}

#[test]
fn the_verifier_keeps_precision_where_similarity_alone_does_not() {
    let judged = judged();
    for threshold in [0.85f32, 0.9, 0.95] {
        let raw = score(&judged, threshold, false);
        let checked = score(&judged, threshold, true);
        println!(
            "threshold {threshold}: similarity alone P {:.3} R {:.3} | verified P {:.3} R {:.3} ({} true, {} false hits)",
            raw.precision(),
            raw.recall(),
            checked.precision(),
            checked.recall(),
            checked.true_hits,
            checked.false_hits
        );
    }
    let raw = score(&judged, 0.95, false);
    let checked = score(&judged, 0.95, true);
    assert!(
        raw.precision() < 0.9,
        "near-misses share their words: {raw:?}"
    );
    assert!(checked.precision() >= 0.95, "{checked:?}");
    // A bag of words finds few paraphrases; the verifier must keep most of those it finds.
    let kept = checked.true_hits as f64 / raw.true_hits as f64;
    assert!(
        kept >= 0.75,
        "the verifier kept {kept:.2} of the paraphrases"
    );
}

#[test]
fn near_misses_that_keep_every_word_are_all_vetoed() {
    // With a bag-of-words embedder these score 1.0: only the verifier stands between them
    // and a wrong answer.
    let judged = judged();
    let same_words: Vec<&Judged> = judged
        .iter()
        .filter(|j| !j.pair.paraphrase && j.similarity > 0.999)
        .collect();
    assert!(same_words.len() >= 10, "{}", same_words.len());
    for j in same_words {
        assert!(j.verdict.is_err(), "served: {:?}", j.pair);
    }
}
