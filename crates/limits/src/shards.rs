//! A map split into independently locked shards, so requests on different scopes rarely
//! wait for each other and no lock covers the whole limiter.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many shards each map has.
const SHARDS: usize = 64;

/// `SHARDS` values of `T`, each behind its own mutex, picked by the hash of a key.
pub(crate) struct Shards<T> {
    shards: Box<[Mutex<T>]>,
    hasher: RandomState,
}

impl<T: Default> Shards<T> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl<T> Shards<T> {
    /// The shard that holds `key`.
    pub(crate) fn index(&self, key: &str) -> usize {
        let hash = self.hasher.hash_one(key);
        usize::try_from(hash % SHARDS as u64).unwrap_or(0)
    }

    /// Locks shard `index`. A poisoned shard is used as is: every update leaves it
    /// consistent before anything that could panic.
    pub(crate) fn lock(&self, index: usize) -> MutexGuard<'_, T> {
        self.shards[index % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks every shard in `indices` once, in ascending order so that two callers never
    /// wait on each other in a cycle.
    pub(crate) fn lock_all(&self, mut indices: Vec<usize>) -> Locked<'_, T> {
        indices.sort_unstable();
        indices.dedup();
        Locked(indices.into_iter().map(|i| (i, self.lock(i))).collect())
    }

    /// All shards, one after the other (for tests and accounting).
    #[cfg(test)]
    pub(crate) fn each(&self) -> impl Iterator<Item = MutexGuard<'_, T>> {
        (0..SHARDS).map(|i| self.lock(i))
    }
}

/// Several shards held at once.
pub(crate) struct Locked<'a, T>(Vec<(usize, MutexGuard<'a, T>)>);

impl<T> Locked<'_, T> {
    /// The locked shard `index`, which must be one of those passed to
    /// [`Shards::lock_all`].
    pub(crate) fn get(&mut self, index: usize) -> &mut T {
        let pos = self.0.partition_point(|(i, _)| *i < index);
        debug_assert!(self.0.get(pos).is_some_and(|(i, _)| *i == index));
        &mut self.0[pos].1
    }

    /// Every locked shard.
    pub(crate) fn all(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut().map(|(_, guard)| &mut **guard)
    }
}
