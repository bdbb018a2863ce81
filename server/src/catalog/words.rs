//! The words of the names, as the catalog indexes and searches them. No I/O.
//!
//! A name search matches at the start of words: every word of the query begins a word of the
//! remote or the local name, case ignored in any script (`ber` finds `Anna Berov`, `an ber`
//! too; `erov` does not). Scripts written without spaces between words (Chinese, Japanese,
//! Korean's syllables, Thai, Lao, Khmer, Myanmar) have every character as a word of its own, and
//! a query's run of them matches those characters in that order anywhere in a name (`小明`
//! finds `王小明`).
//!
//! The catalog stores the names as their words joined by single spaces ([`index_text`]); the
//! word index (SQLite's FTS5 with a tokenizer that splits only at spaces, PostgreSQL's `simple`
//! text search) reads them from there, so both engines see the same words.

/// Whether `c` ends a word: white space, control characters, ASCII punctuation and symbols,
/// and the common punctuation blocks. Every other character (letters, digits, marks of any
/// script) belongs to a word.
fn separates(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || (c.is_ascii() && !c.is_ascii_alphanumeric())
        || matches!(c as u32,
            0x00A1..=0x00BF   // Latin-1 punctuation and symbols (¡ « » ¿ …)
            | 0x00D7 | 0x00F7 // × ÷
            | 0x2000..=0x206F // general punctuation (dashes, quotes, …)
            | 0x3000..=0x3004 | 0x3008..=0x3020 | 0x3030 | 0x303D // CJK punctuation
            | 0x30FB          // katakana middle dot
            | 0xFE10..=0xFE1F | 0xFE30..=0xFE4F // vertical and compatibility forms
            | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 // fullwidth
        )
}

/// Whether `c` is a word on its own: a character of a script written without spaces.
fn alone(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF       // Thai, Lao
        | 0x1000..=0x109F     // Myanmar
        | 0x1100..=0x11FF     // Hangul jamo
        | 0x1780..=0x17FF     // Khmer
        | 0x2E80..=0x2FDF     // CJK radicals
        | 0x3005..=0x3007 | 0x3021..=0x3029 | 0x3038..=0x303C // ideographic marks and numbers
        | 0x3040..=0x30FA | 0x30FC..=0x30FF // Hiragana, Katakana
        | 0x3130..=0x318F     // Hangul compatibility jamo
        | 0x31F0..=0x31FF     // Katakana extensions
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0xFF66..=0xFF9F     // halfwidth Katakana
        | 0x20000..=0x323AF   // CJK extensions B–H
    )
}

/// `c` lowercased, with the final sigma as the other one (`ς` → `σ`), so that case does not
/// decide where a Greek word may end.
fn fold(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l })
}

/// The tokens of `text`, lowercased, in order, each marked with whether a separator (or the
/// start) comes before it.
fn tokens(text: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut current = String::new();
    let mut after_separator = true;
    let flush = |current: &mut String, out: &mut Vec<(bool, String)>, sep: &mut bool| {
        if !current.is_empty() {
            out.push((*sep, std::mem::take(current)));
            *sep = false;
        }
    };
    for c in text.chars() {
        if separates(c) {
            flush(&mut current, &mut out, &mut after_separator);
            after_separator = true;
        } else if alone(c) {
            flush(&mut current, &mut out, &mut after_separator);
            current.extend(fold(c));
            flush(&mut current, &mut out, &mut after_separator);
        } else {
            current.extend(fold(c));
        }
    }
    flush(&mut current, &mut out, &mut after_separator);
    out
}

/// The words of a recording's names, as the catalog's `names` column holds them: every word of
/// `remote` then of `local`, lowercased, joined by single spaces.
pub fn index_text(remote: &str, local: &str) -> String {
    let mut out = String::new();
    for (_, t) in tokens(remote).into_iter().chain(tokens(local)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&t);
    }
    out
}

/// A name query as words, each a run of tokens that must follow one another, the last one
/// matching as a prefix. A query with no letters or digits has no words (and matches nothing).
pub fn query(text: &str) -> Vec<Vec<String>> {
    let mut words: Vec<Vec<String>> = Vec::new();
    for (after_separator, t) in tokens(text) {
        match words.last_mut() {
            Some(w) if !after_separator => w.push(t),
            _ => words.push(vec![t]),
        }
    }
    words
}

/// An FTS5 query for `words`: each word a phrase whose last token is a prefix, all of them
/// required. Tokens hold no spaces, controls or ASCII punctuation, so no `"` either.
pub fn fts5(words: &[Vec<String>]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"*", w.join(" ")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// A PostgreSQL `tsquery` for `words`, the same query as [`fts5`]: the tokens of a word follow
/// one another (`<->`), the last one a prefix (`:*`), all words required (`&`).
pub fn tsquery(words: &[Vec<String>]) -> String {
    words
        .iter()
        .map(|w| {
            let mut phrase = w
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(" <-> ");
            phrase.push_str(":*");
            format!("({phrase})")
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(q: &str) -> Vec<Vec<String>> {
        query(q)
    }

    fn of(parts: &[&[&str]]) -> Vec<Vec<String>> {
        parts
            .iter()
            .map(|w| w.iter().map(|t| t.to_string()).collect())
            .collect()
    }

    #[test]
    fn names_are_their_lowercased_words_joined_by_spaces() {
        assert_eq!(
            index_text("Anna-Lena O'Brien", "Front desk"),
            "anna lena o brien front desk"
        );
        assert_eq!(index_text("ΑΛΈΞΗΣ", "αλέξης"), "αλέξησ αλέξησ");
        assert_eq!(index_text("Иван Петров", "«Sales»"), "иван петров sales");
        assert_eq!(index_text("  ", "\n"), "");
    }

    #[test]
    fn characters_of_scripts_without_spaces_are_words_of_their_own() {
        assert_eq!(
            index_text("王小明", "Zhang San 张三"),
            "王 小 明 zhang san 张 三"
        );
        assert_eq!(index_text("キムラ2号", ""), "キ ム ラ 2 号");
        assert_eq!(index_text("김민준", ""), "김 민 준");
        // Marks stay in their word (Devanagari's virama and vowel signs).
        assert_eq!(index_text("हिन्दी", ""), "हिन्दी");
    }

    #[test]
    fn a_query_is_words_of_tokens_that_follow_one_another() {
        assert_eq!(words("Ber"), of(&[&["ber"]]));
        assert_eq!(words("  anna   BER "), of(&[&["anna"], &["ber"]]));
        assert_eq!(words("小明"), of(&[&["小", "明"]]));
        assert_eq!(words("王 明"), of(&[&["王"], &["明"]]));
        assert_eq!(words("ab小c"), of(&[&["ab", "小", "c"]]));
        assert!(words("%'*").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn the_engines_queries_say_the_same() {
        let q = query("anna 小明");
        assert_eq!(fts5(&q), "\"anna\"* AND \"小 明\"*");
        assert_eq!(tsquery(&q), "('anna':*) & ('小' <-> '明':*)");
    }

    #[test]
    fn a_hostile_query_cannot_reach_the_query_syntax() {
        for q in [
            "\" OR rowid",
            "a\"b",
            "x' | 'y",
            "NEAR(a b)",
            "a:*",
            "(a) & !b",
            "-a",
        ] {
            for w in query(q).iter().flatten() {
                assert!(
                    w.chars()
                        .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric()),
                    "{q:?} gave token {w:?}"
                );
            }
        }
        // FTS5's operators are words when quoted: "near" is just a name here.
        assert_eq!(fts5(&query("NEAR")), "\"near\"*");
    }
}
