//! The in-process index: one partition per [`SemanticKey`] (model, scope and request
//! prefix), each a flat array of unit vectors searched by dot product.
//!
//! A flat scan is exact and needs no tuning. Each row is kept twice: as `f32`s, and
//! quantized to `i8`s with a per-row scale. A search scans the `i8` copy (a quarter of the
//! memory traffic, which is what bounds a scan) and scores exactly only the rows within
//! [`QUANTIZED_MARGIN`] of the threshold. The `semantic_index` example measures it: a
//! partition of 100,000 rows of 384 dimensions is scanned in about 5 ms on one core, and
//! partitions are usually far smaller, since every conversation prefix has its own. The
//! index is bounded by entries and bytes across all partitions. When full, it drops expired
//! rows (the partition's own, then, at most once a second, every partition's), and then
//! evicts rows of the partition being written (or, when that one is empty, of the largest)
//! in slot order. Each partition has its own lock, held for one scan or one write; the
//! partition map's lock only while a partition is looked up, created or removed, and no
//! partition lock is ever waited for while it is held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::{Record, SemanticKey};
use crate::Purge;
use crate::entry::now_ms;

/// Bytes counted for a row beyond its vectors and text.
const ROW_OVERHEAD: usize = 128;
/// How far below the threshold a row's quantized score may be and still be scored exactly.
/// The quantization error of unit vectors is far smaller (see `quantize`).
const QUANTIZED_MARGIN: f32 = 0.05;
/// The most candidates a search returns.
const MAX_CANDIDATES: usize = 4;
/// Least time between two sweeps of every partition, in milliseconds.
const SWEEP_EVERY_MS: u64 = 1000;

/// A row above the threshold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    /// Cosine similarity to the query.
    pub(crate) score: f32,
    /// The answer's cache key hash.
    pub(crate) answer: [u8; 32],
    /// The question that was answered.
    pub(crate) text: Arc<str>,
}

/// Every partition, bounded together.
pub(crate) struct Index {
    partitions: RwLock<HashMap<[u8; 32], Arc<Partition>>>,
    max_entries: usize,
    max_bytes: usize,
    entries: AtomicUsize,
    bytes: AtomicUsize,
    last_sweep_ms: AtomicU64,
}

/// The rows of one partition, and how far its stored log was read.
pub(crate) struct Partition {
    key: SemanticKey,
    rows: RwLock<Rows>,
    /// The backend's position after the last read of this partition's stored records;
    /// `None` until the first read.
    pub(crate) cursor: Mutex<Option<String>>,
}

#[derive(Default)]
struct Rows {
    dims: usize,
    /// `slots.len() * dims` values.
    vectors: Vec<f32>,
    /// The same vectors quantized to `i8`, scanned first (a quarter of the memory traffic).
    codes: Vec<i8>,
    /// Each row's quantization scale.
    scales: Vec<f32>,
    slots: Vec<Slot>,
    by_answer: HashMap<[u8; 32], usize>,
    free: Vec<usize>,
    next_evict: usize,
    live: usize,
    /// Removed from the map: writers must look the partition up again.
    dead: bool,
}

struct Slot {
    answer: [u8; 32],
    /// Zero for a free slot.
    expires_ms: u64,
    text: Arc<str>,
}

impl Index {
    /// An index of at most `max_entries` rows and `max_bytes` bytes.
    pub(crate) fn new(max_entries: u64, max_bytes: u64) -> Self {
        Self {
            partitions: RwLock::default(),
            max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX).max(1),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX).max(1),
            entries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    /// Live rows and their bytes (expired rows count until they are dropped).
    pub(crate) fn usage(&self) -> (usize, usize) {
        (
            self.entries.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// The partition of `key`, if it exists.
    pub(crate) fn get(&self, key: &SemanticKey) -> Option<Arc<Partition>> {
        self.partitions.read().ok()?.get(key.prefix()).cloned()
    }

    /// The partition of `key`, created when missing.
    pub(crate) fn get_or_create(&self, key: &SemanticKey) -> Option<Arc<Partition>> {
        if let Some(p) = self.get(key) {
            return Some(p);
        }
        let mut map = self.partitions.write().ok()?;
        let p = map.entry(*key.prefix()).or_insert_with(|| {
            Arc::new(Partition {
                key: key.clone(),
                rows: RwLock::default(),
                cursor: Mutex::new(None),
            })
        });
        Some(p.clone())
    }

    /// The best rows of `key`'s partition at or above `threshold`, best first.
    pub(crate) fn search(
        &self,
        key: &SemanticKey,
        query: &[f32],
        threshold: f32,
    ) -> Vec<Candidate> {
        let Some(p) = self.get(key) else {
            return Vec::new();
        };
        let Ok(rows) = p.rows.read() else {
            return Vec::new();
        };
        if rows.dims != query.len() || rows.dims == 0 {
            return Vec::new();
        }
        let now = now_ms();
        let (codes, scale) = quantize(query);
        let floor = threshold - QUANTIZED_MARGIN;
        let d = rows.dims;
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(MAX_CANDIDATES + 1);
        for (i, row) in rows.codes.chunks_exact(d).enumerate() {
            let slot = &rows.slots[i];
            if slot.expires_ms <= now {
                continue;
            }
            if dot_i8(row, &codes) as f32 * rows.scales[i] * scale < floor {
                continue;
            }
            let score = dot(&rows.vectors[i * d..(i + 1) * d], query);
            if score < threshold
                || best.len() == MAX_CANDIDATES && score <= best[MAX_CANDIDATES - 1].0
            {
                continue;
            }
            let at = best.partition_point(|(s, _)| *s >= score);
            best.insert(at, (score, i));
            best.truncate(MAX_CANDIDATES);
        }
        best.into_iter()
            .map(|(score, i)| Candidate {
                score,
                answer: rows.slots[i].answer,
                text: rows.slots[i].text.clone(),
            })
            .collect()
    }

    /// Adds `record` to `key`'s partition (replacing an older row for the same answer);
    /// false when it did not fit or had no dimensions.
    pub(crate) fn insert(&self, key: &SemanticKey, record: Record) -> bool {
        if record.vector.is_empty() || record.expires_ms <= now_ms() {
            return false;
        }
        loop {
            let Some(p) = self.get_or_create(key) else {
                return false;
            };
            let Ok(mut rows) = p.rows.write() else {
                return false;
            };
            if rows.dead {
                continue;
            }
            return self.insert_into(&p, &mut rows, record);
        }
    }

    fn insert_into(&self, p: &Partition, rows: &mut Rows, record: Record) -> bool {
        let dims = record.vector.len();
        if rows.dims != dims {
            // Another embedder (the config changed): the old vectors cannot be compared.
            self.clear(rows);
            rows.dims = dims;
        }
        let size = row_size(dims, &record.text);
        let (codes, scale) = quantize(&record.vector);
        if let Some(&i) = rows.by_answer.get(&record.answer) {
            let old = row_size(dims, &rows.slots[i].text);
            self.bytes.fetch_add(size, Ordering::Relaxed);
            self.bytes.fetch_sub(old, Ordering::Relaxed);
            rows.vectors[i * dims..(i + 1) * dims].copy_from_slice(&record.vector);
            rows.codes[i * dims..(i + 1) * dims].copy_from_slice(&codes);
            rows.scales[i] = scale;
            rows.slots[i].expires_ms = record.expires_ms;
            rows.slots[i].text = record.text.into();
            return true;
        }
        if !self.make_room(p, rows, size) {
            return false;
        }
        let slot = Slot {
            answer: record.answer,
            expires_ms: record.expires_ms,
            text: record.text.into(),
        };
        let i = match rows.free.pop() {
            Some(i) => {
                rows.vectors[i * dims..(i + 1) * dims].copy_from_slice(&record.vector);
                rows.codes[i * dims..(i + 1) * dims].copy_from_slice(&codes);
                rows.scales[i] = scale;
                rows.slots[i] = slot;
                i
            }
            None => {
                rows.vectors.extend_from_slice(&record.vector);
                rows.codes.extend_from_slice(&codes);
                rows.scales.push(scale);
                rows.slots.push(slot);
                rows.slots.len() - 1
            }
        };
        rows.by_answer.insert(record.answer, i);
        rows.live += 1;
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        true
    }

    /// Frees room for a row of `size` bytes; false when none could be freed.
    fn make_room(&self, p: &Partition, rows: &mut Rows, size: usize) -> bool {
        let fits = |ix: &Index| {
            ix.entries.load(Ordering::Relaxed) < ix.max_entries
                && ix.bytes.load(Ordering::Relaxed) + size <= ix.max_bytes
        };
        if fits(self) {
            return true;
        }
        let now = now_ms();
        self.drop_expired(rows, now);
        if fits(self) {
            return true;
        }
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= SWEEP_EVERY_MS {
            self.last_sweep_ms.store(now, Ordering::Relaxed);
            self.sweep(Some(&p.key), now);
            if fits(self) {
                return true;
            }
        }
        while !fits(self) {
            if rows.live > 0 {
                self.evict_one(rows);
            } else if !self.evict_from_largest(&p.key) {
                return false;
            }
        }
        true
    }

    /// Drops the expired rows of every partition (but `skip`, whose lock the caller holds),
    /// and removes partitions left empty.
    fn sweep(&self, skip: Option<&SemanticKey>, now: u64) {
        let all: Vec<Arc<Partition>> = match self.partitions.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => return,
        };
        let mut empty = Vec::new();
        for p in all.iter().filter(|p| Some(&p.key) != skip) {
            if let Ok(mut rows) = p.rows.try_write() {
                self.drop_expired(&mut rows, now);
                if rows.live == 0 {
                    empty.push(p.key.clone());
                }
            }
        }
        if let Ok(mut map) = self.partitions.write() {
            for key in empty {
                let Some(p) = map.get(key.prefix()).cloned() else {
                    continue;
                };
                if let Ok(mut rows) = p.rows.try_write() {
                    if rows.live == 0 {
                        rows.dead = true;
                        map.remove(key.prefix());
                    }
                }
            }
        }
    }

    /// Evicts one row of the partition with the most rows (not `skip`); false when there is
    /// none to evict.
    fn evict_from_largest(&self, skip: &SemanticKey) -> bool {
        let all: Vec<Arc<Partition>> = match self.partitions.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => return false,
        };
        let largest = all
            .iter()
            .filter(|p| &p.key != skip)
            .filter_map(|p| Some((p.rows.try_read().ok()?.live, p)))
            .max_by_key(|(live, _)| *live);
        match largest {
            Some((live, p)) if live > 0 => match p.rows.try_write() {
                Ok(mut rows) => {
                    self.evict_one(&mut rows);
                    true
                }
                Err(_) => false,
            },
            _ => false,
        }
    }

    fn drop_expired(&self, rows: &mut Rows, now: u64) {
        for i in 0..rows.slots.len() {
            let s = &rows.slots[i];
            if s.expires_ms != 0 && s.expires_ms <= now {
                self.free_slot(rows, i);
            }
        }
    }

    /// Frees the next live slot after the eviction cursor.
    fn evict_one(&self, rows: &mut Rows) {
        let n = rows.slots.len();
        for _ in 0..n {
            let i = rows.next_evict % n;
            rows.next_evict = (i + 1) % n;
            if rows.slots[i].expires_ms != 0 {
                self.free_slot(rows, i);
                return;
            }
        }
    }

    fn free_slot(&self, rows: &mut Rows, i: usize) {
        let size = row_size(rows.dims, &rows.slots[i].text);
        let answer = rows.slots[i].answer;
        rows.by_answer.remove(&answer);
        rows.slots[i].expires_ms = 0;
        rows.slots[i].text = Arc::from("");
        rows.free.push(i);
        rows.live -= 1;
        self.entries.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(size, Ordering::Relaxed);
    }

    fn clear(&self, rows: &mut Rows) {
        for i in 0..rows.slots.len() {
            if rows.slots[i].expires_ms != 0 {
                self.free_slot(rows, i);
            }
        }
        *rows = Rows::default();
    }

    /// Removes the row of `answer` from `key`'s partition (its answer is gone).
    pub(crate) fn remove(&self, key: &SemanticKey, answer: &[u8; 32]) {
        let Some(p) = self.get(key) else { return };
        if let Ok(mut rows) = p.rows.write() {
            if let Some(&i) = rows.by_answer.get(answer) {
                self.free_slot(&mut rows, i);
            }
        }
    }

    /// Removes the partitions `filter` selects; returns how many rows they held.
    pub(crate) fn purge(&self, filter: &Purge) -> u64 {
        let removed: Vec<Arc<Partition>> = match self.partitions.write() {
            Ok(mut map) => {
                let keys: Vec<[u8; 32]> = map
                    .iter()
                    .filter(|(_, p)| filter.matches(p.key.model(), p.key.scope().as_str()))
                    .map(|(k, _)| *k)
                    .collect();
                keys.iter().filter_map(|k| map.remove(k)).collect()
            }
            Err(_) => return 0,
        };
        // A partition lock is never waited for while the map's lock is held.
        let mut purged = 0;
        for p in removed {
            if let Ok(mut rows) = p.rows.write() {
                purged += rows.live as u64;
                self.clear(&mut rows);
                rows.dead = true;
            }
        }
        purged
    }
}

fn row_size(dims: usize, text: &str) -> usize {
    dims * 5 + text.len() + ROW_OVERHEAD
}

/// `v` as `i8`s scaled to its largest magnitude, and the scale back. For a unit vector each
/// value is off by at most half a step (`max|v| / 254`), so a dot product of two such
/// vectors is off by far less than [`QUANTIZED_MARGIN`] unless every error points the same
/// way.
fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let step = max / 127.0;
    let codes = v
        .iter()
        .map(|x| (x / step).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, step)
}

/// The dot product of two `i8` vectors, in sixteen independent sums so the compiler can
/// vectorise it.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut sums = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            sums[k] += i32::from(x[k]) * i32::from(y[k]);
        }
    }
    sums.iter().sum::<i32>() + tail
}

/// The dot product, in eight independent sums so the compiler can vectorise it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            sums[k] += x[k] * y[k];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
