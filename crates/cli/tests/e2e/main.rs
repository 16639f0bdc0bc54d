//! End-to-end tests: the real `sluice` binary against mock upstreams over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod prom;

mod anthropic;
mod basics;
mod bedrock;
mod cache;
mod cohere;
mod conformance;
mod errors;
mod gemini;
mod guardrail_checks;
mod guardrails;
mod log_proofs;
mod logs;
mod messages;
mod metrics;
mod native;
mod ops;
mod passthrough;
mod providers;
mod python_sdk;
mod routing;
mod semantic;
mod streaming;
mod tenancy;
mod tenancy_cli;
mod tracing;
mod ui;
mod vertex;
