//! The `#[depends]` attribute of `di`. Use it through `di_runtime::depends` (or the
//! `di_runtime::prelude`), which documents the model; this crate holds only the macro.
//!
//! The work happens in three steps on `proc_macro2` tokens, so each is unit-testable:
//! `args` parses the attribute arguments, `model` analyses the function and its
//! parameters (collecting every error, each spanned at the user's token, and asking
//! `unawaited` whether a generator leaves a `provide` call unawaited), `expand` writes
//! the companion items (asking `waits` whether a plain function's body can wait), with every
//! absolute path taken from `paths`.
#![forbid(unsafe_code)]

mod args;
mod expand;
mod model;
mod paths;
mod site;
mod unawaited;
mod waits;

use proc_macro::TokenStream;

/// Marks an `async fn` whose parameters are injected. See `di_runtime::depends`.
#[proc_macro_attribute]
pub fn depends(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = expand::depends_in(attr.into(), item.into(), site::of_call_site());
    if std::env::var_os("DI_MACROS_DEBUG").is_some_and(|v| v == "1") {
        eprintln!("{expanded}");
    }
    expanded.into()
}
