//! The problems of one input and the repairs that get the next attempt past them: locations
//! ([`Seg`], [`Loc`]), the error of an attempt ([`Error`]), the reported [`Problem`], the
//! [`Fix`] each error asks for ([`diagnose`]), the repairs made so far ([`State`]), and the
//! bounds that make every search end.
//!
//! Uses nothing else of the deserializer: every other file builds on this one.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;

use serde::de;

use crate::response::error::{InputError, LocPart, push_json_str};

/// Attempts allowed beyond one per reported problem: the budget for repairs that are not
/// reported (missing fields of placeholder structs, placeholders that cannot be built).
pub(super) const BASE_ATTEMPTS: usize = 32;
/// At most this many problems are reported for one input (as in any 422).
pub(crate) use crate::response::error::MAX_PROBLEMS;
/// Values visited by all attempts together, beyond one whole walk of the input, after which
/// no new attempt starts: a large body with problems far apart is not walked again and
/// again. The budget of an input of `n` values is `n + WORK_BUDGET` (the first walk costs
/// what parsing the input did, and the input is bounded by the app's body limit); `n` is
/// counted only once the attempts have visited `WORK_BUDGET` values.
///
/// Worst case: the check comes after an attempt, and at most one attempt that reads the
/// whole input (to give the value, or to check what one that left elements out found) may
/// follow it unchecked; an attempt visits at most the input's `n` values and the
/// placeholders of its repairs. So a search visits at most about `3n + WORK_BUDGET` values:
/// three walks of the input and 65,536 values more, whatever the input and the type.
pub(super) const WORK_BUDGET: usize = 1 << 16;
/// Bytes of `input` text one 422 sends for one input source at most: past them an input is
/// sent as `null` (a body with many missing fields would otherwise be echoed once per field).
pub(crate) const MAX_INPUT_TEXT: usize = 64 * 1024;
/// Deepest nesting of values (containers, options, newtypes, placeholders) followed.
pub(super) const MAX_DEPTH: usize = 320;
/// Bytes of stack the reading of one input (the fast path of a JSON body, or one attempt of
/// the search) may use below where it started: a container that would be read deeper is
/// "nested too deeply". Nesting alone does not bound the stack: each level costs the frames
/// of the type's `Deserialize` there, and a struct of many fields costs tens of kilobytes a
/// level in a debug build, so that a body the JSON parser accepts overflowed a worker
/// thread's 2 MiB (tokio's default), which aborts the process, before [`MAX_DEPTH`] was
/// reached. Half of that: the rest is for the frames above the handler and one level more.
pub(super) const MAX_STACK: usize = 1024 * 1024;

/// The message of a value nested past a bound.
pub(super) const TOO_DEEP: &str = "value is nested too deeply";

/// How deep the current thread's stack is here: the address of a local.
#[inline(always)]
pub(super) fn stack_here() -> usize {
    let marker = 0u8;
    std::ptr::from_ref(std::hint::black_box(&marker)).addr()
}

/// What a level of a value read as "any value" is counted to cost, beyond the stack it uses
/// itself: what serde reads into a buffer of its own (the content of a `#[serde(untagged)]`,
/// internally tagged or `#[serde(flatten)]` value) it reads so, then reads back from the
/// buffer through its own deserializer, which no check of the runtime's sees, each level
/// costing the frames of the type's `Deserialize` there (tens of kilobytes for a struct of
/// many fields in a debug build). So the levels of a buffer are paid for while it is filled.
pub(super) const BUFFERED_LEVEL: usize = 64 * 1024;

/// The stack of the thread a body too deep for its caller's stack is read again on
/// ([`with_room`]): room for serde_json's 128 levels at 128 KiB each, twice over.
pub(super) const WIDE_STACK: usize = 32 * 1024 * 1024;

/// What a reading may use on a [`WIDE_STACK`] thread: half of it, as [`MAX_STACK`] is of a
/// worker thread's 2 MiB.
const WIDE_LIMIT: usize = WIDE_STACK / 2;

thread_local! {
    /// The stack this thread lets a reading use: [`MAX_STACK`], or [`WIDE_LIMIT`] on the
    /// thread [`with_room`] starts.
    static LIMIT: Cell<usize> = const { Cell::new(MAX_STACK) };
    /// The levels of values read as "any value" open here ([`Buffered`]).
    static BUFFERED: Cell<usize> = const { Cell::new(0) };
    /// Whether a reading on this thread found its stack used up since [`with_room`] looked.
    static RAN_OUT: Cell<bool> = const { Cell::new(false) };
}

/// Whether more than the thread's bound (see [`MAX_STACK`]) has been used here since `base`
/// (a [`stack_here`] taken where the reading started; 0, not started, never is), each open
/// level of a value read as "any value" counted as [`BUFFERED_LEVEL`] more.
#[inline]
pub(super) fn stack_used_up(base: usize) -> bool {
    if base == 0 {
        return false;
    }
    let used = base
        .abs_diff(stack_here())
        .saturating_add(BUFFERED.get().saturating_mul(BUFFERED_LEVEL));
    if used > LIMIT.get() {
        RAN_OUT.set(true);
        return true;
    }
    false
}

/// An open level of a value read as "any value" (what serde's buffer of an untagged,
/// internally tagged or flattened value is filled by): counted while it lives.
pub(super) struct Buffered(());

impl Buffered {
    /// Opens a level; it closes when dropped, an unwinding panic included.
    #[inline]
    pub(super) fn enter() -> Self {
        BUFFERED.set(BUFFERED.get() + 1);
        Buffered(())
    }
}

impl Drop for Buffered {
    #[inline]
    fn drop(&mut self) {
        BUFFERED.set(BUFFERED.get().saturating_sub(1));
    }
}

/// Runs `read` (the reading of a body); when it found its stack used up and the thread's
/// stack is a worker's, runs it again on a thread of its own with a [`WIDE_STACK`] stack,
/// which this one waits for, and gives what that one read.
///
/// A body nested deeper than its caller's stack allows, a chain of records under a
/// `#[serde(untagged)]` enum a hundred levels deep, is then read where it fits, as FastAPI
/// reads it, and never overflows a worker's stack (which aborts the process). Only such a
/// body pays for a thread; the thread is waited for where the reading would have run, so
/// there are never more of them than threads reading. If the thread cannot be started, the
/// first reading's answer stands (its "nested too deeply" problem).
pub(crate) fn with_room<R: Send>(read: impl Fn() -> R + Sync) -> R {
    let watched = RAN_OUT.replace(false);
    let first = read();
    let ran_out = RAN_OUT.replace(watched);
    if !ran_out || LIMIT.get() >= WIDE_LIMIT {
        return first;
    }
    let wide = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("di-deep-body".to_owned())
            .stack_size(WIDE_STACK)
            .spawn_scoped(scope, || {
                LIMIT.set(WIDE_LIMIT);
                read()
            })
            .map(std::thread::ScopedJoinHandle::join)
    });
    match wide {
        Ok(Ok(value)) => value,
        // A panic of the type's `Deserialize` goes on as it would have on this thread.
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(error) => {
            tracing::warn!(
                target: "di",
                "a deeply nested body is answered as too deep: no thread to read it on ({error})"
            );
            first
        }
    }
}

/// One step of a location: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A location inside the input, outermost first.
pub(super) type Loc = Vec<Seg>;

pub(super) fn child(parent: &[Seg], seg: Seg) -> Loc {
    let mut loc = Vec::with_capacity(parent.len() + 1);
    loc.extend_from_slice(parent);
    loc.push(seg);
    loc
}

pub(super) fn key(parent: &[Seg], name: &str) -> Loc {
    child(parent, Seg::Key(name.to_owned()))
}

/// A step of the location being walked, borrowed from the input (or the type).
#[derive(Clone, Copy, Debug)]
pub(super) enum SegRef<'s> {
    Key(&'s str),
    Index(usize),
}

impl Seg {
    /// This step, borrowed.
    pub(super) fn as_ref(&self) -> SegRef<'_> {
        match self {
            Seg::Key(k) => SegRef::Key(k),
            Seg::Index(i) => SegRef::Index(*i),
        }
    }
}

impl SegRef<'_> {
    fn to_owned(self) -> Seg {
        match self {
            SegRef::Key(k) => Seg::Key(k.to_owned()),
            SegRef::Index(i) => Seg::Index(i),
        }
    }
}

/// Where a step comes in pydantic's order, under a value whose struct fields (if it is a
/// struct) are `fields`: a struct's declared fields in their order, then its other keys; an
/// index or a map key as found.
pub(super) type Rank = (u8, usize);

fn rank_of(fields: Option<&'static [&'static str]>, seg: &Seg) -> Rank {
    match (seg, fields) {
        (Seg::Index(n), _) => (0, *n),
        (Seg::Key(k), Some(names)) => names
            .iter()
            .position(|name| name == k)
            .map_or((1, 0), |p| (0, p)),
        (Seg::Key(_), None) => (0, 0),
    }
}

/// One level of the location being walked: the step to it (none at the top) and the
/// fields of the struct read there, if one was.
#[derive(Clone, Copy, Debug)]
struct Frame<'s> {
    seg: Option<SegRef<'s>>,
    fields: Option<&'static [&'static str]>,
}

/// One attempt's walk: the repairs made so far and the one location being walked, kept as
/// a stack of borrowed steps (a value at depth `n` of the location finds its steps in the
/// first `n` frames; a child truncates the stack to its parent's and pushes its own step).
/// Owned locations are built only for the problems found.
pub(super) struct Walk<'s> {
    pub(super) state: &'s State,
    frames: RefCell<Vec<Frame<'s>>>,
}

impl<'s> Walk<'s> {
    pub(super) fn new(state: &'s State) -> Self {
        let mut frames = Vec::with_capacity(16);
        frames.push(Frame {
            seg: None,
            fields: None,
        });
        Walk {
            state,
            frames: RefCell::new(frames),
        }
    }

    /// Enters the child `seg` of the location of length `len`.
    pub(super) fn push(&self, len: usize, seg: SegRef<'s>) {
        let mut frames = self.frames.borrow_mut();
        frames.truncate(len + 1);
        frames.push(Frame {
            seg: Some(seg),
            fields: None,
        });
    }

    /// Notes the fields of the struct read at the location of length `len`.
    pub(super) fn note_fields(&self, len: usize, fields: Option<&'static [&'static str]>) {
        if let Some(frame) = self.frames.borrow_mut().get_mut(len) {
            frame.fields = fields;
        }
    }

    /// The location of length `len`, owned, with its rank.
    pub(super) fn located(&self, len: usize) -> Located {
        let frames = self.frames.borrow();
        let frames = &frames[..=len.min(frames.len() - 1)];
        let mut loc = Vec::with_capacity(frames.len());
        let mut rank = Vec::with_capacity(frames.len());
        for pair in frames.windows(2) {
            let seg = pair[1].seg.map_or(Seg::Index(0), SegRef::to_owned);
            rank.push(rank_of(pair[0].fields, &seg));
            loc.push(seg);
        }
        Located {
            loc,
            rank,
            fields: frames.last().and_then(|f| f.fields),
        }
    }
}

/// A location found with a problem: its steps, the rank of each, and the fields of the
/// struct read there (which rank a missing or unknown field's step).
#[derive(Debug, Default)]
pub(super) struct Located {
    pub(super) loc: Loc,
    pub(super) rank: Vec<Rank>,
    pub(super) fields: Option<&'static [&'static str]>,
}

impl Located {
    /// This location followed by `seg`, ranked under the struct read here.
    fn child(&self, seg: Seg) -> (Loc, Vec<Rank>) {
        let mut rank = self.rank.clone();
        rank.push(rank_of(self.fields, &seg));
        (child(&self.loc, seg), rank)
    }
}

/// A problem in pydantic's terms: its `type`, `msg` and `ctx` (compact JSON, keys in
/// pydantic's order).
#[derive(Clone, Debug)]
pub(super) struct Typed {
    pub(super) kind: &'static str,
    pub(super) msg: Cow<'static, str>,
    pub(super) ctx: Option<String>,
}

impl Typed {
    const fn plain(kind: &'static str, msg: &'static str) -> Self {
        Typed {
            kind,
            msg: Cow::Borrowed(msg),
            ctx: None,
        }
    }

    pub(super) const INT_PARSING: Self = Self::plain(
        "int_parsing",
        "Input should be a valid integer, unable to parse string as an integer",
    );
    pub(super) const INT_TYPE: Self = Self::plain("int_type", "Input should be a valid integer");
    pub(super) const INT_FROM_FLOAT: Self = Self::plain(
        "int_from_float",
        "Input should be a valid integer, got a number with a fractional part",
    );
    pub(super) const INT_PARSING_SIZE: Self = Self::plain(
        "int_parsing_size",
        "Unable to parse input string as an integer, exceeded maximum size",
    );
    pub(super) const FLOAT_PARSING: Self = Self::plain(
        "float_parsing",
        "Input should be a valid number, unable to parse string as a number",
    );
    pub(super) const FLOAT_TYPE: Self = Self::plain("float_type", "Input should be a valid number");
    pub(super) const BOOL_PARSING: Self = Self::plain(
        "bool_parsing",
        "Input should be a valid boolean, unable to interpret input",
    );
    pub(super) const BOOL_TYPE: Self = Self::plain("bool_type", "Input should be a valid boolean");
    pub(super) const STRING_TYPE: Self =
        Self::plain("string_type", "Input should be a valid string");
    /// pydantic's answer to a `uuid.UUID` given something other than a string.
    pub(super) const UUID_TYPE: Self = Self::plain(
        "uuid_type",
        "UUID input should be a string, bytes or UUID object",
    );
    pub(super) const LIST_TYPE: Self = Self::plain("list_type", "Input should be a valid list");
    pub(super) const TUPLE_TYPE: Self = Self::plain("tuple_type", "Input should be a valid tuple");
    pub(super) const DICT_TYPE: Self =
        Self::plain("dict_type", "Input should be a valid dictionary");
    pub(super) const MODEL_TYPE: Self = Self::plain(
        "model_attributes_type",
        "Input should be a valid dictionary or object to extract fields from",
    );
    pub(super) const BYTES_TYPE: Self = Self::plain("bytes_type", "Input should be a valid bytes");
    pub(super) const NONE_REQUIRED: Self = Self::plain("none_required", "Input should be None");
    pub(super) const MISSING: Self = Self::plain("missing", "Field required");
    pub(super) const EXTRA: Self = Self::plain("extra_forbidden", "Extra inputs are not permitted");

    /// `le`: the value is above the largest of its integer type.
    pub(super) fn less_than_equal(max: impl fmt::Display) -> Self {
        Typed {
            kind: "less_than_equal",
            msg: Cow::Owned(format!("Input should be less than or equal to {max}")),
            ctx: Some(format!("{{\"le\":{max}}}")),
        }
    }

    /// `ge`: the value is below the smallest of its integer type.
    pub(super) fn greater_than_equal(min: impl fmt::Display) -> Self {
        Typed {
            kind: "greater_than_equal",
            msg: Cow::Owned(format!("Input should be greater than or equal to {min}")),
            ctx: Some(format!("{{\"ge\":{min}}}")),
        }
    }

    /// A `char`: a string of exactly one character.
    pub(super) fn one_character(text: &str) -> Self {
        if text.is_empty() {
            Typed {
                kind: "string_too_short",
                msg: Cow::Borrowed("String should have at least 1 character"),
                ctx: Some("{\"min_length\":1}".to_owned()),
            }
        } else {
            Typed {
                kind: "string_too_long",
                msg: Cow::Borrowed("String should have at most 1 character"),
                ctx: Some("{\"max_length\":1}".to_owned()),
            }
        }
    }

    /// A fixed-length sequence (tuple, array) given more elements than it takes.
    pub(super) fn too_long(max: usize, actual: usize) -> Self {
        Typed {
            kind: "too_long",
            msg: Cow::Owned(format!(
                "Tuple should have at most {max} item{} after validation, not {actual}",
                if max == 1 { "" } else { "s" }
            )),
            ctx: Some(format!(
                "{{\"field_type\":\"Tuple\",\"max_length\":{max},\"actual_length\":{actual}}}"
            )),
        }
    }

    /// An enum given a value that is none of its variants: `'a', 'b' or 'c'`.
    pub(super) fn enumeration(variants: &[&str]) -> Self {
        let mut expected = String::new();
        for (i, variant) in variants.iter().enumerate() {
            if i > 0 {
                expected.push_str(if i + 1 == variants.len() {
                    " or "
                } else {
                    ", "
                });
            }
            expected.push_str(&python_repr(variant));
        }
        let mut ctx = String::from("{\"expected\":");
        push_json_str(&mut ctx, &expected);
        ctx.push('}');
        Typed {
            kind: "enum",
            msg: Cow::Owned(format!("Input should be {expected}")),
            ctx: Some(ctx),
        }
    }

    /// A problem the type itself reports (`try_from`, a custom `Deserialize`): pydantic's
    /// `ValueError` of a validator, whose `ctx.error` FastAPI sends as `{}`.
    pub(super) fn value_error(msg: impl fmt::Display) -> Self {
        Typed {
            kind: "value_error",
            msg: Cow::Owned(format!("Value error, {msg}")),
            ctx: Some("{\"error\":{}}".to_owned()),
        }
    }

    /// `string_type`, or `uuid_type` when `visitor` reads a UUID (the `uuid` crate's visitors
    /// expect "a formatted UUID string", "a UUID string in the simple format", ...). Only
    /// on the way to a problem: it formats what the visitor expects.
    pub(super) fn string_type_for<'de, V: de::Visitor<'de>>(visitor: &V) -> Self {
        /// What `visitor` expects, as text.
        struct Expecting<'a, V>(&'a V);
        impl<'de, V: de::Visitor<'de>> fmt::Display for Expecting<'_, V> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.expecting(f)
            }
        }
        if Expecting(visitor).to_string().contains("UUID string") {
            Typed::UUID_TYPE
        } else {
            Typed::STRING_TYPE
        }
    }

    /// The `uuid` crate's error (`UUID parsing failed: <reason>`), which pydantic, reading a
    /// `uuid.UUID` with the same crate, reports as `uuid_parsing` with the reason.
    fn uuid_parsing(msg: &str) -> Option<Self> {
        let reason = msg.strip_prefix("UUID parsing failed: ")?;
        let mut ctx = String::from("{\"error\":");
        push_json_str(&mut ctx, reason);
        ctx.push('}');
        Some(Typed {
            kind: "uuid_parsing",
            msg: Cow::Owned(format!("Input should be a valid UUID, {reason}")),
            ctx: Some(ctx),
        })
    }

    /// The problem of an integer text that does not fit `min..=max` or does not parse.
    pub(super) fn integer_text(text: &str, min: impl fmt::Display, max: impl fmt::Display) -> Self {
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            Typed::INT_PARSING
        } else if negative && digits.bytes().any(|b| b != b'0') {
            Typed::greater_than_equal(min)
        } else if negative {
            Typed::INT_PARSING
        } else {
            Typed::less_than_equal(max)
        }
    }

    /// What a visitor's "invalid type" means, by what it expected (serde's wording).
    fn of_expected(expected: &str, serde_msg: String) -> Self {
        match expected {
            "a boolean" => Typed::BOOL_TYPE,
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64"
            | "u128" | "usize" => Typed::INT_TYPE,
            "f32" | "f64" => Typed::FLOAT_TYPE,
            "a string" | "a borrowed string" | "a character" | "a char" => Typed::STRING_TYPE,
            "a sequence" => Typed::LIST_TYPE,
            "a map" => Typed::DICT_TYPE,
            "unit" => Typed::NONE_REQUIRED,
            // serde's derived visitors name the Rust type here (`struct Note`, `internally
            // tagged enum Shape`), which never reaches the client: a tagged enum and a struct
            // variant are read from an object, as a struct is (pydantic's tagged union says
            // `model_attributes_type` too), a unit struct from `null`.
            e if e.starts_with("struct ")
                || e.starts_with("internally tagged enum ")
                || e.starts_with("adjacently tagged enum ") =>
            {
                Typed::MODEL_TYPE
            }
            e if e.starts_with("unit struct ") => Typed::NONE_REQUIRED,
            // A variant that takes content, sent as its bare name (`"New"` for `New(u8)`):
            // it is read from an object naming it (`{"New": 5}`).
            "newtype variant" | "tuple variant" | "struct variant" => Typed::DICT_TYPE,
            e if e.starts_with("a tuple")
                || e.starts_with("tuple")
                || e.starts_with("an array") =>
            {
                Typed::TUPLE_TYPE
            }
            _ => Typed::value_error(serde_msg),
        }
    }

    /// The bounds of a primitive integer type named as serde names it (`u8`).
    fn int_bounds(expected: &str) -> Option<(i128, u128)> {
        Some(match expected {
            "i8" => (i8::MIN.into(), 127),
            "i16" => (i16::MIN.into(), 32_767),
            "i32" => (i32::MIN.into(), 2_147_483_647),
            "i64" | "isize" => (i64::MIN.into(), 9_223_372_036_854_775_807),
            "i128" => (i128::MIN, i128::MAX.unsigned_abs()),
            "u8" => (0, u8::MAX.into()),
            "u16" => (0, u16::MAX.into()),
            "u32" => (0, u32::MAX.into()),
            "u64" | "usize" => (0, u64::MAX.into()),
            "u128" => (0, u128::MAX),
            _ => return None,
        })
    }
}

/// What pydantic says of a text that does not parse as a `T`.
pub(super) fn text_problem<T: TextType>(raw: &str) -> Typed {
    T::problem(raw)
}

/// A type parsed from text, and what pydantic says of a text that does not parse as it.
pub(super) trait TextType {
    fn problem(raw: &str) -> Typed;
}

macro_rules! text_integers {
    ($($ty:ty)*) => {$(
        impl TextType for $ty {
            fn problem(raw: &str) -> Typed {
                Typed::integer_text(raw, <$ty>::MIN, <$ty>::MAX)
            }
        }
    )*};
}
text_integers!(i8 i16 i32 i64 i128 u8 u16 u32 u64 u128);

impl TextType for f32 {
    fn problem(_: &str) -> Typed {
        Typed::FLOAT_PARSING
    }
}

impl TextType for f64 {
    fn problem(_: &str) -> Typed {
        Typed::FLOAT_PARSING
    }
}

impl TextType for bool {
    fn problem(_: &str) -> Typed {
        Typed::BOOL_PARSING
    }
}

impl TextType for char {
    fn problem(raw: &str) -> Typed {
        Typed::one_character(raw)
    }
}

/// A string as Python's `repr` writes it (`'red'`).
fn python_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The error of one attempt.
#[derive(Debug)]
pub(super) struct Error {
    /// Where it happened; set by the innermost place that knows.
    pub(super) path: Option<Located>,
    /// serde's message, for `Display` only (never sent); empty (no allocation) when `Display`
    /// writes it from `kind`: a missing field's name, a problem's own message.
    pub(super) msg: Box<str>,
    pub(super) kind: Kind,
    /// The value a visitor refused, as serde described it (`invalid_type`, `invalid_value`):
    /// what finds the value a problem read through serde's `Content` buffer is about.
    pub(super) seen: Option<Box<Seen>>,
}

impl Error {
    /// Whether the value this error refused is one the input sent: a placeholder reads as
    /// unit where a `Content` buffer takes it, so a refused value seen as anything else (a
    /// string, a number, a list) is not a placeholder.
    pub(super) fn refused_input(&self) -> bool {
        self.seen.as_deref().is_some_and(|seen| *seen != Seen::Unit)
    }
}

/// A value a visitor refused, as serde describes it ([`de::Unexpected`]), kept when it can
/// be told apart in the input.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen {
    Unit,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(String),
    Seq,
    Map,
}

impl Seen {
    fn of(unexp: de::Unexpected<'_>) -> Option<Box<Self>> {
        Some(Box::new(match unexp {
            de::Unexpected::Unit => Seen::Unit,
            de::Unexpected::Bool(b) => Seen::Bool(b),
            de::Unexpected::Unsigned(u) => Seen::Unsigned(u),
            de::Unexpected::Signed(i) => Seen::Signed(i),
            de::Unexpected::Float(f) => Seen::Float(f),
            de::Unexpected::Str(s) => Seen::Str(s.to_owned()),
            de::Unexpected::Seq => Seen::Seq,
            de::Unexpected::Map => Seen::Map,
            _ => return None,
        }))
    }
}

#[derive(Debug)]
pub(super) enum Kind {
    /// A value that does not fit (type, range, custom validation, ...).
    Invalid(Box<Typed>),
    /// A struct lacks this field.
    Missing(&'static str),
    /// A struct does not accept this key.
    Unknown(String),
    /// This map key does not deserialize.
    Key(String, Box<Typed>),
    /// A sequence has only this many elements, fewer than its type takes.
    Short(usize),
}

impl Error {
    /// A problem of the value at the place the error is located at.
    pub(super) fn invalid(typed: Typed) -> Self {
        Error {
            path: None,
            msg: Box::default(),
            kind: Kind::Invalid(Box::new(typed)),
            seen: None,
        }
    }

    /// Sets the location to `inside`, steps below the location of length `len` in `walk`
    /// (which are not walked: read from a buffer), if no inner deserializer located it.
    pub(super) fn at_inside(mut self, walk: &Walk<'_>, len: usize, inside: Vec<Seg>) -> Self {
        if self.path.is_none() {
            let mut at = walk.located(len);
            for seg in inside {
                let (loc, rank) = at.child(seg);
                at = Located {
                    loc,
                    rank,
                    fields: None,
                };
            }
            self.path = Some(at);
        }
        self
    }

    /// Sets the location (of length `len` in `walk`) if no inner deserializer did.
    pub(super) fn at(mut self, walk: &Walk<'_>, len: usize) -> Self {
        if self.path.is_none() {
            self.path = Some(walk.located(len));
        }
        self
    }

    pub(super) fn too_deep() -> Self {
        de::Error::custom(TOO_DEEP)
    }

    /// Whether this is the error of a value nested past a bound ([`MAX_DEPTH`], [`MAX_STACK`]).
    pub(super) fn is_too_deep(&self) -> bool {
        &*self.msg == TOO_DEEP
    }
}

/// serde's own messages that name the Rust type being read (an untagged or flattened enum,
/// a flattened field), in place of which the client gets the same message without the name.
/// Any other `custom` message is the app's (a `Deserialize` impl's, a `try_from`'s): it is
/// the client's `Value error, ..`, as pydantic reports a validator's `ValueError`.
fn serde_names_type(msg: &str) -> Option<&'static str> {
    if msg.starts_with("data did not match any variant of untagged enum ")
        || (msg.starts_with("no variant of enum ") && msg.ends_with(" found in flattened data"))
    {
        Some("the input matches none of the accepted shapes")
    } else if msg.starts_with("can only flatten structs and maps") {
        Some("the input cannot be read as a map")
    } else {
        None
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            _ if !self.msg.is_empty() => f.write_str(&self.msg),
            Kind::Missing(field) => write!(f, "missing field `{field}`"),
            Kind::Invalid(typed) | Kind::Key(_, typed) => f.write_str(&typed.msg),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        let msg = msg.to_string();
        let typed = match serde_names_type(&msg) {
            Some(unnamed) => Typed::value_error(unnamed),
            None => Typed::uuid_parsing(&msg).unwrap_or_else(|| Typed::value_error(&msg)),
        };
        Error {
            kind: Kind::Invalid(Box::new(typed)),
            path: None,
            msg: msg.into(),
            seen: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let msg = <de::value::Error as de::Error>::invalid_type(unexp, exp).to_string();
        Error {
            kind: Kind::Invalid(Box::new(Typed::of_expected(&exp.to_string(), msg.clone()))),
            path: None,
            msg: msg.into(),
            seen: Seen::of(unexp),
        }
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let msg = <de::value::Error as de::Error>::invalid_value(unexp, exp).to_string();
        let expected = exp.to_string();
        let typed = match (unexp, Typed::int_bounds(&expected)) {
            (de::Unexpected::Str(s), _) if expected == "a character" => Typed::one_character(s),
            (de::Unexpected::Unsigned(_), Some((_, max))) => Typed::less_than_equal(max),
            (de::Unexpected::Signed(i), Some((min, max))) => {
                if i < 0 {
                    Typed::greater_than_equal(min)
                } else {
                    Typed::less_than_equal(max)
                }
            }
            _ => Typed::value_error(&msg),
        };
        Error {
            kind: Kind::Invalid(Box::new(typed)),
            path: None,
            msg: msg.into(),
            seen: Seen::of(unexp),
        }
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error {
            path: None,
            msg: <de::value::Error as de::Error>::invalid_length(len, exp)
                .to_string()
                .into(),
            kind: Kind::Short(len),
            seen: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error {
            path: None,
            msg: <de::value::Error as de::Error>::unknown_variant(variant, expected)
                .to_string()
                .into(),
            kind: Kind::Invalid(Box::new(Typed::enumeration(expected))),
            seen: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Error {
            path: None,
            msg: Box::default(),
            kind: Kind::Missing(field),
            seen: None,
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        // serde's own wording.
        let msg = <de::value::Error as de::Error>::unknown_field(field, expected).to_string();
        Error {
            path: None,
            msg: msg.into(),
            kind: Kind::Unknown(field.to_owned()),
            seen: None,
        }
    }
}

/// Where the `input` of a problem is.
#[derive(Debug)]
pub(super) enum InputAt {
    /// The value at the problem's location.
    Here,
    /// The value holding the one at the problem's location (a sequence too short).
    Parent,
    /// The struct a field is missing from, the parent of the problem's location: for a JSON
    /// body, the object there (as pydantic gives it); for text inputs, `null` (as FastAPI
    /// gives it for a missing query or path parameter).
    Enclosing,
    /// This text (a map key).
    Text(String),
}

/// Where the `input` of a problem is, its location resolved.
#[derive(Clone, Copy, Debug)]
pub(super) enum InputRef<'p> {
    /// The value at this location.
    Value(&'p [Seg]),
    /// The struct a field is missing from, at this location (see [`InputAt::Enclosing`]).
    Enclosing(&'p [Seg]),
    /// This text.
    Text(&'p str),
}

/// A reported problem, before the source (`query`, `body`) is put in front of its location.
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) loc: Loc,
    /// Where it comes in pydantic's order (see [`Rank`]).
    pub(super) rank: Vec<Rank>,
    pub(super) typed: Typed,
    pub(super) input: InputAt,
}

impl Problem {
    /// Where its `input` is.
    pub(super) fn input_ref(&self) -> InputRef<'_> {
        let parent = &self.loc[..self.loc.len().saturating_sub(1)];
        match &self.input {
            InputAt::Here => InputRef::Value(&self.loc),
            InputAt::Parent => InputRef::Value(parent),
            InputAt::Enclosing => InputRef::Enclosing(parent),
            InputAt::Text(text) => InputRef::Text(text),
        }
    }

    /// The entry of the 422, with its `input` as compact JSON text.
    pub(super) fn into_input_error(self, source: &str, input: String) -> InputError {
        let mut loc = Vec::with_capacity(1 + self.loc.len());
        loc.push(LocPart::from(source));
        loc.extend(self.loc.into_iter().map(|seg| match seg {
            Seg::Key(k) => LocPart::from(k),
            Seg::Index(i) => LocPart::from(i),
        }));
        InputError::at(loc, self.typed.msg)
            .kind(self.typed.kind)
            .raw(input, self.typed.ctx)
    }
}

/// How the next attempt gets past an error.
#[derive(Debug)]
pub(super) enum Fix {
    /// Answer this path with a placeholder.
    Phantom(Loc),
    /// Add this field, as a placeholder, to the struct at this path.
    Inject(Loc, &'static str),
    /// Leave out this entry of its map.
    Skip(Loc),
}

impl Fix {
    /// The location repaired.
    pub(super) fn loc(&self) -> Loc {
        match self {
            Fix::Phantom(loc) | Fix::Skip(loc) => loc.clone(),
            Fix::Inject(path, field) => key(path, field),
        }
    }
}

pub(super) fn diagnose(error: Error) -> (Problem, Fix) {
    let at = error.path.unwrap_or_default();
    match error.kind {
        Kind::Invalid(typed) => (
            Problem {
                loc: at.loc.clone(),
                rank: at.rank,
                typed: *typed,
                input: InputAt::Here,
            },
            Fix::Phantom(at.loc),
        ),
        Kind::Missing(field) => {
            let (loc, rank) = at.child(Seg::Key(field.to_owned()));
            (
                Problem {
                    loc,
                    rank,
                    typed: Typed::MISSING,
                    input: InputAt::Enclosing,
                },
                Fix::Inject(at.loc, field),
            )
        }
        Kind::Unknown(name) => {
            let (loc, rank) = at.child(Seg::Key(name));
            (
                Problem {
                    loc: loc.clone(),
                    rank,
                    typed: Typed::EXTRA,
                    input: InputAt::Here,
                },
                Fix::Skip(loc),
            )
        }
        Kind::Key(name, typed) => {
            let (entry, mut rank) = at.child(Seg::Key(name.clone()));
            // The entry's value is never read (its key fails first): no fields there.
            rank.push((0, 0));
            (
                Problem {
                    loc: key(&entry, "[key]"),
                    rank,
                    typed: *typed,
                    input: InputAt::Text(name),
                },
                Fix::Skip(entry),
            )
        }
        Kind::Short(len) => {
            let (loc, rank) = at.child(Seg::Index(len));
            (
                Problem {
                    loc,
                    rank,
                    typed: Typed::MISSING,
                    input: InputAt::Parent,
                },
                Fix::Phantom(at.loc),
            )
        }
    }
}

/// The repairs made under one location, and under each of its children.
#[derive(Debug, Default)]
pub(super) struct Repairs {
    /// The location is answered with a placeholder (also an injected field).
    phantom: bool,
    /// The location is a map entry left out.
    skipped: bool,
    /// Fields injected into the struct here, in the order they were found missing.
    injected: Vec<&'static str>,
    keys: BTreeMap<String, Repairs>,
    indices: BTreeMap<usize, Repairs>,
    /// For a long sequence here: the runs of elements (start, end) read to the end without
    /// a problem by an attempt, in order, apart.
    clean: Vec<(usize, usize)>,
    /// The location is, or holds, a placeholder its type refuses (an untagged or internally
    /// tagged enum takes no unit): every attempt fails there, so it is read after its
    /// siblings, whose problems are then still found.
    stuck: bool,
}

impl Repairs {
    /// The repairs under the child `seg`, if any.
    pub(super) fn child(&self, seg: SegRef<'_>) -> Option<&Repairs> {
        match seg {
            SegRef::Key(k) => self.keys.get(k),
            SegRef::Index(i) => self.indices.get(&i),
        }
    }

    pub(super) fn is_phantom(&self) -> bool {
        self.phantom
    }

    pub(super) fn is_stuck(&self) -> bool {
        self.stuck
    }

    pub(super) fn is_skipped(&self) -> bool {
        self.skipped
    }

    pub(super) fn injected(&self) -> &[&'static str] {
        &self.injected
    }

    pub(super) fn clean(&self) -> &[(usize, usize)] {
        &self.clean
    }

    /// Adds clean runs to those known here.
    fn add_clean(&mut self, runs: Vec<(usize, usize)>) {
        let mut all = std::mem::take(&mut self.clean);
        all.extend(runs);
        all.sort_unstable();
        for (start, end) in all {
            match self.clean.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => self.clean.push((start, end)),
            }
        }
    }

    fn child_mut(&mut self, seg: SegRef<'_>) -> &mut Repairs {
        match seg {
            SegRef::Key(k) => {
                if !self.keys.contains_key(k) {
                    self.keys.insert(k.to_owned(), Repairs::default());
                }
                self.keys.get_mut(k).expect("inserted")
            }
            SegRef::Index(i) => self.indices.entry(i).or_default(),
        }
    }

    fn at_mut(&mut self, path: &[Seg]) -> &mut Repairs {
        path.iter()
            .fold(self, |node, seg| node.child_mut(seg.as_ref()))
    }

    fn at(&self, path: &[Seg]) -> Option<&Repairs> {
        path.iter().try_fold(self, |node, seg| match seg {
            Seg::Key(k) => node.keys.get(k),
            Seg::Index(i) => node.indices.get(i),
        })
    }

    /// Whether `path` or one of its ancestors is a placeholder.
    fn under_phantom(&self, path: &[Seg]) -> bool {
        let mut node = self;
        for seg in path {
            if node.phantom {
                return true;
            }
            node = match seg {
                Seg::Key(k) => match node.keys.get(k) {
                    Some(next) => next,
                    None => return false,
                },
                Seg::Index(i) => match node.indices.get(i) {
                    Some(next) => next,
                    None => return false,
                },
            };
        }
        node.phantom
    }
}

/// A long sequence's location and the runs of its elements an attempt read to the end
/// without a problem.
pub(super) type Cleaned = (Loc, Vec<(usize, usize)>);

/// The repairs made so far; read-only during an attempt.
#[derive(Debug, Default)]
pub(super) struct State {
    /// The repairs, by location.
    pub(super) repairs: Repairs,
    /// Whether any location is a placeholder or skipped.
    repaired: bool,
    /// Problems of the current attempt answered at once with a placeholder (see `mismatch!`).
    pub(super) found: RefCell<Vec<Error>>,
    /// Values visited by all attempts so far (and the entries of objects an attempt gathered
    /// but ended before: see `Entries`' `Drop`).
    pub(super) work: Cell<usize>,
    /// Whether the attempt leaves out the elements of long sequences that earlier attempts
    /// read to the end without a problem (their problems are all found already): an attempt
    /// that scans finds the next problems without walking the whole input again. What it
    /// gives is not the value (elements are missing), and a problem it finds at a sequence
    /// it left elements out of, or at one of that sequence's ancestors, may come from the
    /// missing elements (a length check): such an attempt is made again without leaving
    /// anything out.
    pub(super) scan: Cell<bool>,
    /// The clean runs of long sequences noted by the attempt, by location.
    pub(super) cleaned: RefCell<Vec<Cleaned>>,
    /// The sequences the attempt left elements out of.
    pub(super) elided: RefCell<Vec<Loc>>,
    /// A single value of a repeated key is its first, not its last (headers, as Starlette's
    /// `headers.get` reads them).
    pub(super) first: bool,
    /// Where the stack was when the attempt started ([`stack_here`]); 0 before.
    pub(super) stack_base: Cell<usize>,
}

impl State {
    /// Whether the attempt has used up its stack here (see [`stack_used_up`]).
    pub(super) fn stack_exhausted(&self) -> bool {
        stack_used_up(self.stack_base.get())
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.repaired
    }

    /// Counts one value visited.
    pub(super) fn tick(&self) {
        self.work.set(self.work.get().saturating_add(1));
    }

    /// Records a problem found at the location of length `len` of `walk` during the attempt,
    /// to be answered with a placeholder; gives it back when the attempt has recorded enough
    /// of them.
    pub(super) fn record(&self, error: Error, walk: &Walk<'_>, len: usize) -> Option<Error> {
        let mut found = self.found.borrow_mut();
        if found.len() >= MAX_PROBLEMS {
            return Some(error);
        }
        found.push(error.at(walk, len));
        None
    }

    /// Whether the error this fix answers was caused by an earlier repair rather than by the
    /// input: it lies under a placeholder, or at a struct that placeholder fields were
    /// injected into (a `flatten` or `try_from` struct sees those, not the input), unless
    /// the value it refused is the input's own (`refused_input`, see
    /// [`Error::refused_input`]): a flattened map's bad value sent twice, not told apart,
    /// is a problem at the struct holding it whatever field is missing beside it.
    pub(super) fn is_consequence(&self, fix: &Fix, refused_input: bool) -> bool {
        let repairs = &self.repairs;
        match fix {
            Fix::Phantom(path) => {
                repairs.under_phantom(path)
                    || (!refused_input && repairs.at(path).is_some_and(|r| !r.injected.is_empty()))
            }
            Fix::Inject(path, field) => {
                repairs.under_phantom(path)
                    || repairs
                        .at(path)
                        .and_then(|r| r.keys.get(*field))
                        .is_some_and(|r| r.phantom)
            }
            Fix::Skip(path) => repairs.under_phantom(path),
        }
    }

    /// Takes the clean runs the attempt noted into what is known.
    pub(super) fn learn_clean(&mut self) {
        for (loc, runs) in self.cleaned.get_mut().drain(..) {
            self.repairs.at_mut(&loc).add_clean(runs);
        }
    }

    /// Notes that the repair at `loc` was made already and the attempt still failed there:
    /// the placeholder is refused (see [`Repairs`]'s `stuck`); false if that was known
    /// (no progress).
    pub(super) fn stuck(&mut self, loc: &[Seg]) -> bool {
        if loc.is_empty() {
            // The whole input has no siblings to read first.
            return false;
        }
        let mut node = &mut self.repairs;
        for seg in loc {
            node.stuck = true;
            node = node.child_mut(seg.as_ref());
        }
        !std::mem::replace(&mut node.stuck, true)
    }

    /// Applies the fix; false if it was already applied (no progress).
    pub(super) fn apply(&mut self, fix: Fix) -> bool {
        let applied = match fix {
            Fix::Phantom(path) => {
                let node = self.repairs.at_mut(&path);
                !std::mem::replace(&mut node.phantom, true)
            }
            Fix::Inject(path, field) => {
                let node = self.repairs.at_mut(&path);
                let injected = node.child_mut(SegRef::Key(field));
                if std::mem::replace(&mut injected.phantom, true) {
                    return false;
                }
                node.injected.push(field);
                true
            }
            Fix::Skip(path) => {
                let node = self.repairs.at_mut(&path);
                !std::mem::replace(&mut node.skipped, true)
            }
        };
        self.repaired |= applied;
        applied
    }
}
