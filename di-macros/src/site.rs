//! Where a `#[depends]` attribute sits in its source file: directly in an `impl` or `trait`
//! block, or anywhere else.
//!
//! An attribute macro is not told what surrounds its item, and the companion items of a
//! `#[depends]` function (a struct, an `impl`) cannot stand in an `impl` block: there, rustc
//! reports "struct is not supported in `trait`s or `impl`s" and a cascade about the missing
//! type. rustc gives the attribute's file, line and column, so the macro reads the source up to
//! it and sees which block is open there; it then reports one error at the function instead.
//! The answer only chooses the error of a function that could not compile anyway: it is
//! `Outer::Other` whenever the source cannot be read or scanned (rust-analyzer, a file not on
//! disk), and an item reads as in an `impl` only when the innermost open `{` before it opens an
//! `impl` or a `trait` (after attributes and `pub`, `unsafe`, `default`, `auto`).

/// The block an item sits directly in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outer {
    Impl,
    Trait,
    Other,
}

/// The block directly around the item of the attribute being expanded, from its source file.
/// Only for the macro's entry point: `proc_macro::Span` panics outside a macro.
pub(crate) fn of_call_site() -> Outer {
    let span = proc_macro::Span::call_site();
    of_attribute_at(span.line(), span.column(), || {
        span.local_file()
            .and_then(|path| std::fs::read_to_string(path).ok())
    })
}

/// The block directly around the item whose attribute starts at `line` and `column`, both
/// from 1 as `proc_macro::Span` gives them; `read` gives the source file, if it can.
///
/// An attribute at the start of its line is taken to be at module level without reading the
/// file: most are, and an item of an `impl` or `trait` block is indented once formatted. Any
/// other is found by reading the file up to it, once per attribute. This test once looked for
/// column 0, which `proc_macro::Span` never gives, so every attribute read and scanned its
/// file up to itself: each expansion cost time in proportion to its line (an edit's
/// `cargo check` of a 750-function file took 4.4-4.9 s, 2.2-2.3 s now; BENCHMARKS.md,
/// "fifteenth round").
fn of_attribute_at(line: usize, column: usize, read: impl FnOnce() -> Option<String>) -> Outer {
    if column <= 1 {
        return Outer::Other;
    }
    read().map_or(Outer::Other, |source| {
        outer_block(&source, line, column - 1)
    })
}

/// The block directly around the item whose attribute starts at `line` (from 1) and `column`
/// (in characters, from 0) of `source`.
pub(crate) fn outer_block(source: &str, line: usize, column: usize) -> Outer {
    let Some(line_start) = line_start(source, line) else {
        return Outer::Other;
    };
    let end = source[line_start..]
        .char_indices()
        .nth(column)
        .map_or(source.len(), |(offset, _)| line_start + offset);
    scan(&source[..end]).unwrap_or(Outer::Other)
}

fn line_start(source: &str, line: usize) -> Option<usize> {
    if line == 1 {
        return Some(0);
    }
    source
        .match_indices('\n')
        .nth(line.checked_sub(2)?)
        .map(|(offset, _)| offset + 1)
}

/// The kind of the innermost `{` open at the end of `text`; `None` when `text` does not lex as
/// Rust (an unclosed string or comment, a `}` without its `{`).
fn scan(text: &str) -> Option<Outer> {
    let chars: Vec<char> = text.chars().collect();
    let mut blocks: Vec<Outer> = Vec::new();
    // The words of the item or statement being read, outside `(..)` and `[..]`, since the last
    // `;`, `{` or `}`; and the depth of `(` and `[` since then.
    let mut words: Vec<String> = Vec::new();
    let mut nesting: Vec<usize> = vec![0];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0usize;
                loop {
                    match (chars.get(i)?, chars.get(i + 1)) {
                        ('/', Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        ('*', Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => i += 1,
                    }
                }
                continue;
            }
            '"' => {
                i = skip_string(&chars, i + 1)?;
                continue;
            }
            '\'' => {
                i = skip_quote(&chars, i)?;
                continue;
            }
            '{' => {
                blocks.push(block_kind(&words));
                words.clear();
                nesting.push(0);
            }
            '}' => {
                blocks.pop()?;
                nesting.pop()?;
                words.clear();
            }
            ';' if *nesting.last()? == 0 => words.clear(),
            '(' | '[' => *nesting.last_mut()? += 1,
            ')' | ']' => {
                let depth = nesting.last_mut()?;
                *depth = depth.checked_sub(1)?;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // A string's prefix (`r"..."`, `br#"..."#`, `b"..."`, `c"..."`), a byte
                // (`b'x'`), or a raw identifier (`r#impl`, a word that is no keyword).
                match (word.as_str(), chars.get(i)) {
                    ("r" | "br" | "cr", Some('#' | '"')) => {
                        i = skip_raw_string(&chars, i)?;
                    }
                    ("b" | "c", Some('"')) => i = skip_string(&chars, i + 1)?,
                    ("b", Some('\'')) => i = skip_quote(&chars, i)?,
                    _ => {
                        if *nesting.last()? == 0 {
                            words.push(word);
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Some(blocks.last().copied().unwrap_or(Outer::Other))
}

/// What a `{` after `words` opens.
fn block_kind(words: &[String]) -> Outer {
    let first = words
        .iter()
        .find(|w| !matches!(w.as_str(), "pub" | "unsafe" | "default" | "auto" | "crate"));
    match first.map(String::as_str) {
        Some("impl") => Outer::Impl,
        Some("trait") => Outer::Trait,
        _ => Outer::Other,
    }
}

/// The index after the closing `"` of a string whose contents start at `i`.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    loop {
        match chars.get(i)? {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index after a raw string (`#..#"..."#..#` from `i`), or after the `#` of a raw
/// identifier (`r#impl`: the word after it is read as any word, so it is no keyword).
fn skip_raw_string(chars: &[char], mut i: usize) -> Option<usize> {
    let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
    if chars.get(i + hashes) != Some(&'"') {
        // `r#ident`: skip the whole identifier, so that `r#impl` is not the keyword.
        i += hashes;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        return Some(i);
    }
    i += hashes + 1;
    loop {
        if chars.get(i)? == &'"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|c| **c == '#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
}

/// The index after a character literal (`'x'`, `'\n'`, `'\u{..}'`, `'{'`) or a lifetime or
/// label (`'a`) starting with the `'` at `i`.
fn skip_quote(chars: &[char], i: usize) -> Option<usize> {
    match chars.get(i + 1)? {
        '\\' => {
            // After the escaped character, so that `'\''` ends at its last `'`.
            let mut j = i + 3;
            while chars.get(j)? != &'\'' {
                j += 1;
            }
            Some(j + 1)
        }
        _ if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            Some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `proc_macro::Span` counts columns from 1: an attribute at the start of its line (column
    /// 1) is at module level without the file being read; an indented one is looked up.
    #[test]
    fn an_attribute_at_the_start_of_its_line_reads_no_file() {
        let unread = || -> Option<String> { panic!("the source was read") };
        assert_eq!(of_attribute_at(1, 1, unread), Outer::Other);
        assert_eq!(of_attribute_at(40, 1, unread), Outer::Other);
        let source = "impl Store {\n    #[depends]\n    async fn get() {}\n}\n";
        assert_eq!(
            of_attribute_at(2, 5, || Some(source.to_owned())),
            Outer::Impl
        );
        let source = "mod routes {\n    #[depends]\n    async fn get() {}\n}\n";
        assert_eq!(
            of_attribute_at(2, 5, || Some(source.to_owned())),
            Outer::Other
        );
        assert_eq!(of_attribute_at(2, 5, || None), Outer::Other);
    }

    /// The block around the item at the `@` of `source`.
    fn at(source: &str) -> Outer {
        let offset = source.find('@').unwrap();
        let line = source[..offset].matches('\n').count() + 1;
        let line_start = source[..offset].rfind('\n').map_or(0, |n| n + 1);
        let column = source[line_start..offset].chars().count();
        outer_block(source, line, column)
    }

    #[test]
    fn items_in_impl_and_trait_blocks() {
        assert_eq!(
            at("struct S;\nimpl S {\n    @ async fn f() {}\n}"),
            Outer::Impl
        );
        assert_eq!(
            at("impl<T> Tr for S<T> where T: Fn() -> u8 { @ }"),
            Outer::Impl
        );
        assert_eq!(at("#[cfg(x)] pub(crate) unsafe impl S { @ }"), Outer::Impl);
        assert_eq!(at("pub trait T { @ }"), Outer::Trait);
        assert_eq!(
            at("mod m { impl S { fn f() {} } impl X { @ } }"),
            Outer::Impl
        );
    }

    #[test]
    fn items_anywhere_else() {
        assert_eq!(at("@ async fn f() {}"), Outer::Other);
        assert_eq!(at("impl S {}\n@"), Outer::Other);
        assert_eq!(at("impl S { fn f() { @ } }"), Outer::Other);
        assert_eq!(at("fn f() -> impl Sized { @ }"), Outer::Other);
        assert_eq!(at("mod m { @ }"), Outer::Other);
        assert_eq!(at("const _: () = { @ };"), Outer::Other);
        assert_eq!(at("macro_rules! m { (impl $t:ty) => { @ } }"), Outer::Other);
        assert_eq!(at("fn r#impl() {} mod m { @ }"), Outer::Other);
    }

    #[test]
    fn braces_in_literals_and_comments_do_not_count() {
        let source = r####"
            impl S { fn f() { let _ = ('{', '}', "}{", r#"}"#, b'{', br"}"); } }
            // impl X {
            /* impl Y { /* nested } */ { */
            fn g<'a>(x: &'a str) -> &'a str { 'outer: loop { break 'outer x; } }
            @
        "####;
        assert_eq!(at(source), Outer::Other);
        assert_eq!(at("impl S { const C: char = '}'; @ }"), Outer::Impl);
        assert_eq!(
            at("impl S { const C: char = '\\''; const D: char = '{'; @ }"),
            Outer::Impl
        );
    }

    #[test]
    fn unreadable_sources_are_other() {
        assert_eq!(at("impl S { \"unclosed @"), Outer::Other);
        assert_eq!(at("} impl S { @"), Outer::Other);
        assert_eq!(outer_block("impl S {", 9, 0), Outer::Other);
    }
}
