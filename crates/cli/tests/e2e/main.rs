//! End-to-end tests: the real `sluice` binary against mock upstreams over real sockets.

mod harness;

mod basics;
