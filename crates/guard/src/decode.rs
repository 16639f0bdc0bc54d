//! Lenient base64 and hex decoding, for JWT headers and encoded injection payloads.

/// Decodes standard or URL-safe base64, with or without padding; `None` on any other byte.
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let input = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes an even-length run of hex digits; `None` otherwise.
pub(crate) fn hex_decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 2 != 0 {
        return None;
    }
    input
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_accepts_both_alphabets_and_optional_padding() {
        assert_eq!(base64_decode(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(
            base64_decode(b"-_8").unwrap(),
            base64_decode(b"+/8").unwrap()
        );
        assert_eq!(base64_decode(b"not base64!"), None);
    }

    #[test]
    fn hex_needs_pairs_of_hex_digits() {
        assert_eq!(hex_decode(b"68690a").unwrap(), b"hi\n");
        assert_eq!(hex_decode(b"686"), None);
        assert_eq!(hex_decode(b"zz"), None);
    }
}
