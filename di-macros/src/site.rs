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
    FILES.with(|files| {
        let mut files = files.borrow_mut();
        of_attribute_at(span.line(), span.column(), || span.local_file(), &mut files)
    })
}

thread_local! {
    /// The file last scanned on this thread: one compilation expands a file's attributes in
    /// order, so each scan goes on from where the one before it stopped.
    static FILES: std::cell::RefCell<FileScan> = std::cell::RefCell::default();
}

/// The block directly around the item whose attribute starts at `line` and `column` of the
/// file `path` gives, both from 1 as `proc_macro::Span` gives them.
///
/// An attribute at the start of its line is taken to be at module level without reading the
/// file: most are, and an item of an `impl` or `trait` block is indented once formatted. Any
/// other is found by reading the file up to it. This test once looked for column 0, which
/// `proc_macro::Span` never gives, so every attribute read and scanned its file up to itself:
/// each expansion cost time in proportion to its line (an edit's `cargo check` of a
/// 750-function file took 4.4-4.9 s, 2.2-2.3 s now; BENCHMARKS.md, "fifteenth round"). The
/// indented ones of one file are scanned once in all, not once each ([`FileScan`]).
fn of_attribute_at(
    line: usize,
    column: usize,
    path: impl FnOnce() -> Option<std::path::PathBuf>,
    files: &mut FileScan,
) -> Outer {
    if column <= 1 {
        return Outer::Other;
    }
    match path() {
        Some(path) => files.outer(&path, line, column - 1),
        None => Outer::Other,
    }
}

/// A file's text and how far it has been scanned, kept between the expansions of its
/// attributes.
#[derive(Default)]
struct FileScan {
    file: Option<ScannedFile>,
}

/// See [`FileScan`].
struct ScannedFile {
    path: std::path::PathBuf,
    /// Its length and modification time when it was read: a file changed since (a
    /// long-lived macro server's, an editor's) is read again.
    stamp: (u64, Option<std::time::SystemTime>),
    chars: Vec<char>,
    /// Where each line starts, in `chars`.
    line_starts: Vec<usize>,
    /// The scan so far, from the start of the file; `None` after one that did not lex.
    scanner: Option<Scanner>,
}

/// A file's length and modification time, if it can be read.
fn stamp_of(path: &std::path::Path) -> Option<(u64, Option<std::time::SystemTime>)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()))
}

impl FileScan {
    /// See [`of_attribute_at`]; `column` from 0, in characters.
    fn outer(&mut self, path: &std::path::Path, line: usize, column: usize) -> Outer {
        let Some(stamp) = stamp_of(path) else {
            return Outer::Other;
        };
        let current = self
            .file
            .as_ref()
            .is_some_and(|file| file.path == path && file.stamp == stamp);
        if !current {
            let Ok(source) = std::fs::read_to_string(path) else {
                return Outer::Other;
            };
            self.file = Some(ScannedFile::new(path.to_owned(), stamp, &source));
        }
        match self.file.as_mut() {
            Some(file) => file.outer(line, column),
            None => Outer::Other,
        }
    }
}

impl ScannedFile {
    fn new(
        path: std::path::PathBuf,
        stamp: (u64, Option<std::time::SystemTime>),
        source: &str,
    ) -> Self {
        let chars: Vec<char> = source.chars().collect();
        let line_starts = std::iter::once(0)
            .chain(
                chars
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        Self {
            path,
            stamp,
            chars,
            line_starts,
            scanner: None,
        }
    }

    /// The block around the item whose attribute starts at `line` (from 1) and `column` (in
    /// characters, from 0): what a scan from the start finds, the scan going on from the last one
    /// when the attribute is the first thing on its line and comes after it.
    fn outer(&mut self, line: usize, column: usize) -> Outer {
        let Some(&start) = line
            .checked_sub(1)
            .and_then(|index| self.line_starts.get(index))
        else {
            return Outer::Other;
        };
        let end = start.saturating_add(column).min(self.chars.len());
        let starts_its_line = self.chars[start..end]
            .iter()
            .all(|c| c.is_whitespace() && *c != '\n');
        if !starts_its_line {
            // Something before it on its line (a `{`, a comment): scanned alone from the start.
            return Scanner::default()
                .run(&self.chars[..end])
                .unwrap_or(Outer::Other);
        }
        // Cut where only indentation precedes it on its line, the text before it ends between
        // two tokens: a scan that stopped at an earlier such cut goes on from there exactly as
        // one from the start would.
        let scanner = match &mut self.scanner {
            Some(scanner) if scanner.i <= end => scanner,
            _ => self.scanner.insert(Scanner::default()),
        };
        scanner.run(&self.chars[..end]).unwrap_or_else(|| {
            self.scanner = None;
            Outer::Other
        })
    }
}

/// The block directly around the item whose attribute starts at `line` (from 1) and `column`
/// (in characters, from 0) of `source`, scanned from the start: what [`FileScan`] must find.
#[cfg(test)]
fn outer_block(source: &str, line: usize, column: usize) -> Outer {
    let Some(line_start) = line_start(source, line) else {
        return Outer::Other;
    };
    let end = source[line_start..]
        .char_indices()
        .nth(column)
        .map_or(source.len(), |(offset, _)| line_start + offset);
    scan(&source[..end]).unwrap_or(Outer::Other)
}

#[cfg(test)]
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
#[cfg(test)]
fn scan(text: &str) -> Option<Outer> {
    let chars: Vec<char> = text.chars().collect();
    Scanner::default().run(&chars)
}

/// A scan of a text from its start: the blocks open, and what the item being read has said.
struct Scanner {
    /// Where the scan has got to.
    i: usize,
    blocks: Vec<Outer>,
    /// The words of the item or statement being read, outside `(..)` and `[..]`, since the
    /// last `;`, `{` or `}`; and the depth of `(` and `[` since then.
    words: Vec<String>,
    nesting: Vec<usize>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            i: 0,
            blocks: Vec::new(),
            words: Vec::new(),
            nesting: vec![0],
        }
    }
}

impl Scanner {
    /// Scans on from where it stopped to the end of `chars` (the text from its start): the
    /// kind of the innermost `{` open there; `None` when it does not lex as Rust.
    fn run(&mut self, chars: &[char]) -> Option<Outer> {
        while self.i < chars.len() {
            let c = chars[self.i];
            let next = chars.get(self.i + 1).copied();
            match c {
                '/' if next == Some('/') => {
                    while self.i < chars.len() && chars[self.i] != '\n' {
                        self.i += 1;
                    }
                }
                '/' if next == Some('*') => {
                    let mut depth = 0usize;
                    loop {
                        match (chars.get(self.i)?, chars.get(self.i + 1)) {
                            ('/', Some('*')) => {
                                depth += 1;
                                self.i += 2;
                            }
                            ('*', Some('/')) => {
                                depth -= 1;
                                self.i += 2;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => self.i += 1,
                        }
                    }
                    continue;
                }
                '"' => {
                    self.i = skip_string(chars, self.i + 1)?;
                    continue;
                }
                '\'' => {
                    self.i = skip_quote(chars, self.i)?;
                    continue;
                }
                '{' => {
                    self.blocks.push(block_kind(&self.words));
                    self.words.clear();
                    self.nesting.push(0);
                }
                '}' => {
                    self.blocks.pop()?;
                    self.nesting.pop()?;
                    self.words.clear();
                }
                ';' if *self.nesting.last()? == 0 => self.words.clear(),
                '(' | '[' => *self.nesting.last_mut()? += 1,
                ')' | ']' => {
                    let depth = self.nesting.last_mut()?;
                    *depth = depth.checked_sub(1)?;
                }
                c if c.is_alphabetic() || c == '_' => {
                    let start = self.i;
                    while self.i < chars.len()
                        && (chars[self.i].is_alphanumeric() || chars[self.i] == '_')
                    {
                        self.i += 1;
                    }
                    let word: String = chars[start..self.i].iter().collect();
                    // A string's prefix (`r"..."`, `br#"..."#`, `b"..."`, `c"..."`), a byte
                    // (`b'x'`), or a raw identifier (`r#impl`, a word that is no keyword).
                    match (word.as_str(), chars.get(self.i)) {
                        ("r" | "br" | "cr", Some('#' | '"')) => {
                            self.i = skip_raw_string(chars, self.i)?;
                        }
                        ("b" | "c", Some('"')) => self.i = skip_string(chars, self.i + 1)?,
                        ("b", Some('\'')) => self.i = skip_quote(chars, self.i)?,
                        _ => {
                            if *self.nesting.last()? == 0 {
                                self.words.push(word);
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        Some(self.blocks.last().copied().unwrap_or(Outer::Other))
    }
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

    /// A file of its own in the temporary directory, holding `source`.
    fn file_with(name: &str, source: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("di-macros-site-{}-{name}.rs", std::process::id()));
        std::fs::write(&path, source).unwrap();
        path
    }

    /// `proc_macro::Span` counts columns from 1: an attribute at the start of its line (column
    /// 1) is at module level without the file being read; an indented one is looked up.
    #[test]
    fn an_attribute_at_the_start_of_its_line_reads_no_file() {
        let path = file_with(
            "column",
            "impl Store {\n    #[depends]\n    async fn get() {}\n}\n",
        );
        let mut files = FileScan::default();
        let unasked = || -> Option<std::path::PathBuf> { panic!("the file was asked for") };
        assert_eq!(of_attribute_at(1, 1, unasked, &mut files), Outer::Other);
        assert_eq!(of_attribute_at(40, 1, unasked, &mut files), Outer::Other);
        assert!(files.file.is_none(), "the file was read");
        let given = || Some(path.clone());
        assert_eq!(of_attribute_at(2, 5, given, &mut files), Outer::Impl);
        let missing = || Some(std::env::temp_dir().join("di-macros-site-no-such-file.rs"));
        assert_eq!(of_attribute_at(2, 5, missing, &mut files), Outer::Other);
        assert_eq!(of_attribute_at(2, 5, || None, &mut files), Outer::Other);
        std::fs::remove_file(path).unwrap();
    }

    /// Where each `@` of `source` is, as (line from 1, column from 0 in characters).
    fn places(source: &str) -> Vec<(usize, usize)> {
        source
            .lines()
            .enumerate()
            .flat_map(|(index, line)| {
                line.char_indices()
                    .filter(|(_, c)| *c == '@')
                    .map(move |(offset, _)| (index + 1, line[..offset].chars().count()))
            })
            .collect()
    }

    /// One file's attributes looked up in order, out of order, and after the file changed:
    /// each answer is the one a scan from the start gives.
    #[test]
    fn a_files_scan_goes_on_from_the_last_attribute_and_answers_as_a_new_one() {
        let source = r####"
@
impl S {
    @
    fn f() { let _ = ('{', "}{", r#"}"#); }
    @
}
mod m {
    @
    pub(crate) unsafe impl<T> Tr for S<T> where T: Fn() -> u8 {
        @
        // impl X {
        /* { */ @
        fn g<'a>() -> impl Sized { @
        }
    @
    }
    @
}
trait T {
    @
}
    @
"####;
        let path = file_with("order", source);
        let expected: Vec<Outer> = places(source)
            .into_iter()
            .map(|(line, column)| outer_block(source, line, column))
            .collect();
        assert!(expected.contains(&Outer::Impl) && expected.contains(&Outer::Trait));
        let mut files = FileScan::default();
        let in_order: Vec<Outer> = places(source)
            .into_iter()
            .map(|(line, column)| files.outer(&path, line, column))
            .collect();
        assert_eq!(in_order, expected);
        let backwards: Vec<Outer> = places(source)
            .into_iter()
            .rev()
            .map(|(line, column)| files.outer(&path, line, column))
            .collect();
        assert_eq!(
            backwards,
            expected.iter().rev().copied().collect::<Vec<_>>()
        );
        // Changed on disk (here, longer by a line at the top): read again.
        let changed = format!("impl Z {{\n{source}}}\n");
        std::fs::write(&path, &changed).unwrap();
        let after: Vec<Outer> = places(&changed)
            .into_iter()
            .map(|(line, column)| files.outer(&path, line, column))
            .collect();
        let expected_after: Vec<Outer> = places(&changed)
            .into_iter()
            .map(|(line, column)| outer_block(&changed, line, column))
            .collect();
        assert_eq!(after, expected_after);
        std::fs::remove_file(path).unwrap();
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
