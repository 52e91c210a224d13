//! Validated inputs: `Json<T>`, `Query<T>`, `Form<T>`, `Header<T>` and `Cookie<T>` of a type
//! that derives `validator::Validate` (cargo feature `validator`) run its rules after
//! deserializing, and every rule that fails is a 422 problem in pydantic's terms
//! (`string_too_short`, `greater_than_equal`, ...), in the same list as the other inputs'
//! problems. For input with problems of its own, the rules run on the value the deserializer
//! repaired, and only those broken away from the problems' places are added.
//!
//! Rust has no specialization, so the choice is made where the concrete type is known: the
//! `#[depends]` macro extracts each input parameter through a closure that asks
//! `(&Probe::<Input>::NEW).check_input(..)`. Method resolution finds [`CheckRules`] (on
//! `Probe<T>`, for a [`Validated`] input) before [`CheckNothing`] (on `&Probe<T>`, for every
//! other type), so a validated type is always checked and any other input costs nothing.
//! `#[depends]` functions are never generic, so the type is always concrete there.

use std::any::Any;
use std::marker::PhantomData;

use crate::contract::request::RequestHead;
use crate::response::error::InputError;

/// A boxed input value, as extracted.
type Extracted = Result<Box<dyn Any + Send>, Vec<InputError>>;

/// A request input with rules of its own, checked after it was extracted and before anything
/// is set up (with the `validator` feature: `Json<T>`, `Query<T>`, `Form<T>`, `Header<T>` and
/// `Cookie<T>` of a `T` that implements `validator::Validate`).
pub trait Validated: Sized {
    /// Every rule the value breaks, as 422 problems; `head` is the request it came from (for
    /// the `input` of each problem, as the client sent it).
    fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>>;

    /// Adds to `problems`, the problems of this input in `head`, the rules that the rest of
    /// the input breaks, as pydantic reports constraints beside type errors in one list.
    fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>);
}

/// What the `#[depends]` macro asks whether an input type is [`Validated`] (see the module
/// documentation).
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe of `T`.
    pub const NEW: Self = Probe(PhantomData);
}

/// Found first by method resolution on `&Probe<T>`: a [`Validated`] input is checked.
pub trait CheckRules {
    /// Checks an extracted input (a boxed `T`), or adds its broken rules to its problems.
    fn check_input(&self, extracted: Extracted, head: &RequestHead) -> Extracted;
}

impl<T: Validated + 'static> CheckRules for Probe<T> {
    fn check_input(&self, extracted: Extracted, head: &RequestHead) -> Extracted {
        match extracted {
            Ok(value) => {
                if let Some(input) = value.downcast_ref::<T>() {
                    input.validate_input(head)?;
                }
                Ok(value)
            }
            Err(mut problems) => {
                T::add_rule_problems(head, &mut problems);
                Err(problems)
            }
        }
    }
}

/// Found after one more auto-reference: an input without rules is what it was extracted as.
pub trait CheckNothing {
    /// Gives back `extracted`.
    fn check_input(&self, extracted: Extracted, _head: &RequestHead) -> Extracted {
        extracted
    }
}

impl<T> CheckNothing for &Probe<T> {}

#[cfg(feature = "validator")]
mod rules {
    //! `validator`'s errors as pydantic's problems.

    use std::borrow::Cow;

    use serde::de::DeserializeOwned;
    use serde_json::Value;
    use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

    use super::Validated;
    use crate::contract::request::RequestHead;
    use crate::input::cookie::{Cookie, cookies};
    use crate::input::de::tree::{Tree, python_float};
    use crate::input::de::{
        MAX_INPUT_TEXT, MAX_PROBLEMS, Repeated, field_order, from_json_repaired,
        from_pairs_repaired, with_room,
    };
    use crate::input::form::{Form, form_body, kept_pairs};
    use crate::input::header::{Header, field_pairs};
    use crate::input::json::Json;
    use crate::input::query::Query;
    use crate::response::error::{InputError, LocPart, push_json_str, push_json_str_within};

    impl<T: Validate + DeserializeOwned> Validated for Json<T> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            self.0.validate().map_err(|errors| {
                let tree = Tree::parse(head.body()).ok();
                report::<T>(&errors, &Place::new("body", Raw::Json(tree.as_ref())))
            })
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            // Only a body that parses has a repaired value. One that was not read as JSON
            // (another content type) has its problem at `["body"]`, which every rule is
            // inside of, so none is added.
            let Ok(tree) = Tree::parse(head.body()) else {
                return;
            };
            // Read where the body fits, as `Json` read it (see `with_room`).
            let found: &[InputError] = problems;
            let all = with_room(|| {
                let mut all = found.to_vec();
                if let Err((Some(repaired), _)) = from_json_repaired::<T>(&tree) {
                    let place = Place::new("body", Raw::Json(Some(&tree)));
                    add_broken_rules(&repaired, &mut all, &place);
                }
                all
            });
            *problems = all;
        }
    }

    /// An optional body is checked when it is there, as a required one.
    impl<T: Validate + DeserializeOwned> Validated for Option<Json<T>> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            match self {
                Some(body) => body.validate_input(head),
                None => Ok(()),
            }
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            if !crate::input::json::is_absent(head) {
                Json::<T>::add_rule_problems(head, problems);
            }
        }
    }

    impl<T: Validate + DeserializeOwned> Validated for Query<T> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            self.0.validate().map_err(|errors| {
                let owned = query_pairs(head);
                let pairs = borrow(&owned);
                report::<T>(&errors, &Place::new("query", Raw::pairs(&pairs, false)))
            })
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            if refused(problems) {
                return;
            }
            let owned = query_pairs(head);
            let pairs = borrow(&owned);
            if let Err((Some(repaired), _)) =
                from_pairs_repaired::<T>("query", &pairs, Repeated::Last)
            {
                let place = Place::new("query", Raw::pairs(&pairs, false));
                add_broken_rules(&repaired, problems, &place);
            }
        }
    }

    impl<T: Validate + DeserializeOwned> Validated for Form<T> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            self.0.validate().map_err(|errors| {
                let owned: Vec<(Cow<'_, str>, Cow<'_, str>)> =
                    form_urlencoded::parse(form_body(head)).collect();
                let pairs = borrow(&owned);
                report::<T>(&errors, &Place::new("body", Raw::pairs(&pairs, false)))
            })
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            if refused(problems) {
                return;
            }
            let owned: Vec<(Cow<'_, str>, Cow<'_, str>)> =
                form_urlencoded::parse(form_body(head)).collect();
            if let Err((Some(repaired), _)) =
                from_pairs_repaired::<T>("body", &kept_pairs::<T, _, _>(&owned), Repeated::Last)
            {
                let pairs = borrow(&owned);
                let place = Place::new("body", Raw::pairs(&pairs, false));
                add_broken_rules(&repaired, problems, &place);
            }
        }
    }

    impl<T: Validate + DeserializeOwned> Validated for Header<T> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            self.0.validate().map_err(|errors| {
                let mut names = String::new();
                let owned = field_pairs::<T>(head.headers(), &mut names);
                let pairs = borrow(&owned);
                report::<T>(&errors, &Place::header(&pairs))
            })
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            let mut names = String::new();
            let owned = field_pairs::<T>(head.headers(), &mut names);
            let pairs = borrow(&owned);
            if let Err((Some(repaired), _)) =
                from_pairs_repaired::<T>("header", &pairs, Repeated::First)
            {
                add_broken_rules(&repaired, problems, &Place::header(&pairs));
            }
        }
    }

    impl<T: Validate + DeserializeOwned> Validated for Cookie<T> {
        fn validate_input(&self, head: &RequestHead) -> Result<(), Vec<InputError>> {
            self.0.validate().map_err(|errors| {
                let owned = cookies(head.headers());
                let pairs = borrow(&owned);
                report::<T>(&errors, &Place::new("cookie", Raw::pairs(&pairs, false)))
            })
        }

        fn add_rule_problems(head: &RequestHead, problems: &mut Vec<InputError>) {
            let owned = cookies(head.headers());
            let pairs = borrow(&owned);
            if let Err((Some(repaired), _)) =
                from_pairs_repaired::<T>("cookie", &pairs, Repeated::Last)
            {
                let place = Place::new("cookie", Raw::pairs(&pairs, false));
                add_broken_rules(&repaired, problems, &place);
            }
        }
    }

    /// Whether the input was refused as a whole (a form or query of more fields than are
    /// read): the answer is that refusal, and the input is not read again for rules.
    fn refused(problems: &[InputError]) -> bool {
        problems.iter().any(|p| p.rejected().is_some())
    }

    fn borrow<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<(&str, &str)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect()
    }

    fn query_pairs(head: &RequestHead) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        form_urlencoded::parse(head.uri().query().unwrap_or("").as_bytes()).collect()
    }

    /// Adds the rules that `repaired` (bad input with placeholders where its `problems` are)
    /// breaks away from those problems, and puts all of them in the order of `T`'s fields.
    fn add_broken_rules<T: Validate + DeserializeOwned>(
        repaired: &T,
        problems: &mut Vec<InputError>,
        place: &Place<'_>,
    ) {
        let Err(errors) = repaired.validate() else {
            return;
        };
        // A rule at, inside or around a problem's place saw a placeholder (or, for a rule
        // of a struct, a struct with one): pydantic does not check it either.
        let related = |a: &[Value], b: &[Value]| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        };
        let rules: Vec<InputError> = report::<T>(&errors, place)
            .into_iter()
            .filter(|rule| !problems.iter().any(|p| related(p.loc(), rule.loc())))
            .collect();
        if rules.is_empty() {
            return;
        }
        let fields = field_order::<T>();
        problems.extend(rules);
        // By the top-level field's place, then by list index; stable, so problems of one
        // place keep their order (the deserializer's first).
        problems.sort_by_cached_key(|p| {
            let loc = p.loc().get(1..).unwrap_or_default();
            loc.iter()
                .enumerate()
                .map(|(depth, seg)| match seg {
                    Value::String(name) if depth == 0 => fields
                        .iter()
                        .position(|f| place.loc_name(f) == *name)
                        .unwrap_or(fields.len()),
                    Value::Number(index) => index.as_u64().map_or(0, |i| i as usize),
                    _ => 0,
                })
                .collect::<Vec<usize>>()
        });
    }

    /// Where the `input` of a problem is read from: what the client sent, as pydantic
    /// reports it (the text of a query value, the JSON of a body value), not the value
    /// after deserializing.
    enum Raw<'a> {
        Json(Option<&'a Tree>),
        /// `(key, value)` pairs; `first`: a single value of a repeated key is its first.
        Pairs {
            pairs: &'a [(&'a str, &'a str)],
            first: bool,
        },
    }

    impl<'a> Raw<'a> {
        fn pairs(pairs: &'a [(&'a str, &'a str)], first: bool) -> Self {
            Raw::Pairs { pairs, first }
        }
    }

    /// Where an input's problems are: the source that starts their `loc`, what the client
    /// sent there, and whether a field is named by its header name (`x_token` is `x-token`).
    struct Place<'a> {
        source: &'static str,
        raw: Raw<'a>,
        hyphens: bool,
    }

    impl<'a> Place<'a> {
        fn new(source: &'static str, raw: Raw<'a>) -> Self {
            Place {
                source,
                raw,
                hyphens: false,
            }
        }

        /// Headers: read as the deserializer reads them (field names, first values), named
        /// by header name in `loc`, as `Header<T>` reports its problems.
        fn header(pairs: &'a [(&'a str, &'a str)]) -> Self {
            Place {
                source: "header",
                raw: Raw::pairs(pairs, true),
                hyphens: true,
            }
        }

        /// The name of a top-level field in `loc`.
        fn loc_name(&self, field: &str) -> String {
            if self.hyphens {
                field.replace('_', "-")
            } else {
                field.to_owned()
            }
        }
    }

    /// One step of a location below the source.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Seg {
        Key(String),
        Index(usize),
    }

    /// Every problem of `errors`, in pydantic's order: by the declaration order of `T`'s
    /// fields (nested structs by field name), list elements by index.
    fn report<T: DeserializeOwned>(
        errors: &ValidationErrors,
        place: &Place<'_>,
    ) -> Vec<InputError> {
        let fields = field_order::<T>();
        let mut found: Vec<(Vec<Seg>, &ValidationError)> = Vec::new();
        walk(errors, &mut Vec::new(), &mut found);
        found.sort_by_cached_key(|(loc, _)| {
            let rank = match loc.first() {
                Some(Seg::Key(name)) => fields
                    .iter()
                    .position(|f| f == name)
                    .unwrap_or(fields.len()),
                _ => 0,
            };
            (rank, loc.clone())
        });
        // Bounded as the deserializer's problems are: at most `MAX_PROBLEMS`, their inputs
        // together at most `MAX_INPUT_TEXT` bytes (past that an input is sent as `null`), so
        // that a long list breaking a rule in every element is not echoed whole.
        let mut budget = MAX_INPUT_TEXT;
        found
            .into_iter()
            .take(MAX_PROBLEMS)
            .map(|(loc, error)| problem(place, &loc, error, &mut budget))
            .collect()
    }

    /// Collects the first broken rule of each field (pydantic stops at a field's first
    /// failing constraint), depth first.
    fn walk<'e>(
        errors: &'e ValidationErrors,
        loc: &mut Vec<Seg>,
        out: &mut Vec<(Vec<Seg>, &'e ValidationError)>,
    ) {
        for (field, kind) in &errors.0 {
            // A rule of the whole struct (`#[validate(schema(...))]`) is at the struct itself,
            // as pydantic reports a model validator's error.
            let own = field != "__all__";
            if own {
                loc.push(Seg::Key(field.to_string()));
            }
            match kind {
                ValidationErrorsKind::Field(list) => {
                    if let Some(first) = list.first() {
                        out.push((loc.clone(), first));
                    }
                }
                ValidationErrorsKind::Struct(inner) => walk(inner, loc, out),
                ValidationErrorsKind::List(items) => {
                    for (index, inner) in items {
                        loc.push(Seg::Index(*index));
                        walk(inner, loc, out);
                        loc.pop();
                    }
                }
            }
            if own {
                loc.pop();
            }
        }
    }

    /// One broken rule as pydantic reports the same constraint.
    fn problem(
        place: &Place<'_>,
        loc: &[Seg],
        error: &ValidationError,
        budget: &mut usize,
    ) -> InputError {
        let value = error.params.get("value");
        let (kind, msg, ctx) = match error.code.as_ref() {
            "length" => length(error, value),
            "range" => range(error, value),
            "email" => email(value),
            "regex" => pattern(error),
            _ => None,
        }
        .unwrap_or_else(|| {
            let text = error.message.as_deref().unwrap_or(error.code.as_ref());
            (
                "value_error",
                format!("Value error, {text}"),
                "{\"error\":{}}".to_owned(),
            )
        });
        let mut parts = vec![LocPart::from(place.source)];
        parts.extend(loc.iter().enumerate().map(|(depth, seg)| match seg {
            Seg::Key(k) if depth == 0 => LocPart::from(place.loc_name(k)),
            Seg::Key(k) => LocPart::from(k),
            Seg::Index(i) => LocPart::from(*i),
        }));
        InputError::new(parts, msg)
            .kind(kind)
            .raw(input(loc, value, &place.raw, budget), Some(ctx))
    }

    type Typed = Option<(&'static str, String, String)>;

    fn param_u64(error: &ValidationError, name: &str) -> Option<u64> {
        error.params.get(name).and_then(Value::as_u64)
    }

    /// `length(min, max, equal)`: `string_too_short`/`string_too_long` for text,
    /// `too_short`/`too_long` for a list (`Dictionary` for a map).
    fn length(error: &ValidationError, value: Option<&Value>) -> Typed {
        let (actual, field_type) = match value? {
            Value::String(s) => (s.chars().count() as u64, None),
            Value::Array(items) => (items.len() as u64, Some("List")),
            Value::Object(map) => (map.len() as u64, Some("Dictionary")),
            _ => return None,
        };
        let equal = param_u64(error, "equal");
        let min = param_u64(error, "min").or(equal);
        let max = param_u64(error, "max").or(equal);
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        if let Some(min) = min.filter(|&min| actual < min) {
            return Some(match field_type {
                None => (
                    "string_too_short",
                    format!("String should have at least {min} character{}", plural(min)),
                    format!("{{\"min_length\":{min}}}"),
                ),
                Some(field_type) => (
                    "too_short",
                    format!(
                        "{field_type} should have at least {min} item{} after validation, not {actual}",
                        plural(min)
                    ),
                    format!(
                        "{{\"field_type\":\"{field_type}\",\"min_length\":{min},\"actual_length\":{actual}}}"
                    ),
                ),
            });
        }
        let max = max.filter(|&max| actual > max)?;
        Some(match field_type {
            None => (
                "string_too_long",
                format!("String should have at most {max} character{}", plural(max)),
                format!("{{\"max_length\":{max}}}"),
            ),
            Some(field_type) => (
                "too_long",
                format!(
                    "{field_type} should have at most {max} item{} after validation, not {actual}",
                    plural(max)
                ),
                format!(
                    "{{\"field_type\":\"{field_type}\",\"max_length\":{max},\"actual_length\":{actual}}}"
                ),
            ),
        })
    }

    /// `range(min, max, exclusive_min, exclusive_max)`: pydantic's `ge`, `le`, `gt`, `lt`.
    fn range(error: &ValidationError, value: Option<&Value>) -> Typed {
        let actual = value?.as_f64()?;
        let bound = |name: &str| {
            let bound = error.params.get(name)?;
            Some((bound.as_f64()?, bound))
        };
        type Check = (
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            fn(f64, f64) -> bool,
        );
        let checks: [Check; 4] = [
            (
                "min",
                "greater_than_equal",
                "ge",
                "greater than or equal to",
                |v, b| v < b,
            ),
            (
                "exclusive_min",
                "greater_than",
                "gt",
                "greater than",
                |v, b| v <= b,
            ),
            (
                "max",
                "less_than_equal",
                "le",
                "less than or equal to",
                |v, b| v > b,
            ),
            ("exclusive_max", "less_than", "lt", "less than", |v, b| {
                v >= b
            }),
        ];
        checks
            .iter()
            .find_map(|&(param, kind, key, words, broken)| {
                let (limit, text) = bound(param)?;
                if !broken(actual, limit) {
                    return None;
                }
                // pydantic writes the bound as given in `ctx` (`0.0` for a float field) and
                // without a fraction of zero in `msg`.
                let ctx_text = number_text(text);
                let msg_text = ctx_text.strip_suffix(".0").unwrap_or(&ctx_text).to_owned();
                Some((
                    kind,
                    format!("Input should be {words} {msg_text}"),
                    format!("{{\"{key}\":{ctx_text}}}"),
                ))
            })
    }

    /// A JSON number as Python writes it.
    fn number_text(value: &Value) -> String {
        match value {
            Value::Number(n) if n.is_f64() => {
                n.as_f64().map_or_else(|| n.to_string(), python_float)
            }
            other => other.to_string(),
        }
    }

    /// `email`: pydantic's `EmailStr`, a `value_error` with the reason the Python package
    /// `email-validator` gives for the most common mistakes.
    fn email(value: Option<&Value>) -> Typed {
        let text = value?.as_str()?;
        let reason = match text.rsplit_once('@') {
            None => "An email address must have an @-sign.",
            Some(("", _)) => "There must be something before the @-sign.",
            Some((_, "")) => "There must be something after the @-sign.",
            Some((local, _)) if local.contains(' ') => {
                "The email address contains invalid characters before the @-sign: SPACE."
            }
            Some(_) if text.contains("..") => "An email address cannot have two periods in a row.",
            Some((_, domain)) if !domain.contains('.') => {
                "The part after the @-sign is not valid. It should have a period."
            }
            Some(_) => "The email address is not valid.",
        };
        let mut ctx = String::from("{\"reason\":");
        push_json_str(&mut ctx, reason);
        ctx.push('}');
        Some((
            "value_error",
            format!("value is not a valid email address: {reason}"),
            ctx,
        ))
    }

    /// `regex`: `string_pattern_mismatch`. `validator`'s error does not carry the pattern, so
    /// the rule's `message` is taken as the pattern when it has one
    /// (`regex(path = *SLUG, message = "^[a-z-]+$")`).
    fn pattern(error: &ValidationError) -> Typed {
        let pattern = error.message.as_deref()?;
        let mut ctx = String::from("{\"pattern\":");
        push_json_str(&mut ctx, pattern);
        ctx.push('}');
        Some((
            "string_pattern_mismatch",
            format!("String should match pattern '{pattern}'"),
            ctx,
        ))
    }

    /// The `input` of a problem: what the client sent at `loc`, else the value the rule saw;
    /// `null` once the inputs together pass `budget`.
    fn input(loc: &[Seg], value: Option<&Value>, raw: &Raw<'_>, budget: &mut usize) -> String {
        let mut out = sent(loc, value, raw, *budget).unwrap_or_else(|| match value {
            Some(value) => value.to_string(),
            None => "null".to_owned(),
        });
        if out.len() > *budget {
            out = "null".to_owned();
        }
        *budget = budget.saturating_sub(out.len());
        out
    }

    /// What the client sent at `loc`, as JSON text; `null` if that is longer than `limit`
    /// (found without writing what cannot fit).
    fn sent(loc: &[Seg], value: Option<&Value>, raw: &Raw<'_>, limit: usize) -> Option<String> {
        let mut out = String::new();
        match raw {
            Raw::Json(tree) => {
                let mut at = *tree;
                for seg in loc {
                    at = at.and_then(|t| match seg {
                        Seg::Key(k) => t.get(k),
                        Seg::Index(i) => t.at(*i),
                    });
                }
                // Too long to write is too long to send.
                at.map(|at| {
                    if at.write(&mut out, limit) {
                        out
                    } else {
                        "null".to_owned()
                    }
                })
            }
            Raw::Pairs { pairs, first } => {
                let [Seg::Key(key)] = loc else {
                    return None;
                };
                let mut values = pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| *v);
                if let Some(Value::Array(_)) = value {
                    out.push('[');
                    for (i, v) in values.enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        // Room left for the closing `]`.
                        if !push_json_str_within(&mut out, v, limit.saturating_sub(1)) {
                            return Some("null".to_owned());
                        }
                    }
                    out.push(']');
                    return Some(out);
                }
                let one = if *first {
                    values.next()
                } else {
                    values.next_back()
                };
                if !push_json_str_within(&mut out, one?, limit) {
                    return Some("null".to_owned());
                }
                Some(out)
            }
        }
    }
}
