//! The `o200k_base` encoder, loaded once.

use std::sync::LazyLock;

use tiktoken_rs::CoreBPE;

/// The encoder, decoded from the embedded vocabulary on first use. `None` only if the
/// embedded data were broken, a build defect that [`count`] survives with an estimate.
static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());

/// The number of `o200k_base` tokens in `text`, exactly as OpenAI's `tiktoken` counts them
/// with `encode_ordinary`: special-token markers such as `<|endoftext|>` are plain text.
pub fn count(text: &str) -> u64 {
    match O200K.as_ref() {
        Some(bpe) if !text.is_empty() => bpe.encode_ordinary(text).len() as u64,
        Some(_) => 0,
        // Unreachable with a sound build; a rough estimate beats a panic on the request path.
        None => (text.len() as u64).div_ceil(4),
    }
}

#[cfg(test)]
mod tests {
    use super::count;

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
