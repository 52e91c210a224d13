//! The arguments of `#[depends(...)]` and of the parameter attribute `#[dep(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{LitStr, Token};

/// A scope named in an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeArg {
    App,
    Request,
    Handler,
}

impl ScopeArg {
    fn parse(lit: &LitStr) -> syn::Result<Self> {
        match lit.value().as_str() {
            "app" => Ok(ScopeArg::App),
            "request" => Ok(ScopeArg::Request),
            "handler" => Ok(ScopeArg::Handler),
            "function" => Err(syn::Error::new(
                lit.span(),
                "unknown scope `function`; FastAPI's `scope=\"function\"` (torn down before the response is sent) is `scope = \"handler\"` here",
            )),
            other => {
                // A misspelt or capitalised scope (`requets`, `App`) is named: the list alone
                // leaves the reader to find which letter is wrong.
                let lower = other.to_lowercase();
                let near = ["app", "request", "handler"]
                    .into_iter()
                    .find(|scope| edit_distance(scope, &lower) <= 2)
                    .map(|scope| format!(" (did you mean `{scope}`?)"))
                    .unwrap_or_default();
                Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown scope `{other}`; expected one of: `app`, `request`, `handler`{near}"
                    ),
                ))
            }
        }
    }

    /// Parses `= "..."` after the key `scope`, reporting a missing value or a value that is
    /// not a string at the user's token.
    fn parse_value(
        key: &syn::Ident,
        input: syn::parse::ParseStream<'_>,
    ) -> syn::Result<(Self, Span)> {
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                key.span(),
                "`scope` needs a value; write `scope = \"app\"`, `scope = \"request\"` or `scope = \"handler\"`",
            ));
        }
        input.parse::<Token![=]>()?;
        let mut value: syn::Expr = input.parse()?;
        // A `$scope:literal` or `$scope:expr` of a `macro_rules!` arrives as an invisible group.
        while let syn::Expr::Group(group) = value {
            value = *group.expr;
        }
        match &value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => Ok((Self::parse(lit)?, lit.span())),
            other => {
                let text = quote::ToTokens::to_token_stream(other).to_string();
                Err(syn::Error::new_spanned(
                    other,
                    format!("the scope is a string; write `scope = \"{text}\"`"),
                ))
            }
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ScopeArg::App => "App",
            ScopeArg::Request => "Request",
            ScopeArg::Handler => "Handler",
        }
    }
}

/// `#[depends(scope = "...", max_concurrency = N, uses(f, g), status = 201,
/// content_type = "...", body_content_type = "...", responses(404 = "..."), crate = "...")]`
#[derive(Default)]
pub(crate) struct DependsArgs {
    /// `status = 201`: the status of a successful response, for the OpenAPI document.
    pub(crate) status: Option<u16>,
    /// `content_type = "application/x-ndjson"`: the content type of a handler's body, for the
    /// OpenAPI document.
    pub(crate) content_type: Option<String>,
    /// `body_content_type = "application/x-ndjson"`: the content type of the body a
    /// `BodyStream` parameter reads, for the OpenAPI document.
    pub(crate) body_content_type: Option<String>,
    /// `responses(404 = "Note not found")`: error statuses, for the OpenAPI document.
    pub(crate) responses: Vec<(u16, String)>,
    pub(crate) scope: Option<(ScopeArg, Span)>,
    pub(crate) max_concurrency: Option<(usize, Span)>,
    /// `uses(f, g)`: dependencies run for their side effect, whose values no parameter takes.
    pub(crate) uses: Vec<syn::Path>,
    pub(crate) krate: Option<syn::Path>,
    /// The keys given that document a route's response (`status`, `content_type`,
    /// `responses`), as written: an `app`-scoped dependency, never a route's handler, takes none.
    pub(crate) route_keys: Vec<syn::Ident>,
}

const DEPENDS_KEYS: &str = "expected one of: `scope`, `max_concurrency`, `uses`, `status`, `content_type`, `body_content_type`, `responses`, `crate`";

const RESPONSES_SYNTAX: &str = "`responses` lists error statuses with what each means: `responses(404 = \"Note not found\", 409 = \"Title taken\")`";

/// Parses the `(404 = "...", ...)` after `responses`, each problem at the user's token.
fn parse_responses(
    key: &syn::meta::ParseNestedMeta<'_>,
    into: &mut Vec<(u16, String)>,
) -> syn::Result<()> {
    if !into.is_empty() {
        return Err(key.error("`responses` given twice; list every status in one `responses(...)`"));
    }
    if !key.input.peek(syn::token::Paren) {
        return Err(key.error(RESPONSES_SYNTAX));
    }
    let content;
    let parens = syn::parenthesized!(content in key.input);
    if content.is_empty() {
        return Err(syn::Error::new(parens.span.join(), RESPONSES_SYNTAX));
    }
    while !content.is_empty() {
        let lit: syn::LitInt = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "each response is a status number and its description: `404 = \"Note not found\"`",
            )
        })?;
        let status: u16 = lit.base10_parse().unwrap_or(0);
        if !(400..=599).contains(&status) {
            return Err(syn::Error::new(
                lit.span(),
                "`responses` lists error statuses, from 400 to 599; the status of a successful response is `status = 201`",
            ));
        }
        if into.iter().any(|(seen, _)| *seen == status) {
            return Err(syn::Error::new(
                lit.span(),
                format!("status {status} listed twice; keep one"),
            ));
        }
        if !content.peek(Token![=]) {
            return Err(syn::Error::new(
                lit.span(),
                format!("status {status} needs a description: `{status} = \"Note not found\"`"),
            ));
        }
        content.parse::<Token![=]>()?;
        let description: LitStr = content.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("the description is a string: `{status} = \"Note not found\"`"),
            )
        })?;
        if description.value().trim().is_empty() {
            return Err(syn::Error::new(
                description.span(),
                "the description says what the status means: `404 = \"Note not found\"`",
            ));
        }
        into.push((status, description.value()));
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

pub(crate) fn parse_depends_args(tokens: TokenStream) -> syn::Result<DependsArgs> {
    let mut args = DependsArgs::default();
    let parser = syn::meta::parser(|meta| {
        if let Some(key) = meta.path.get_ident().filter(|key| *key == "scope") {
            if args.scope.is_some() {
                return Err(meta.error("`scope` set twice; keep one"));
            }
            args.scope = Some(ScopeArg::parse_value(key, meta.input)?);
            Ok(())
        } else if meta.path.is_ident("max_concurrency") {
            if args.max_concurrency.is_some() {
                return Err(meta.error("`max_concurrency` set twice; keep one"));
            }
            if !meta.input.peek(Token![=]) {
                return Err(meta.error("`max_concurrency` needs a number: `max_concurrency = 10`"));
            }
            let value = meta.value()?;
            // `max_concurrency = "8"`, as a config file would write it: show it unquoted.
            if let Ok(text) = value.fork().parse::<syn::LitStr>()
                && let Ok(n @ 1..) = text.value().trim().parse::<usize>()
            {
                return Err(syn::Error::new(
                    text.span(),
                    format!(
                        "`max_concurrency` is a number, not a string; write it without quotes: `max_concurrency = {n}`"
                    ),
                ));
            }
            let lit: syn::LitInt = value.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`max_concurrency` is a whole number: `max_concurrency = 10`",
                )
            })?;
            let limit: usize = lit
                .base10_parse()
                .ok()
                .filter(|_| lit.suffix().is_empty())
                .ok_or_else(|| {
                    syn::Error::new(
                        lit.span(),
                        "`max_concurrency` is a whole number from 1 up, without a suffix: `max_concurrency = 10`",
                    )
                })?;
            if limit == 0 {
                return Err(syn::Error::new(
                    lit.span(),
                    "`max_concurrency = 0` would never let the dependency run; use 1 or more",
                ));
            }
            args.max_concurrency = Some((limit, lit.span()));
            Ok(())
        } else if meta.path.is_ident("uses") {
            if !meta.input.peek(syn::token::Paren) {
                return Err(meta.error(
                    "`uses` lists the `#[depends]` functions to run: `uses(audit)` or `uses(audit, auth)`",
                ));
            }
            if !args.uses.is_empty() {
                return Err(
                    meta.error("`uses` given twice; list every function in one `uses(...)`")
                );
            }
            let list;
            syn::parenthesized!(list in meta.input);
            for used in parse_uses_list(&list)? {
                let named = |path: &syn::Path| quote::ToTokens::to_token_stream(path).to_string();
                if args.uses.iter().any(|seen| named(seen) == named(&used)) {
                    return Err(syn::Error::new_spanned(
                        &used,
                        "listed twice in `uses`; keep one",
                    ));
                }
                args.uses.push(used);
            }
            Ok(())
        } else if meta.path.is_ident("status") {
            args.route_keys.extend(meta.path.get_ident().cloned());
            if args.status.is_some() {
                return Err(meta.error("`status` set twice; keep one"));
            }
            let lit: syn::LitInt = meta.value()?.parse().map_err(|e| {
                syn::Error::new(e.span(), "`status` is an HTTP status code: `status = 201`")
            })?;
            let status: u16 = lit
                .base10_parse()
                .ok()
                .filter(|_| lit.suffix().is_empty())
                .unwrap_or(0);
            if !(200..=599).contains(&status) {
                return Err(syn::Error::new(
                    lit.span(),
                    "`status` is the status a handler's answer is sent with, from 200 to 599 (a 1xx is never a final answer): `status = 201`",
                ));
            }
            args.status = Some(status);
            Ok(())
        } else if meta.path.is_ident("content_type") {
            args.route_keys.extend(meta.path.get_ident().cloned());
            if args.content_type.is_some() {
                return Err(meta.error("`content_type` set twice; keep one"));
            }
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`content_type` is a string: `content_type = \"application/x-ndjson\"`",
                )
            })?;
            args.content_type = Some(lit.value());
            Ok(())
        } else if meta.path.is_ident("body_content_type") {
            if args.body_content_type.is_some() {
                return Err(meta.error("`body_content_type` set twice; keep one"));
            }
            let lit: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`body_content_type` is a string: `body_content_type = \"application/x-ndjson\"`",
                )
            })?;
            args.body_content_type = Some(lit.value());
            Ok(())
        } else if meta.path.is_ident("responses") {
            args.route_keys.extend(meta.path.get_ident().cloned());
            parse_responses(&meta, &mut args.responses)
        } else if meta.path.is_ident("crate") {
            if args.krate.is_some() {
                return Err(meta.error("`crate` set twice; keep one"));
            }
            if !meta.input.peek(Token![=]) {
                return Err(meta.error(
                    "`crate` needs the path of the runtime crate: `crate = \"di_runtime\"`",
                ));
            }
            const CRATE_SYNTAX: &str =
                "`crate` is the path of the runtime crate, as a string: `crate = \"di_runtime\"`";
            let lit: LitStr = meta
                .value()?
                .parse()
                .map_err(|e| syn::Error::new(e.span(), CRATE_SYNTAX))?;
            args.krate = Some(
                lit.parse()
                    .map_err(|_| syn::Error::new(lit.span(), CRATE_SYNTAX))?,
            );
            Ok(())
        } else {
            let name = quote::ToTokens::to_token_stream(&meta.path)
                .to_string()
                .replace(' ', "");
            Err(meta.error(format!(
                "unknown `#[depends]` argument `{name}`; {DEPENDS_KEYS}"
            )))
        }
    });
    unnamed_value_check(&tokens)?;
    parser.parse2(tokens)?;
    Ok(args)
}

/// `#[depends("app")]`: a value without its key, reported with the key it needs (syn's own
/// message, "unexpected literal in nested attribute, expected ident", gives no fix).
fn unnamed_value_check(tokens: &TokenStream) -> syn::Result<()> {
    let mut at_key = true;
    for token in tokens.clone() {
        match &token {
            proc_macro2::TokenTree::Literal(literal) if at_key => {
                let text = literal.to_string();
                let scope = ["\"app\"", "\"request\"", "\"handler\"", "\"function\""];
                let message = if scope.contains(&text.as_str()) {
                    format!("`#[depends]` arguments are named; write `scope = {text}`")
                } else {
                    format!("`#[depends]` arguments are named (`key = value`); {DEPENDS_KEYS}")
                };
                return Err(syn::Error::new(literal.span(), message));
            }
            proc_macro2::TokenTree::Punct(punct) if punct.as_char() == ',' => at_key = true,
            _ => at_key = false,
        }
    }
    Ok(())
}

/// `#[dep(path)]`, `#[dep(path, scope = "...")]`, `#[dep(path, fresh)]`
pub(crate) struct DepArgs {
    pub(crate) path: syn::Path,
    pub(crate) scope: Option<(ScopeArg, Span)>,
    pub(crate) fresh: bool,
}

/// The paths inside `uses(...)`, each checked as a `#[dep(...)]`'s is: the names of `#[depends]`
/// functions, not strings, calls, generic paths, `Self::` paths or request inputs. These were
/// syn's "unexpected literal in nested attribute, expected ident" (a string), "expected ident"
/// (`audit::<u8>`), "unexpected end of input, expected nested attribute" (`uses()`), and
/// rustc's "can't use `Self` from outer item" and "missing generics for struct `Query`" about
/// the items the macro generates.
fn parse_uses_list(list: syn::parse::ParseStream<'_>) -> syn::Result<Vec<syn::Path>> {
    const USES_SYNTAX: &str =
        "`uses(...)` takes only the names of `#[depends]` functions: `uses(audit)`";
    if list.is_empty() {
        return Err(syn::Error::new(
            list.span(),
            "`uses()` lists no function; name the `#[depends]` functions to run, `uses(audit)`, or remove `uses`",
        ));
    }
    let mut paths = Vec::new();
    while !list.is_empty() {
        if let Ok(lit) = list.fork().parse::<LitStr>() {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`uses(...)` names the functions by their paths, not strings; write `uses({})`",
                    lit.value()
                ),
            ));
        }
        let path: syn::Path = list
            .parse()
            .map_err(|e| syn::Error::new(e.span(), USES_SYNTAX))?;
        check_dep_path(&path, PathSite::Uses)?;
        PathSite::Uses.not_called(list, &path)?;
        if !list.is_empty() && !list.peek(Token![,]) {
            return Err(syn::Error::new_spanned(&path, USES_SYNTAX));
        }
        paths.push(path);
        if !list.is_empty() {
            list.parse::<Token![,]>()?;
        }
    }
    Ok(paths)
}

/// Where the path of a `#[depends]` function is written: `#[dep(...)]` or `uses(...)`.
#[derive(Clone, Copy)]
enum PathSite {
    Dep,
    Uses,
}

impl PathSite {
    /// The attribute written with `path`.
    fn write(self, path: &str) -> String {
        match self {
            PathSite::Dep => format!("`#[dep({path})]`"),
            PathSite::Uses => format!("`uses({path})`"),
        }
    }

    /// What the attribute names, and the start of the verb's clause.
    fn names(self) -> &'static str {
        match self {
            PathSite::Dep => "`#[dep]` names a `#[depends]` function, which is",
            PathSite::Uses => "`uses(...)` names `#[depends]` functions, which are",
        }
    }

    /// An error at the `(..)` of `path(..)` written where `path` is named, not called
    /// (`#[dep(get_db())]`, `uses(audit())`); nothing when no `(` follows.
    fn not_called(self, input: syn::parse::ParseStream<'_>, path: &syn::Path) -> syn::Result<()> {
        if !input.peek(syn::token::Paren) {
            return Ok(());
        }
        let call: proc_macro2::Group = input.parse()?;
        let name = quote::ToTokens::to_token_stream(path)
            .to_string()
            .replace(' ', "");
        let message = match self {
            PathSite::Dep => format!(
                "`#[dep]` names the dependency, it does not call it; write `#[dep({name})]` without `()`: the app calls `{name}` and passes in its value"
            ),
            PathSite::Uses => format!(
                "`uses(...)` names the dependency, it does not call it; write `uses({name})` without `()`: the app calls `{name}`"
            ),
        };
        Err(syn::Error::new(call.span(), message))
    }
}

/// The checks of the path a `#[dep(...)]` or a `uses(...)` names: no `Self::`, no request
/// input, no generic arguments.
fn check_dep_path(path: &syn::Path, site: PathSite) -> syn::Result<()> {
    let bare: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let leading = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    // `#[dep(Self::get_db)]`: a `#[depends]` function is free, outside any `impl`. It was
    // rustc's "can't use `Self` from outer item" about an `impl` and a `static` the macro
    // generates, suggesting the path of the function's own generated type.
    if let Some(first) = path.segments.first()
        && first.ident == "Self"
    {
        let fix = if bare.len() > 1 {
            bare[1..].join("::")
        } else {
            "function_name".to_owned()
        };
        return Err(syn::Error::new_spanned(
            &first.ident,
            format!(
                "{} free (outside any `impl`), so `Self` names nothing here; name it by its path from this module: {}, or {}",
                site.names(),
                site.write(&fix),
                site.write(&format!("module::{fix}"))
            ),
        ));
    }
    // `#[dep(Query)]`: a request input is read by the parameter's type, not injected
    // (a generic input was rustc's "missing generics for struct `Query`", twice).
    if let Some(last) = path.segments.last()
        && REQUEST_INPUTS.contains(&last.ident.to_string().as_str())
    {
        let input = &last.ident;
        let message = match site {
            PathSite::Dep => format!(
                "`{input}` is a request input, read from the request by the parameter's type alone: remove `#[dep(..)]`; `#[dep]` names a `#[depends]` function whose value the parameter takes"
            ),
            PathSite::Uses => format!(
                "`{input}` is a request input, read from the request by a parameter's type alone: remove it from `uses(..)`, which names the `#[depends]` functions to run, and take the input as a parameter"
            ),
        };
        return Err(syn::Error::new_spanned(path, message));
    }
    // `#[dep(make::<String>)]`: a `#[depends]` function is never generic, and its type
    // takes no arguments (rustc's "struct takes 0 generic arguments but 1 generic argument
    // was supplied" named a struct the user never wrote).
    if let Some(segment) = path
        .segments
        .iter()
        .find(|segment| !segment.arguments.is_none())
    {
        let arguments = quote::ToTokens::to_token_stream(&segment.arguments)
            .to_string()
            .replace(' ', "");
        return Err(syn::Error::new_spanned(
            &segment.arguments,
            format!(
                "{} never generic, so {} path takes no generic arguments (`{arguments}`): write {}, with one `#[depends]` function per concrete type",
                site.names(),
                match site {
                    PathSite::Dep => "its",
                    PathSite::Uses => "a",
                },
                site.write(&format!("{leading}{}", bare.join("::")))
            ),
        ));
    }
    Ok(())
}

/// The request inputs of di-runtime, which a `#[dep(...)]` cannot name.
const REQUEST_INPUTS: &[&str] = &[
    "Path",
    "Query",
    "Json",
    "Form",
    "Header",
    "Cookie",
    "Bytes",
    "BodyStream",
    "Multipart",
    "HeaderMap",
    "Method",
    "Uri",
    "RequestHead",
    "HttpBearer",
    "HttpBasic",
    "ApiKeyHeader",
    "ApiKeyQuery",
    "ApiKeyCookie",
    "ClientAddr",
    "Shutdown",
    "TypedHeader",
    "BackgroundTasks",
    "SetHeaders",
    "RequestId",
];

const DEP_KEYS: &str = "expected one of: `scope = \"...\"`, `fresh`";
const DEP_NEEDS_PATH: &str =
    "`#[dep]` needs the name of the dependency; write `#[dep(function_name)]`";

pub(crate) fn parse_dep_args(attr: &syn::Attribute) -> syn::Result<DepArgs> {
    let syn::Meta::List(list) = &attr.meta else {
        return Err(syn::Error::new_spanned(attr, DEP_NEEDS_PATH));
    };
    if list.tokens.is_empty() {
        return Err(syn::Error::new_spanned(attr, DEP_NEEDS_PATH));
    }
    let parser = |input: syn::parse::ParseStream<'_>| -> syn::Result<DepArgs> {
        // `#[dep("get_db")]`: the function is named by its path, not a string.
        if let Ok(lit) = input.fork().parse::<LitStr>() {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`#[dep]` names the function by its path, not a string; write `#[dep({})]`",
                    lit.value()
                ),
            ));
        }
        let path: syn::Path = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`#[dep]` needs the path of a `#[depends]` function: `#[dep(function_name)]` or `#[dep(module::function_name)]`",
            )
        })?;
        check_dep_path(&path, PathSite::Dep)?;
        // `#[dep(get_db())]`: the function is named, not called.
        PathSite::Dep.not_called(input, &path)?;
        let mut args = DepArgs {
            path,
            scope: None,
            fresh: false,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`#[dep]` options follow the name, separated by commas: `#[dep(function_name, scope = \"request\", fresh)]`",
                )
            })?;
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.parse()?;
            if key == "scope" {
                if args.scope.is_some() {
                    return Err(syn::Error::new(key.span(), "`scope` set twice; keep one"));
                }
                args.scope = Some(ScopeArg::parse_value(&key, input)?);
            } else if key == "fresh" {
                if args.fresh {
                    return Err(syn::Error::new(key.span(), "`fresh` set twice; keep one"));
                }
                if input.peek(Token![=]) {
                    return Err(syn::Error::new(
                        key.span(),
                        "`fresh` takes no value: write `#[dep(function_name, fresh)]` for a new instance, or leave `fresh` out for the cached one",
                    ));
                }
                args.fresh = true;
            } else if key == "use_cache" {
                return Err(syn::Error::new(
                    key.span(),
                    "unknown `#[dep]` option `use_cache`; FastAPI's `use_cache=False` (a new instance for this parameter) is `fresh` here: write `#[dep(function_name, fresh)]`",
                ));
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown `#[dep]` option `{key}`; {DEP_KEYS}"),
                ));
            }
        }
        Ok(args)
    };
    // Parsed as the attribute's arguments: a path cut short (`#[dep(db::)]`) is reported at
    // its `)`, not at `#[depends]`.
    attr.parse_args_with(parser)
}

/// The number of characters to insert, delete or replace to make `a` into `b` (Levenshtein).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let replaced = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn max_concurrency_parses_and_rejects_zero() {
        let args = parse_depends_args(quote!(max_concurrency = 4)).unwrap();
        assert_eq!(args.max_concurrency.map(|m| m.0), Some(4));
        let e = parse_depends_args(quote!(max_concurrency = 0))
            .err()
            .unwrap();
        assert!(e.to_string().contains("use 1 or more"), "{e}");
        let e = parse_depends_args(quote!(max_concurrency = "4"))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("without quotes: `max_concurrency = 4`"),
            "{e}"
        );
        let e = parse_depends_args(quote!(max_concurrency = "four"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("whole number"), "{e}");
    }

    #[test]
    fn a_misspelt_scope_is_named() {
        for (written, meant) in [
            ("requets", "request"),
            ("App", "app"),
            ("handlr", "handler"),
        ] {
            let e = parse_depends_args(quote!(scope = #written)).err().unwrap();
            assert!(
                e.to_string()
                    .ends_with(&format!("(did you mean `{meant}`?)")),
                "{e}"
            );
        }
        let e = parse_depends_args(quote!(scope = "session")).err().unwrap();
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }

    #[test]
    fn scope_and_crate_parse() {
        let args = parse_depends_args(quote!(scope = "handler", crate = "my_di")).unwrap();
        assert_eq!(args.scope.map(|s| s.0), Some(ScopeArg::Handler));
        assert!(args.krate.is_some());
    }

    #[test]
    fn a_scope_from_a_macro_rules_fragment_parses() {
        // `$scope:literal` and `$scope:expr` reach the macro inside an invisible group.
        let lit = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!("handler"));
        let args = parse_depends_args(quote!(scope = #lit)).unwrap();
        assert_eq!(args.scope.map(|s| s.0), Some(ScopeArg::Handler));
        let attr: syn::Attribute = syn::parse_quote!(#[dep(f, scope = #lit)]);
        let dep = parse_dep_args(&attr).unwrap();
        assert_eq!(dep.scope.map(|s| s.0), Some(ScopeArg::Handler));
    }

    #[test]
    fn values_without_their_key_are_told_the_key() {
        let e = parse_depends_args(quote!("app")).err().unwrap();
        assert!(e.to_string().contains("write `scope = \"app\"`"), "{e}");
        let e = parse_depends_args(quote!(status = 201, 404)).err().unwrap();
        assert!(e.to_string().contains("arguments are named"), "{e}");
        let attr: syn::Attribute = syn::parse_quote!(#[dep(f, fresh = true)]);
        let e = parse_dep_args(&attr).err().unwrap();
        assert!(e.to_string().contains("`fresh` takes no value"), "{e}");
    }

    #[test]
    fn dep_syntax_errors_say_the_syntax() {
        for (attr, says) in [
            (quote!(#[dep("db")]), "write `#[dep(db)]`"),
            (
                quote!(#[dep(db::)]),
                "needs the path of a `#[depends]` function",
            ),
            (quote!(#[dep(db scope = "app")]), "separated by commas"),
            (
                quote!(#[dep(Self::db)]),
                "`Self` names nothing here; name it by its path from this module: `#[dep(db)]`",
            ),
            (quote!(#[dep(Self::db::pool, fresh)]), "`#[dep(db::pool)]`"),
            (quote!(#[dep(Self)]), "`#[dep(function_name)]`"),
        ] {
            let attr: syn::Attribute = syn::parse_quote!(#attr);
            let e = parse_dep_args(&attr).err().unwrap();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn dep_paths_take_no_generic_arguments() {
        for (attr, says) in [
            (quote!(#[dep(make::<String>)]), "write `#[dep(make)]`"),
            (
                quote!(#[dep(db::make::<u8>, fresh)]),
                "write `#[dep(db::make)]`",
            ),
            (quote!(#[dep(::db::make<u8>)]), "write `#[dep(::db::make)]`"),
        ] {
            let attr: syn::Attribute = syn::parse_quote!(#attr);
            let e = parse_dep_args(&attr).err().unwrap();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn uses_entries_are_checked_as_dep_paths_are() {
        for (args, says) in [
            (quote!(uses("audit")), "not strings; write `uses(audit)`"),
            (quote!(uses()), "`uses()` lists no function"),
            (
                quote!(uses(audit::<u8>)),
                "takes no generic arguments (`::<u8>`): write `uses(audit)`",
            ),
            (
                quote!(uses(Self::audit)),
                "`Self` names nothing here; name it by its path from this module: `uses(audit)`",
            ),
            (quote!(uses(Query)), "remove it from `uses(..)`"),
            (quote!(uses(audit())), "write `uses(audit)` without `()`"),
            (quote!(uses(a, a)), "listed twice in `uses`"),
            (quote!(uses(audit = "x")), "takes only the names"),
            (quote!(uses(audit auth)), "takes only the names"),
        ] {
            let e = parse_depends_args(args.clone()).err().unwrap();
            assert!(e.to_string().contains(says), "{args}: {e}");
        }
        let args = parse_depends_args(quote!(uses(a, b::c,), scope = "app")).unwrap();
        assert_eq!(args.uses.len(), 2);
    }

    #[test]
    fn uses_lists_paths() {
        let args =
            parse_depends_args(quote!(uses(audit, crate::auth::check), scope = "handler")).unwrap();
        let names: Vec<String> = args
            .uses
            .iter()
            .map(|p| {
                quote::ToTokens::to_token_stream(p)
                    .to_string()
                    .replace(' ', "")
            })
            .collect();
        assert_eq!(names, ["audit", "crate::auth::check"]);
        assert!(parse_depends_args(quote!(uses = audit)).is_err());
        assert!(parse_depends_args(quote!(uses(audit = "x"))).is_err());
    }

    #[test]
    fn documented_status_and_content_type() {
        let args = parse_depends_args(quote!(status = 201, content_type = "application/x-ndjson"))
            .ok()
            .unwrap();
        assert_eq!(args.status, Some(201));
        assert_eq!(args.content_type.as_deref(), Some("application/x-ndjson"));
        let e = parse_depends_args(quote!(status = 99)).err().unwrap();
        assert!(e.to_string().contains("from 200 to 599"), "{e}");
        let e = parse_depends_args(quote!(status = 101)).err().unwrap();
        assert!(e.to_string().contains("never a final answer"), "{e}");
        let e = parse_depends_args(quote!(status = "201")).err().unwrap();
        assert!(e.to_string().contains("`status = 201`"), "{e}");
        let e = parse_depends_args(quote!(content_type = 1)).err().unwrap();
        assert!(e.to_string().contains("is a string"), "{e}");
        let args = parse_depends_args(quote!(body_content_type = "application/x-ndjson"))
            .ok()
            .unwrap();
        assert_eq!(
            args.body_content_type.as_deref(),
            Some("application/x-ndjson")
        );
        let e = parse_depends_args(quote!(body_content_type = ndjson))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`body_content_type = \""), "{e}");
    }

    #[test]
    fn the_keys_that_document_a_route_are_kept_as_written() {
        let args = parse_depends_args(quote!(
            scope = "app",
            content_type = "text/plain",
            responses(404 = "x"),
            status = 201
        ))
        .ok()
        .unwrap();
        let keys: Vec<String> = args.route_keys.iter().map(ToString::to_string).collect();
        assert_eq!(keys, ["content_type", "responses", "status"]);
        let args = parse_depends_args(quote!(scope = "app", max_concurrency = 2, uses(f)))
            .ok()
            .unwrap();
        assert!(args.route_keys.is_empty());
    }

    #[test]
    fn responses_parse_and_say_what_is_wrong() {
        let args = parse_depends_args(quote!(responses(
            404 = "Note not found",
            409 = "Title taken",
        )))
        .ok()
        .unwrap();
        assert_eq!(
            args.responses,
            [
                (404, "Note not found".to_owned()),
                (409, "Title taken".to_owned())
            ]
        );
        let error = |tokens| parse_depends_args(tokens).err().unwrap().to_string();
        assert!(error(quote!(responses = 404)).contains("`responses(404 = "));
        assert!(error(quote!(responses())).contains("`responses(404 = "));
        assert!(error(quote!(responses(201 = "Made"))).contains("from 400 to 599"));
        assert!(error(quote!(responses(404))).contains("404 needs a description"));
        assert!(error(quote!(responses(404 = 1))).contains("is a string"));
        assert!(error(quote!(responses(404 = ""))).contains("says what the status means"));
        assert!(error(quote!(responses("404" = "x"))).contains("status number"));
        assert!(error(quote!(responses(404 = "a", 404 = "b"))).contains("listed twice"));
        assert!(error(quote!(responses(404 = "a"), responses(409 = "b"))).contains("given twice"));
    }

    #[test]
    fn repeated_and_unknown_keys_are_errors() {
        let e = parse_depends_args(quote!(scope = "app", scope = "app"))
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "`scope` set twice; keep one");
        let e = parse_depends_args(quote!(lifetime = "app")).err().unwrap();
        assert!(e.to_string().contains(
            "expected one of: `scope`, `max_concurrency`, `uses`, `status`, `content_type`, `body_content_type`, `responses`, `crate`"
        ));
        let e = parse_depends_args(quote!(scope = "function"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("`scope = \"handler\"`"));
        let e = parse_depends_args(quote!(scope = app)).err().unwrap();
        assert_eq!(
            e.to_string(),
            "the scope is a string; write `scope = \"app\"`"
        );
        let e = parse_depends_args(quote!(scope)).err().unwrap();
        assert!(e.to_string().starts_with("`scope` needs a value"));
    }

    #[test]
    fn dep_args_parse() {
        let attr: syn::Attribute =
            syn::parse_quote!(#[dep(crate::db::tx, scope = "handler", fresh)]);
        let args = parse_dep_args(&attr).unwrap();
        assert!(args.fresh);
        assert_eq!(args.scope.map(|s| s.0), Some(ScopeArg::Handler));
        let attr: syn::Attribute = syn::parse_quote!(#[dep(tx, cached)]);
        let e = parse_dep_args(&attr).err().unwrap();
        assert!(e.to_string().contains("unknown `#[dep]` option `cached`"));
        let attr: syn::Attribute = syn::parse_quote!(#[dep]);
        assert!(
            parse_dep_args(&attr)
                .err()
                .unwrap()
                .to_string()
                .contains("`#[dep(function_name)]`")
        );
        let attr: syn::Attribute = syn::parse_quote!(#[dep()]);
        assert!(
            parse_dep_args(&attr)
                .err()
                .unwrap()
                .to_string()
                .contains("`#[dep(function_name)]`")
        );
    }
}
