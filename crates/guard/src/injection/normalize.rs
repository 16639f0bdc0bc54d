//! Undoing the cheap disguises of an injection before matching phrases.

/// The text as the phrase rules read it, and what the disguises were.
pub(crate) struct Normalized {
    /// Lowercase, invisible characters removed, look-alikes folded, whitespace collapsed.
    pub text: String,
    /// Zero-width, bidi-control and tag characters that were removed.
    pub hidden: usize,
    /// Full-width or Cyrillic/Greek look-alike letters that were folded to ASCII.
    pub folded: usize,
    /// ASCII text smuggled in Unicode tag characters (U+E0020–U+E007E).
    pub smuggled: String,
}

fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}'
            | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{E0000}'..='\u{E007F}'
    )
}

/// ASCII for full-width forms and the lowercase Cyrillic and Greek letters that look like
/// Latin ones (input is lowercased first).
fn fold(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        '\u{3000}' => Some(' '),
        'а' | 'α' => Some('a'),
        'е' | 'ε' => Some('e'),
        'о' | 'ο' => Some('o'),
        'р' | 'ρ' => Some('p'),
        'с' => Some('c'),
        'х' | 'χ' => Some('x'),
        'і' | 'ι' => Some('i'),
        'у' => Some('y'),
        'ѕ' => Some('s'),
        'ԁ' => Some('d'),
        'ո' => Some('n'),
        _ => None,
    }
}

pub(crate) fn normalize(input: &str) -> Normalized {
    let mut out = Normalized {
        text: String::with_capacity(input.len()),
        hidden: 0,
        folded: 0,
        smuggled: String::new(),
    };
    let mut prev = ' ';
    let mut space = true;
    let mut push = |out: &mut Normalized, c: char, prev: &mut char| {
        *prev = c;
        if c.is_whitespace() {
            if !space {
                out.text.push(if c == '\n' { '\n' } else { ' ' });
            }
            space = true;
        } else {
            space = false;
            out.text.push(c);
        }
    };
    for c in input.chars() {
        if c.is_ascii() {
            push(&mut out, c.to_ascii_lowercase(), &mut prev);
            continue;
        }
        if c == '\u{200D}' {
            // A joiner between emoji is legitimate; inside a word it hides one.
            if prev.is_ascii_alphanumeric() {
                out.hidden += 1;
            }
            continue;
        }
        if invisible(c) {
            out.hidden += 1;
            if let Some(ascii) = ('\u{E0020}'..='\u{E007E}')
                .contains(&c)
                .then(|| char::from_u32(u32::from(c) - 0xE0000))
                .flatten()
            {
                out.smuggled.push(ascii);
            }
            continue;
        }
        for c in c.to_lowercase() {
            let c = match fold(c) {
                Some(f) => {
                    out.folded += 1;
                    f
                }
                None => c,
            };
            push(&mut out, c, &mut prev);
        }
    }
    out
}

/// Letters only, with leetspeak digits and symbols read as letters.
pub(crate) fn squash(normalized: &str) -> String {
    let mut out = String::with_capacity(normalized.len());
    for b in normalized.bytes() {
        let c = match b {
            b'a'..=b'z' => b,
            b'0' => b'o',
            b'1' | b'!' | b'|' => b'i',
            b'3' => b'e',
            b'4' | b'@' => b'a',
            b'5' | b'$' => b's',
            b'7' => b't',
            _ => continue,
        };
        out.push(char::from(c));
    }
    out
}

/// True when byte `at` of `line_text` lies inside quotation marks: an odd number of quote
/// characters precede it on its line (apostrophes inside words do not count).
pub(crate) fn quoted(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..at];
    let mut inside = false;
    let mut prev = ' ';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied().unwrap_or(' ');
        let toggles = match c {
            '"' | '“' | '”' | '«' | '»' | '`' => true,
            '\'' | '‘' | '’' => !(prev.is_alphanumeric() && next.is_alphanumeric()),
            _ => false,
        };
        if toggles {
            inside = !inside;
        }
        prev = c;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disguises_are_undone_and_counted() {
        let n = normalize("I\u{200B}gnore  ＡＬＬ\nрrevious\u{E0068}\u{E0069}");
        assert_eq!(n.text, "ignore all\nprevious");
        assert_eq!((n.hidden, n.folded), (3, 4));
        assert_eq!(n.smuggled, "hi");
        assert_eq!(squash("1gn0re, all!"), "ignorealli");
    }

    #[test]
    fn quotes_are_counted_on_the_line_but_apostrophes_are_not() {
        let t = "he said \"ignore all\" and don't 'stop here'";
        assert!(quoted(t, t.find("ignore").unwrap()));
        assert!(!quoted(t, t.find("and").unwrap()));
        assert!(quoted(t, t.find("stop").unwrap()));
        assert!(!quoted("line \"one\nignore", 12));
    }
}
