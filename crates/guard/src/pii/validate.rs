//! Checks that turn a regex candidate into a detection: checksums, number rules and the
//! context around the match. Each takes the whole text and the candidate's byte range and
//! answers the final range, or `None` when the candidate is not what it looks like.

use std::net::Ipv6Addr;
use std::ops::Range;

use crate::decode::base64_decode;

/// A validator: the whole text and a candidate range in, the detection's range out.
pub(crate) type Validator = fn(&str, Range<usize>) -> Option<Range<usize>>;

fn prev_char(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn next_char(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True when the range is not glued to a neighbouring word, nor continued through one of
/// `joiners` by a digit on either side (so `1.2.3.4.5` is no address and `12-415-555-2671`
/// no phone number).
fn isolated(text: &str, r: &Range<usize>, joiners: &[char]) -> bool {
    if let Some(p) = prev_char(text, r.start) {
        if is_word(p) {
            return false;
        }
        let before = r.start - p.len_utf8();
        if joiners.contains(&p) && prev_char(text, before).is_some_and(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(n) = next_char(text, r.end) {
        if is_word(n) {
            return false;
        }
        let after = r.end + n.len_utf8();
        if joiners.contains(&n) && next_char(text, after).is_some_and(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    true
}

fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.chars().filter_map(|c| c.to_digit(10))
}

/// File extensions that look like top-level domains in names such as `icon@2x.png`.
const FILE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "css", "scss", "js", "ts", "tsx",
    "jsx", "json", "yaml", "yml", "md", "txt", "pdf", "zip", "tar", "gz", "mp3", "mp4",
];

pub(crate) fn email(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let value = &text[r.clone()];
    let (local, domain) = value.split_once('@')?;
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return None;
    }
    let tld = domain.rsplit('.').next()?;
    if FILE_EXTENSIONS.iter().any(|e| tld.eq_ignore_ascii_case(e)) {
        return None;
    }
    let clean_left = prev_char(text, r.start)
        .is_none_or(|c| !(is_word(c) || matches!(c, '.' | '%' | '+' | '-' | '\'')));
    let clean_right = next_char(text, r.end).is_none_or(|c| !(is_word(c) || c == '@'));
    (clean_left && clean_right).then_some(r)
}

/// Phone numbers written with a `+` country code: 8 to 15 digits (E.164).
pub(crate) fn phone_international(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let n = digits(&text[r.clone()]).count();
    let glued = prev_char(text, r.start).is_some_and(|c| is_word(c) || c == '+');
    ((8..=15).contains(&n) && !glued && isolated(text, &r, &['.', '-', '/'])).then_some(r)
}

/// North American numbers: area code and exchange start with 2–9.
pub(crate) fn phone_nanp(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let value = &text[r.clone()];
    let all: Vec<u32> = digits(value).collect();
    let national = match all.len() {
        10 => &all[..],
        11 if all[0] == 1 => &all[1..],
        _ => return None,
    };
    let plausible = national[0] >= 2 && national[3] >= 2;
    let glued = prev_char(text, r.start).is_some_and(|c| c == '+');
    (plausible && !glued && isolated(text, &r, &['.', '-', '/'])).then_some(r)
}

/// National numbers with a trunk `0` (UK, France, Germany, …): 9 to 11 digits, grouped with
/// one kind of separator.
pub(crate) fn phone_trunk(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let value = &text[r.clone()];
    let n = digits(value).count();
    let mut separators = value
        .trim_start_matches('(')
        .split(')')
        .flat_map(|part| {
            part.char_indices()
                .filter(|&(i, c)| i > 0 && matches!(c, ' ' | '.' | '-'))
        })
        .map(|(_, c)| c);
    let first = separators.next();
    let consistent = separators.all(|c| Some(c) == first);
    let glued = prev_char(text, r.start).is_some_and(|c| c == '+');
    ((9..=11).contains(&n) && consistent && !glued && isolated(text, &r, &['.', '-', '/']))
        .then_some(r)
}

fn luhn(ds: &[u32]) -> bool {
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, twice) if twice > 9 => twice - 9,
            (true, twice) => twice,
            (false, _) => d,
        })
        .sum();
    sum % 10 == 0
}

fn number(ds: &[u32], len: usize) -> u32 {
    ds.iter().take(len).fold(0, |acc, d| acc * 10 + d)
}

/// Whether the leading digits name a card network that issues numbers of this length.
fn known_issuer(ds: &[u32]) -> bool {
    let len = ds.len();
    let (p1, p2, p3, p4) = (ds[0], number(ds, 2), number(ds, 3), number(ds, 4));
    match p1 {
        4 => matches!(len, 13 | 16 | 19),
        5 => (51..=55).contains(&p2) && len == 16,
        2 => ((2221..=2720).contains(&p4) || (2200..=2204).contains(&p4)) && len == 16,
        3 => {
            ((p2 == 34 || p2 == 37) && len == 15)
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&len))
                || (((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&len))
        }
        6 => {
            (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62)
                && (16..=19).contains(&len)
        }
        _ => false,
    }
}

fn card_digits_ok(value: &str) -> bool {
    let ds: Vec<u32> = digits(value).collect();
    let mut seps = value.chars().filter(|c| !c.is_ascii_digit());
    let first = seps.next();
    (13..=19).contains(&ds.len())
        && seps.all(|c| Some(c) == first)
        && known_issuer(&ds)
        && luhn(&ds)
}

/// Payment cards: a known issuer prefix and length, one kind of separator, and the Luhn
/// checksum. A grouped candidate whose last group fails is retried without it (a CVV or
/// other number written right after the card).
pub(crate) fn card(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    if !isolated(text, &r, &['.', '-', '/', ',']) {
        return None;
    }
    if card_digits_ok(&text[r.clone()]) {
        return Some(r);
    }
    let value = &text[r.clone()];
    let cut = value.rfind([' ', '-'])?;
    let shorter = r.start..r.start + cut;
    card_digits_ok(&text[shorter.clone()]).then_some(shorter)
}

/// IBAN lengths by country (the SWIFT registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn iban_checksum_ok(compact: &[u8]) -> bool {
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// IBANs: a known country, that country's length (extra trailing groups are cut off) and
/// the ISO 7064 mod-97 checksum.
pub(crate) fn iban(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let value = &text[r.clone()];
    let len = IBAN_LENGTHS
        .iter()
        .find(|(cc, _)| value.starts_with(cc))
        .map(|&(_, len)| len)?;
    let mut compact = Vec::with_capacity(len);
    let mut end = r.start;
    for (i, b) in value.bytes().enumerate() {
        if compact.len() == len {
            break;
        }
        if b != b' ' {
            compact.push(b);
        }
        end = r.start + i + 1;
    }
    let r = r.start..end;
    (compact.len() == len && iban_checksum_ok(&compact) && isolated(text, &r, &[])).then_some(r)
}

/// US social security numbers: area not 000, 666 or 9xx; group not 00; serial not 0000;
/// and not one of the numbers published as examples.
pub(crate) fn ssn(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let ds: Vec<u32> = digits(&text[r.clone()]).collect();
    let (area, group, serial) = (number(&ds, 3), number(&ds[3..], 2), number(&ds[5..], 4));
    let published = matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999));
    let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    (valid && !published && isolated(text, &r, &['-', '.', '/'])).then_some(r)
}

/// IPv4 addresses: four octets of at most 255, without leading zeros, not part of a longer
/// dotted run such as a version number.
pub(crate) fn ipv4(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let ok = text[r.clone()]
        .split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && (o == "0" || !o.starts_with('0')));
    (ok && isolated(text, &r, &['.'])).then_some(r)
}

/// IPv6 addresses in any standard form, as parsed by the standard library, with at least
/// two written groups and a digit (so `a::b` and `std::vector` are not addresses).
pub(crate) fn ipv6(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let mut r = r;
    let value = &text[r.clone()];
    if value.parse::<Ipv6Addr>().is_err() {
        if value.ends_with(':') && !value.ends_with("::") {
            r.end -= 1;
        } else {
            return None;
        }
    }
    let value = &text[r.clone()];
    let groups = value.split(':').filter(|g| !g.is_empty()).count();
    let parsed = value.parse::<Ipv6Addr>().is_ok();
    let left = prev_char(text, r.start).is_none_or(|c| !(is_word(c) || matches!(c, ':' | '.')));
    let right = next_char(text, r.end).is_none_or(|c| !(is_word(c) || c == '.'));
    let colon_run = next_char(text, r.end) == Some(':')
        && next_char(text, r.end + 1).is_some_and(|c| c.is_ascii_hexdigit());
    (parsed
        && groups >= 2
        && value.bytes().any(|b| b.is_ascii_digit())
        && left
        && right
        && !colon_run)
        .then_some(r)
}

/// Tokens with a vendor prefix: nothing glued on either side.
pub(crate) fn token(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let glued = |c: char| is_word(c) || c == '-';
    let left = prev_char(text, r.start).is_none_or(|c| !glued(c));
    let right = next_char(text, r.end).is_none_or(|c| !glued(c));
    (left && right).then_some(r)
}

/// OpenAI-style `sk-` keys: the random part mixes digits, upper- and lowercase letters, so
/// `sk-this-is-not-a-key` is not one.
pub(crate) fn openai_key(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let body = text[r.clone()].trim_start_matches("sk-");
    let mixed = body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase());
    if mixed { token(text, r) } else { None }
}

/// AWS secret access keys named in an assignment: 40 characters, nothing glued after.
pub(crate) fn aws_secret(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let right =
        next_char(text, r.end).is_none_or(|c| !(c.is_ascii_alphanumeric() || "/+=".contains(c)));
    right.then_some(r)
}

/// JSON Web Tokens: the header decodes to a JSON object naming an algorithm or a type.
pub(crate) fn jwt(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let header = text[r.clone()].split('.').next()?;
    let decoded = base64_decode(header.as_bytes())?;
    let decoded = String::from_utf8(decoded).ok()?;
    let json = decoded.trim_start().starts_with('{')
        && (decoded.contains("\"alg\"") || decoded.contains("\"typ\""));
    if json { token(text, r) } else { None }
}

/// Private key blocks: the armour is proof enough; a block cut short (no `END` line) ends
/// at its last non-space character.
pub(crate) fn pem(text: &str, r: Range<usize>) -> Option<Range<usize>> {
    let end = r.start + text[r.clone()].trim_end().len();
    Some(r.start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(s: &str) -> Vec<u32> {
        digits(s).collect()
    }

    #[test]
    fn luhn_accepts_test_cards_and_rejects_a_changed_digit() {
        assert!(luhn(&ds("4111111111111111")));
        assert!(luhn(&ds("378282246310005")));
        assert!(!luhn(&ds("4111111111111112")));
    }

    #[test]
    fn iban_checksum_follows_iso_7064() {
        assert!(iban_checksum_ok(b"GB82WEST12345698765432"));
        assert!(!iban_checksum_ok(b"GB82WEST12345698765433"));
    }
}
