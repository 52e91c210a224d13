//! The expansion of `#[depends] async fn name(..)`:
//!
//! - a struct `name {}` that stands for the function in the type namespace, so that
//!   `#[dep(name)]` can name it as a type; it is braced, not a unit struct, because a unit
//!   struct would also live in the value namespace and turn every parameter called `name`
//!   into a pattern matching it;
//! - the user's function, intact, as the associated function `name::call`;
//! - a function `name(UseAsDepOrCall<name>) -> UseAsDepOrCall<name>` in the value namespace,
//!   which can never be called (its argument's name is what a direct call `name()` is told
//!   it lacks) and lets `App::get(path, name)` infer the struct from the function's name;
//! - the runtime trait impls, in a `const _: () = { ... };` block.
//!
//! When the macro reports an error, it still emits all of these except the code that hands
//! the function its arguments; `Dependency::meta` is then a placeholder that is never compiled
//! into a program. Uses of the function elsewhere (`App::get`, `#[dep(name)]`) so add no
//! errors of their own. A method (`self`), and a function that sits in an `impl` or `trait`
//! block (read from its source file, see `site`), is emitted alone with one error, since such a
//! block cannot hold the companion items.
//!
//! Type obligations are spanned at the user's tokens: a parameter's access at its type, the
//! conversion of the result at the return type, `path: Dependency` at the `#[dep(path)]` path.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::args::{DependsArgs, ScopeArg, parse_depends_args};
use crate::model::{
    Access, Function, Output, ParamModel, SELF_NAMES_NOTHING, analyse, doc_text, find_self_type,
    generics_error, output_schema_type, schema_type, signature_types, type_text,
};
use crate::paths::Paths;
use crate::site::Outer;

/// Expands `#[depends(attr)] item`. Never panics: every problem becomes a `compile_error!`
/// spanned at the user's token, next to the user's function and its companion items, so that
/// other diagnostics keep working and uses of the function elsewhere do not cascade.
#[cfg(test)]
pub(crate) fn depends(attr: TokenStream, item: TokenStream) -> TokenStream {
    depends_in(attr, item, Outer::Other)
}

/// [`depends`] for an item that sits directly in the block `outer`: in an `impl` or a
/// `trait`, where its companion items cannot stand, it is kept as written with one error.
pub(crate) fn depends_in(attr: TokenStream, item: TokenStream, outer: Outer) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let mut out = not_a_function(&item).into_compile_error();
            out.extend(item);
            return out;
        }
    };
    let mut errors = Vec::new();
    let args = parse_depends_args(attr.clone()).unwrap_or_else(|error| {
        errors.push(error);
        // The function is still expanded, naming the runtime by the `crate` given, so that
        // its uses do not each report the crate missing as well.
        DependsArgs {
            krate: crate_arg(attr),
            ..DependsArgs::default()
        }
    });
    let (mut function, found) = analyse(item_fn, args.scope.map(|s| s.0));
    if let Some(module) = module_named_as(&function.item.sig) {
        // The companion struct would clash with the module, and every use of either report it.
        let item = &function.item;
        let ident = &item.sig.ident;
        let error = syn::Error::new(
            module.span(),
            format!("`{ident}` names both this function and a module: `#[depends]` defines a type `{ident}` for the function, and a type cannot share its name with a module; rename the function (`get_{ident}`) or the module"),
        )
        .into_compile_error();
        return quote!(#item #error);
    }
    // Looked at only for a function named `main` (its body printed only if it is not `async`).
    let runtime_main = || {
        function.item.attrs.iter().any(|attr| {
            attr.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "main")
        }) || (function.item.sig.asyncness.is_none()
            // `#[tokio::main]` above `#[depends]` ran first: its `main` is no longer `async`,
            // and blocks on the body.
            && function.item.block.to_token_stream().to_string().contains("block_on"))
    };
    if function.item.sig.ident == "main" && outer == Outer::Other && runtime_main() {
        // `#[tokio::main] async fn main`, the program's entry point, called by nothing of the
        // app: its companion type would stand in its place, and rustc report that type as
        // `main`'s return type. (A handler named `main` in a module of pages stays one.)
        let item = &function.item;
        let error = syn::Error::new(
            item.sig.ident.span(),
            "`#[depends]` marks a handler or a dependency, not the program's `main`: remove it here, and put it on the `async fn`s that `main` mounts on routes (`App::new().get(\"/\", handler)`)",
        )
        .into_compile_error();
        return quote!(#item #error);
    }
    if outer != Outer::Other && function.item.sig.receiver().is_none() {
        // Its other errors (`Self`, say) may not hold once it is moved: only this one.
        let item = &function.item;
        let ident = &item.sig.ident;
        let block = if outer == Outer::Impl {
            "an `impl`"
        } else {
            "a `trait`"
        };
        let error = syn::Error::new(
            ident.span(),
            format!("`#[depends]` goes on a free function, not on one in {block} block: move `{ident}` out of the block to the module; it is then routed as `App::get(path, {ident})` and injected as `#[dep({ident})]`"),
        )
        .into_compile_error();
        return quote!(#item #error);
    }
    errors.extend(found);
    if let Some((limit, span)) = args.max_concurrency {
        if function.scope == Some(ScopeArg::App) {
            errors.push(syn::Error::new(
                span,
                "an `app`-scoped dependency is set up once for the whole app, so `max_concurrency` has nothing to limit; remove it, or make the dependency `request`- or `handler`-scoped",
            ));
        }
        function.max_concurrency = Some(limit);
    }
    // `-> impl IntoResponse` is a handler's output only, and a route runs its handler for each
    // request whatever scope it declares.
    if let (Some((ScopeArg::App, span)), Output::Plain { has_impl: true, .. }) =
        (args.scope, &function.output)
    {
        errors.push(syn::Error::new(
            span,
            "an `impl IntoResponse` output makes this function a route's handler, which runs for each request: `scope = \"app\"` would be ignored; remove it, and put the work to do once in an `app`-scoped dependency that the handler takes with `#[dep(..)]`",
        ));
    }
    if function.scope == Some(ScopeArg::App)
        && let Some(key) = args.route_keys.first()
    {
        errors.push(syn::Error::new(
            key.span(),
            format!("`{key}` documents the response of a route's handler, and an `app`-scoped dependency is never one: it is set up once for the whole app, not per request; remove `{key}` (or, for a handler, remove `scope = \"app\"`: a handler runs for each request)"),
        ));
    }
    function.uses = args.uses;
    function.status = args.status;
    function.content_type = args.content_type;
    function.responses = args.responses;
    function.body_content_type = args.body_content_type;
    let krate = args
        .krate
        .unwrap_or_else(|| syn::parse_quote!(::di_runtime));
    // An inner attribute at the top of the body (`#![allow(unused_variables)]`, a `//!` doc
    // comment) is the function's as an outer one is: syn keeps it among the function's
    // attributes, and each item made of it gets it before its own tokens, where only an outer
    // one may stand ("an inner attribute is not permitted following an outer attribute").
    for attr in &mut function.item.attrs {
        attr.style = syn::AttrStyle::Outer;
    }
    expand_function(&function, &Paths::new(&krate), errors)
}

/// The path in a `crate = "..."` among `#[depends]` arguments that did not all parse.
fn crate_arg(attr: TokenStream) -> Option<syn::Path> {
    let tokens: Vec<proc_macro2::TokenTree> = attr.into_iter().collect();
    tokens.windows(3).find_map(|window| match window {
        [
            proc_macro2::TokenTree::Ident(key),
            proc_macro2::TokenTree::Punct(eq),
            proc_macro2::TokenTree::Literal(value),
        ] if key == "crate" && eq.as_char() == '=' => {
            syn::parse2::<syn::LitStr>(value.to_token_stream())
                .ok()?
                .parse()
                .ok()
        }
        _ => None,
    })
}

/// The first segment of a path in the signature's types (`config` of `config::Config`) that
/// names the function itself: a module of the function's name, since the function is no type.
fn module_named_as(sig: &syn::Signature) -> Option<proc_macro2::Ident> {
    fn walk(tokens: TokenStream, name: &syn::Ident) -> Option<proc_macro2::Ident> {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        tokens.iter().enumerate().find_map(|(i, token)| match token {
            proc_macro2::TokenTree::Ident(ident) if ident == name => {
                // At the start of a path (not after `::`), followed by `::`.
                let after_colons = i >= 1
                    && matches!(&tokens[i - 1], proc_macro2::TokenTree::Punct(p) if p.as_char() == ':');
                let before_colons = matches!(
                    tokens.get(i + 1),
                    Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ':'
                );
                (!after_colons && before_colons).then(|| ident.clone())
            }
            proc_macro2::TokenTree::Group(group) => walk(group.stream(), name),
            _ => None,
        })
    }
    signature_types(sig).find_map(|tokens| walk(tokens, &sig.ident))
}

/// The error for an item that is not a function, at its first token after the attributes and
/// the visibility (`struct`, `impl`, ...).
fn not_a_function(item: &TokenStream) -> syn::Error {
    let parser = |input: syn::parse::ParseStream<'_>| -> syn::Result<Span> {
        input.call(syn::Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        let span = input.span();
        input.parse::<TokenStream>()?;
        Ok(span)
    };
    let span =
        syn::parse::Parser::parse2(parser, item.clone()).unwrap_or_else(|_| Span::call_site());
    // A function without a body: a trait method's declaration, or a foreign function.
    if syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok_and(|f| f.default.is_none()) {
        return syn::Error::new(
            span,
            "`#[depends]` goes on a free `async fn` with a body; a trait method (or any function without a body) cannot be one",
        );
    }
    syn::Error::new(
        span,
        "`#[depends]` goes on an `async fn`; it cannot mark other items",
    )
}

/// The first and the last token's spans of `tokens`. A generated expression that starts with
/// a token at the first span and ends with one at the last is reported by rustc as covering
/// all of `tokens` (a single span covers only one token on stable Rust).
fn span_range(tokens: &impl ToTokens) -> (Span, Span) {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}

/// `tokens` with every token at `span`, so that rustc reports an expression made of them there.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(group) = &tt {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tt = inner.into();
            }
            tt.set_span(span);
            tt
        })
        .collect()
}

/// `expr` as an expression that rustc reports at `tokens` when a trait bound on it fails:
/// `(expr,).0`, with the tuple at the first token's span and `.0` at the last one's.
fn blame_at(expr: &syn::Ident, tokens: &impl ToTokens) -> TokenStream {
    let (first, last) = span_range(tokens);
    let tuple = quote_spanned!(first=> (#expr,));
    let field = quote_spanned!(last=> .0);
    quote!(#tuple #field)
}

fn expand_function(function: &Function, paths: &Paths, errors: Vec<syn::Error>) -> TokenStream {
    let item = &function.item;
    let errors: Vec<_> = errors
        .into_iter()
        .map(syn::Error::into_compile_error)
        .collect();
    if matches!(item.sig.inputs.first(), Some(syn::FnArg::Receiver(_))) {
        // Inside an `impl` block no companion item can be emitted: keep the method as written.
        return quote!(#item #(#errors)*);
    }
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let name = ident.to_string();
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    // A `#[deprecated]` function is deprecated where a user takes it, `#[dep(name)]`: the
    // struct is, not only `name::call`. The marker function (`App::get`, `override_dep`) is
    // not: a deprecated handler is still routed without a warning (its OpenAPI operation is
    // marked instead). The items generated here name the struct, so they allow it.
    let deprecated: Vec<_> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("deprecated"))
        .collect();
    // `#[doc(hidden)]` hides the marker function too, else rustdoc lists it alone.
    let hidden = item.attrs.iter().filter(|a| {
        a.path().is_ident("doc")
            && matches!(&a.meta, syn::Meta::List(list) if list.tokens.to_string() == "hidden")
    });
    let allow_deprecated = (!deprecated.is_empty()).then(|| {
        quote!(#[allow(deprecated, reason = "generated for the `#[deprecated]` function itself")])
    });

    let LintAttrs {
        call: mut call_attrs,
        marker: marker_lints,
        structure: struct_lints,
        block: block_lints,
        named,
    } = lint_attrs(&item.attrs, !is_snake_case(&ident.unraw().to_string()));
    let call_allows = call_allows(function, &named);
    for attr in &mut call_attrs {
        name_instrument_span(attr, ident);
        doc_outside_doctests(attr);
    }
    let mut call_sig = item.sig.clone();
    call_sig.ident = syn::Ident::new("call", ident.span());
    // In `impl name`, a `Self` of the signature (reported) would be the marker struct, and the
    // body told it returns the wrong type: it is made of the error reported at `Self`.
    if find_self_type(&call_sig).is_some()
        && let Ok(sig) = syn::parse2(self_reported(call_sig.to_token_stream()))
    {
        call_sig = sig;
    }
    let call_block = &item.block;

    let marker = paths.marker();
    let marker_doc = format!(
        "`#[depends]` function `{name}`: route it with `App::get(path, {name})`, inject it with `#[dep({name})]`, call it directly as `{name}::call(..)`."
    );

    let dependency_impl = if errors.is_empty() {
        Some(dependency_impl(function, paths))
    } else {
        placeholder_impl(function, paths)
    };
    let can_be_held = (function.scope != Some(ScopeArg::Handler)).then(|| {
        let can_be_held = paths.can_be_held();
        quote! {
            #[automatically_derived]
            impl #can_be_held for #ident {}
        }
    });

    quote! {
        #(#docs)*
        #(#deprecated)*
        #(#struct_lints)*
        #[repr(C)]
        #vis struct #ident {}

        #[doc = #marker_doc]
        #(#hidden)*
        #(#marker_lints)*
        #allow_deprecated
        #vis fn #ident(never: #marker<#ident>) -> #marker<#ident> {
            never.unreachable()
        }

        #allow_deprecated
        impl #ident {
            #[doc = "The function as written; call it directly in unit tests."]
            #[doc = ""]
            #(#call_attrs)*
            #call_allows
            #vis #call_sig #call_block
        }

        #(#block_lints)*
        #allow_deprecated
        const _: () = {
            #dependency_impl
            #can_be_held
        };

        #(#errors)*
    }
}

/// `#[tracing::instrument]` names its span after the function it is on, which is `call` here:
/// the span is named after the user's function instead, unless the attribute names it.
fn name_instrument_span(attr: &mut syn::Attribute, ident: &syn::Ident) {
    let path = attr.path();
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    if !matches!(segments.as_slice(), [i] | [_, i] if i == "instrument")
        || segments.len() == 2 && segments[0] != "tracing"
    {
        return;
    }
    let name = ident.unraw().to_string();
    let path = path.clone();
    let args = match &attr.meta {
        syn::Meta::Path(_) => TokenStream::new(),
        syn::Meta::List(list) => list.tokens.clone(),
        syn::Meta::NameValue(_) => return,
    };
    let names_it = args
        .clone()
        .into_iter()
        .any(|token| matches!(token, proc_macro2::TokenTree::Ident(ident) if ident == "name"));
    if !names_it {
        let comma = (!args.is_empty()).then(|| quote!(,));
        *attr = syn::parse_quote!(#[#path(name = #name #comma #args)]);
    }
}

/// A doc comment copied onto `name::call` left out of doctests: its examples are the
/// struct's, which carries the same doc comment, and ran twice (`name` and `name::call`).
fn doc_outside_doctests(attr: &mut syn::Attribute) {
    if let syn::Meta::NameValue(doc) = &attr.meta
        && doc.path.is_ident("doc")
    {
        let value = &doc.value;
        // At the doc comment's span: clippy reads no doc attribute that comes from a macro,
        // and reported the `# Errors` section of a `pub` fallible function missing
        // (`clippy::missing_errors_doc`, pedantic) on `name::call`.
        let span = doc.path.span();
        *attr = syn::parse_quote_spanned!(span=> #[cfg_attr(not(doctest), doc = #value)]);
    }
}

/// Whether rustc's `non_snake_case` accepts `name` (its own rule: no capital, no `__` inside).
fn is_snake_case(name: &str) -> bool {
    let mut after_underscore = false;
    name.trim_matches('_').chars().all(|c| {
        let ok = !(c.is_uppercase() || c == '_' && after_underscore);
        after_underscore = c == '_';
        ok
    })
}

/// The lints rustc reports at a function's name.
fn is_name_lint(lint: &syn::Path) -> bool {
    lint.is_ident("non_snake_case") || lint.is_ident("nonstandard_style")
}

/// The lints `name::call` allows, for what the macro makes its signature be, each with its
/// reason, less those the function sets a level for itself (`named`): its own level wins then
/// (`#[expect(clippy::unused_async)]`, kept from a handler written for axum, was unfulfilled),
/// while a group it sets (`#[deny(clippy::pedantic)]`) does not undo them, these coming after it.
///
/// Each is allowed only where it could fire: a crate that forbids it (`#![forbid(clippy::pedantic)]`)
/// rejects the `allow` (E0453, or a warning for a lint of a forbidden group).
fn call_allows(function: &Function, named: &[String]) -> TokenStream {
    // The last segment of the type each `#[dep]` parameter borrows (`String` of `&String`), and
    // whether it is an `Option` of a reference.
    let mut borrowed = Vec::new();
    for param in &function.params {
        if let ParamModel::Dep {
            ty: syn::Type::Reference(reference),
            ..
        } = &param.model
            && let syn::Type::Path(path) = &*reference.elem
            && let Some(last) = path.path.segments.last()
        {
            let of_ref = matches!(&last.arguments, syn::PathArguments::AngleBracketed(args)
                if matches!(args.args.first(), Some(syn::GenericArgument::Type(syn::Type::Reference(_)))));
            borrowed.push((last.ident.to_string(), of_ref));
        }
    }
    let borrows = |names: &[&str]| borrowed.iter().any(|(b, _)| names.contains(&b.as_str()));
    let allows: [(&str, bool, &str); 5] = [
        (
            "unused_async",
            !has_own_await(function.item.block.to_token_stream()),
            "`#[depends]` functions are `async` even when they do not await",
        ),
        (
            "ptr_arg",
            borrows(&["String", "Vec", "PathBuf", "Cow"]),
            BORROWED_DEP,
        ),
        ("borrowed_box", borrows(&["Box"]), BORROWED_DEP),
        ("ref_option", borrows(&["Option"]), BORROWED_DEP),
        (
            "ref_option_ref",
            borrowed.iter().any(|(b, of_ref)| b == "Option" && *of_ref),
            BORROWED_DEP,
        ),
    ];
    let mut out = TokenStream::new();
    for reason in [allows[0].2, BORROWED_DEP] {
        let lints: Vec<syn::Ident> = allows
            .iter()
            .filter(|(lint, fires, why)| {
                *why == reason && *fires && !named.contains(&format!("clippy::{lint}"))
            })
            .map(|(lint, ..)| syn::Ident::new(lint, Span::call_site()))
            .collect();
        if !lints.is_empty() {
            out.extend(quote!(#[allow(#(clippy::#lints),*, reason = #reason)]));
        }
    }
    out
}

/// Why `name::call` allows clippy's lints of a borrowed `#[dep]` parameter.
const BORROWED_DEP: &str = "a `#[dep]` parameter takes the exact type its dependency provides (`&String`, `&Box<dyn Trait>`, `&Option<T>`)";

/// Whether `body` awaits in itself (clippy's `unused_async` does not fire then): an `await`
/// outside the `async` blocks it holds, which clippy does not count.
fn has_own_await(body: TokenStream) -> bool {
    let mut after_async = false;
    body.into_iter().any(|token| {
        let own = match &token {
            proc_macro2::TokenTree::Ident(ident) => ident == "await",
            proc_macro2::TokenTree::Group(group) => !after_async && has_own_await(group.stream()),
            proc_macro2::TokenTree::Punct(_) | proc_macro2::TokenTree::Literal(_) => false,
        };
        after_async = match &token {
            proc_macro2::TokenTree::Ident(ident) => {
                ident == "async" || (after_async && ident == "move")
            }
            _ => false,
        };
        own
    })
}

/// `dead_code`, or a group that holds it: rustc cannot report it at any item the macro makes
/// while the function sets a level for it. An `#[expect(dead_code)]` on `name::call` is a root
/// of its dead-code analysis, and visiting `call` makes its `impl` block's type live, with the
/// trait impls that call it: the expectation would be unfulfilled whether the function is used
/// or not. It is allowed instead, as an unused function without the macro is expected to be.
fn is_dead_code_lint(lint: &syn::Path) -> bool {
    lint.is_ident("dead_code") || lint.is_ident("unused")
}

/// The lints rustc reports at the struct of a function's name: a missing doc comment (the
/// struct is the item that carries it; `call` and the marker function have docs of their own).
fn is_struct_lint(lint: &syn::Path) -> bool {
    lint.is_ident("missing_docs")
}

/// An item the macro makes of the function, where rustc reports some of its lints.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Marker,
    Struct,
    Call,
    /// A lint reported at none of them, allowed at each (see [`is_dead_code_lint`]).
    Nowhere,
}

/// The lint levels the function's attributes set, for each item the macro makes of it.
struct LintAttrs {
    /// The function's attributes for `name::call`.
    call: Vec<syn::Attribute>,
    /// The levels for the marker function `name`, where rustc reports the function's name.
    marker: Vec<TokenStream>,
    /// The levels for the struct `name`, where rustc reports a missing doc comment.
    structure: Vec<TokenStream>,
    /// The lints the function sets a level for, by path as written (`clippy::unused_async`).
    named: Vec<String>,
    /// The levels for the block of trait impls, where rustc reports what it reports of the
    /// paths in `#[dep(..)]` and `uses(..)` (a deprecated dependency): `expect` as `allow`,
    /// since the same lint may be expected of the function's body.
    block: Vec<TokenStream>,
}

/// The function's attributes for `name::call`, and the lint levels they set for the marker
/// function `name`, where rustc reports the function's name (`non_snake_case`), and for the
/// struct `name`, where it reports a missing doc comment (`missing_docs`): `allow`, `warn` and
/// `deny` as written, `forbid` as `deny` (both allow `dead_code`), `expect` as `allow`. A lint
/// that an `expect` lists is expected where rustc reports it and allowed elsewhere: a name lint
/// at the marker when the name trips it, `missing_docs` at the struct, any other in `call`;
/// the block of trait impls allows it.
fn lint_attrs(attrs: &[syn::Attribute], name_trips: bool) -> LintAttrs {
    use syn::parse::Parser as _;
    use syn::punctuated::Punctuated;
    let mut out = LintAttrs {
        call: Vec::new(),
        marker: Vec::new(),
        structure: Vec::new(),
        block: Vec::new(),
        named: Vec::new(),
    };
    for attr in attrs {
        let Some(level) = ["allow", "warn", "deny", "forbid", "expect"]
            .into_iter()
            .find(|level| attr.path().is_ident(level))
        else {
            out.call.push(attr.clone());
            continue;
        };
        let Ok(metas) =
            attr.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
        else {
            out.call.push(attr.clone());
            continue;
        };
        let (mut lints, mut reason) = (Vec::new(), None);
        for meta in metas {
            match meta {
                syn::Meta::Path(lint) => lints.push(lint),
                other => reason = Some(other),
            }
        }
        if lints.is_empty() {
            out.call.push(attr.clone());
            continue;
        }
        out.named.extend(
            lints
                .iter()
                .map(|lint| lint.to_token_stream().to_string().replace(' ', "")),
        );
        let reason = reason.map(|r| quote!(, #r));
        if level != "expect" {
            let level = syn::Ident::new(
                if level == "forbid" { "deny" } else { level },
                attr.path().span(),
            );
            let levels = quote!(#[#level(#(#lints),* #reason)]);
            out.marker.push(levels.clone());
            out.structure.push(levels.clone());
            out.block.push(levels);
            out.call.push(attr.clone());
            continue;
        }
        // Where each lint is expected.
        let place = |lint: &syn::Path| {
            if is_dead_code_lint(lint) {
                Place::Nowhere
            } else if name_trips && is_name_lint(lint) {
                Place::Marker
            } else if is_struct_lint(lint) {
                Place::Struct
            } else {
                Place::Call
            }
        };
        // `expect` of the lints expected at `at`, `allow` of the others.
        let levels = |at: Place| {
            let (expected, allowed): (Vec<_>, Vec<_>) =
                lints.iter().partition(|lint| place(lint) == at);
            let expect = (!expected.is_empty()).then(|| quote!(#[expect(#(#expected),* #reason)]));
            let allow = (!allowed.is_empty()).then(|| quote!(#[allow(#(#allowed),*)]));
            quote!(#expect #allow)
        };
        out.marker.push(levels(Place::Marker));
        out.structure.push(levels(Place::Struct));
        out.block.push(quote!(#[allow(#(#lints),*)]));
        if lints.iter().all(|lint| place(lint) == Place::Call) {
            out.call.push(attr.clone());
        } else {
            let call = levels(Place::Call);
            out.call
                .extend(syn::Attribute::parse_outer.parse2(call).unwrap_or_default());
        }
    }
    out
}

/// The type the function provides, as named in `Dependency::Output`.
fn output_type(function: &Function, paths: &Paths) -> TokenStream {
    match &function.output {
        Output::Generator { provided } => quote!(#provided),
        Output::Plain { has_impl: true, .. } => paths.response(),
        Output::Plain {
            fallible: true,
            ok_ty: Some(ok_ty),
            ..
        } => quote!(#ok_ty),
        Output::Plain {
            ty,
            fallible: true,
            ok_ty: None,
            ..
        } => {
            let into_dep_result = paths.trait_into_dep_result();
            let (first, last) = span_range(ty);
            let open = quote_spanned!(first=> <);
            let close = quote_spanned!(last=> ::Ok);
            quote!(#open #ty as #into_dep_result> #close)
        }
        Output::Plain {
            ty,
            fallible: false,
            ..
        } => quote!(#ty),
    }
}

/// `type Output = ty;` spanned over the function's return type (its name, for `()`): rustc
/// reports a private type in it ("private type in public interface", a `pub` function that
/// returns a private type) at the return type, not at `#[depends]`.
fn output_item(function: &Function, output_ty: &TokenStream) -> TokenStream {
    let (first, last) = span_range(&ret_tokens(function));
    let head = quote_spanned!(first=> type Output =);
    let semi = quote_spanned!(last=> ;);
    quote!(#head #output_ty #semi)
}

/// When the macro reported an error, a `Dependency` impl that only names the output type, so
/// that `App::get(path, f)` and `#[dep(f)]` elsewhere do not add errors of their own.
fn placeholder_impl(function: &Function, paths: &Paths) -> Option<TokenStream> {
    let generics: Vec<String> = function
        .item
        .sig
        .generics
        .params
        .iter()
        .map(|p| match p {
            syn::GenericParam::Type(t) => t.ident.to_string(),
            syn::GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
            syn::GenericParam::Const(c) => c.ident.to_string(),
        })
        .collect();
    let mut output_ty = output_type(function, paths);
    // A generic parameter is not in scope here: the output is a type made of the error
    // reported at the generics (rustc shows an identical error once), so that uses of the
    // function (`#[dep(make)]`, `App::get`) report nothing more.
    if mentions_any(output_ty.clone(), &generics) {
        let error = generics_error(&function.item.sig)?;
        let span = error.span();
        let error = error.into_compile_error();
        output_ty = quote_spanned!(span=> [(); #error]);
    }
    // `Self` here would be the marker struct (`whoami` is no response): the output is a type
    // made of the error already reported at `Self` (rustc shows an identical error once), so
    // that uses of the function report nothing more.
    if mentions_any(output_ty.clone(), &["Self".to_owned()]) {
        output_ty = self_reported(output_ty);
    }
    let ident = &function.item.sig.ident;
    let dependency = paths.dependency();
    let dep_meta = paths.dep_meta();
    let core = paths.core();
    let output_item = output_item(function, &output_ty);
    Some(quote! {
        #[automatically_derived]
        impl #dependency for #ident {
            #output_item
            type Itself = Self;

            fn meta() -> &'static #dep_meta {
                #core::unreachable!("`#[depends]` reported an error")
            }
        }
    })
}

/// `tokens` with each `Self` (reported by the macro: a `#[depends]` function is free) made a
/// type of that error, `[(); compile_error!(..)]`, which rustc shows once (an identical error
/// at the same token) and whose uses report nothing more.
fn self_reported(tokens: TokenStream) -> TokenStream {
    let mut out = TokenStream::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        match token {
            proc_macro2::TokenTree::Ident(ident) if ident == "Self" => {
                let error = syn::Error::new(ident.span(), SELF_NAMES_NOTHING).into_compile_error();
                let ty = quote_spanned!(ident.span()=> [(); #error]);
                // `Self::Assoc` becomes `<[..]>::Assoc`.
                let path_follows = matches!(iter.peek(), Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ':');
                if path_follows {
                    out.extend(quote_spanned!(ident.span()=> <#ty>));
                } else {
                    out.extend(ty);
                }
            }
            proc_macro2::TokenTree::Group(group) => {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), self_reported(group.stream()));
                inner.set_span(group.span());
                out.extend([proc_macro2::TokenTree::Group(inner)]);
            }
            other => out.extend([other]),
        }
    }
    out
}

fn mentions_any(tokens: TokenStream, idents: &[String]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => idents.iter().any(|i| ident == i),
        proc_macro2::TokenTree::Group(group) => mentions_any(group.stream(), idents),
        _ => false,
    })
}

fn dependency_impl(function: &Function, paths: &Paths) -> TokenStream {
    let ident = &function.item.sig.ident;
    // `r#type` is the function `type`: the app's messages, graph and OpenAPI document name it so.
    let name = ident.unraw().to_string();
    let dependency = paths.dependency();
    let dep_meta = paths.dep_meta();
    let scope_path = paths.scope();
    let core = paths.core();

    let declared_scope = match function.scope {
        Some(scope) => {
            let variant = format_ident!("{}", scope.name());
            quote!(#core::option::Option::Some(#scope_path::#variant))
        }
        None => match function.output {
            Output::Generator { .. } => quote!(#core::option::Option::Some(#scope_path::Request)),
            Output::Plain { .. } => quote!(#core::option::Option::None),
        },
    };
    let generator = matches!(function.output, Output::Generator { .. });
    let max_concurrency = match function.max_concurrency {
        Some(limit) => quote!(#core::option::Option::Some(#limit)),
        None => quote!(#core::option::Option::None),
    };
    let output_ty = output_type(function, paths);
    let output_item = output_item(function, &output_ty);
    let params_meta = function.params.iter().map(|p| param_meta(p, paths));
    // `uses(f)` after the parameters, so that a parameter's index is its position.
    let uses_meta = function.uses.iter().map(|path| {
        let param_path = paths.param();
        let kind = paths.param_kind();
        let dependency = paths.dependency();
        let name = path
            .to_token_stream()
            .to_string()
            .replace(' ', "")
            .replace("r#", "");
        let meta = quote_spanned!(path.span()=> <#path as #dependency>::meta);
        quote!(#param_path { name: #name, kind: #kind::Uses { meta: #meta } })
    });
    let run = run_fn(function, paths);
    let doc = doc_meta(function, paths);
    let held_checks = function.params.iter().filter_map(|p| match &p.model {
        ParamModel::Dep {
            dep,
            access: Access::Held | Access::HeldMut,
            ..
        } if dep.scope.is_none() => {
            let path = &dep.path;
            let assert = paths.assert_can_be_held();
            Some(quote_spanned! {path.span()=> const _: () = #assert::<#path>(); })
        }
        _ => None,
    });
    // A type named `Yield`, `Held` or `HeldMut` is read by its name: check that it is ours.
    let name_checks = function.params.iter().filter_map(|p| {
        let (assert, ty) = match &p.model {
            ParamModel::Yield { ty, .. } => (paths.assert_is_yield(), ty),
            ParamModel::Dep {
                access: Access::Held | Access::HeldMut,
                ty,
                ..
            } => (paths.assert_is_held(), ty),
            _ => return None,
        };
        Some(quote_spanned! {ty.span()=> const _: () = #assert::<#ty>(); })
    });

    // An `app`-scoped dependency takes only the inputs that are the app's (`Shutdown`).
    let app_input_checks = function.params.iter().filter_map(|p| match &p.model {
        ParamModel::Input { ty } if function.scope == Some(ScopeArg::App) => {
            let core = paths.core();
            let from_request = paths.trait_from_request();
            // A literal for `assert!`: the type's text may hold braces.
            let message = crate::model::app_input_message(ty)
                .replace('{', "{{")
                .replace('}', "}}");
            // Every token at the type, so that rustc reports the failed assertion there.
            Some(respan(
                quote! { const _: () = #core::assert!(<#ty as #from_request>::APP_INPUT, #message); },
                ty.span(),
            ))
        }
        _ => None,
    });

    quote! {
        #[automatically_derived]
        impl #dependency for #ident {
            #output_item
            type Itself = Self;

            fn meta() -> &'static #dep_meta {
                static META: #dep_meta = #dep_meta {
                    name: #name,
                    module: #core::module_path!(),
                    path: #core::concat!(#core::module_path!(), "::", #name),
                    scope: #declared_scope,
                    generator: #generator,
                    max_concurrency: #max_concurrency,
                    params: &[#(#params_meta,)* #(#uses_meta),*],
                    run: __di_run,
                    type_id: #core::any::TypeId::of::<#ident>,
                    doc: #doc,
                };
                &META
            }
        }

        #run

        #(#held_checks)*
        #(#name_checks)*
        #(#app_input_checks)*
    }
}

/// `document`, code for the OpenAPI document only, kept with the runtime's `openapi` feature;
/// `fallback` in its place without it (see the runtime's `__di_openapi_only`).
fn openapi_only(document: TokenStream, fallback: TokenStream, paths: &Paths) -> TokenStream {
    let openapi_only = paths.openapi_only();
    quote!(#openapi_only!({ #document } else { #fallback }))
}

/// A function that makes the JSON Schema of `ty` (`{}` when it has none, or without the
/// `openapi` feature): `SchemaKnown` is found on `&SchemaProbe<T>` first when `T` derives
/// `schemars::JsonSchema`, `SchemaUnknown` otherwise.
fn schema_fn(ty: &syn::Type, paths: &Paths) -> TokenStream {
    let probe = paths.schema_probe();
    let use_pick = paths.use_pick("schema");
    let document = quote! {
        |__di_schemas, __di_inline| {
            #use_pick
            (&#probe::<#ty>::NEW).schema(__di_schemas, __di_inline)
        }
    };
    openapi_only(document, paths.any_schema(), paths)
}

/// A function that gives the declared order of `ty`'s fields (none when it does not derive
/// `Deserialize` as a struct, or without the `openapi` feature): `FieldsKnown` is found on
/// `&SchemaProbe<T>` first when `T: Deserialize`, `FieldsUnknown` otherwise.
fn fields_fn(ty: &syn::Type, paths: &Paths) -> TokenStream {
    let probe = paths.schema_probe();
    let use_pick = paths.use_pick("fields");
    let document = quote! {
        || {
            #use_pick
            (&#probe::<#ty>::NEW).field_order()
        }
    };
    openapi_only(document, paths.no_fields(), paths)
}

/// The function's `Doc`: its doc comment, `status`, `content_type`, what its output is and
/// the `responses` it declares.
fn doc_meta(function: &Function, paths: &Paths) -> TokenStream {
    let doc = paths.doc();
    let core = paths.core();
    let text = doc_text(&function.item.attrs);
    let deprecated = function
        .item
        .attrs
        .iter()
        .any(|a| a.path().is_ident("deprecated"));
    let status = match function.status {
        Some(status) => quote!(#core::option::Option::Some(#status)),
        None => quote!(#core::option::Option::None),
    };
    let status_named = crate::model::answer_names_its_status(&function.output);
    let content_type = match &function.content_type {
        Some(content_type) => quote!(#core::option::Option::Some(#content_type)),
        None => quote!(#core::option::Option::None),
    };
    let body_content_type = match &function.body_content_type {
        Some(content_type) => quote!(#core::option::Option::Some(#content_type)),
        None => quote!(#core::option::Option::None),
    };
    let responses = function
        .responses
        .iter()
        .map(|(status, description)| quote!((#status, #description)));
    let output = output_doc_fn(function, paths);
    let error = error_doc_fn(function, paths);
    quote! {
        #doc {
            text: #text,
            status: #status,
            status_named: #status_named,
            content_type: #content_type,
            body_content_type: #body_content_type,
            deprecated: #deprecated,
            output: #output,
            error: #error,
            responses: &[#(#responses),*],
        }
    }
}

/// The function that describes the error of `function`'s `Result<T, E>` (a generator's setup
/// error too) for the document: what its declared `responses` are answered with (a bare
/// `StatusCode` answers with no body). Unknown for an alias without `E`, an `E` that holds an
/// `impl Trait`, or a function that is not fallible.
fn error_doc_fn(function: &Function, paths: &Paths) -> TokenStream {
    let syn::ReturnType::Type(_, ret) = &function.item.sig.output else {
        return paths.unknown_output();
    };
    let Some(error_ty) =
        crate::model::result_err_type(ret).filter(|ty| !crate::model::mentions_impl(ty))
    else {
        return paths.unknown_output();
    };
    output_doc_of(&quote!(#error_ty), &paths.any_schema(), paths)
}

/// The function that describes a value of type `ty` as an output, its body's schema made by
/// `schema` (only the OpenAPI document reads it).
fn output_doc_of(ty: &TokenStream, schema: &TokenStream, paths: &Paths) -> TokenStream {
    let probe = paths.doc_probe();
    let use_pick = paths.use_pick("output");
    openapi_only(
        quote! {
            || {
                #use_pick
                (&#probe::<#ty>::NEW).output_doc(#schema)
            }
        },
        paths.unknown_output(),
        paths,
    )
}

/// The function that describes `function`'s output for the document (see `OutputKnown`).
fn output_doc_fn(function: &Function, paths: &Paths) -> TokenStream {
    // The type the output is read as, and the type of its body's schema. A `Result` alias
    // (`ApiResult`) is not named through `IntoDepResult` here: if it is not a `Result`, the
    // macro's conversion already reports it, once.
    let (read_as, body_ty): (Option<TokenStream>, syn::Type) = match &function.output {
        // An output that holds an `impl Trait` cannot be named: its kind is read from the
        // runtime's wrapper it is in (`StreamBody<impl Stream>`), if it is in one.
        Output::Plain {
            has_impl: true,
            ty,
            ok_ty,
            ..
        } => {
            return match crate::model::opaque_output_kind(ok_ty.as_deref().unwrap_or(ty)) {
                Some(kind) => {
                    let kind = syn::Ident::new(kind, proc_macro2::Span::call_site());
                    let (output_doc, output_kind) = (paths.output_doc(), paths.output_kind());
                    let any_schema = paths.any_schema();
                    openapi_only(
                        quote!(|| #output_doc { kind: #output_kind::#kind, schema: #any_schema }),
                        paths.unknown_output(),
                        paths,
                    )
                }
                None => paths.unknown_output(),
            };
        }
        Output::Plain {
            fallible: true,
            ok_ty: Some(ty),
            ..
        } => (Some(quote!(#ty)), output_schema_type(ty)),
        Output::Plain {
            fallible: true,
            ok_ty: None,
            ..
        } => (None, syn::parse_quote!(())),
        Output::Plain { ty, .. } => (Some(quote!(#ty)), output_schema_type(ty)),
        Output::Generator { provided } => (Some(quote!(#provided)), syn::parse_quote!(())),
    };
    match read_as {
        Some(ty) => output_doc_of(&ty, &schema_fn(&body_ty, paths), paths),
        None => paths.unknown_output(),
    }
}

fn param_meta(param: &crate::model::Param, paths: &Paths) -> TokenStream {
    let param_path = paths.param();
    let kind = paths.param_kind();
    let core = paths.core();
    // A request input is named by its type as written (`Query<Search>`, `&HeaderMap`): its
    // pattern is often not a name (`Json(new)`), and the runtime's messages and `App::graph`
    // show what is read, as the macro's own messages do.
    let name = match &param.model {
        ParamModel::Input { ty } | ParamModel::HeadRef { ty, .. } => type_text(ty),
        ParamModel::Dep { .. } | ParamModel::Yield { .. } => param.name.clone(),
    };
    let kind = match &param.model {
        ParamModel::Dep { dep, access, .. } => {
            let path = &dep.path;
            let dependency = paths.dependency();
            let scope = match dep.scope {
                Some((scope, _)) => {
                    let scope_path = paths.scope();
                    let variant = format_ident!("{}", scope.name());
                    quote!(#core::option::Option::Some(#scope_path::#variant))
                }
                None => quote!(#core::option::Option::None),
            };
            let fresh = dep.fresh;
            let access_path = paths.access();
            let access = format_ident!("{}", access.name());
            let meta = quote_spanned!(path.span()=> <#path as #dependency>::meta);
            quote!(#kind::Dep { meta: #meta, scope: #scope, fresh: #fresh, access: #access_path::#access })
        }
        ParamModel::Input { ty } => {
            let extract = paths.extract();
            let from_request = paths.trait_from_request();
            let probe = paths.probe();
            let use_rules = paths.use_pick("rules");
            let schema = schema_fn(&schema_type(ty), paths);
            let fields = fields_fn(&schema_type(ty), paths);
            let doc_probe = paths.doc_probe();
            let use_describe = paths.use_pick("describe");
            // The input's own rules (a `Json<T>` of a `T: validator::Validate`) are checked
            // right after it is extracted, before anything is set up (or, for bad input, added
            // to its problems): `CheckRules` is found on `&Probe<T>` first when `T` has rules,
            // `CheckNothing` otherwise.
            quote_spanned! {ty.span()=>
                #kind::Input {
                    extract: |__di_head| {
                        #use_rules
                        (&#probe::<#ty>::NEW).check_input(#extract::<#ty>(__di_head), __di_head)
                    },
                    needs_body: <#ty as #from_request>::NEEDS_BODY,
                    streams_body: <#ty as #from_request>::STREAMS_BODY,
                    app_input: <#ty as #from_request>::APP_INPUT,
                    describe: || {
                        #use_describe
                        (&#doc_probe::<#ty>::NEW).input_doc(#schema, #fields)
                    },
                }
            }
        }
        ParamModel::HeadRef { .. } => quote!(#kind::HeadRef),
        ParamModel::Yield { .. } => quote!(#kind::Yield),
    };
    quote!(#param_path { name: #name, kind: #kind })
}

fn run_fn(function: &Function, paths: &Paths) -> TokenStream {
    let ident = &function.item.sig.ident;
    let args_ty = paths.args();
    let started = paths.started();
    let arg_error = paths.arg_error();
    let http_error = paths.http_error();
    let dependency = paths.dependency();
    let core = paths.core();
    let into_gen_result = paths.trait_into_gen_result();

    // `__di_run`'s parameter, at the span it is declared with: a binding spanned at a
    // parameter's type names it through this ident. Written into that binding, it would take
    // the type's span, and be another variable when the type's tokens and `#[depends]` come
    // from different macro expansions (a `macro_rules!` that adds `#[depends]` to a function
    // it is given): "cannot find value `__di_args` in this scope".
    let args_var = format_ident!("__di_args");
    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    for (index, param) in function.params.iter().enumerate() {
        match &param.model {
            ParamModel::Dep {
                dep, access, ty, ..
            } => {
                let path = &dep.path;
                // The argument expression spans the parameter's type, so that a value of the
                // wrong type (`&u32` for a `String` dependency) is reported at the parameter;
                // so does the projection, whose bounds (`Clone` for `T`) the parameter asks for,
                // while `path: Dependency` is still reported at the path.
                let (first, last) = span_range(ty);
                let open = quote_spanned!(first=> <);
                let trait_path = respan(quote!(as #dependency>), first);
                let close = quote_spanned!(last=> ::Output);
                let output = quote!(#open #path #trait_path #close);
                let var = format_ident!("__di_p{}", index, span = last);
                let (method, arg) = match access {
                    Access::Shared => ("shared", quote_spanned!(first=> &*#var)),
                    Access::Exclusive => ("exclusive", quote_spanned!(first=> &mut *#var)),
                    Access::Cloned => ("cloned", quote!(#var)),
                    Access::Held => ("shared", blame_at(&var, ty)),
                    Access::HeldMut => ("exclusive", blame_at(&var, ty)),
                };
                let method = syn::Ident::new(method, first);
                let mutability = (*access == Access::Exclusive).then(|| quote!(mut));
                // By value, the parameter's own type is named too: `FromDepValue` then
                // reports a type that is not the dependency's (an alias of `HeldMut`, say)
                // at the parameter.
                let as_param =
                    (*access == Access::Cloned).then(|| quote_spanned!(ty.span()=> , #ty));
                // The value's type, which `cloned` returns, written out: a `()` bound without it
                // trips `unit_bindings`, and an `#[allow]` of it is an error where it is forbidden.
                let ascribed =
                    (*access == Access::Cloned).then(|| quote_spanned!(ty.span()=> : #ty));
                // The dependency named too, so that the runtime asks `Send` of its value at
                // the dependency's return type only: `Sync` is asked at the parameter.
                let itself = quote_spanned!(path.span()=> <#path as #dependency>::Itself);
                bindings.push(quote_spanned! {ty.span()=>
                    let #mutability #var #ascribed = #args_var.#method::<#itself, #output #as_param>(#index)?;
                });
                // `&'static T`: only a value that is itself a `&'static T` lends for ever. Checked
                // in this body, at the lifetime: the borrow checker, which would report a
                // temporary dropped while borrowed at `#[depends]`, then does not run.
                if let syn::Type::Reference(syn::TypeReference {
                    lifetime: Some(lifetime),
                    mutability: None,
                    ..
                }) = ty
                    && lifetime.ident == "static"
                {
                    let assert = paths.assert_static_borrow();
                    let span = lifetime.span();
                    bindings.push(quote_spanned! {span=> #assert::<#output>(); });
                }
                call_args.push(arg);
            }
            ParamModel::Input { ty } => {
                let var = format_ident!("__di_p{}", index);
                bindings.push(
                    quote_spanned! {ty.span()=> let #var = #args_var.input::<#ty>(#index)?; },
                );
                call_args.push(quote!(#var));
            }
            ParamModel::HeadRef { inner, ty } => {
                let var = format_ident!("__di_p{}", index);
                let from_request_ref = paths.trait_from_request_ref();
                bindings.push(quote!(let #var = #args_var.head();));
                call_args.push(quote_spanned!(ty.span()=> <#inner as #from_request_ref>::from_request_ref(&#var)));
            }
            ParamModel::Yield { inner, .. } => {
                let var = format_ident!("__di_p{}", index);
                // The function's own type named at the `T` of its `Yield<T>`: a `T` that is not
                // `Sync` is reported there.
                let mut own = ident.clone();
                own.set_span(inner.span());
                bindings.push(
                    quote_spanned! {inner.span()=> let #var = #args_var.provider::<#own, #inner>(); },
                );
                call_args.push(quote!(#var));
            }
        }
    }
    // The function's result is bound first, then converted through an expression that spans
    // the return type, so that a return type the runtime cannot use is reported there.
    let ret = format_ident!("__di_ret");
    let ret_ty = ret_tokens(function);
    let ret_arg = blame_at(&ret, &ret_ty);
    let (ret_first, ret_last) = span_range(&ret_ty);
    // `f(arg)` reported at the return type: `f` at its first token, `(..)` at its last.
    let call_at_ret = |function: TokenStream| {
        let function = respan(function, ret_first);
        let mut args =
            proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, ret_arg.clone());
        args.set_span(ret_last);
        quote!(#function #args)
    };
    // `name::call` at the function's name: rustc labels the call there.
    let call_fn = syn::Ident::new("call", ident.span());
    let call = quote!(let #ret = #ident::#call_fn(#(#call_args),*).await;);
    let started_expr = match &function.output {
        Output::Generator { .. } => {
            // Read as a `Result` (reported at the return type if it is not one), then its
            // error converted as a plain function's is: `Into<HttpError>` or a response.
            let as_result = call_at_ret(quote!(#into_gen_result::into_gen_result));
            let error_converted = convert_error(paths, &ret_ty, call_at_ret);
            let converted = quote! {{
                let #ret = #as_result;
                #error_converted
            }};
            // At the return type (the name, for `()`): a future that is not `Send` (a value
            // held across `provide`) is reported there, not at `#[depends]`.
            let generator = respan(quote!(#started::generator), ret_first);
            let async_move = quote_spanned!(ret_first=> async move);
            let mut body =
                proc_macro2::Group::new(proc_macro2::Delimiter::Brace, quote!(#call #converted));
            body.set_span(ret_last);
            let mut args = proc_macro2::Group::new(
                proc_macro2::Delimiter::Parenthesis,
                quote!(#async_move #body),
            );
            args.set_span(ret_last);
            quote!(#generator #args)
        }
        Output::Plain {
            fallible, has_impl, ..
        } => {
            let respond = paths.respond();
            let output_ty = output_type(function, paths);
            let value = match (fallible, has_impl) {
                (false, false) => quote!(#core::result::Result::Ok::<_, #http_error>(#ret)),
                (false, true) => {
                    let responded = call_at_ret(respond);
                    quote!(#core::result::Result::Ok::<_, #http_error>(#responded))
                }
                (true, false) => {
                    let converted = convert_error(paths, &ret_ty, call_at_ret);
                    quote! {{
                        let __di_value: #core::result::Result<#output_ty, #http_error> = #converted;
                        __di_value
                    }}
                }
                (true, true) => {
                    let converted = convert_error(paths, &ret_ty, call_at_ret);
                    quote!(#converted.map(#respond))
                }
            };
            // Kept in a shared cell when the value is `Sync`, boxed otherwise (see `Keep`).
            // At the return type: a type the runtime cannot use is reported there, once.
            let keep = respan(paths.keep(), ret_first);
            let use_keep = paths.use_pick("keep");
            // A body that cannot wait ends at its first poll: the runtime runs it at once.
            let method = if crate::waits::function_can_wait(
                &function.item.attrs,
                function.item.block.to_token_stream(),
            ) {
                "plain"
            } else {
                "plain_now"
            };
            let method = syn::Ident::new(method, ret_first);
            // Named by the function's type: `Send` of its value is asked by the `Dependency`
            // impl only (see `Keep`).
            let mut own = ident.clone();
            own.set_span(ret_first);
            let chooser = quote_spanned!(ret_first=> (&#keep::<#own>::new()).#method);
            quote! {{
                #use_keep
                #chooser(#args_var, async move { #call #value })
            }}
        }
    };
    quote! {
        fn __di_run(#args_var: &mut #args_ty<'_>) -> #core::result::Result<#started, #arg_error> {
            #(#bindings)*
            #core::result::Result::Ok(#started_expr)
        }
    }
}

/// The function's `Result` (`__di_ret`, of type `ret_ty`) with its error made an `HttpError`:
/// kept if it is one, else the response the error is if it is one (`di`'s `IntoResponse`, then
/// axum's with the runtime's `axum` feature), else by `Into<HttpError>`
/// (see `DepResult` in di-runtime), reported at the return type.
fn convert_error(
    paths: &Paths,
    ret_ty: &TokenStream,
    call_at_ret: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let chooser = paths.dep_result();
    let use_error = paths.use_pick("error");
    let (first, _) = span_range(ret_ty);
    let method = syn::Ident::new("dep_result", first);
    // Of the value, not of the type as written: an `impl Trait` in it cannot be named.
    let ret = format_ident!("__di_ret");
    // `call_at_ret` respans what it calls to the return type: the chooser is bound to a name
    // of that span first, and the function's variable stays out of it (respanned, it would be
    // another variable when the return type comes from a `macro_rules!`: hygiene).
    let chooser_var = syn::Ident::new("__di_chooser", first);
    let of = respan(quote!(#chooser::of), first);
    let converted = call_at_ret(quote!((&&&&#chooser_var).#method));
    quote! {{
        #use_error
        let #chooser_var = #of(&#ret);
        #converted
    }}
}

/// The return type as written, or the function's name when it returns `()` implicitly.
fn ret_tokens(function: &Function) -> TokenStream {
    match &function.item.sig.output {
        syn::ReturnType::Type(_, ty) => ty.to_token_stream(),
        syn::ReturnType::Default => function.item.sig.ident.to_token_stream(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_inputs_are_named_by_their_type() {
        let out = depends(
            quote!(),
            quote!(
                async fn create(
                    #[dep(tx)] tx: &mut Tx,
                    Json(new): Json<NewNote>,
                    headers: &HeaderMap,
                ) -> String {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(out.contains("name : \"tx\""), "{out}");
        assert!(out.contains("name : \"Json<NewNote>\""), "{out}");
        assert!(out.contains("name : \"&HeaderMap\""), "{out}");
    }

    #[test]
    fn raw_identifiers_are_named_without_r_hash() {
        let out = depends(
            quote!(uses(r#gen)),
            quote!(
                async fn r#type(#[dep(r#gen)] r#gen: &String) -> String {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(out.contains("name : \"type\""), "{out}");
        assert!(out.contains("name : \"gen\""), "{out}");
        assert!(!out.contains("\"r#"), "{out}");
    }

    #[test]
    fn snake_case_is_rustc_s() {
        assert!(is_snake_case("get_note2"));
        assert!(is_snake_case("_private_"));
        assert!(!is_snake_case("OddName"));
        assert!(!is_snake_case("two__underscores"));
    }

    #[test]
    fn lint_levels_reach_the_marker_function() {
        let out = depends(
            quote!(),
            quote!(
                #[allow(non_snake_case, reason = "legacy")]
                #[forbid(unused_variables)]
                async fn OddName() {}
            ),
        )
        .to_string();
        let (marker, _) = out.split_at(out.find("fn OddName (never").unwrap());
        assert!(
            marker.contains("allow (non_snake_case , reason = \"legacy\")"),
            "{out}"
        );
        assert!(marker.contains("deny (unused_variables)"), "{out}");
        // An expected name lint is expected where rustc reports it: at the marker.
        let out = depends(
            quote!(),
            quote!(
                #[expect(non_snake_case, unused_variables)]
                async fn OddName() {}
            ),
        )
        .to_string();
        let (marker, call) = out.split_at(out.find("fn OddName (never").unwrap());
        assert!(marker.contains("expect (non_snake_case)"), "{out}");
        assert!(marker.contains("allow (unused_variables)"), "{out}");
        assert!(call.contains("allow (non_snake_case)"), "{out}");
        assert!(call.contains("expect (unused_variables)"), "{out}");
    }

    #[test]
    fn a_missing_docs_level_reaches_the_struct() {
        // rustc reports an undocumented function's missing doc comment at the struct.
        let out = depends(
            quote!(),
            quote!(
                #[allow(missing_docs, reason = "internal")]
                pub async fn f() {}
            ),
        )
        .to_string();
        let (structure, _) = out.split_at(out.find("pub struct f").unwrap());
        assert!(
            structure.contains("allow (missing_docs , reason = \"internal\")"),
            "{out}"
        );
        let out = depends(
            quote!(),
            quote!(
                #[expect(missing_docs, unused_variables)]
                pub async fn f() {}
            ),
        )
        .to_string();
        let (structure, rest) = out.split_at(out.find("pub struct f").unwrap());
        let (marker, call) = rest.split_at(rest.find("impl f").unwrap());
        assert!(structure.contains("expect (missing_docs)"), "{out}");
        assert!(structure.contains("allow (unused_variables)"), "{out}");
        assert!(
            marker.contains("allow (missing_docs , unused_variables)"),
            "{out}"
        );
        assert!(call.contains("allow (missing_docs)"), "{out}");
        assert!(call.contains("expect (unused_variables)"), "{out}");
    }

    #[test]
    fn inner_attributes_of_the_body_are_the_function_s() {
        let out = depends(
            quote!(),
            quote!(
                async fn f() {
                    //! Docs.
                    #![allow(unused_variables)]
                }
            ),
        )
        .to_string();
        assert!(!out.contains("# !"), "no inner attribute is left: {out}");
        assert!(out.contains("# [allow (unused_variables)]"), "{out}");
        let (structure, _) = out.split_at(out.find("struct f").unwrap());
        assert!(structure.contains("Docs."), "{out}");
    }

    #[test]
    fn self_is_made_a_type_of_its_error() {
        let out = self_reported(quote!(Vec<(Self, Self::Item)>)).to_string();
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("< [() ; :: core :: compile_error"), "{out}");
        assert!(!out.contains("Self ,"), "{out}");
    }

    #[test]
    fn instrument_spans_are_named_after_the_function() {
        let out = depends(
            quote!(),
            quote!(
                #[tracing::instrument(skip_all)]
                #[instrument]
                #[instrument(name = "custom")]
                #[my::instrument]
                async fn get_note() {}
            ),
        )
        .to_string();
        assert!(
            out.contains("# [tracing :: instrument (name = \"get_note\" , skip_all)]"),
            "{out}"
        );
        assert!(
            out.contains("# [instrument (name = \"get_note\")]"),
            "{out}"
        );
        assert!(out.contains("# [instrument (name = \"custom\")]"), "{out}");
        assert!(out.contains("# [my :: instrument]"), "{out}");
    }

    #[test]
    fn a_static_borrow_of_a_dependency_is_checked() {
        let out = depends(
            quote!(),
            quote!(
                async fn f(#[dep(a)] a: &'static str, #[dep(b)] b: &String) {}
            ),
        )
        .to_string();
        assert_eq!(out.matches("assert_static_borrow").count(), 1, "{out}");
    }

    #[test]
    fn a_module_of_the_function_s_name_in_its_signature_is_an_error() {
        let out = depends(
            quote!(),
            quote!(
                async fn config(q: Query<u8>) -> config::Config {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(
            out.contains("names both this function and a module"),
            "{out}"
        );
        assert!(!out.contains("struct config"), "{out}");
        let out = depends(
            quote!(),
            quote!(
                async fn config(#[dep(x)] c: &crate::config::Config) -> String {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(
            !out.contains("names both"),
            "a path through `crate::`: {out}"
        );
    }

    #[test]
    fn errors_keep_the_function() {
        let out = depends(
            quote!(),
            quote!(
                fn not_async(#[dep(x)] a: &A) {}
            ),
        )
        .to_string();
        assert!(out.contains("fn not_async"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            !out.contains("dep (x)"),
            "the `#[dep]` attribute is removed: {out}"
        );
    }

    #[test]
    fn errors_keep_the_companion_items_so_uses_do_not_cascade() {
        let out = depends(
            quote!(scope = "function"),
            quote!(
                fn name() -> String {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(out.contains("struct name { }"), "{out}");
        assert!(
            out.contains("fn name (never"),
            "the value-namespace marker is there: {out}"
        );
        assert!(out.contains("type Output = String"), "{out}");
        assert!(
            out.contains("unreachable !"),
            "`meta` is a placeholder: {out}"
        );
        assert!(
            !out.contains("__di_run"),
            "no argument code for a rejected function: {out}"
        );
        assert_eq!(
            out.matches("compile_error").count(),
            2,
            "both errors are reported: {out}"
        );
    }

    #[test]
    fn errors_on_a_generic_output_make_it_a_type_of_the_error() {
        let out = depends(
            quote!(),
            quote!(
                async fn f<T>() -> T {
                    todo!()
                }
            ),
        )
        .to_string();
        assert_eq!(out.matches("cannot be generic").count(), 2, "{out}");
        assert!(
            out.contains("type Output = [() ; :: core :: compile_error"),
            "`T` is not in scope outside the function: {out}"
        );
    }

    #[test]
    fn methods_are_emitted_alone() {
        let out = depends(
            quote!(),
            quote!(
                async fn f(&self) {}
            ),
        )
        .to_string();
        assert!(out.contains("compile_error"), "{out}");
        assert!(
            !out.contains("struct"),
            "no item can follow a method in an `impl` block: {out}"
        );
    }

    #[test]
    fn a_fallible_function_provides_the_ok_type_as_written() {
        let out = depends(
            quote!(),
            quote!(
                async fn f() -> Result<u8, E> {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(out.contains("type Output = u8"), "{out}");
        // A name ending in `Result` is read as an alias of one (`ApiResult<T>`): the runtime's
        // `IntoDepResult` finds its `Ok` type, so the alias's error is a setup failure.
        let out = depends(
            quote!(),
            quote!(
                async fn f() -> ApiResult<u8> {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(
            out.contains("type Output = < ApiResult < u8 > as"),
            "a `Result` alias: its `Ok` type through `IntoDepResult`: {out}"
        );
        let out = depends(
            quote!(),
            quote!(
                async fn f() -> Found {
                    todo!()
                }
            ),
        )
        .to_string();
        assert!(
            out.contains("type Output = Found"),
            "not a `Result`: provided as is: {out}"
        );
    }

    #[test]
    fn the_call_function_keeps_docs_and_allows_lints_the_macro_causes() {
        let out = depends(
            quote!(),
            quote!(
                #[doc = "Says hi."]
                async fn f(#[dep(a)] a: &String) {}
            ),
        )
        .to_string();
        let call = &out[out.find("impl f").unwrap()..];
        assert!(call.contains("Says hi."), "{out}");
        assert!(call.contains("clippy :: unused_async"), "{out}");
        assert!(call.contains("clippy :: ptr_arg"), "{out}");
    }

    #[test]
    fn the_function_s_own_level_of_a_lint_the_call_function_allows_wins() {
        // `#[expect(clippy::unused_async)]` with the macro's `allow` after it was never
        // fulfilled: the macro leaves out the lints the function sets a level for.
        let out = depends(
            quote!(),
            quote!(
                #[expect(clippy::unused_async)]
                #[deny(clippy::pedantic, clippy::ptr_arg)]
                async fn f(#[dep(directory)] d: &Box<dyn Directory>) {}
            ),
        )
        .to_string();
        let call = &out[out.find("impl f").unwrap()..out.find("async fn call").unwrap()];
        assert!(call.contains("expect (clippy :: unused_async)"), "{out}");
        assert!(!call.contains("allow (clippy :: unused_async"), "{out}");
        assert!(!call.contains("clippy :: ptr_arg ,"), "{out}");
        // A group the function sets comes before the macro's `allow`s, which stay.
        let denied = call.find("deny (clippy :: pedantic").unwrap();
        let allowed = call.find("allow (clippy :: borrowed_box").unwrap();
        assert!(denied < allowed, "{out}");
    }

    #[test]
    fn the_call_function_allows_a_borrowed_box_a_boxed_dependency_is_taken_as() {
        // `-> Box<dyn Directory>` is taken as `#[dep(directory)] d: &Box<dyn Directory>`, the
        // exact type: clippy's `borrowed_box` must not fail a `-D warnings` build for it.
        let out = depends(
            quote!(),
            quote!(
                async fn f(#[dep(directory)] d: &Box<dyn Directory>) {}
            ),
        )
        .to_string();
        let call = &out[out.find("impl f").unwrap()..];
        assert!(call.contains("clippy :: borrowed_box"), "{out}");
    }

    #[test]
    fn the_call_function_allows_a_borrowed_option_a_dependency_is_taken_as() {
        // `-> Option<String>` is taken as `&Option<String>`: clippy's `ref_option` (and
        // `ref_option_ref` for `&Option<&'static str>`) asks for an `Option<&T>` that `#[dep]`
        // cannot give.
        let out = depends(
            quote!(),
            quote!(
                async fn f(#[dep(maybe)] m: &Option<String>) {}
            ),
        )
        .to_string();
        let call = &out[out.find("impl f").unwrap()..];
        assert!(call.contains("clippy :: ref_option ,"), "{out}");
        assert!(!call.contains("clippy :: ref_option_ref"), "{out}");
        let out = depends(
            quote!(),
            quote!(
                async fn f(#[dep(maybe)] m: &Option<&'static str>) {}
            ),
        )
        .to_string();
        let call = &out[out.find("impl f").unwrap()..];
        assert!(call.contains("clippy :: ref_option_ref"), "{out}");
    }

    #[test]
    fn the_expansion_allows_a_clippy_lint_only_where_it_could_fire() {
        // `#![forbid(clippy::pedantic)]` makes each `allow` of one of its lints a
        // `forbidden_lint_groups` warning (E0453 for a lint forbidden by name): the expansion
        // allowed clippy's three groups on its block of trait impls, and `unused_async`,
        // `ptr_arg`, `borrowed_box`, `ref_option` and `ref_option_ref` on every `name::call`.
        let out = depends(
            quote!(),
            quote!(
                async fn f(#[dep(n)] n: &u32, #[dep(s)] s: Held<String>, q: Query<Q>) -> u32 {
                    other().await;
                    *n
                }
            ),
        )
        .to_string();
        assert!(!out.contains("clippy"), "{out}");
        // An `.await` only inside an `async` block is not the function's own.
        let out = depends(
            quote!(),
            quote!(
                async fn f() {
                    drop(async move { other().await });
                }
            ),
        )
        .to_string();
        assert!(out.contains("allow (clippy :: unused_async"), "{out}");
    }

    #[test]
    fn a_hidden_function_hides_its_marker_function_too() {
        // A library's `#[doc(hidden)]` dependency (for its own macros, say) must not show up in
        // rustdoc as the marker function of its name.
        let out = depends(
            quote!(),
            quote!(
                #[doc(hidden)]
                pub async fn internal() -> u8 {
                    1
                }
            ),
        )
        .to_string();
        let marker =
            &out[out.find("pub fn internal").unwrap() - 120..out.find("pub fn internal").unwrap()];
        assert!(marker.contains("doc (hidden)"), "{out}");
    }

    #[test]
    fn expansion_uses_the_crate_override() {
        let out = depends(
            quote!(crate = "my_di"),
            quote!(
                async fn f() {}
            ),
        )
        .to_string();
        assert!(out.contains("my_di :: __private"), "{out}");
        assert!(!out.contains(":: di_runtime"), "{out}");
    }

    #[test]
    fn non_functions_are_rejected_without_panicking() {
        let out = depends(
            quote!(),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(out.contains("goes on an `async fn`"), "{out}");
        assert!(out.contains("struct S"), "{out}");
    }
}
