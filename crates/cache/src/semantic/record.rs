//! One semantic entry as the index holds it and as a backend stores it.

use crate::CacheError;

/// Version of the stored form; records of another version are skipped.
const RECORD_VERSION: u8 = 1;
/// Bytes before the vector: version, answer hash, expiry, dimensions.
const HEADER: usize = 1 + 32 + 8 + 4;

/// A question that was answered: its embedding, its text (for the verifier), and the exact
/// cache key of its answer, which holds the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The [`crate::CacheKey`] hash of the answered request.
    pub answer: [u8; 32],
    /// When the record stops matching, in Unix milliseconds (the answer's expiry).
    pub expires_ms: u64,
    /// The last user message's text.
    pub text: String,
    /// The text's embedding, unit length.
    pub vector: Vec<f32>,
}

impl Record {
    /// The stored form: version, answer hash, expiry and dimensions, the vector as
    /// little-endian `f32`s, then the text as UTF-8.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.vector.len() * 4 + self.text.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.answer);
        out.extend_from_slice(&self.expires_ms.to_le_bytes());
        let dims = u32::try_from(self.vector.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&dims.to_le_bytes());
        for x in &self.vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(self.text.as_bytes());
        out
    }

    /// Reads a stored form back.
    pub fn decode(bytes: &[u8]) -> Result<Record, CacheError> {
        let bad = |why: &str| CacheError::Encoding(format!("semantic record: {why}"));
        if bytes.len() < HEADER {
            return Err(bad("too short"));
        }
        if bytes[0] != RECORD_VERSION {
            return Err(bad("another version"));
        }
        let mut answer = [0u8; 32];
        answer.copy_from_slice(&bytes[1..33]);
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[33..41]);
        let expires_ms = u64::from_le_bytes(word);
        let mut dims = [0u8; 4];
        dims.copy_from_slice(&bytes[41..45]);
        let dims = usize::try_from(u32::from_le_bytes(dims)).map_err(|_| bad("dimensions"))?;
        let body = &bytes[HEADER..];
        let (vector, text) = body
            .split_at_checked(dims.saturating_mul(4))
            .ok_or_else(|| bad("shorter than its vector"))?;
        let vector = vector
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let text = std::str::from_utf8(text)
            .map_err(|_| bad("text is not UTF-8"))?
            .to_owned();
        Ok(Record {
            answer,
            expires_ms,
            text,
            vector,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips() {
        let r = Record {
            answer: [7; 32],
            expires_ms: 1_700_000_000_123,
            text: "Wie spät ist es?".into(),
            vector: vec![0.6, -0.8, 0.0],
        };
        let bytes = r.encode();
        assert_eq!(bytes.len(), HEADER + 12 + r.text.len());
        assert_eq!(Record::decode(&bytes).unwrap(), r);
        assert!(Record::decode(&bytes[..HEADER + 5]).is_err(), "cut vector");
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(Record::decode(&other).is_err(), "another version");
        assert!(Record::decode(b"").is_err());
    }
}
