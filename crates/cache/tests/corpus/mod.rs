//! The labelled pairs of the semantic cache and how a run over them is scored. Shared by the
//! `semantic_corpus` test and the `semantic_eval` example.
//!
//! Three sets, in the order they were written: `paraphrases.tsv` and `near_misses.tsv`
//! (the verifier was designed with them in view), `holdout_*.tsv` (written after; its
//! misses then led to general fixes, so it is no longer held out), and `holdout2_*.tsv`
//! (written after the last change to the verifier; nothing was changed to fit it).

use sluice_cache::semantic::{Veto, verify};

/// One labelled pair: a cached question and a new one.
#[derive(Debug, Clone)]
pub struct Pair {
    /// Whether the new question may be served the cached one's answer.
    pub paraphrase: bool,
    /// Which set the pair is from: `dev`, `holdout1` or `holdout2`.
    pub set: &'static str,
    /// What kind of pair it is (`synonym`, `order`, `unit`, …).
    pub category: String,
    /// The question that was answered.
    pub cached: String,
    /// The question asked now.
    pub asked: String,
}

/// Every pair of every set.
pub fn pairs() -> Vec<Pair> {
    let read = |text: &str, paraphrase: bool, set: &'static str| -> Vec<Pair> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 3, "three tab-separated fields: {l:?}");
                Pair {
                    paraphrase,
                    set,
                    category: f[0].to_owned(),
                    cached: f[1].to_owned(),
                    asked: f[2].to_owned(),
                }
            })
            .collect()
    };
    let mut all = read(include_str!("paraphrases.tsv"), true, "dev");
    all.extend(read(include_str!("near_misses.tsv"), false, "dev"));
    all.extend(read(
        include_str!("holdout_paraphrases.tsv"),
        true,
        "holdout1",
    ));
    all.extend(read(
        include_str!("holdout_near_misses.tsv"),
        false,
        "holdout1",
    ));
    all.extend(read(
        include_str!("holdout2_paraphrases.tsv"),
        true,
        "holdout2",
    ));
    all.extend(read(
        include_str!("holdout2_near_misses.tsv"),
        false,
        "holdout2",
    ));
    all
}

/// The outcome of one pair: its similarity and the verifier's verdict.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The pair.
    pub pair: Pair,
    /// Cosine similarity of the two questions' embeddings.
    pub similarity: f32,
    /// The verifier's verdict.
    pub verdict: Result<(), Veto>,
}

/// Judges every pair given each one's similarity.
pub fn judge(pairs: &[Pair], similarity: impl Fn(&Pair) -> f32) -> Vec<Judged> {
    pairs
        .iter()
        .map(|p| Judged {
            pair: p.clone(),
            similarity: similarity(p),
            verdict: verify(&p.cached, &p.asked),
        })
        .collect()
}

/// Precision and recall at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Paraphrases served.
    pub true_hits: usize,
    /// Near-misses served.
    pub false_hits: usize,
    /// Paraphrases in the set.
    pub paraphrases: usize,
}

impl Score {
    /// Served pairs that were paraphrases (1 when nothing was served).
    pub fn precision(&self) -> f64 {
        let served = self.true_hits + self.false_hits;
        if served == 0 {
            1.0
        } else {
            self.true_hits as f64 / served as f64
        }
    }

    /// Paraphrases that were served.
    pub fn recall(&self) -> f64 {
        self.true_hits as f64 / self.paraphrases.max(1) as f64
    }
}

/// The score at `threshold`, with the verifier (`verified`) or on similarity alone.
pub fn score(judged: &[Judged], threshold: f32, verified: bool) -> Score {
    let served = |j: &&Judged| j.similarity >= threshold && (!verified || j.verdict.is_ok());
    Score {
        true_hits: judged
            .iter()
            .filter(|j| j.pair.paraphrase)
            .filter(served)
            .count(),
        false_hits: judged
            .iter()
            .filter(|j| !j.pair.paraphrase)
            .filter(served)
            .count(),
        paraphrases: judged.iter().filter(|j| j.pair.paraphrase).count(),
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
