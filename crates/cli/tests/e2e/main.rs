//! End-to-end tests: the real `sluice` binary against mock upstreams over real sockets.

mod harness;

mod basics;
mod errors;
mod ops;
mod passthrough;
mod providers;
mod python_sdk;
mod streaming;
