//! Line lexer: comments, quotes and braces, with the origin column of every token.
//!
//! keepalived's grammar is line oriented: a statement is a keyword and its arguments on one
//! line; `{` and `}` may stand anywhere and are always tokens of their own (outside quotes);
//! `#` and `!` start a comment anywhere outside double quotes.
//!
//! The lexer is pure and total: any `&str` yields tokens and at most one diagnostic
//! (an unterminated quote).

use super::diag::Span;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokKind {
    Word,
    Open,
    Close,
    /// End of a logical line.
    Eol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub kind: TokKind,
    /// The token text; quotes removed for quoted tokens.
    pub text: String,
    /// Written as `"..."`.
    pub quoted: bool,
    pub span: Span,
}

impl Token {
    pub fn is_word(&self) -> bool {
        self.kind == TokKind::Word
    }
}

/// Where the bytes of a (possibly expanded) line came from: `cols[i]` is the 1-based column in
/// the original source line of byte `i`. `None` means the text is the original line itself.
pub type ColMap<'a> = Option<&'a [u32]>;

/// Columns (1-based, in characters) of every byte of `line`, as the caret renderer counts them.
pub fn identity_cols(line: &str) -> Vec<u32> {
    let mut cols = Vec::with_capacity(line.len());
    for (n, c) in line.chars().enumerate() {
        for _ in 0..c.len_utf8() {
            cols.push(n as u32 + 1);
        }
    }
    cols
}

/// The byte index where a comment starts (outside double quotes), if any.
pub fn comment_start(line: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in line.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote => escaped = true,
            b'"' => in_quote = !in_quote,
            b'#' | b'!' if !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// Decode one escape inside a quoted string (`rest` starts after the backslash): keepalived's
/// `\a \b \E \f \n \r \t \v \nnn \xXX \cC`, and `\C` for any other C. Returns the
/// number of bytes consumed.
fn unescape(rest: &[u8], out: &mut Vec<u8>) -> usize {
    let Some(&c) = rest.first() else { return 0 };
    let simple = match c {
        b'a' => Some(7),
        b'b' => Some(8),
        b'E' => Some(27),
        b'f' => Some(12),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(11),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return 1;
    }
    match c {
        b'0'..=b'7' => {
            let n = rest
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(*d))
                .count();
            let v = rest[..n]
                .iter()
                .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
            out.push((v & 0xff) as u8);
            n
        }
        b'x' => {
            let n = rest[1..]
                .iter()
                .take(2)
                .take_while(|d| d.is_ascii_hexdigit())
                .count();
            if n == 0 {
                out.push(b'x');
                return 1;
            }
            let v = rest[1..=n].iter().fold(0u8, |a, d| {
                a.wrapping_mul(16)
                    .wrapping_add((*d as char).to_digit(16).unwrap_or(0) as u8)
            });
            out.push(v);
            1 + n
        }
        b'c' if rest.len() > 1 && rest[1] != b'\n' => {
            out.push(rest[1].to_ascii_uppercase() ^ 0x40);
            2
        }
        _ => {
            // Any other character stands for itself (`\"`, `\\`); keep UTF-8 sequences whole.
            let len = match c {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            }
            .min(rest.len());
            out.extend_from_slice(&rest[..len]);
            len
        }
    }
}

/// The problem a line can have at lexing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub col: u32,
    pub message: String,
}

/// Split one comment-free line into tokens; `\n` inside `line` (from multi-line definitions)
/// ends a logical line. Pushes tokens to `out`, ending every logical line with an `Eol`.
pub fn lex_line(
    line: &str,
    cols: ColMap<'_>,
    file: &Arc<str>,
    lineno: u32,
    out: &mut Vec<Token>,
) -> Option<LexError> {
    let bytes = line.as_bytes();
    // Columns: from the map, or counted on the fly for an original line (ASCII fast path).
    let ascii = cols.is_none() && line.is_ascii();
    let owned;
    let cols: &[u32] = match cols {
        Some(c) => c,
        None if ascii => &[],
        None => {
            owned = identity_cols(line);
            &owned
        }
    };
    let col_of = |i: usize| -> u32 {
        if ascii {
            i as u32 + 1
        } else {
            cols.get(i)
                .copied()
                .unwrap_or_else(|| cols.last().map_or(1, |c| c + 1))
        }
    };
    let span = |i: usize| Span::new(file.clone(), lineno, col_of(i));
    let mut err = None;
    let mut i = 0;
    let mut line_has_tokens = false;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                if line_has_tokens {
                    out.push(Token {
                        kind: TokKind::Eol,
                        text: String::new(),
                        quoted: false,
                        span: span(i),
                    });
                }
                line_has_tokens = false;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            b'{' | b'}' => {
                out.push(Token {
                    kind: if b == b'{' {
                        TokKind::Open
                    } else {
                        TokKind::Close
                    },
                    text: (b as char).to_string(),
                    quoted: false,
                    span: span(i),
                });
                line_has_tokens = true;
                i += 1;
            }
            _ => {
                // A word; `"..."` parts anywhere in it are quoted (spaces and braces kept,
                // escapes decoded, quote characters removed): `ab" c "d` is `ab c d`.
                let start = i;
                let mut quoted = false;
                let mut text: Vec<u8> = Vec::new();
                while i < bytes.len() {
                    let b = bytes[i];
                    if matches!(
                        b,
                        b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c' | b'{' | b'}'
                    ) {
                        break;
                    }
                    if b != b'"' {
                        text.push(b);
                        i += 1;
                        continue;
                    }
                    quoted = true;
                    let open = i;
                    i += 1;
                    let mut closed = false;
                    while i < bytes.len() && bytes[i] != b'\n' {
                        match bytes[i] {
                            b'"' => {
                                closed = true;
                                i += 1;
                                break;
                            }
                            b'\\' if i + 1 < bytes.len() && bytes[i + 1] != b'\n' => {
                                i += 1 + unescape(&bytes[i + 1..], &mut text);
                            }
                            c => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    if !closed {
                        if err.is_none() {
                            err = Some(LexError {
                                col: col_of(open),
                                message: "unterminated quoted string".into(),
                            });
                        }
                        break;
                    }
                }
                out.push(Token {
                    kind: TokKind::Word,
                    text: match String::from_utf8(text) {
                        Ok(t) => t,
                        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    },
                    quoted,
                    span: span(start),
                });
                line_has_tokens = true;
            }
        }
    }
    if line_has_tokens {
        out.push(Token {
            kind: TokKind::Eol,
            text: String::new(),
            quoted: false,
            span: span(bytes.len()),
        });
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let f: Arc<str> = Arc::from("t");
        let s = match comment_start(s) {
            Some(i) => &s[..i],
            None => s,
        };
        lex_line(s, None, &f, 1, &mut out);
        out.into_iter()
            .filter(|t| t.kind != TokKind::Eol)
            .map(|t| (t.text, t.span.col))
            .collect()
    }

    #[test]
    fn splits_braces_quotes_comments() {
        assert_eq!(
            words(r#"  a{b "c d" } # x"#),
            vec![
                ("a".into(), 3),
                ("{".into(), 4),
                ("b".into(), 5),
                ("c d".into(), 7),
                ("}".into(), 13)
            ]
        );
        assert_eq!(words("x ! y"), vec![("x".into(), 1)]);
        assert_eq!(
            words(r#""a#b" c"#),
            vec![("a#b".into(), 1), ("c".into(), 7)]
        );
    }

    #[test]
    fn quotes_inside_words_and_escapes() {
        assert_eq!(
            words(r#"abcd" efg h jkl "mnop x"#),
            vec![("abcd efg h jkl mnop".into(), 1), ("x".into(), 23)]
        );
        assert_eq!(
            words(r#""a\"b\\c\x41\101\t""#),
            vec![("a\"b\\cAA\t".into(), 1)]
        );
        assert_eq!(
            words(r#""{ } # !" y"#),
            vec![("{ } # !".into(), 1), ("y".into(), 11)]
        );
        assert_eq!(
            words(r##""a\"#b" z"##),
            vec![("a\"#b".into(), 1), ("z".into(), 9)]
        );
    }

    #[test]
    fn unterminated_quote_is_reported() {
        let mut out = Vec::new();
        let f: Arc<str> = Arc::from("t");
        let e = lex_line(r#"x "abc"#, None, &f, 1, &mut out).unwrap();
        assert_eq!(e.col, 3);
    }

    /// How a word must be written so that the lexer reads it back.
    fn render(w: &str) -> String {
        if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "{}\"#!\\".contains(c)) {
            return w.to_string();
        }
        let mut out = String::from("\"");
        for c in w.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c)
                }
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn words_round_trip(ws in proptest::collection::vec("[ -~\u{e9}\u{4e2d}\t]{0,12}", 1..8)) {
            let line: Vec<String> = ws.iter().map(|w| render(w)).collect();
            let line = line.join(" ");
            let mut out = Vec::new();
            let f: Arc<str> = Arc::from("t");
            let err = lex_line(&line, None, &f, 1, &mut out);
            proptest::prop_assert!(err.is_none());
            proptest::prop_assert!(comment_start(&line).is_none());
            let got: Vec<String> = out.into_iter().filter(|t| t.is_word()).map(|t| t.text).collect();
            proptest::prop_assert_eq!(got, ws);
        }

        #[test]
        fn lexer_is_total(line in "\\PC{0,80}") {
            let mut out = Vec::new();
            let f: Arc<str> = Arc::from("t");
            let _ = lex_line(&line, None, &f, 1, &mut out);
            let _ = comment_start(&line);
        }
    }

    #[test]
    fn non_ascii_columns_count_characters() {
        assert_eq!(words("é x"), vec![("é".into(), 1), ("x".into(), 3)]);
    }
}
