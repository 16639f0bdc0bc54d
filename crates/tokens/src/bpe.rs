//! The `o200k_base` encoder, loaded once, and a bounded memo of recent counts.
//!
//! Encoding is the expensive part of an estimate (the encoder's pre-tokenizer regex costs
//! microseconds per short text), and chat traffic sends the same texts again and again: a
//! conversation re-sends its history every turn, and system prompts repeat across requests.
//! So counts of texts of at least [`MEMO_MIN`] bytes are remembered by their BLAKE3 digest
//! (128 bits: a collision is not a practical concern) in a few independently locked
//! shards, each cleared when it fills, which bounds the memory to a few MB.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tiktoken_rs::CoreBPE;

/// Texts shorter than this are encoded every time (hashing would cost about as much).
const MEMO_MIN: usize = 32;
/// Independently locked memo shards.
const SHARDS: usize = 16;
/// Counts kept per shard before it is cleared.
const PER_SHARD: usize = 4096;

/// Remembered counts by text digest.
static MEMO: LazyLock<Vec<Mutex<HashMap<u128, u64>>>> =
    LazyLock::new(|| (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect());

/// The encoder, decoded from the embedded vocabulary on first use. `None` only if the
/// embedded data were broken, a build defect that [`count`] survives with an estimate.
static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());

/// The number of `o200k_base` tokens in `text`, exactly as OpenAI's `tiktoken` counts them
/// with `encode_ordinary`: special-token markers such as `<|endoftext|>` are plain text.
pub fn count(text: &str) -> u64 {
    if text.len() < MEMO_MIN {
        return encode(text);
    }
    let digest = blake3::hash(text.as_bytes());
    let key = u128::from_le_bytes(digest.as_bytes()[..16].try_into().unwrap_or([0; 16]));
    let shard = &MEMO[usize::try_from(key % SHARDS as u128).unwrap_or(0)];
    if let Some(n) = shard.lock().ok().and_then(|m| m.get(&key).copied()) {
        return n;
    }
    let n = encode(text);
    if let Ok(mut m) = shard.lock() {
        if m.len() >= PER_SHARD {
            m.clear();
        }
        m.insert(key, n);
    }
    n
}

/// Encodes `text` and counts its tokens.
fn encode(text: &str) -> u64 {
    match O200K.as_ref() {
        Some(bpe) if !text.is_empty() => bpe.encode_ordinary(text).len() as u64,
        Some(_) => 0,
        // Unreachable with a sound build; a rough estimate beats a panic on the request path.
        None => (text.len() as u64).div_ceil(4),
    }
}

#[cfg(test)]
mod tests {
    use super::{count, encode};

    /// Expected values are OpenAI's `tiktoken` (`o200k_base`, `encode_ordinary`), run against
    /// the vocabulary whose SHA-256 `tiktoken` pins
    /// (446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d).
    #[test]
    fn counts_match_tiktoken() {
        for (text, expected) in [
            ("hello world", 2),
            ("Hello, world!", 4),
            ("tiktoken is great!", 6),
            ("def f(x):\n    return x**2\n", 10),
            ("   leading and trailing   ", 5),
            ("What is 2+2?", 7),
        ] {
            assert_eq!(count(text), expected, "{text:?}");
        }
    }

    #[test]
    fn unicode_is_counted_by_bytes_merged_into_tokens() {
        for (text, expected) in [
            ("naïve café déjà vu", 6),
            ("日本語のテキストです。", 8),
            ("Привет, мир!", 5),
            ("emoji 👋🏽🎉 done", 8),
        ] {
            assert_eq!(count(text), expected, "{text:?}");
        }
    }

    #[test]
    fn remembered_counts_are_the_same_counts() {
        let long = "The quick brown fox jumps over the lazy dog, again and again and again.";
        let first = count(long);
        assert_eq!(first, encode(long));
        assert_eq!(count(long), first, "a remembered count");
        let other = format!("{long} And then some more words.");
        assert_ne!(count(&other), first);
    }

    #[test]
    fn empty_text_has_no_tokens() {
        assert_eq!(count(""), 0);
    }

    /// A client cannot smuggle a special token in: the marker is counted as the seven
    /// ordinary tokens it spells.
    #[test]
    fn special_token_markers_are_plain_text() {
        assert_eq!(count("<|endoftext|>"), 7);
    }

    #[test]
    fn counts_agree_across_threads() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(50);
        let expected = 501;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let text = text.clone();
                std::thread::spawn(move || count(&text))
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    }
}
