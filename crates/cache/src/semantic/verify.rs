//! The verifier: a cheap check that a semantic candidate asks the same thing as the new
//! question, because embedding models score near-misses ("flights from Paris to Berlin" and
//! "from Berlin to Paris", 7 am and 7 pm, Celsius and Fahrenheit, "not") as high as
//! paraphrases.
//!
//! Both texts are split into words (numbers inside words, like `7am` or `2FA`, are split
//! off) and compared on what a paraphrase keeps and a near-miss changes. Any difference
//! vetoes the hit:
//!
//! - **quotes**: text in double quotes or backticks must be the same;
//! - **numbers**: the same numbers (`twelve` is `12`, `1,000` is `1000`, `3.10` is `3.1`);
//! - **negation**: both negated (`not`, `no`, `never`, `without`, `n't`, …) or neither;
//! - **names**: every capitalised word that is not just the start of a sentence, every
//!   acronym and every word with a capital inside (`iPhone`) must appear in the other text
//!   (in any case). Text written all in capitals or
//!   all in lower case says nothing about names, so only the other side's are checked;
//! - **contrast terms**: a class of mutually exclusive terms (units and currencies, am/pm,
//!   days, months, seasons, directions, and opposites such as buy/sell, first/last or
//!   on/off) where each text uses a term the other does not;
//! - **opposites by affix**: a word only one side has that is the other side's word with a
//!   negating prefix (`safe`/`unsafe`) or with the opposite prefix (`upload`/`download`,
//!   `enable`/`disable`, `import`/`export`);
//! - **order**: names, numbers and contrast terms (but function words such as `in` or
//!   `this`) found in both must come in the same order (Paris→Berlin), and when the two
//!   texts use the same other content words (at most one differs on each side) those must
//!   come in the same order too ("does the dog chase the cat"). Moving a phrase from one end to the
//!   other keeps the order when the whole sequence of shared names, numbers, terms and
//!   content words (three or more) moves with it ("In Python, how do I merge two lists" and
//!   "How do I merge two lists in Python"); two swapped items never do.
//!
//! It is English-only and errs towards vetoing: a wrong answer costs more than a paid call.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::words::{
    CONTRASTS, NEGATING_PREFIXES, NEGATIONS, NUMBER_WORDS, OPPOSED_PREFIXES, STARTERS, STOPWORDS,
};

/// Why a candidate was vetoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Veto {
    /// Quoted text differs.
    Quotes,
    /// The numbers differ.
    Numbers,
    /// One is negated, the other is not.
    Negation,
    /// A name or acronym of one is missing from the other.
    Names,
    /// Each uses a different term of one contrast class (units, am/pm, buy/sell, …).
    Contrast,
    /// A word of one is the other's with an opposite prefix.
    Opposite,
    /// The shared names, numbers, terms or content words come in another order.
    Order,
}

impl Veto {
    /// A short name for logs and tests.
    pub fn name(self) -> &'static str {
        match self {
            Veto::Quotes => "quotes",
            Veto::Numbers => "numbers",
            Veto::Negation => "negation",
            Veto::Names => "names",
            Veto::Contrast => "contrast",
            Veto::Opposite => "opposite",
            Veto::Order => "order",
        }
    }
}

/// Whether `asked` may be served the answer to `cached`: `Ok` when nothing the verifier
/// checks differs.
pub fn verify(cached: &str, asked: &str) -> Result<(), Veto> {
    let a = Analysis::of(cached);
    let b = Analysis::of(asked);
    if a.quotes != b.quotes {
        return Err(Veto::Quotes);
    }
    if a.numbers != b.numbers {
        return Err(Veto::Numbers);
    }
    if a.negated != b.negated {
        return Err(Veto::Negation);
    }
    if !a.names_found_in(&b) || !b.names_found_in(&a) {
        return Err(Veto::Names);
    }
    if contrasting(&a.senses, &b.senses) {
        return Err(Veto::Contrast);
    }
    if opposed(&a, &b) {
        return Err(Veto::Opposite);
    }
    if !same_order(&a.anchors, &b.anchors, false) && !same_order(&a.sequence, &b.sequence, true) {
        return Err(Veto::Order);
    }
    let (only_a, only_b) = (a.content_not_in(&b), b.content_not_in(&a));
    if only_a <= 1 && only_b <= 1 && !same_order(&a.content, &b.content, true) {
        return Err(Veto::Order);
    }
    Ok(())
}

/// What the verifier reads from one text.
#[derive(Debug, Default)]
struct Analysis {
    quotes: Vec<String>,
    /// Sorted.
    numbers: Vec<String>,
    negated: bool,
    /// Lower-case names and acronyms.
    names: Vec<String>,
    /// Every word, lower case, and its stem.
    words: HashSet<String>,
    /// Content-word stems in order.
    content: Vec<String>,
    /// Contrast senses by class.
    senses: BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// Names, numbers and contrast senses in order.
    anchors: Vec<String>,
    /// Anchors and content words in order.
    sequence: Vec<String>,
}

/// One word as written, and whether it starts a sentence.
struct Word<'a> {
    text: &'a str,
    initial: bool,
}

impl Analysis {
    fn of(text: &str) -> Analysis {
        let text = text.replace(['\u{2019}', '\u{2018}'], "'");
        let mut out = Analysis {
            quotes: quotes(&text),
            ..Analysis::default()
        };
        let cased = casing_informative(&text);
        for word in words(&text) {
            out.add(&word, cased);
        }
        out.numbers.sort();
        out
    }

    fn add(&mut self, word: &Word<'_>, cased: bool) {
        let (anchors, content) = (self.anchors.len(), self.content.len());
        self.read(word, cased);
        let new = self.anchors[anchors..]
            .iter()
            .chain(&self.content[content..]);
        self.sequence.extend(new.cloned());
    }

    fn read(&mut self, word: &Word<'_>, cased: bool) {
        let raw = word.text;
        if raw.starts_with(|c: char| c.is_ascii_digit()) {
            let n = number(raw);
            self.anchors.push(format!("#{n}"));
            self.numbers.push(n);
            return;
        }
        let lower = raw.to_lowercase();
        let key = lower.strip_suffix("'s").unwrap_or(&lower).replace('\'', "");
        if key.is_empty() {
            return;
        }
        self.words.insert(stem(&key));
        self.words.insert(key.clone());
        if NEGATIONS.contains(&key.as_str()) || lower.ends_with("n't") {
            self.negated = true;
            return;
        }
        if let Some((_, n)) = NUMBER_WORDS.iter().find(|(w, _)| *w == key) {
            self.anchors.push(format!("#{n}"));
            self.numbers.push((*n).to_owned());
            return;
        }
        let function_word = STOPWORDS.contains(&key.as_str());
        let senses = senses(&key);
        for (class, sense) in &senses {
            self.senses.entry(class).or_default().insert(sense);
            if !function_word {
                self.anchors.push(format!("{class}:{sense}"));
            }
        }
        if cased && is_name(raw, &key, word.initial) {
            self.anchors.push(format!("={key}"));
            self.names.push(key.clone());
        }
        // A contrast term is ordered among the anchors, not among the content words.
        if key.len() >= 2 && !function_word && senses.is_empty() {
            self.content.push(stem(&key));
        }
    }

    fn names_found_in(&self, other: &Analysis) -> bool {
        self.names
            .iter()
            .all(|n| other.words.contains(n) || other.words.contains(&stem(n)))
    }

    /// How many of this text's content words the other lacks.
    fn content_not_in(&self, other: &Analysis) -> usize {
        let theirs: HashSet<&String> = other.content.iter().collect();
        let mine: HashSet<&String> = self.content.iter().collect();
        mine.difference(&theirs).count()
    }
}

/// Whether a word is a name: capitalised and not a sentence's usual first word, an
/// acronym, or a capital inside a word (`iPhone`, `macOS`).
fn is_name(raw: &str, key: &str, initial: bool) -> bool {
    let letters: Vec<char> = raw.chars().filter(|c| c.is_alphabetic()).collect();
    let acronym = letters.len() >= 2 && letters.iter().all(|c| c.is_uppercase());
    let inner_capital = letters.iter().skip(1).any(|c| c.is_uppercase());
    if acronym || inner_capital {
        return true;
    }
    let capital = letters.first().is_some_and(|c| c.is_uppercase());
    if !capital || key == "i" {
        return false;
    }
    !initial
        || !(STOPWORDS.contains(&key)
            || STARTERS.contains(&key)
            || NEGATIONS.contains(&key)
            || NUMBER_WORDS.iter().any(|(w, _)| *w == key)
            || !senses(key).is_empty())
}

/// Capitals say something only in text that mixes cases: not in shouting, not in text
/// typed all in lower case.
fn casing_informative(text: &str) -> bool {
    let (mut upper, mut lower) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
        } else if c.is_lowercase() {
            lower += 1;
        }
    }
    upper > 0 && lower > 0 && upper * 2 < lower
}

/// The contrast senses of a word, trying it as written and without a plural ending.
fn senses(key: &str) -> Vec<(&'static str, &'static str)> {
    let forms = [Some(key), key.strip_suffix('s'), key.strip_suffix("es")];
    for form in forms.into_iter().flatten() {
        let found: Vec<_> = CONTRASTS
            .iter()
            .filter(|(w, _, _)| *w == form)
            .map(|(_, class, sense)| (*class, *sense))
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Whether some class has a sense only `a` uses and another only `b` uses.
fn contrasting(
    a: &BTreeMap<&'static str, BTreeSet<&'static str>>,
    b: &BTreeMap<&'static str, BTreeSet<&'static str>>,
) -> bool {
    a.iter().any(|(class, sa)| {
        b.get(class)
            .is_some_and(|sb| !sa.is_subset(sb) && !sb.is_subset(sa))
    })
}

/// Whether a word only `a` has and one only `b` has are opposites by prefix.
fn opposed(a: &Analysis, b: &Analysis) -> bool {
    let only = |x: &Analysis, y: &Analysis| -> Vec<String> {
        x.words
            .iter()
            .filter(|w| !y.words.contains(*w))
            .cloned()
            .collect()
    };
    let (only_a, only_b) = (only(a, b), only(b, a));
    only_a
        .iter()
        .any(|x| only_b.iter().any(|y| opposite(x, y) || opposite(y, x)))
}

/// Whether `x` is `y` with a negating prefix, or both share a stem after opposed prefixes.
fn opposite(x: &str, y: &str) -> bool {
    const MIN_STEM: usize = 3;
    let negated = NEGATING_PREFIXES.iter().any(|p| {
        x.strip_prefix(p)
            .is_some_and(|rest| rest.len() >= MIN_STEM && rest == y)
    });
    negated
        || OPPOSED_PREFIXES
            .iter()
            .any(|(p, q)| match (x.strip_prefix(p), y.strip_prefix(q)) {
                (Some(s), Some(t)) => s.len() >= MIN_STEM && s == t,
                _ => false,
            })
}

/// Whether the items both sequences have come in the same order (first occurrences). With
/// `rotate`, moving a block from one end to the other keeps the order when there are at
/// least three items (two swapped items never do).
fn same_order(a: &[String], b: &[String], rotate: bool) -> bool {
    let sa: HashSet<&String> = a.iter().collect();
    let sb: HashSet<&String> = b.iter().collect();
    let shared = |seq: &[String], other: &HashSet<&String>| -> Vec<String> {
        let mut seen = HashSet::new();
        seq.iter()
            .filter(|w| other.contains(w) && seen.insert(w.as_str()))
            .cloned()
            .collect()
    };
    let (oa, ob) = (shared(a, &sb), shared(b, &sa));
    if oa == ob {
        return true;
    }
    rotate && oa.len() >= 3 && (1..oa.len()).any(|k| oa[k..].iter().chain(&oa[..k]).eq(&ob))
}

/// Text between double quotes or backticks, in order of appearance, sorted.
fn quotes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (open, close) in [('"', '"'), ('\u{201c}', '\u{201d}'), ('`', '`')] {
        let mut rest = text;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len_utf8()..];
            let Some(end) = after.find(close) else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end + close.len_utf8()..];
        }
    }
    out.sort();
    out
}

/// The words of `text`: runs of letters (with inner apostrophes) or of digits (with inner
/// `.`, `,` or `:`), a number never glued to letters. A word after `.`, `?`, `!`, `:`, `;`
/// or a line break starts a sentence.
fn words(text: &str) -> Vec<Word<'_>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut initial = true;
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if !c.is_alphanumeric() {
            if matches!(c, '.' | '?' | '!' | ':' | ';' | '\n') {
                initial = true;
            }
            i += 1;
            continue;
        }
        let digits = c.is_ascii_digit();
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j].1;
            let next = chars.get(j + 1).map(|(_, c)| *c);
            let part = if digits {
                c.is_ascii_digit()
                    || (matches!(c, '.' | ',' | ':') && next.is_some_and(|n| n.is_ascii_digit()))
            } else {
                (c.is_alphanumeric() && !c.is_ascii_digit())
                    || (c == '\'' && next.is_some_and(char::is_alphabetic))
            };
            if !part {
                break;
            }
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(at, _)| *at);
        let word = &text[start..end];
        // `1st`, `2nd`: the ordinal ending is not a word of its own.
        let ordinal =
            matches!(word, "st" | "nd" | "rd" | "th") && i > 0 && chars[i - 1].1.is_ascii_digit();
        if !ordinal {
            out.push(Word {
                text: word,
                initial,
            });
        }
        initial = false;
        i = j;
    }
    out
}

/// A number as compared: no thousands commas, no leading zeros, no trailing decimal zeros.
fn number(raw: &str) -> String {
    let mut n: String = raw.chars().filter(|c| *c != ',').collect();
    if n.contains('.') && !n.contains(':') {
        n = n.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let trimmed = n.trim_start_matches('0');
    if trimmed.is_empty() || trimmed.starts_with(['.', ':']) {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    }
}

/// A light stem: plural, `-ing`, `-ed` and `-ly` endings removed.
fn stem(word: &str) -> String {
    let n = word.len();
    let cut = |suffix: &str| word[..n - suffix.len()].to_owned();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    if n > 5 && word.ends_with("ing") {
        return cut("ing");
    }
    if n > 4 && word.ends_with("ed") {
        return cut("ed");
    }
    if n > 5 && word.ends_with("ly") {
        return cut("ly");
    }
    if n > 4
        && ["ches", "shes", "xes", "sses"]
            .iter()
            .any(|s| word.ends_with(s))
    {
        return cut("es");
    }
    if n > 3 && word.ends_with('s') && !word.ends_with("ss") {
        return cut("s");
    }
    word.to_owned()
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
