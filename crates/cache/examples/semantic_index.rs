//! The cost of a semantic lookup with 100,000 cached entries, the embedding call excluded:
//! the index scan, the verifier and the answer's fetch from the memory backend.
//!
//! ```text
//! cargo run --release -p sluice-cache --example semantic_index [-- DIMENSIONS]
//! ```
//!
//! Two layouts: every entry in one partition (one system prompt and one set of parameters
//! for all traffic: the worst case, every lookup scans all 100,000), and the same entries
//! spread over 1,000 partitions (conversations). Each is timed for a miss (nothing above
//! the threshold) and for a hit on a stored question.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use sluice_cache::semantic::{Outcome, Policy, Question};
use sluice_cache::{Cache, CacheKey, Entry, MemoryBackend, Scope};
use sluice_types::{ChatRequest, ChatResponse};

const ENTRIES: usize = 100_000;
const LOOKUPS: usize = 200;
const POLICY: Policy = Policy {
    threshold: 0.95,
    max_temperature: 1.0,
    skip_tools: true,
};

fn main() {
    let dims: usize = std::env::args()
        .nth(1)
        .map_or(384, |d| d.parse().expect("dimensions"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{ENTRIES} entries of {dims} dimensions, {LOOKUPS} lookups each; one core");
    for partitions in [1, 1000] {
        rt.block_on(run(dims, partitions));
    }
}

async fn run(dims: usize, partitions: usize) {
    let cache =
        Cache::new(MemoryBackend::new(4 << 30, 1_000_000)).with_semantic_limits(1_000_000, 8 << 30);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut stored = Vec::new();
    let started = Instant::now();
    for i in 0..ENTRIES {
        let text = format!("question number {i} about topic {}", i % 97);
        let req = request(i % partitions, &text);
        let q = Question::new(&req, "fast", Scope::global(), &POLICY).unwrap();
        let key = CacheKey::new(&req, "fast", Scope::global()).unwrap();
        let resp = ChatResponse {
            id: format!("answer {i}"),
            ..Default::default()
        };
        let ttl = Duration::from_secs(3600);
        cache
            .put(
                &key,
                Entry::new("fast", "global", ("p", "m"), resp, ttl).unwrap(),
            )
            .await;
        let vector = random_unit(&mut rng, dims);
        if i % (ENTRIES / LOOKUPS) == 0 {
            stored.push((q.clone(), vector.clone()));
        }
        cache.semantic_put(&q, vector, &key, ttl).await;
    }
    let (rows, bytes) = cache.semantic_usage();
    println!(
        "\n{partitions} partition(s): {rows} rows, {} MiB, filled in {:.1?}",
        bytes >> 20,
        started.elapsed()
    );
    let mut misses = Vec::new();
    let mut hits = Vec::new();
    for (q, vector) in &stored {
        let other = random_unit(&mut rng, dims);
        let t = Instant::now();
        let out = cache.semantic_get(q, other, POLICY.threshold).await;
        misses.push(t.elapsed());
        assert!(matches!(out, Outcome::Miss));
        let t = Instant::now();
        let out = cache
            .semantic_get(q, vector.clone(), POLICY.threshold)
            .await;
        hits.push(t.elapsed());
        assert!(matches!(out, Outcome::Hit { .. }));
    }
    report("miss", &mut misses);
    report("hit", &mut hits);
}

/// A request in conversation `conversation` whose last message is `text`.
fn request(conversation: usize, text: &str) -> ChatRequest {
    serde_json::from_value(serde_json::json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": format!("Conversation {conversation}.")},
            {"role": "user", "content": text}
        ]
    }))
    .unwrap()
}

fn random_unit(state: &mut u64, dims: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dims)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "  {what:<4}: p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        at(0.5),
        at(0.99),
        samples[samples.len() - 1]
    );
}
