//! Whether a function's body can wait: an `async fn` whose body has no `.await` ends at its
//! first poll, so the runtime can run it where it starts it, with nothing boxed (see
//! `KeepShared::plain_now` in di-runtime).
//!
//! Read from the tokens, conservatively: a body can wait if it has the `await` keyword
//! anywhere (in a nested block, closure or macro argument too), or calls a macro that is not
//! one of the few known not to wait (`std`'s, and `tracing`'s and `log`'s logging macros),
//! since a macro can expand to an `.await` that its caller does not write (`tokio::join!`).

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The macros known not to wait, by their last path segment.
const CANNOT_WAIT: &[&str] = &[
    // std, core, alloc
    "assert",
    "assert_eq",
    "assert_ne",
    "cfg",
    "column",
    "compile_error",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "env",
    "eprint",
    "eprintln",
    "file",
    "format",
    "format_args",
    "include_bytes",
    "include_str",
    "line",
    "matches",
    "module_path",
    "option_env",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
    // tracing and log
    "trace",
    "debug",
    "info",
    "warn",
    "error",
    "event",
    "span",
    "trace_span",
    "debug_span",
    "info_span",
    "warn_span",
    "error_span",
];

/// Keywords, which may stand before a `!` that is not a macro call's.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "else", "for", "if", "in", "let", "loop",
    "match", "move", "mut", "ref", "return", "while", "yield",
];

/// The crates a known macro may be called through (`std::format!`, `tracing::info!`).
const CRATES: &[&str] = &["std", "core", "alloc", "tracing", "log"];

/// The attributes that leave a function's body as written: an attribute macro placed after
/// `#[depends]` (`#[tracing::instrument]`, a retry or caching attribute) expands after it, and
/// may put an `.await` into the body that `can_wait` never sees.
const INERT_ATTRIBUTES: &[&str] = &[
    "doc",
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "must_use",
    "inline",
    "cold",
    "deprecated",
    "cfg",
    "cfg_attr",
    "track_caller",
];

/// Whether a function with these attributes (those left after `#[depends]`) and this body
/// may wait: see [`can_wait`], and an attribute that is not [inert](INERT_ATTRIBUTES).
pub(crate) fn function_can_wait(attrs: &[syn::Attribute], body: TokenStream) -> bool {
    attrs.iter().any(|attr| {
        !attr
            .path()
            .get_ident()
            .is_some_and(|ident| INERT_ATTRIBUTES.iter().any(|inert| ident == inert))
    }) || can_wait(body)
}

/// Whether `body` may wait: it has an `.await`, or calls a macro not known not to wait.
pub(crate) fn can_wait(body: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = body.into_iter().collect();
    for (at, token) in tokens.iter().enumerate() {
        let waits = match token {
            TokenTree::Ident(ident) => ident == "await",
            TokenTree::Group(group) => can_wait(group.stream()),
            TokenTree::Punct(punct) => {
                punct.as_char() == '!'
                    && is_macro_call(&tokens, at)
                    && !known_not_to_wait(&tokens[..at])
            }
            TokenTree::Literal(_) => false,
        };
        if waits {
            return true;
        }
    }
    false
}

/// Whether the `!` at `at` is a macro call's: a name before it and a delimited group after
/// it (`name!(..)`, `name![..]`, `name!{..}`), or a name after it too (`macro_rules! name`).
fn is_macro_call(tokens: &[TokenTree], at: usize) -> bool {
    // A keyword before `!` is not a macro's name: `if !(a)`, `return !b`.
    let named = at > 0
        && matches!(&tokens[at - 1], TokenTree::Ident(name) if !KEYWORDS.contains(&name.to_string().as_str()));
    let called = matches!(
        tokens.get(at + 1),
        Some(TokenTree::Group(group)) if group.delimiter() != Delimiter::None
    ) || matches!(tokens.get(at + 1), Some(TokenTree::Ident(_)));
    named && called
}

/// Whether the path ending the tokens `before` a macro call's `!` names a macro known not to
/// wait: one of [`CANNOT_WAIT`], by its name alone or through one of [`CRATES`].
fn known_not_to_wait(before: &[TokenTree]) -> bool {
    let mut segments = Vec::new();
    let mut at = before.len();
    loop {
        let Some(TokenTree::Ident(segment)) = at.checked_sub(1).map(|i| &before[i]) else {
            return false;
        };
        segments.push(segment.to_string());
        at -= 1;
        // `::` before the segment: another segment (or a leading `::`) before that.
        let colons = at >= 2
            && matches!(&before[at - 1], TokenTree::Punct(p) if p.as_char() == ':')
            && matches!(&before[at - 2], TokenTree::Punct(p) if p.as_char() == ':');
        if !colons {
            break;
        }
        at -= 2;
        if !matches!(
            at.checked_sub(1).map(|i| &before[i]),
            Some(TokenTree::Ident(_))
        ) {
            break; // a leading `::`
        }
    }
    segments.reverse();
    let name = segments.last().map(String::as_str).unwrap_or_default();
    let through = match segments.as_slice() {
        [_] => true,
        [krate, _] => CRATES.contains(&krate.as_str()),
        _ => false,
    };
    through && CANNOT_WAIT.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn attrs(item: TokenStream) -> Vec<syn::Attribute> {
        syn::parse2::<syn::ItemFn>(item).expect("a function").attrs
    }

    #[test]
    fn an_attribute_macro_after_depends_may_make_the_body_wait() {
        let body = quote!({ Ok(1) });
        let inert = attrs(quote! {
            /// Docs.
            #[allow(unused)]
            #[must_use]
            #[cfg(unix)]
            #[cfg_attr(test, inline)]
            async fn f() {}
        });
        assert!(!function_can_wait(&inert, body.clone()));
        for item in [
            quote!(
                #[retry::retry]
                async fn f() {}
            ),
            quote!(
                #[instrument]
                async fn f() {}
            ),
            quote!(
                #[tracing::instrument(skip_all)]
                async fn f() {}
            ),
        ] {
            assert!(function_can_wait(&attrs(item), body.clone()));
        }
    }

    #[test]
    fn a_body_without_await_or_macros_cannot_wait() {
        assert!(!can_wait(quote!({
            let x = f(1)?;
            Ok(Json(x))
        })));
        assert!(!can_wait(quote!({ a != b && !c })));
        assert!(!can_wait(quote!({
            if !(a || b) {
                return !(c);
            }
        })));
    }

    #[test]
    fn an_await_anywhere_can_wait() {
        assert!(can_wait(quote!({ f().await })));
        assert!(can_wait(quote!({
            if x {
                let y = { g().await };
            }
        })));
        assert!(can_wait(quote!({
            let c = async { h().await };
        })));
        assert!(can_wait(quote!({ format!("{}", f().await) })));
        // Conservative: an `.await` in a task the body does not wait for counts too.
        assert!(can_wait(quote!({
            tokio::spawn(async move { work().await });
        })));
    }

    #[test]
    fn known_macros_cannot_wait_and_any_other_can() {
        assert!(!can_wait(quote!({
            let s = format!("{x}");
            vec![s]
        })));
        assert!(!can_wait(quote!({
            std::println!("a");
            ::std::assert!(true);
        })));
        assert!(!can_wait(quote!({
            tracing::info!(a = 1, "b");
            debug!("c");
        })));
        assert!(can_wait(quote!({ tokio::join!(a(), b()) })));
        assert!(can_wait(quote!({ my_macro!() })));
        assert!(can_wait(quote!({ sqlx::query!("select 1") })));
        assert!(can_wait(quote!({ mycrate::format!("x") })));
        assert!(can_wait(quote!({ a::b::info!("x") })));
        assert!(can_wait(quote!({
            macro_rules! m {
                () => {};
            }
        })));
    }
}
