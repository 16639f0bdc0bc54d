//! The in-process index: search, replacement, bounds, expiry and purging.

use super::*;
use crate::Scope;

fn key(n: u8, model: &str) -> SemanticKey {
    SemanticKey {
        prefix: [n; 32],
        model: model.into(),
        scope: Scope::global(),
    }
}

/// A unit vector at `angle` radians in the first two dimensions.
fn unit(angle: f32) -> Vec<f32> {
    vec![angle.cos(), angle.sin(), 0.0]
}

fn record(answer: u8, text: &str, vector: Vec<f32>) -> Record {
    Record {
        answer: [answer; 32],
        expires_ms: now_ms() + 60_000,
        text: text.into(),
        vector,
    }
}

#[test]
fn search_returns_the_closest_rows_above_the_threshold_best_first() {
    let ix = Index::new(100, 1 << 20);
    let k = key(1, "fast");
    for (i, angle) in [0.5f32, 0.0, 0.1, 0.2, 0.3, 1.5].iter().enumerate() {
        let i = u8::try_from(i).unwrap();
        assert!(ix.insert(&k, record(i, &format!("q{i}"), unit(*angle))));
    }
    let found = ix.search(&k, &unit(0.0), 0.9);
    let answers: Vec<u8> = found.iter().map(|c| c.answer[0]).collect();
    assert_eq!(answers, [1, 2, 3, 4], "at most four, best first");
    assert!((found[0].score - 1.0).abs() < 1e-6);
    assert_eq!(&*found[1].text, "q2");
    assert!(ix.search(&k, &unit(0.0), 0.999).len() == 1);
    assert!(
        ix.search(&key(2, "fast"), &unit(0.0), 0.5).is_empty(),
        "another partition"
    );
    assert!(
        ix.search(&k, &[1.0, 0.0], 0.5).is_empty(),
        "other dimensions"
    );
}

#[test]
fn a_row_for_the_same_answer_is_replaced_and_expired_rows_do_not_match() {
    let ix = Index::new(100, 1 << 20);
    let k = key(1, "fast");
    ix.insert(&k, record(1, "old", unit(1.0)));
    ix.insert(&k, record(1, "new", unit(0.0)));
    assert_eq!(ix.usage().0, 1);
    assert_eq!(&*ix.search(&k, &unit(0.0), 0.99)[0].text, "new");
    let mut stale = record(2, "stale", unit(0.0));
    stale.expires_ms = 1;
    assert!(!ix.insert(&k, stale), "already expired");
    ix.remove(&k, &[1; 32]);
    assert!(ix.search(&k, &unit(0.0), 0.5).is_empty());
    assert_eq!(ix.usage(), (0, 0));
}

#[test]
fn the_entry_bound_evicts_the_partitions_own_rows_first() {
    let ix = Index::new(3, 1 << 20);
    let k = key(1, "fast");
    for i in 0..5u8 {
        assert!(ix.insert(&k, record(i, "q", unit(f32::from(i) * 0.01))));
    }
    assert_eq!(ix.usage().0, 3);
    let left: Vec<u8> = ix
        .search(&k, &unit(0.0), 0.0)
        .iter()
        .map(|c| c.answer[0])
        .collect();
    assert!(left.contains(&4), "the newest row stays: {left:?}");
    // An empty partition takes its room from the largest one.
    let other = key(2, "fast");
    assert!(ix.insert(&other, record(9, "q", unit(0.0))));
    assert_eq!(ix.usage().0, 3);
    assert_eq!(ix.search(&other, &unit(0.0), 0.5).len(), 1);
    assert_eq!(ix.search(&k, &unit(0.0), 0.0).len(), 2);
}

#[test]
fn the_byte_bound_holds() {
    let one = row_size(3, "q");
    let ix = Index::new(1000, (one * 2) as u64);
    let k = key(1, "fast");
    for i in 0..10u8 {
        ix.insert(&k, record(i, "q", unit(0.0)));
    }
    let (entries, bytes) = ix.usage();
    assert_eq!(entries, 2);
    assert!(bytes <= one * 2);
}

#[test]
fn a_new_embedder_replaces_the_partitions_rows() {
    let ix = Index::new(100, 1 << 20);
    let k = key(1, "fast");
    ix.insert(&k, record(1, "q", unit(0.0)));
    ix.insert(&k, record(2, "q", vec![1.0, 0.0]));
    assert_eq!(ix.usage().0, 1);
    assert_eq!(ix.search(&k, &[1.0, 0.0], 0.9)[0].answer, [2; 32]);
}

#[test]
fn purges_select_by_model_and_scope() {
    let ix = Index::new(100, 1 << 20);
    ix.insert(&key(1, "fast"), record(1, "q", unit(0.0)));
    ix.insert(&key(2, "fast"), record(2, "q", unit(0.0)));
    ix.insert(&key(3, "smart"), record(3, "q", unit(0.0)));
    let fast = Purge {
        model: Some("fast".into()),
        scope: None,
    };
    assert_eq!(ix.purge(&fast), 2);
    assert!(ix.search(&key(1, "fast"), &unit(0.0), 0.5).is_empty());
    assert_eq!(ix.search(&key(3, "smart"), &unit(0.0), 0.5).len(), 1);
    assert!(
        ix.insert(&key(1, "fast"), record(1, "q", unit(0.0))),
        "a purged partition comes back"
    );
    assert_eq!(ix.purge(&Purge::default()), 2);
    assert_eq!(ix.usage(), (0, 0));
}

#[test]
fn the_dot_product_matches_the_plain_sum() {
    let a: Vec<f32> = (0..19u8).map(|i| f32::from(i) * 0.5).collect();
    let b: Vec<f32> = (0..19u8).map(|i| 1.0 - f32::from(i) * 0.1).collect();
    let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!((dot(&a, &b) - plain).abs() < 1e-3);
}

#[test]
fn quantized_scores_stay_within_the_margin() {
    let mut state = 7u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let mut unit = |dims: usize| {
        let v: Vec<f32> = (0..dims).map(|_| next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    for dims in [3, 384, 1536] {
        for _ in 0..50 {
            let (a, b) = (unit(dims), unit(dims));
            let (qa, sa) = quantize(&a);
            let (qb, sb) = quantize(&b);
            let approx = dot_i8(&qa, &qb) as f32 * sa * sb;
            let error = (approx - dot(&a, &b)).abs();
            assert!(
                error < QUANTIZED_MARGIN / 5.0,
                "{dims} dimensions: off by {error}"
            );
        }
    }
    assert_eq!(quantize(&[0.0, 0.0]), (vec![0, 0], 0.0));
    assert_eq!(dot_i8(&[127; 17], &[-1; 17]), -127 * 17);
}
