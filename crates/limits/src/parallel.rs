//! Caps on requests in flight, counted in this process only.
//!
//! A slot is taken when a request is admitted and given back when its permit goes away,
//! so the count cannot outlive the process that holds it: a replica that dies frees its
//! slots with it. That is why these counts stay in memory even when rates and budgets are
//! in Redis, and why a `max_parallel` limit applies per replica.

use std::collections::HashMap;
use std::sync::Arc;

use crate::shards::Shards;
use crate::{Denied, ParallelCheck};

/// Requests in flight by scope; a scope with none is not stored.
pub(crate) struct Parallel {
    shards: Shards<HashMap<String, u64>>,
}

/// Slots taken by one request, given back on drop.
pub(crate) struct Slots {
    parallel: Arc<Parallel>,
    scopes: Vec<String>,
}

impl Parallel {
    pub(crate) fn new() -> Self {
        Self {
            shards: Shards::new(),
        }
    }

    /// Takes a slot on every scope of `checks`, or none if any is full.
    pub(crate) fn acquire(self: &Arc<Self>, checks: &[ParallelCheck]) -> Result<Slots, Denied> {
        let mut slots = Slots {
            parallel: Arc::clone(self),
            scopes: Vec::with_capacity(checks.len()),
        };
        for check in checks {
            let mut shard = self.shards.lock(self.shards.index(&check.scope));
            let held = shard.get(&check.scope).copied().unwrap_or(0);
            if held >= check.max {
                // Dropping `slots` gives back the ones already taken.
                return Err(Denied::Parallel {
                    level: check.level,
                    scope: check.scope.clone(),
                    max: check.max,
                });
            }
            shard.insert(check.scope.clone(), held + 1);
            slots.scopes.push(check.scope.clone());
        }
        Ok(slots)
    }

    /// Requests in flight on `scope`.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, scope: &str) -> u64 {
        let shard = self.shards.lock(self.shards.index(scope));
        shard.get(scope).copied().unwrap_or(0)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        for scope in &self.scopes {
            let mut shard = self.parallel.shards.lock(self.parallel.shards.index(scope));
            match shard.get_mut(scope) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    shard.remove(scope);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn cap(scope: &str, max: u64) -> ParallelCheck {
        ParallelCheck {
            scope: scope.into(),
            level: Level::Key,
            max,
        }
    }

    #[test]
    fn slots_are_capped_and_given_back() {
        let p = Arc::new(Parallel::new());
        let a = p.acquire(&[cap("key:a", 2)]).unwrap();
        let b = p.acquire(&[cap("key:a", 2)]).unwrap();
        assert!(matches!(
            p.acquire(&[cap("key:a", 2)]),
            Err(Denied::Parallel { max: 2, .. })
        ));
        drop(a);
        assert_eq!(p.in_flight("key:a"), 1);
        let _c = p.acquire(&[cap("key:a", 2)]).unwrap();
        drop(b);
        assert_eq!(p.in_flight("key:a"), 1);
    }

    #[test]
    fn a_full_scope_takes_no_slot_anywhere() {
        let p = Arc::new(Parallel::new());
        let _full = p.acquire(&[cap("team:t", 1)]).unwrap();
        let denied = p.acquire(&[cap("key:a", 5), cap("team:t", 1)]);
        assert!(matches!(denied, Err(Denied::Parallel { ref scope, .. }) if scope == "team:t"));
        assert_eq!(p.in_flight("key:a"), 0);
        assert!(p.shards.each().all(|s| !s.contains_key("key:a")));
    }
}
