//! Routing: from the `model` a client sent to the upstream that answers.
//!
//! [`Router::resolve`] turns a name into a [`ModelGroup`]: a configured alias, or
//! `provider/model` for a direct call. [`Router::run`] then drives one request through the
//! group: the group's [`Strategy`](sluice_config::Strategy) orders its targets, each
//! [`Attempt`] runs against one target, retryable failures move on to the next target (with
//! exponential backoff and full jitter, never past the request's deadline), and when the
//! group is exhausted its `fallbacks` are tried in order. Every failure is kept, so the final
//! error can say what was tried. Per-target state (in-flight count, latency average) lives in
//! atomics: nothing on this path takes a lock.

mod circuit;
mod group;
mod latency;
mod quota;
mod resolve;
mod rules;
mod run;

pub use circuit::CircuitState;
pub use group::{ModelGroup, TargetHealth, TargetSlot};
pub use resolve::{Route, Router};
pub use rules::RequestFacts;
pub use run::{Attempt, Outcome};
