//! Where and why Python's `json` module rejects a body: FastAPI answers a body that is not
//! JSON with `json_invalid`, the position (in characters) and the message of Python's
//! `json.JSONDecodeError`. serde_json finds the same bodies invalid but words and places its
//! errors differently, so a body serde_json rejects is scanned again here, as CPython's C
//! scanner (`_json.c`, strict mode) scans it.
//!
//! Iterative (an explicit stack), so any nesting depth is scanned in constant stack space.

/// Python's message and position (a character index) for the first syntax error of `text`,
/// or `None` when Python's `json` would accept it.
pub(crate) fn python_error(text: &str) -> Option<(&'static str, usize)> {
    // `json.loads` of bytes decodes UTF-8 with a BOM as `utf-8-sig`.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let s: Vec<char> = text.chars().collect();
    scan(&s).err()
}

type Failure = (&'static str, usize);

const EXPECTING_VALUE: &str = "Expecting value";
const EXPECTING_NAME: &str = "Expecting property name enclosed in double quotes";
const EXPECTING_COLON: &str = "Expecting ':' delimiter";
const EXPECTING_COMMA: &str = "Expecting ',' delimiter";

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn skip_ws(s: &[char], mut idx: usize) -> usize {
    while idx < s.len() && is_ws(s[idx]) {
        idx += 1;
    }
    idx
}

#[derive(Clone, Copy)]
enum Frame {
    Array,
    Object,
}

enum Next {
    /// A value starts here.
    Value(usize),
    /// An object key starts here.
    Key(usize),
    /// A value ended here.
    After(usize),
}

fn scan(s: &[char]) -> Result<(), Failure> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut next = Next::Value(skip_ws(s, 0));
    loop {
        next = match next {
            Next::Value(idx) => {
                let Some(&c) = s.get(idx) else {
                    return Err((EXPECTING_VALUE, idx));
                };
                match c {
                    '"' => Next::After(string(s, idx + 1)?),
                    '{' => {
                        let idx = skip_ws(s, idx + 1);
                        if s.get(idx) == Some(&'}') {
                            Next::After(idx + 1)
                        } else {
                            stack.push(Frame::Object);
                            Next::Key(idx)
                        }
                    }
                    '[' => {
                        let idx = skip_ws(s, idx + 1);
                        if s.get(idx) == Some(&']') {
                            Next::After(idx + 1)
                        } else {
                            stack.push(Frame::Array);
                            Next::Value(idx)
                        }
                    }
                    _ => Next::After(scalar(s, idx)?),
                }
            }
            Next::Key(idx) => {
                if s.get(idx) != Some(&'"') {
                    return Err((EXPECTING_NAME, idx));
                }
                let idx = skip_ws(s, string(s, idx + 1)?);
                if s.get(idx) != Some(&':') {
                    return Err((EXPECTING_COLON, idx));
                }
                Next::Value(skip_ws(s, idx + 1))
            }
            Next::After(idx) => {
                let Some(&frame) = stack.last() else {
                    let end = skip_ws(s, idx);
                    return if end == s.len() {
                        Ok(())
                    } else {
                        Err(("Extra data", end))
                    };
                };
                let idx = skip_ws(s, idx);
                let close = match frame {
                    Frame::Array => ']',
                    Frame::Object => '}',
                };
                match s.get(idx) {
                    Some(&c) if c == close => {
                        stack.pop();
                        Next::After(idx + 1)
                    }
                    Some(',') => {
                        let idx = skip_ws(s, idx + 1);
                        match frame {
                            Frame::Array => Next::Value(idx),
                            Frame::Object => Next::Key(idx),
                        }
                    }
                    _ => return Err((EXPECTING_COMMA, idx)),
                }
            }
        };
    }
}

/// A literal or a number at `idx`; its end.
fn scalar(s: &[char], idx: usize) -> Result<usize, Failure> {
    let follows = |word: &str| {
        let n = word.chars().count();
        idx + n <= s.len() && s[idx..idx + n].iter().copied().eq(word.chars())
    };
    for word in ["null", "true", "false", "NaN", "Infinity", "-Infinity"] {
        // The C scanner checks a literal only when a character follows its first one.
        if follows(word) {
            return Ok(idx + word.chars().count());
        }
    }
    number(s, idx).ok_or((EXPECTING_VALUE, idx))
}

fn digit(s: &[char], idx: usize) -> bool {
    s.get(idx).is_some_and(char::is_ascii_digit)
}

/// A number at `start` as `_match_number_unicode` reads it; its end.
fn number(s: &[char], start: usize) -> Option<usize> {
    let mut idx = start;
    if s.get(idx) == Some(&'-') {
        idx += 1;
    }
    match s.get(idx) {
        Some('1'..='9') => {
            idx += 1;
            while digit(s, idx) {
                idx += 1;
            }
        }
        Some('0') => idx += 1,
        _ => return None,
    }
    if s.get(idx) == Some(&'.') && digit(s, idx + 1) {
        idx += 2;
        while digit(s, idx) {
            idx += 1;
        }
    }
    if idx + 1 < s.len() && matches!(s[idx], 'e' | 'E') {
        let e_start = idx;
        idx += 1;
        if idx + 1 < s.len() && matches!(s[idx], '+' | '-') {
            idx += 1;
        }
        while digit(s, idx) {
            idx += 1;
        }
        if !digit(s, idx - 1) {
            idx = e_start;
        }
    }
    Some(idx)
}

fn hex(s: &[char], from: usize) -> Option<u32> {
    let mut value = 0;
    for &c in s.get(from..from + 4)? {
        value = value * 16 + c.to_digit(16)?;
    }
    Some(value)
}

/// A string whose opening quote is just before `begin`, as `scanstring_unicode` reads it
/// (strict: no control characters); its end.
fn string(s: &[char], begin: usize) -> Result<usize, Failure> {
    let quote = begin - 1;
    let len = s.len();
    let mut end = begin;
    loop {
        let mut next = end;
        while next < len && s[next] != '"' && s[next] != '\\' {
            if u32::from(s[next]) <= 0x1f {
                return Err(("Invalid control character at", next));
            }
            next += 1;
        }
        if next >= len {
            return Err(("Unterminated string starting at", quote));
        }
        if s[next] == '"' {
            return Ok(next + 1);
        }
        next += 1;
        let Some(&c) = s.get(next) else {
            return Err(("Unterminated string starting at", quote));
        };
        if c != 'u' {
            end = next + 1;
            if !matches!(c, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') {
                return Err(("Invalid \\escape", end - 2));
            }
            continue;
        }
        next += 1;
        end = next + 4;
        if end >= len {
            return Err(("Invalid \\uXXXX escape", next - 1));
        }
        let Some(c) = hex(s, next) else {
            return Err(("Invalid \\uXXXX escape", end - 5));
        };
        if (0xd800..=0xdbff).contains(&c) && end + 6 < len && s[end] == '\\' && s[end + 1] == 'u' {
            let Some(c2) = hex(s, end + 2) else {
                return Err(("Invalid \\uXXXX escape", end + 1));
            };
            if (0xdc00..=0xdfff).contains(&c2) {
                end += 6;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::python_error;

    /// Python 3.11's `json.loads` on each input (see tests/fastapi_422/expected.json for the
    /// same through FastAPI).
    #[test]
    fn errors_are_placed_and_worded_as_python_does() {
        for (text, expected) in [
            (r#"{"a": 1}"#, None),
            (
                "[1, 2.5e-3, -0, \"\\u00e9\\ud83d\\ude00\", null, true, false, NaN, -Infinity]",
                None,
            ),
            (r#"{"title": "x""#, Some(("Expecting ',' delimiter", 13))),
            (
                r#"{"title": "x",}"#,
                Some(("Expecting property name enclosed in double quotes", 14)),
            ),
            ("[1,]", Some(("Expecting value", 3))),
            ("not json", Some(("Expecting value", 0))),
            ("{} []", Some(("Extra data", 3))),
            (
                "{'a': 1}",
                Some(("Expecting property name enclosed in double quotes", 1)),
            ),
            (r#"{"a" 1}"#, Some(("Expecting ':' delimiter", 5))),
            (r#"{"a": }"#, Some(("Expecting value", 6))),
            (
                r#"{"a": "abc"#,
                Some(("Unterminated string starting at", 6)),
            ),
            (r#"{"a": "a\qb"}"#, Some(("Invalid \\escape", 8))),
            (r#"{"a": "\u12G4"}"#, Some(("Invalid \\uXXXX escape", 8))),
            (r#"{"a": "\u12"}"#, Some(("Invalid \\uXXXX escape", 8))),
            (
                "{\"a\": \"a\nb\"}",
                Some(("Invalid control character at", 8)),
            ),
            (r#"{"a": 01}"#, Some(("Expecting ',' delimiter", 7))),
            (r#"{"a": -}"#, Some(("Expecting value", 6))),
            ("  \n ", Some(("Expecting value", 4))),
            ("", Some(("Expecting value", 0))),
            (
                r#"{"é": "ç", x}"#,
                Some(("Expecting property name enclosed in double quotes", 11)),
            ),
            (r#"{"a": tru}"#, Some(("Expecting value", 6))),
            ("[1.]", Some(("Expecting ',' delimiter", 2))),
            ("1e5x", Some(("Extra data", 3))),
            ("1e", Some(("Extra data", 1))),
            ("[1e+]", Some(("Expecting ',' delimiter", 2))),
            ("[", Some(("Expecting value", 1))),
            (
                "{",
                Some(("Expecting property name enclosed in double quotes", 1)),
            ),
            (r#"{"a""#, Some(("Expecting ':' delimiter", 4))),
            (r#""\"#, Some(("Unterminated string starting at", 0))),
            ("\u{feff}[]", None),
        ] {
            assert_eq!(python_error(text), expected, "{text:?}");
        }
        // Any depth, in constant stack space.
        let deep = "[".repeat(1 << 20);
        assert_eq!(python_error(&deep), Some(("Expecting value", 1 << 20)));
    }
}
