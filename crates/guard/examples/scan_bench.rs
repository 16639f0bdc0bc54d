//! Times the input PII scan and streamed restore.
//!
//! `cargo run --release -p sluice-guard --example scan_bench`
//!
//! Scans a 1 KB and a 32 KB prompt of ordinary prose with three values per kilobyte, with every
//! built-in detector on (what a `pii` check with all entities runs per text), then masks a
//! whole request and restores a streamed answer, and prints microseconds per operation.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use sluice_guard::{Entity, GuardError, InjectionDetector, Masker, PiiSpec, Restorer, Scanner};
use sluice_types::{ChatRequest, Content, Message};

const PROSE: &str = "The quarterly review covered revenue, hiring and the roadmap for the next \
release. Customers asked for better exports, faster search and clearer invoices; the team \
agreed to ship the export work first, then revisit search after the migration. ";

/// About `size` bytes of prose; each kilobyte starts with an email, a phone number and an
/// IP address.
fn prompt(size: usize) -> String {
    let mut text = String::with_capacity(size + 1024);
    for kb in 0..size.div_ceil(1024) {
        let block_end = (kb + 1) * 1024;
        text.push_str(&format!(
            "Contact user{kb}@example.com or +44 20 7946 {:04}, server 10.0.{}.{}. ",
            kb % 10_000,
            kb % 250,
            kb % 200 + 1
        ));
        while text.len() < block_end {
            text.push_str(PROSE);
        }
        text.truncate(block_end);
    }
    text
}

/// `text` in pieces of about `size` bytes, like a model's deltas.
fn split(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&text[start..end]);
        start = end;
    }
    pieces
}

fn time(label: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    println!("{label:<44} {micros:>9.2} µs");
}

fn main() -> Result<(), GuardError> {
    let scanner = Scanner::new(&PiiSpec {
        entities: Entity::ALL.to_vec(),
        ..PiiSpec::default()
    })?;
    let injection = InjectionDetector::new()?;
    for (name, size, iterations) in [("1 KB", 1024, 20_000), ("32 KB", 32 * 1024, 1_000)] {
        let text = prompt(size);
        let found = scanner.find(&text).len();
        time(
            &format!("PII scan, {name} ({found} detections)"),
            iterations,
            || {
                black_box(scanner.find(black_box(&text)));
            },
        );
        time(&format!("injection score, {name}"), iterations, || {
            black_box(injection.score(black_box(&text)));
        });
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message {
                role: "user".into(),
                content: Some(Content::Text(text.clone())),
                ..Message::default()
            }],
            ..ChatRequest::default()
        };
        time(&format!("mask request, {name}"), iterations, || {
            let mut req = request.clone();
            black_box(Masker::new().add(&scanner, true).mask(&mut req));
        });
        let mut masked = request.clone();
        let vault = Arc::new(Masker::new().add(&scanner, true).mask(&mut masked).vault);
        let Some(Content::Text(answer)) = &masked.messages[0].content else {
            continue;
        };
        let deltas = split(answer, 16);
        time(
            &format!("restore stream, {name} in {} deltas", deltas.len()),
            iterations,
            || {
                let mut r = Restorer::text(Arc::clone(&vault));
                let mut out = String::with_capacity(text.len());
                for d in &deltas {
                    out.push_str(&r.push(d));
                }
                out.push_str(&r.finish());
                black_box(out);
            },
        );
    }
    Ok(())
}
