//! The analysed function: its parameters classified, its output, every problem found.

use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, PathArguments, ReturnType, Type};

use crate::args::{DepArgs, ScopeArg, parse_dep_args};
use crate::unawaited::{Task, borrowed_into_task, spawned_provides, unawaited_provides};

/// How a `#[dep]` parameter takes the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Shared,
    Exclusive,
    Cloned,
    Held,
    HeldMut,
}

impl Access {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::Shared => "Shared",
            Access::Exclusive => "Exclusive",
            Access::Cloned => "Cloned",
            Access::Held => "Held",
            Access::HeldMut => "HeldMut",
        }
    }
}

pub(crate) enum ParamModel {
    Dep {
        dep: DepArgs,
        access: Access,
        /// The parameter's type as written.
        ty: Type,
    },
    Input {
        ty: Type,
    },
    HeadRef {
        inner: Type,
        ty: Type,
    },
    Yield {
        inner: Type,
        /// The parameter's type as written.
        ty: Type,
    },
}

pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) model: ParamModel,
}

/// What the function returns and so what it provides.
pub(crate) enum Output {
    /// A plain function returning `ty` (`has_impl`: it mentions `impl Trait`). When it is a
    /// `Result`, it is `fallible` and provides `ok_ty`, the `T` of `Result<T, E>` as written
    /// (`None` for an alias without arguments, where the runtime's `IntoDepResult` finds it).
    Plain {
        ty: Type,
        fallible: bool,
        ok_ty: Option<Box<Type>>,
        has_impl: bool,
    },
    /// A generator providing the `T` of its `Yield<T>`.
    Generator { provided: Type },
}

pub(crate) struct Function {
    pub(crate) item: syn::ItemFn,
    pub(crate) scope: Option<ScopeArg>,
    /// `max_concurrency = N`: at most `N` instances set up at once, across requests.
    pub(crate) max_concurrency: Option<usize>,
    /// `uses(f, g)`: dependencies run for their side effect, whose values no parameter takes.
    pub(crate) uses: Vec<syn::Path>,
    pub(crate) params: Vec<Param>,
    pub(crate) output: Output,
    /// `status = 201`, for the OpenAPI document.
    pub(crate) status: Option<u16>,
    /// `content_type = "..."`, for the OpenAPI document.
    pub(crate) content_type: Option<String>,
    /// `body_content_type = "..."`, for the OpenAPI document.
    pub(crate) body_content_type: Option<String>,
    /// `responses(404 = "...")`: error statuses, for the OpenAPI document.
    pub(crate) responses: Vec<(u16, String)>,
}

/// The error for generic parameters on a `#[depends]` function, if it has any.
pub(crate) fn generics_error(sig: &syn::Signature) -> Option<syn::Error> {
    if sig.generics.params.is_empty() {
        return None;
    }
    let only_lifetimes = sig
        .generics
        .params
        .iter()
        .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
    let message = if only_lifetimes {
        "`#[depends]` functions take no lifetime parameters: a borrowed parameter is lent for the call only; remove them and write `&T` for `&'a T`"
    } else {
        "`#[depends]` functions cannot be generic: the app resolves each function by its name; write one function per concrete type"
    };
    Some(syn::Error::new_spanned(&sig.generics, message))
}

/// Whether a parameter's `#[cfg_attr(predicate, attrs..)]` adds lint attributes only (nested
/// `cfg_attr`s of lint attributes too): it never removes the parameter, whatever the predicate.
fn cfg_attr_adds_lints_only(attr: &syn::Attribute) -> bool {
    fn lints_only(meta: &syn::Meta) -> bool {
        const LINTS: [&str; 5] = ["allow", "expect", "warn", "deny", "forbid"];
        let path = meta.path();
        if LINTS.iter().any(|lint| path.is_ident(lint)) {
            return true;
        }
        if !path.is_ident("cfg_attr") {
            return false;
        }
        let syn::Meta::List(list) = meta else {
            return false;
        };
        list.parse_args_with(|input: syn::parse::ParseStream<'_>| {
            let _predicate: syn::Meta = input.parse()?;
            input.parse::<syn::Token![,]>()?;
            let attrs =
                syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated(input)?;
            Ok(!attrs.is_empty() && attrs.iter().all(lints_only))
        })
        .unwrap_or(false)
    }
    lints_only(&attr.meta)
}

/// The error for a `Self` in a `#[depends]` signature.
pub(crate) const SELF_NAMES_NOTHING: &str = "a `#[depends]` function is a free function, so `Self` names nothing here; write the type's name";

/// The tokens of the signature's parameter types, then of its return type (if written).
pub(crate) fn signature_types(
    sig: &syn::Signature,
) -> impl Iterator<Item = proc_macro2::TokenStream> + '_ {
    let params = sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(pat_type) => Some(quote::ToTokens::to_token_stream(&pat_type.ty)),
        FnArg::Receiver(_) => None,
    });
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(quote::ToTokens::to_token_stream(ty)),
        ReturnType::Default => None,
    };
    params.chain(output)
}

/// The first `Self` in the signature's parameter and return types.
pub(crate) fn find_self_type(sig: &syn::Signature) -> Option<proc_macro2::Ident> {
    fn walk(tokens: proc_macro2::TokenStream) -> Option<proc_macro2::Ident> {
        tokens.into_iter().find_map(|tt| match tt {
            proc_macro2::TokenTree::Ident(ident) if ident == "Self" => Some(ident),
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => None,
        })
    }
    signature_types(sig).find_map(walk)
}

/// Whether `path` names the `#[depends]` attribute (`depends`, `di_runtime::depends`, or
/// a renamed crate's `my_di::depends`).
fn is_depends(path: &syn::Path) -> bool {
    path.segments.last().is_some_and(|s| s.ident == "depends")
}

/// Analyses `item`. Returns the model (with `#[dep]` attributes removed from the function)
/// and every error found; the caller emits the function even when there are errors.
pub(crate) fn analyse(
    mut item: syn::ItemFn,
    scope: Option<ScopeArg>,
) -> (Function, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let sig = &item.sig;
    // `fn f() -> impl Future<Output = T> { async move { .. } }`: the same function written
    // out by hand; its fix is `async fn f() -> T`, said once (the `impl` is not reported as
    // an opaque value as well).
    let future_output = match &sig.output {
        ReturnType::Type(_, ty) if sig.asyncness.is_none() => future_output(ty),
        _ => None,
    };
    if let Some(output) = &future_output {
        let name = &sig.ident;
        let output = type_text(output);
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            format!("`#[depends]` functions must be `async fn`, not a `fn` that returns a future; write `async fn {name}(..) -> {output}`, with the `async` block's code as the body"),
        ));
    } else if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            "`#[depends]` functions must be `async fn`; add `async` before `fn`",
        ));
    }
    errors.extend(generics_error(sig));
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "`#[depends]` functions cannot have a `where` clause; name concrete types in the parameters",
        ));
    }
    if let syn::Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(syn::Error::new(
            unsafety.span,
            "`#[depends]` functions cannot be `unsafe`: the app calls them for every request; keep the `unsafe` block inside a safe function",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "`#[depends]` functions cannot have an ABI (`extern \"C\"`): the app calls them from Rust; remove it",
        ));
    }
    if item.attrs.iter().any(|attr| is_depends(attr.path())) {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            "`#[depends]` is given twice on this function; keep one",
        ));
        item.attrs.retain(|attr| !is_depends(attr.path()));
    }
    let sig = &item.sig;
    if let Some(self_token) = find_self_type(sig) {
        errors.push(syn::Error::new(self_token.span(), SELF_NAMES_NOTHING));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "`#[depends]` functions cannot be variadic; remove `...`",
        ));
    }

    let mut params = Vec::new();
    let mut yield_ty: Option<Type> = None;
    // The `#[dep]` values taken by reference (name, `T` of `&T`, access, dependency) and the
    // `BackgroundTasks` parameters, for the check of tasks that outlive the call.
    let mut borrowed: Vec<(syn::Ident, String, Access, String)> = Vec::new();
    let mut task_lists: Vec<syn::Ident> = Vec::new();
    for arg in &mut item.sig.inputs {
        let pat_type = match arg {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    &*receiver,
                    "`#[depends]` works on free functions, not methods; remove `self` and move the function out of the `impl` block",
                ));
                continue;
            }
            FnArg::Typed(pat_type) => pat_type,
        };
        let name = match &*pat_type.pat {
            syn::Pat::Ident(ident) => ident.ident.unraw().to_string(),
            _ => "_".to_owned(),
        };
        // Take out our attribute: it is not a real attribute on the emitted function.
        let mut dep_attrs = Vec::new();
        pat_type.attrs.retain(|attr| {
            if attr.path().is_ident("dep") {
                dep_attrs.push(attr.clone());
                false
            } else {
                true
            }
        });
        // `#[depends(get_db)]` on a parameter: FastAPI's `Depends(get_db)` spelled with the
        // function's attribute. Reported alone, not also as an unknown input.
        let mut misplaced = None;
        pat_type.attrs.retain(|attr| {
            if is_depends(attr.path()) {
                misplaced.get_or_insert_with(|| attr.clone());
                false
            } else {
                true
            }
        });
        if let Some(attr) = misplaced {
            errors.push(syn::Error::new_spanned(
                attr,
                "`#[depends]` marks a function; to inject a dependency into a parameter, write `#[dep(function_name)]`",
            ));
            continue;
        }
        if let Some(extra) = dep_attrs.get(1) {
            errors.push(syn::Error::new_spanned(
                extra,
                "`#[dep]` given twice on one parameter; keep one",
            ));
        }
        // `/// the query` on a parameter: rustc allows no doc comment there, and said so of the
        // expanded function as "allow, cfg, cfg_attr, deny, expect, forbid, and warn are the
        // only allowed built-in attributes in function parameters". Said once, in its words.
        if let Some(doc) = pat_type.attrs.iter().find(|a| a.path().is_ident("doc")) {
            errors.push(syn::Error::new_spanned(
                doc,
                "a doc comment cannot go on a function parameter (Rust allows none there); describe the parameter in the function's doc comment, or document the fields of its input's type",
            ));
            pat_type.attrs.retain(|a| !a.path().is_ident("doc"));
        }
        // A `#[cfg]` would remove the parameter after the macro counted it; the generated
        // call would then pass one argument too many. A `#[cfg_attr]` that only adds lints
        // (`#[cfg_attr(not(feature = "audit"), allow(unused_variables))]`) removes nothing and
        // is kept; it was refused with the `#[cfg]` message.
        if let Some(cfg) = pat_type.attrs.iter().find(|a| {
            a.path().is_ident("cfg")
                || (a.path().is_ident("cfg_attr") && !cfg_attr_adds_lints_only(a))
        }) {
            let message = if cfg.path().is_ident("cfg") {
                "`#[cfg]` on a parameter of a `#[depends]` function is not supported; put the `#[cfg]` on the whole function and write one version per configuration"
            } else {
                "a `#[cfg_attr]` on a parameter of a `#[depends]` function may only add lint attributes (`allow`, `expect`, `warn`, `deny`, `forbid`); for a parameter that exists in one configuration only, put the `#[cfg]` on the whole function and write one version per configuration"
            };
            errors.push(syn::Error::new_spanned(cfg, message));
        }
        let ty = (*pat_type.ty).clone();
        let dep = match dep_attrs.first().map(parse_dep_args) {
            Some(Ok(dep)) => Some(dep),
            Some(Err(error)) => {
                errors.push(error);
                continue;
            }
            None => None,
        };
        // `impl Trait` anywhere in the type (`Option<Query<impl Trait>>`) is an `impl Trait`
        // parameter too.
        if mentions_impl(&ty) {
            errors.push(syn::Error::new_spanned(
                &ty,
                "`impl Trait` parameters make the function generic, which `#[depends]` cannot resolve; name the concrete type",
            ));
            continue;
        }
        let model = match (dep, classify(&ty)) {
            (Some(_), TypeShape::Yield(_)) => {
                errors.push(syn::Error::new_spanned(
                    &ty,
                    "a `Yield<T>` parameter hands over the function's own value, so it takes no `#[dep]`; remove `#[dep(...)]`",
                ));
                continue;
            }
            (None, TypeShape::Yield(inner)) => {
                if yield_ty.is_some() {
                    errors.push(syn::Error::new_spanned(
                        &ty,
                        "a `#[depends]` function provides one value, so it takes at most one `Yield<T>`; provide a tuple or a struct, or split the function in two",
                    ));
                    continue;
                }
                // A borrow in the value handed over outlives the call too: reported, and made
                // `'static` (here and in the function) so that nothing reports it again.
                let (inner, ty) = match first_borrow(&inner) {
                    Some(span) => {
                        errors.push(syn::Error::new(
                            span,
                            "the value a `Yield<T>` hands over is kept for the dependency's scope, so it cannot borrow; provide an owned value (`String` for `&str`), or a `'static` one",
                        ));
                        make_static(&mut pat_type.ty);
                        match classify(&pat_type.ty) {
                            TypeShape::Yield(inner) => (inner, (*pat_type.ty).clone()),
                            _ => (inner, ty.clone()),
                        }
                    }
                    None => (inner, ty.clone()),
                };
                // A handle the body never names (or `_`, dropped at once) never calls
                // `provide`: each request that uses the function would fail with a 500.
                let handle = match &*pat_type.pat {
                    syn::Pat::Ident(pat) => Some(Some(&pat.ident)),
                    syn::Pat::Wild(_) => Some(None),
                    _ => None,
                };
                if let Some(handle) = handle
                    && handle.is_none_or(|ident| !mentions_ident(&item.block, ident))
                {
                    let call =
                        handle.map_or_else(|| "y".to_owned(), |ident| ident.unraw().to_string());
                    errors.push(syn::Error::new_spanned(
                        &pat_type.pat,
                        format!("this generator never calls `{call}.provide(value).await`, so it never hands its value over and every request that uses it would fail; call it where setup ends (the code after it is the teardown), or remove the `Yield<T>` parameter and return the value"),
                    ));
                } else if let Some(Some(ident)) = handle {
                    // `y.provide(v);` or `let _ = y.provide(v);`: only a future, never awaited.
                    let call = ident.unraw();
                    let unawaited = unawaited_provides(&item.block, ident);
                    let reported: Vec<String> = unawaited.iter().map(ToString::to_string).collect();
                    for provide in unawaited {
                        errors.push(syn::Error::new_spanned(
                            provide,
                            format!("this `{call}.provide(..)` is never awaited, so the value is never handed over and every request that uses this dependency would fail; write `{call}.provide(value).await` (it returns the value and the request's outcome when the scope ends; the code after it is the teardown)"),
                        ));
                    }
                    // A call reported as never awaited is not reported again.
                    for spawned in spawned_provides(&item.block, ident)
                        .into_iter()
                        .filter(|spawned| !reported.contains(&spawned.to_string()))
                    {
                        errors.push(syn::Error::new_spanned(
                            spawned,
                            format!("`{call}.provide(value).await` must run in the generator itself, not in a spawned task: the app resumes the generator's own future when the scope ends, so a value handed over from another task is never taken back and every request that uses this dependency would fail; await `{call}.provide(value)` in the function's body (the code after it is the teardown)"),
                        ));
                    }
                }
                yield_ty = Some(inner.clone());
                ParamModel::Yield { inner, ty }
            }
            (None, TypeShape::Held(access, _)) => {
                let held = access.name();
                errors.push(syn::Error::new_spanned(
                    &ty,
                    format!("`{held}<T>` holds the value of another dependency, so it needs `#[dep]`; name the dependency: `#[dep(function_name)] {name}: {held}<T>`"),
                ));
                continue;
            }
            (Some(_), TypeShape::Held(access, inner))
                if let Some(fix) = unsized_fix(&inner, access.name()) =>
            {
                // `Held<str>`: the handle holds the value itself, and no dependency provides an
                // unsized one. Reported once, at the type: the parameter's type becomes a type
                // made of this error (rustc shows an identical error once), so that the
                // signature and the body report nothing more.
                let held = access.name();
                let inner = type_text(&inner);
                let error = syn::Error::new_spanned(
                    &ty,
                    format!(
                        "`{held}<{inner}>` cannot hold a value: a `{held}<T>` holds the value the dependency provides, and no dependency provides an unsized `{inner}`; {fix}"
                    ),
                );
                let reported = error.to_compile_error();
                *pat_type.ty = syn::parse_quote_spanned!(error.span()=> [(); #reported]);
                errors.push(error);
                continue;
            }
            (Some(dep), shape) => {
                let access = match shape {
                    TypeShape::Ref(_, false) => Access::Shared,
                    TypeShape::Ref(_, true) => Access::Exclusive,
                    TypeShape::Held(access, _) => access,
                    TypeShape::Other | TypeShape::Yield(_) => Access::Cloned,
                };
                // `&'static mut T`: no dependency lends its value mutably for ever (the
                // borrow checker would report a temporary dropped while borrowed, at
                // `#[depends]`). `&'static T` is checked against the value's type instead.
                if let Type::Reference(syn::TypeReference {
                    lifetime: Some(lifetime),
                    mutability: Some(_),
                    elem,
                    ..
                }) = &ty
                    && lifetime.ident == "static"
                {
                    let inner = type_text(elem);
                    errors.push(syn::Error::new_spanned(
                        lifetime,
                        format!("a `#[dep]` parameter cannot borrow the dependency's value mutably for `'static`: the app lends it for the call only; write `&mut {inner}`, or take `HeldMut<{inner}>` to keep it past the call"),
                    ));
                    continue;
                }
                if let (Access::Held | Access::HeldMut, Some((ScopeArg::Handler, span))) =
                    (access, dep.scope)
                {
                    let (held, fix) = if access == Access::Held {
                        ("Held", "&T")
                    } else {
                        ("HeldMut", "&mut T")
                    };
                    errors.push(syn::Error::new(
                        span,
                        format!("a `{held}<T>` cannot take a `handler`-scoped value: it is torn down before the response body is sent; use `scope = \"request\"`, or take `{fix}` to use it only in the handler"),
                    ));
                }
                ParamModel::Dep {
                    dep,
                    access,
                    ty: ty.clone(),
                }
            }
            (None, TypeShape::Ref(inner, _)) if matches!(classify(&inner), TypeShape::Yield(_)) => {
                errors.push(syn::Error::new_spanned(
                    &ty,
                    format!("a `Yield<T>` hands the function's value over and waits for the teardown, so it is taken by value; write `{name}: {}`", type_text(&inner)),
                ));
                continue;
            }
            (None, TypeShape::Ref(inner, mutable)) => {
                // `&'_ T` is `&T` spelled out: only a named lifetime is refused.
                if let Type::Reference(syn::TypeReference {
                    lifetime: Some(lifetime),
                    ..
                }) = &ty
                    && lifetime.ident != "_"
                {
                    errors.push(syn::Error::new_spanned(
                        lifetime,
                        format!("a request input is lent for the call only, so it has no lifetime to name; write `&{}`", type_text(&inner)),
                    ));
                    continue;
                }
                if mutable {
                    errors.push(syn::Error::new_spanned(
                        &ty,
                        format!("request inputs are read-only, so they cannot be taken as `&mut`; take `&{}`, or mark the parameter `#[dep(function_name)]` to borrow another dependency's value mutably", type_text(&inner)),
                    ));
                    continue;
                }
                ParamModel::HeadRef {
                    inner,
                    ty: ty.clone(),
                }
            }
            (None, TypeShape::Other) if let Some((wrapper, span)) = borrowed_input(&ty) => {
                // `Json<&str>`: serde's "implementation of `Deserialize` is not general
                // enough", twice, one of them at `#[depends]`. Reported once, at the borrow:
                // the parameter's type becomes a type made of this error.
                let error = syn::Error::new(
                    span,
                    format!(
                        "a request input owns what it reads (it is read before anything is set up), so what `{wrapper}<..>` reads cannot borrow from the request; read an owned type: `String` for `&str`, `Vec<u8>` for `&[u8]`, a struct whose fields own their data"
                    ),
                );
                let reported = error.to_compile_error();
                *pat_type.ty = syn::parse_quote_spanned!(span=> [(); #reported]);
                errors.push(error);
                continue;
            }
            (None, TypeShape::Other) if names_set_headers(&ty) => {
                // Otherwise rustc's "`SetHeaders` is not a request input", beside a list of
                // the inputs that does not name it.
                errors.push(syn::Error::new_spanned(
                    &ty,
                    format!("`SetHeaders` is one list per request, shared by the handler and every dependency of it, so it is taken by reference; write `{name}: &{}`", type_text(&ty)),
                ));
                continue;
            }
            (None, TypeShape::Other) => ParamModel::Input { ty: ty.clone() },
        };
        // A request input taken by value may be the app's (`Shutdown`): whether it is, is
        // known from its type only, and checked by the expansion (`app_input_checks`).
        if scope == Some(ScopeArg::App) && matches!(model, ParamModel::HeadRef { .. }) {
            errors.push(syn::Error::new_spanned(&ty, app_input_message(&ty)));
        }
        if let syn::Pat::Ident(pat) = &*pat_type.pat {
            match &model {
                ParamModel::Dep {
                    dep,
                    access: access @ (Access::Shared | Access::Exclusive),
                    ty,
                } => {
                    // `&'static T` takes a value that is itself a `&'static T` (by clone).
                    if let Type::Reference(reference) = ty
                        && reference
                            .lifetime
                            .as_ref()
                            .is_none_or(|lifetime| lifetime.ident == "_")
                    {
                        let inner = type_text(&reference.elem);
                        borrowed.push((pat.ident.clone(), inner, *access, path_text(&dep.path)));
                    }
                }
                ParamModel::Input { ty } | ParamModel::HeadRef { ty, .. }
                    if names_background_tasks(ty) =>
                {
                    task_lists.push(pat.ident.clone());
                }
                _ => {}
            }
        }
        params.push(Param { name, model });
    }
    // A borrowed value moved into a task that outlives the call: rustc's "borrowed data
    // escapes" names neither `Held<T>` nor cloning.
    let lists: Vec<&syn::Ident> = task_lists.iter().collect();
    for (ident, inner, access, dep) in &borrowed {
        let Some((mention, task)) = borrowed_into_task(&item.block, ident, &lists) else {
            continue;
        };
        let name = ident.unraw();
        let (written, held) = match access {
            Access::Exclusive => (format!("&mut {inner}"), "HeldMut"),
            _ => (format!("&{inner}"), "Held"),
        };
        let task = match task {
            Task::Background(list) => {
                format!("a task given to `{list}.add(..)` runs after the call has returned")
            }
            Task::Spawned(spawn) => {
                format!("a task given to `{spawn}(..)` may run after the call has returned")
            }
        };
        errors.push(syn::Error::new_spanned(
            mention,
            format!("`{name}` is lent to this call only (`{written}`) and {task}, so the task cannot use it; take the value itself, `#[dep({dep})] {name}: {held}<{inner}>`, which the task can keep (for a `request`- or `app`-scoped value: its teardown waits until the task has ended), or clone what the task needs and move the clone in"),
        ));
    }

    // The output type the expansion names: a borrowed return type is reported here, and the
    // output is a type made of the error, so that nothing else reports it again (named
    // `&'static`, a handler's route reported `&'static T` as no response).
    let mut ret_ty = match &item.sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => None,
    };
    if future_output.is_some() {
        // Named as the `T` it was meant to be, so that only the error above reports it.
        ret_ty = future_output;
    }
    if let Some(Type::Reference(reference)) = &mut ret_ty
        && reference
            .lifetime
            .as_ref()
            .is_none_or(|lifetime| lifetime.ident != "static")
    {
        let span = reference.and_token.span;
        let error = syn::Error::new(
            span,
            "the value of a `#[depends]` function outlives the call (it is kept for the request), so it cannot borrow; return an owned value (`String` for `&str`, `Vec<T>` for `&[T]`, a clone of the `T` of `&T`), or a `&'static` one",
        );
        let reported = error.to_compile_error();
        ret_ty = Some(Type::Verbatim(
            quote::quote_spanned!(span=> [(); #reported]),
        ));
        errors.push(error);
    }
    // A borrow inside the output (`Cow<'_, str>`, `Option<&str>`, `impl Trait + '_`): the
    // output is a type made of the error, so that nothing reports the borrow again.
    let inner_borrow = match &ret_ty {
        Some(Type::Reference(reference)) => first_borrow(&reference.elem),
        Some(ty) => first_borrow(ty),
        None => None,
    };
    if let Some(span) = inner_borrow {
        // A streamed body that borrows a parameter (`StreamBody<impl Stream + '_>`): the
        // value it reads is taken as `Held<T>` and moved into it.
        let streams = ret_ty.as_ref().is_some_and(|ty| {
            let text = quote::ToTokens::to_token_stream(ty).to_string();
            ["Stream", "Sse", "Body"]
                .iter()
                .any(|name| text.contains(name))
        });
        let held = if streams {
            "; a response body that reads a dependency's value while it is sent takes the value as `Held<T>` (`#[dep(f)] x: Held<T>`) and moves it in"
        } else {
            ""
        };
        let error = syn::Error::new(
            span,
            format!(
                "the value of a `#[depends]` function outlives the call (it is kept for the request), so nothing in it can borrow; own what it holds (`String` for `&str`, `Cow<'static, str>` for `Cow<'_, str>`), or make the borrow `'static`{held}"
            ),
        );
        let reported = error.to_compile_error();
        ret_ty = Some(Type::Verbatim(
            quote::quote_spanned!(span=> [(); #reported]),
        ));
        errors.push(error);
    }
    // `-> !`: no value, and `!` cannot be named as the output. The output is a type made of
    // the error (rustc shows an identical error once), so that its uses report nothing more.
    if let Some(Type::Never(never)) = &ret_ty {
        let error = syn::Error::new_spanned(
            never,
            "a `#[depends]` function gives the app its value, so it must return; `!` never does: return the value, or `Result<T, HttpError>` to fail the request",
        );
        let span = never.bang_token.span;
        let reported = error.to_compile_error();
        ret_ty = Some(Type::Verbatim(
            quote::quote_spanned!(span=> [(); #reported]),
        ));
        errors.push(error);
    }
    // `Result<T, Box<dyn Error>>`: the error goes to the response across threads, and only a
    // boxed error that is `Send + Sync` converts into `HttpError`. Reported at the box, once:
    // the output is a type made of the error, as for `!`.
    if let Some(boxed) = ret_ty.as_ref().and_then(unsendable_boxed_error) {
        let error = syn::Error::new_spanned(
            &boxed,
            format!(
                "the error of a `#[depends]` function's `Result` is sent with the response, across threads, so a boxed error must be `Send + Sync`; write `Box<dyn {} + Send + Sync>`",
                bounds_but_send_sync(&boxed)
            ),
        );
        let span = boxed
            .dyn_token
            .map_or_else(|| boxed.bounds.span(), |d| d.span);
        let reported = error.to_compile_error();
        ret_ty = Some(Type::Verbatim(
            quote::quote_spanned!(span=> [(); #reported]),
        ));
        errors.push(error);
    }
    // `-> impl Store`: the value is kept and handed out by its type, which `impl Trait`
    // hides; only a response (`impl IntoResponse`) can be opaque, the runtime turning it into
    // one at once. Anything else is reported at the `impl`, and the output made of the error,
    // so that the `#[dep]` parameters that take it report nothing more.
    if let Some(opaque) = ret_ty.as_ref().and_then(opaque_value).cloned()
        && yield_ty.is_none()
    {
        let bounds = quote::ToTokens::to_token_stream(&opaque.bounds);
        let bounds = type_text(&Type::Verbatim(bounds));
        let error = syn::Error::new_spanned(
            &opaque,
            format!(
                "the value of a `#[depends]` function is kept and handed to its users by its type, which `impl {bounds}` hides (only a handler's `impl IntoResponse` can be opaque); return the concrete type, or a `Box<dyn {bounds} + Send + Sync>`"
            ),
        );
        let span = opaque.impl_token.span;
        let reported = error.to_compile_error();
        ret_ty = Some(Type::Verbatim(
            quote::quote_spanned!(span=> [(); #reported]),
        ));
        errors.push(error);
    }
    // An `Rc` in the value (`Rc<T>`, `Vec<Rc<str>>`, a `Yield<Option<Rc<T>>>`): the value is
    // shared by functions that may run on other threads. Reported at the `Rc`, once: the value
    // is a type made of the error, so that neither the runtime's `Send` and `Sync` bounds at the
    // return type nor those at each parameter that takes it report it again (four errors).
    let value_ty = match (&mut yield_ty, &mut ret_ty) {
        (Some(provided), _) => Some(provided),
        (None, Some(ty)) if is_result(ty) => result_ok_type_mut(ty),
        (None, Some(ty)) => Some(ty),
        (None, None) => None,
    };
    if let Some(error) = value_ty.and_then(replace_rc) {
        errors.push(error);
    }
    let output = match (yield_ty, ret_ty) {
        (Some(provided), _) => Output::Generator { provided },
        (None, None) => Output::Plain {
            ty: syn::parse_quote!(()),
            fallible: false,
            ok_ty: None,
            has_impl: false,
        },
        (None, Some(ty)) => Output::Plain {
            fallible: is_result(&ty),
            ok_ty: result_ok_type(&ty).map(Box::new),
            has_impl: mentions_impl(&ty),
            ty,
        },
    };
    (
        Function {
            item,
            scope,
            max_concurrency: None,
            uses: Vec::new(),
            params,
            output,
            status: None,
            content_type: None,
            body_content_type: None,
            responses: Vec::new(),
        },
        errors,
    )
}

enum TypeShape {
    Ref(Type, bool),
    /// `Held<T>` or `HeldMut<T>` (`Access::Held` or `Access::HeldMut`), and its `T`.
    Held(Access, Type),
    Yield(Type),
    Other,
}

fn classify(ty: &Type) -> TypeShape {
    match ty {
        Type::Reference(r) => TypeShape::Ref((*r.elem).clone(), r.mutability.is_some()),
        Type::Group(g) => classify(&g.elem),
        Type::Paren(p) => classify(&p.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return TypeShape::Other;
            };
            let Some(inner) = single_type_arg(&last.arguments) else {
                return TypeShape::Other;
            };
            match last.ident.to_string().as_str() {
                "Yield" => TypeShape::Yield(inner),
                "Held" => TypeShape::Held(Access::Held, inner),
                "HeldMut" => TypeShape::Held(Access::HeldMut, inner),
                _ => TypeShape::Other,
            }
        }
        _ => TypeShape::Other,
    }
}

/// For the `T` of a `Held<T>` that cannot be a value because it has no size (`str`, `[T]`,
/// `dyn Trait`), the fix: the handle of an owned type that holds one. Read from the syntax, so
/// only types that are unsized whatever is in scope.
fn unsized_fix(inner: &Type, held: &str) -> Option<String> {
    match inner {
        Type::Group(g) => unsized_fix(&g.elem, held),
        Type::Paren(p) => unsized_fix(&p.elem, held),
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => Some(format!(
            "write `{held}<String>` for a dependency that returns a `String` (`{held}<&'static str>` for one that returns a `&'static str`)"
        )),
        Type::Slice(slice) => {
            let elem = type_text(&slice.elem);
            Some(format!(
                "write `{held}<Vec<{elem}>>` for a dependency that returns a `Vec<{elem}>`"
            ))
        }
        Type::TraitObject(_) => {
            let object = type_text(inner);
            Some(format!(
                "write `{held}<Arc<{object}>>` for a dependency that returns an `Arc<{object}>` (`{held}<Box<{object}>>` for a `Box`)"
            ))
        }
        _ => None,
    }
}

/// A type as the user wrote it, for messages: `Query<String>`, `&HeaderMap`.
/// A type as written, with spaces only between words (`Query<Vec<(u8, u16)>>`).
pub(crate) fn type_text(ty: &Type) -> String {
    let text = quote::ToTokens::to_token_stream(ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // `to_string` puts spaces between all tokens; keep only those between words.
        if c == ' ' {
            let before = out
                .chars()
                .last()
                .is_some_and(|b: char| b.is_alphanumeric() || b == '_');
            let after = chars
                .peek()
                .is_some_and(|a| a.is_alphanumeric() || *a == '_');
            if !(out.ends_with(',') || before && after) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The type whose JSON Schema documents an input: the `T` of `Query<T>` (of
/// `Option<Query<T>>`), `()` for a type without one type argument (`Multipart`).
pub(crate) fn schema_type(ty: &Type) -> Type {
    let unit = || syn::parse_quote!(());
    match ty {
        Type::Group(g) => schema_type(&g.elem),
        Type::Paren(p) => schema_type(&p.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return unit();
            };
            match single_type_arg(&last.arguments) {
                Some(inner) if last.ident == "Option" => schema_type(&inner),
                Some(inner) => inner,
                None => unit(),
            }
        }
        _ => unit(),
    }
}

/// The type whose JSON Schema documents a handler's body: the `T` of `Json<T>`, of
/// `(StatusCode, Json<T>)`, `(headers, Json<T>)` and `(StatusCode, headers, Json<T>)`; `()` for
/// any other output.
pub(crate) fn output_schema_type(ty: &Type) -> Type {
    match ty {
        Type::Group(g) => output_schema_type(&g.elem),
        Type::Paren(p) => output_schema_type(&p.elem),
        Type::Tuple(t) if matches!(t.elems.len(), 2 | 3) => t
            .elems
            .last()
            .map_or_else(|| syn::parse_quote!(()), output_schema_type),
        Type::Path(path) if path.qself.is_none() => {
            let json = path.path.segments.last().filter(|s| s.ident == "Json");
            match json.and_then(|s| single_type_arg(&s.arguments)) {
                Some(inner) => inner,
                None => syn::parse_quote!(()),
            }
        }
        _ => syn::parse_quote!(()),
    }
}

/// The kind of body (an `OutputKind` variant's name) of a successful output that holds an
/// `impl Trait`, whose type the document cannot name: read from the runtime's wrapper it is in
/// (`StreamBody<impl Stream>`, `Html<impl ..>`, `Json<impl Serialize>`), after a status and
/// headers as for a named type; `None` for any other (a bare `impl IntoResponse`), which the
/// document cannot read.
pub(crate) fn opaque_output_kind(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Group(g) => opaque_output_kind(&g.elem),
        Type::Paren(p) => opaque_output_kind(&p.elem),
        Type::Tuple(t) if matches!(t.elems.len(), 2 | 3) => {
            t.elems.last().and_then(opaque_output_kind)
        }
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if !matches!(last.arguments, PathArguments::AngleBracketed(_)) {
                return None;
            }
            match last.ident.to_string().as_str() {
                "StreamBody" => Some("Stream"),
                "Html" => Some("Html"),
                "Json" => Some("Json"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The doc comment of `attrs`: each `///` line without its first space, joined with `\n`,
/// trimmed.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value()),
            _ => None,
        })
        .flat_map(|text| {
            // `split`, not `lines`: an empty `///` line is a line (a paragraph break).
            text.split('\n')
                .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// The first borrow in `ty` that is not `'static`: a `&` without `'static`, or a lifetime such
/// as `'_` or `'a`. The lifetimes of `Fn(&str) -> T` and `fn(&str)` are their own.
fn first_borrow(ty: &Type) -> Option<proc_macro2::Span> {
    match ty {
        Type::Reference(reference) => match &reference.lifetime {
            Some(lifetime) if lifetime.ident == "static" => first_borrow(&reference.elem),
            Some(lifetime) => Some(lifetime.span()),
            None => Some(reference.and_token.span),
        },
        Type::Path(path) => path
            .qself
            .as_ref()
            .and_then(|qself| first_borrow(&qself.ty))
            .or_else(|| {
                path.path
                    .segments
                    .iter()
                    .find_map(|segment| arguments_borrow(&segment.arguments))
            }),
        Type::Array(array) => first_borrow(&array.elem),
        Type::Slice(slice) => first_borrow(&slice.elem),
        Type::Paren(paren) => first_borrow(&paren.elem),
        Type::Group(group) => first_borrow(&group.elem),
        Type::Tuple(tuple) => tuple.elems.iter().find_map(first_borrow),
        Type::TraitObject(object) => bounds_borrow(&object.bounds),
        Type::ImplTrait(opaque) => bounds_borrow(&opaque.bounds),
        _ => None,
    }
}

/// `ty` with every borrow [`first_borrow`] finds made `'static`.
fn make_static(ty: &mut Type) {
    let fix = |lifetime: &mut syn::Lifetime| {
        if lifetime.ident != "static" {
            *lifetime = syn::Lifetime::new("'static", lifetime.span());
        }
    };
    let fix_arguments = |arguments: &mut PathArguments| {
        if let PathArguments::AngleBracketed(args) = arguments {
            for arg in &mut args.args {
                match arg {
                    GenericArgument::Lifetime(lifetime) => fix(lifetime),
                    GenericArgument::Type(ty) => make_static(ty),
                    GenericArgument::AssocType(assoc) => make_static(&mut assoc.ty),
                    _ => {}
                }
            }
        }
    };
    match ty {
        Type::Reference(reference) => {
            match &mut reference.lifetime {
                Some(lifetime) => fix(lifetime),
                None => {
                    reference.lifetime =
                        Some(syn::Lifetime::new("'static", reference.and_token.span));
                }
            }
            make_static(&mut reference.elem);
        }
        Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                make_static(&mut qself.ty);
            }
            for segment in &mut path.path.segments {
                fix_arguments(&mut segment.arguments);
            }
        }
        Type::Array(array) => make_static(&mut array.elem),
        Type::Slice(slice) => make_static(&mut slice.elem),
        Type::Paren(paren) => make_static(&mut paren.elem),
        Type::Group(group) => make_static(&mut group.elem),
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(make_static),
        _ => {}
    }
}

fn arguments_borrow(arguments: &PathArguments) -> Option<proc_macro2::Span> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Lifetime(lifetime) if lifetime.ident != "static" => Some(lifetime.span()),
        GenericArgument::Type(ty) => first_borrow(ty),
        GenericArgument::AssocType(assoc) => first_borrow(&assoc.ty),
        _ => None,
    })
}

fn bounds_borrow(
    bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>,
) -> Option<proc_macro2::Span> {
    bounds.iter().find_map(|bound| match bound {
        syn::TypeParamBound::Lifetime(lifetime) if lifetime.ident != "static" => {
            Some(lifetime.span())
        }
        syn::TypeParamBound::Trait(bound) if bound.lifetimes.is_none() => bound
            .path
            .segments
            .iter()
            .find_map(|segment| arguments_borrow(&segment.arguments)),
        _ => None,
    })
}

fn single_type_arg(arguments: &PathArguments) -> Option<Type> {
    let PathArguments::AngleBracketed(args) = arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    let first = types.next()?;
    types.next().is_none().then_some(first)
}

/// Whether a return type reads as a `Result`: `Result<T, E>`, `io::Result<T>`, or an alias
/// whose name ends in `Result` (`ApiResult<T>`), resolved by the runtime's `IntoDepResult`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Result")),
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        _ => false,
    }
}

/// The first type argument of a `Result<T, ..>` path.
fn result_ok_type(ty: &Type) -> Option<Type> {
    result_type_arg(ty, 0)
}

/// The second type argument of a `Result<T, E>` path: its error type as written (`None` for an
/// alias without it, `ApiResult<T>`).
pub(crate) fn result_err_type(ty: &Type) -> Option<Type> {
    result_type_arg(ty, 1)
}

/// Whether a function's answer names its own status, so that a `200` it gives was chosen: a
/// `StatusCode`, a tuple that starts with one (`(StatusCode, Json<T>)`), a `Response` (the
/// runtime's or `http`'s), a `Redirect`; in a `Result`, its `T`. Read from the type as written:
/// an alias or an `impl IntoResponse` is taken for one that does not.
pub(crate) fn answer_names_its_status(output: &Output) -> bool {
    fn names(ty: &Type) -> bool {
        match ty {
            Type::Paren(p) => names(&p.elem),
            Type::Group(g) => names(&g.elem),
            Type::Tuple(t) => t
                .elems
                .first()
                .is_some_and(|first| named(first, &["StatusCode"])),
            _ => named(ty, &["StatusCode", "Response", "Redirect"]),
        }
    }
    fn named(ty: &Type, idents: &[&str]) -> bool {
        match ty {
            Type::Paren(p) => named(&p.elem, idents),
            Type::Group(g) => named(&g.elem, idents),
            Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|last| idents.iter().any(|ident| last.ident == ident)),
            _ => false,
        }
    }
    match output {
        Output::Plain {
            fallible: true,
            ok_ty,
            ..
        } => ok_ty.as_deref().is_some_and(names),
        Output::Plain { ty, .. } => names(ty),
        Output::Generator { .. } => false,
    }
}

/// The type argument at `index` of a `Result<..>` path (through groups and parentheses).
fn result_type_arg(ty: &Type, index: usize) -> Option<Type> {
    match ty {
        Type::Path(path) => {
            let last = path.path.segments.last().filter(|s| s.ident == "Result")?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.iter().nth(index)? {
                GenericArgument::Type(t) => Some(t.clone()),
                _ => None,
            }
        }
        Type::Group(g) => result_type_arg(&g.elem, index),
        Type::Paren(p) => result_type_arg(&p.elem, index),
        _ => None,
    }
}

/// The `T` of a `Result<T, E>` (or of an alias `ApiResult<T>`) as written, to change in place.
fn result_ok_type_mut(ty: &mut Type) -> Option<&mut Type> {
    match ty {
        Type::Path(path) => match &mut path.path.segments.last_mut()?.arguments {
            PathArguments::AngleBracketed(args) => args.args.iter_mut().find_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            }),
            _ => None,
        },
        Type::Group(g) => result_ok_type_mut(&mut g.elem),
        Type::Paren(p) => result_ok_type_mut(&mut p.elem),
        _ => None,
    }
}

/// The first `std::rc::Rc<T>` (or `rc::Weak<T>`) that `ty` holds, through the types that hold
/// their arguments (`Vec<Rc<T>>`, `(Rc<T>, u8)`, `[Rc<T>; 2]`), replaced by a type made of the
/// error returned: such a value is neither `Send` nor `Sync`. A function pointer or a trait
/// object that only names one (`Arc<dyn Fn(Rc<T>) + Send + Sync>`) is not looked into.
fn replace_rc(ty: &mut Type) -> Option<syn::Error> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let segments: Vec<String> = path
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let names = |name: &str, bare: bool| {
                let names_it = match segments.as_slice() {
                    [one] => bare && one == name,
                    [.., module, last] => module == "rc" && last == name,
                    [] => false,
                };
                names_it
                    && matches!(
                        path.path.segments.last().map(|s| &s.arguments),
                        Some(PathArguments::AngleBracketed(_))
                    )
            };
            let fix = if names("Rc", true) {
                Some(("Rc", "std::sync::Arc"))
            } else if names("Weak", false) {
                Some(("rc::Weak", "std::sync::Weak"))
            } else {
                None
            };
            if let Some((written, fix)) = fix {
                let error = syn::Error::new_spanned(
                    &*ty,
                    format!(
                        "the value of a `#[depends]` function is shared by the functions that take it, which may run on other threads, so it must be `Send + Sync`; `{written}` is neither: use `{fix}` (and a `Mutex` or an `RwLock` in place of a `RefCell`)"
                    ),
                );
                let span = ty.span();
                let reported = error.to_compile_error();
                *ty = Type::Verbatim(quote::quote_spanned!(span=> [(); #reported]));
                return Some(error);
            }
            path.path
                .segments
                .iter_mut()
                .find_map(|segment| match &mut segment.arguments {
                    PathArguments::AngleBracketed(args) => {
                        args.args.iter_mut().find_map(|arg| match arg {
                            GenericArgument::Type(t) => replace_rc(t),
                            _ => None,
                        })
                    }
                    _ => None,
                })
        }
        Type::Tuple(tuple) => tuple.elems.iter_mut().find_map(replace_rc),
        Type::Array(array) => replace_rc(&mut array.elem),
        Type::Slice(slice) => replace_rc(&mut slice.elem),
        Type::Reference(reference) => replace_rc(&mut reference.elem),
        Type::Group(group) => replace_rc(&mut group.elem),
        Type::Paren(paren) => replace_rc(&mut paren.elem),
        _ => None,
    }
}

/// The `dyn Trait` of the error of a `Result<T, Box<dyn Trait>>` output when it is not both
/// `Send` and `Sync` (`Box<dyn std::error::Error>`).
fn unsendable_boxed_error(ty: &Type) -> Option<syn::TypeTraitObject> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last().filter(|s| s.ident == "Result")?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let Some(GenericArgument::Type(Type::Path(boxed))) = args.args.iter().nth(1) else {
        return None;
    };
    let boxed = boxed.path.segments.last().filter(|s| s.ident == "Box")?;
    let Some(Type::TraitObject(object)) = single_type_arg(&boxed.arguments) else {
        return None;
    };
    let names = |name: &str| {
        object.bounds.iter().any(|bound| {
            matches!(bound, syn::TypeParamBound::Trait(t)
                if t.path.segments.last().is_some_and(|s| s.ident == name))
        })
    };
    let is_error = names("Error");
    (is_error && !(names("Send") && names("Sync"))).then_some(object)
}

/// The bounds of a trait object as written, without `Send` and `Sync`: `std::error::Error`.
fn bounds_but_send_sync(object: &syn::TypeTraitObject) -> String {
    object
        .bounds
        .iter()
        .filter(|bound| {
            !matches!(bound, syn::TypeParamBound::Trait(t)
                if t.path.segments.last().is_some_and(|s| s.ident == "Send" || s.ident == "Sync"))
        })
        .map(|bound| type_text(&Type::Verbatim(quote::ToTokens::to_token_stream(bound))))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The `impl Trait` that is the whole value of an output (`impl Store`, or the `T` of
/// `Result<impl Store, E>`) when none of its bounds is `IntoResponse`: an opaque value that
/// is not a response. `StreamBody<impl Stream>` names its type, so it is not one.
fn opaque_value(ty: &Type) -> Option<&syn::TypeImplTrait> {
    let value = match ty {
        Type::Path(path) if is_result(ty) => {
            let last = path.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            match args.args.first()? {
                GenericArgument::Type(t) => t,
                _ => return None,
            }
        }
        Type::Group(g) => return opaque_value(&g.elem),
        Type::Paren(p) => return opaque_value(&p.elem),
        other => other,
    };
    let Type::ImplTrait(opaque) = value else {
        return None;
    };
    let responds = opaque.bounds.iter().any(|bound| match bound {
        syn::TypeParamBound::Trait(t) => t
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "IntoResponse"),
        _ => false,
    });
    (!responds).then_some(opaque)
}

/// The `T` of an `impl Future<Output = T>` (as `impl Future`'s only bound besides `Send`,
/// `'static` and the like), `()` for an `impl Future` without `Output`.
fn future_output(ty: &Type) -> Option<Type> {
    let Type::ImplTrait(opaque) = ty else {
        return None;
    };
    opaque.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(t) = bound else {
            return None;
        };
        let last = t.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return Some(syn::parse_quote!(()));
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

/// The input (`Json`, ...) and the first borrow of a deserialized request input that borrows
/// (`Json<&str>`, `Query<Params<'a>>`, `Option<Form<&str>>`): serde reads inputs as
/// `DeserializeOwned`.
fn borrowed_input(ty: &Type) -> Option<(String, proc_macro2::Span)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let inner = single_type_arg(&last.arguments)?;
    let wrapper = last.ident.to_string();
    match wrapper.as_str() {
        "Option" => borrowed_input(&inner),
        "Json" | "Query" | "Form" | "Path" | "Header" | "Cookie" => {
            first_borrow(&inner).map(|span| (wrapper, span))
        }
        _ => None,
    }
}

/// Whether `ident` appears among the tokens of `block` (in a macro call's too).
fn mentions_ident(block: &syn::Block, ident: &syn::Ident) -> bool {
    has_ident(quote::ToTokens::to_token_stream(block), &|found| {
        found == ident
    })
}

/// A path as written, without spaces (`db::pool`).
fn path_text(path: &syn::Path) -> String {
    quote::ToTokens::to_token_stream(path)
        .to_string()
        .replace(' ', "")
}

/// Whether `ty` is `SetHeaders` by value (by any path).
fn names_set_headers(ty: &Type) -> bool {
    names_runtime_type(ty, "SetHeaders", false)
}

/// Whether `ty` is `BackgroundTasks` (by any path, by reference or not).
fn names_background_tasks(ty: &Type) -> bool {
    names_runtime_type(ty, "BackgroundTasks", true)
}

/// Whether `ty` is the runtime's type `name`, without generic arguments, by any path (through
/// parentheses and groups; through a reference too when `by_reference`).
fn names_runtime_type(ty: &Type, name: &str, by_reference: bool) -> bool {
    match ty {
        Type::Reference(reference) if by_reference => {
            names_runtime_type(&reference.elem, name, by_reference)
        }
        Type::Paren(paren) => names_runtime_type(&paren.elem, name, by_reference),
        Type::Group(group) => names_runtime_type(&group.elem, name, by_reference),
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == name && last.arguments.is_none())
        }
        _ => false,
    }
}

pub(crate) fn mentions_impl(ty: &Type) -> bool {
    has_ident(quote::ToTokens::to_token_stream(ty), &|found| {
        found == "impl"
    })
}

/// Whether an identifier among `tokens`, at any depth of groups, is one `wanted` accepts.
pub(crate) fn has_ident(
    tokens: proc_macro2::TokenStream,
    wanted: &dyn Fn(&proc_macro2::Ident) -> bool,
) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => wanted(&ident),
        proc_macro2::TokenTree::Group(group) => has_ident(group.stream(), wanted),
        _ => false,
    })
}

/// Why an `app`-scoped dependency cannot take the request input `ty`, and what to do.
pub(crate) fn app_input_message(ty: &Type) -> String {
    format!(
        "an `app`-scoped dependency is set up once, before any request, so it cannot take the request input `{}`; take it in a `request`-scoped dependency instead (of the inputs, only `Shutdown` is the app's)",
        type_text(ty)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse_src(src: &str) -> (Function, Vec<syn::Error>) {
        analyse(syn::parse_str(src).unwrap(), None)
    }

    #[test]
    fn classifies_every_parameter_shape() {
        let (f, errors) = analyse_src(
            "async fn h(#[dep(a)] a: &A, #[dep(b)] b: &mut B, #[dep(c)] c: C, #[dep(d)] d: Held<D>, #[dep(e)] e: HeldMut<E>, q: Query<Q>, h: &HeaderMap) -> String { todo!() }",
        );
        assert!(errors.is_empty());
        let kinds: Vec<_> = f
            .params
            .iter()
            .map(|p| match &p.model {
                ParamModel::Dep { access, .. } => access.name(),
                ParamModel::Input { .. } => "Input",
                ParamModel::HeadRef { .. } => "HeadRef",
                ParamModel::Yield { .. } => "Yield",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Shared",
                "Exclusive",
                "Cloned",
                "Held",
                "HeldMut",
                "Input",
                "HeadRef"
            ]
        );
        assert!(f.item.sig.inputs.iter().all(|a| match a {
            FnArg::Typed(t) => t.attrs.is_empty(),
            FnArg::Receiver(_) => true,
        }));
    }

    #[test]
    fn collects_every_error() {
        let (_, errors) =
            analyse_src("fn f<T>(y: Yield<A>, z: Yield<B>, #[dep(x)] w: Yield<C>) { drop(y) }");
        let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].contains("must be `async fn`"));
        assert!(messages[1].contains("cannot be generic"));
        assert!(messages[2].contains("at most one `Yield<T>`"));
        assert!(messages[3].contains("takes no `#[dep]`"));
    }

    #[test]
    fn lifetime_parameters_are_told_to_be_removed() {
        let (_, errors) = analyse_src("async fn f<'a>(#[dep(a)] a: &'a A) {}");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("no lifetime parameters"));
        let (_, errors) = analyse_src("async fn f<'a, T>(#[dep(a)] a: &'a T) {}");
        assert!(errors[0].to_string().contains("cannot be generic"));
    }

    #[test]
    fn impl_trait_inside_a_parameter_type_is_an_error() {
        let (_, errors) = analyse_src("async fn f(q: Option<Query<impl Sized>>) {}");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("`impl Trait` parameters"));
    }

    #[test]
    fn a_borrowed_yield_is_told_to_be_taken_by_value() {
        let (_, errors) = analyse_src("async fn f(y: &mut Yield<u8>) {}");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("write `y: Yield<u8>`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn an_opaque_value_that_is_not_a_response_is_an_error() {
        for src in [
            "async fn f() -> impl Store { todo!() }",
            "async fn f() -> Result<impl Store + Send, E> { todo!() }",
        ] {
            let (_, errors) = analyse_src(src);
            assert_eq!(errors.len(), 1, "{src}");
            assert!(errors[0].to_string().contains("return the concrete type"));
        }
        for src in [
            "async fn f() -> impl IntoResponse { todo!() }",
            "async fn f() -> Result<impl axum::response::IntoResponse, E> { todo!() }",
            "async fn f() -> StreamBody<impl Stream<Item = u8>> { todo!() }",
        ] {
            let (_, errors) = analyse_src(src);
            assert!(errors.is_empty(), "{src}");
        }
    }

    #[test]
    fn a_boxed_error_that_is_not_send_and_sync_is_an_error() {
        for (src, fix) in [
            (
                "async fn f() -> Result<u8, Box<dyn Error>> { todo!() }",
                "`Box<dyn Error + Send + Sync>`",
            ),
            (
                "async fn f() -> Result<u8, Box<dyn std::error::Error + Send>> { todo!() }",
                "`Box<dyn std::error::Error + Send + Sync>`",
            ),
        ] {
            let (_, errors) = analyse_src(src);
            assert_eq!(errors.len(), 1, "{src}");
            assert!(errors[0].to_string().contains(fix), "{}", errors[0]);
        }
        let (_, errors) =
            analyse_src("async fn f() -> Result<u8, Box<dyn Error + Send + Sync>> { todo!() }");
        assert!(errors.is_empty());
    }

    #[test]
    fn a_generator_whose_body_never_names_its_yield_is_an_error() {
        for src in [
            "async fn f(y: Yield<u8>) { println!(\"setup\"); }",
            "async fn f(_: Yield<u8>) {}",
            "async fn f(_y: Yield<u8>) {}",
        ] {
            let (_, errors) = analyse_src(src);
            assert_eq!(errors.len(), 1, "{src}");
            assert!(
                errors[0].to_string().contains("never calls"),
                "{}",
                errors[0]
            );
        }
        for src in [
            "async fn f(y: Yield<u8>) { let _ = y.provide(1).await; }",
            "async fn f(mut y: Yield<u8>) { helper!(y); }",
        ] {
            let (_, errors) = analyse_src(src);
            assert!(errors.is_empty(), "{src}");
        }
    }

    #[test]
    fn a_function_that_never_returns_is_an_error() {
        let (f, errors) = analyse_src("async fn f() -> ! { loop {} }");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("must return"),
            "{}",
            errors[0]
        );
        assert!(matches!(
            &f.output,
            Output::Plain {
                ty: Type::Verbatim(_),
                ..
            }
        ));
    }

    #[test]
    fn a_borrowed_output_is_one_error_at_its_ampersand() {
        // `&Vec<&str>`: the outer `&` is the error; the output is then a type made of it, so
        // neither the borrow inside nor a handler's route reports it again.
        let (f, errors) = analyse_src("async fn f() -> &Vec<&str> { todo!() }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().contains("so it cannot borrow"),
            "{errors:?}"
        );
        assert!(matches!(
            &f.output,
            Output::Plain {
                ty: Type::Verbatim(_),
                ..
            }
        ));
    }

    #[test]
    fn a_borrow_inside_the_output_is_an_error() {
        for borrowed in [
            "Cow<'_, str>",
            "Option<&str>",
            "Json<Vec<&'a str>>",
            "impl IntoResponse + '_",
        ] {
            let (_, errors) = analyse_src(&format!("async fn f() -> {borrowed} {{ todo!() }}"));
            assert!(
                errors
                    .iter()
                    .any(|e| e.to_string().contains("nothing in it can borrow")),
                "{borrowed}: {errors:?}"
            );
        }
        for owned in [
            "Cow<'static, str>",
            "Option<&'static str>",
            "Box<dyn Fn(&str) -> String + Send + Sync>",
            "fn(&str) -> u8",
            "&'static [&'static str]",
            "Box<dyn for<'a> Fn(&'a str) + Send + Sync>",
        ] {
            let (_, errors) = analyse_src(&format!("async fn f() -> {owned} {{ todo!() }}"));
            assert!(errors.is_empty(), "{owned}: {errors:?}");
        }
    }

    #[test]
    fn a_borrow_in_a_yield_is_an_error_and_made_static() {
        let (f, errors) = analyse_src("async fn f(y: Yield<(&str, Cow<'_, str>)>) { drop(y) }");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().contains("cannot borrow"),
            "{}",
            errors[0]
        );
        let Output::Generator { provided } = &f.output else {
            panic!("a generator")
        };
        assert_eq!(type_text(provided), "(&'static str, Cow<'static, str>)");
    }

    #[test]
    fn cfg_on_a_parameter_is_an_error() {
        let (_, errors) = analyse_src("async fn f(#[cfg(test)] h: &HeaderMap) {}");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .to_string()
                .contains("put the `#[cfg]` on the whole function")
        );
    }

    #[test]
    fn a_cfg_attr_of_lints_on_a_parameter_is_kept_and_any_other_is_an_error() {
        for kept in [
            "#[cfg_attr(test, allow(unused_variables))]",
            "#[cfg_attr(not(feature = \"x\"), allow(unused), warn(unused_mut))]",
            "#[cfg_attr(all(), cfg_attr(test, expect(unused_variables)))]",
        ] {
            let (f, errors) = analyse_src(&format!("async fn f({kept} h: &HeaderMap) {{}}"));
            assert!(errors.is_empty(), "{kept}: {errors:?}");
            assert_eq!(f.params.len(), 1, "{kept}");
        }
        for refused in [
            "#[cfg_attr(test, cfg(test))]",
            "#[cfg_attr(test, allow(unused), cfg(test))]",
            "#[cfg_attr(test, cfg_attr(all(), cfg(test)))]",
            "#[cfg_attr(test)]",
            "#[cfg_attr]",
        ] {
            let (_, errors) = analyse_src(&format!("async fn f({refused} h: &HeaderMap) {{}}"));
            assert_eq!(errors.len(), 1, "{refused}: {errors:?}");
            assert!(
                errors[0]
                    .to_string()
                    .contains("may only add lint attributes"),
                "{refused}: {errors:?}"
            );
        }
    }

    #[test]
    fn messages_name_types_as_written() {
        // Checked by the expansion, from the type (`Shutdown` is allowed).
        let message = app_input_message(&syn::parse_str("Query<Vec<(u8, u16)>>").unwrap());
        assert!(
            message.contains("the request input `Query<Vec<(u8, u16)>>`"),
            "{message}"
        );
        let (_, errors) = analyse_src("async fn f(h: &mut HeaderMap) {}");
        assert!(
            errors[0].to_string().contains("take `&HeaderMap`"),
            "{}",
            errors[0]
        );
        let ty: Type = syn::parse_str("&'static mut dyn Fn(u8) -> u8").unwrap();
        assert_eq!(type_text(&ty), "&'static mut dyn Fn(u8)->u8");
    }

    #[test]
    fn an_elided_lifetime_on_a_request_input_is_accepted() {
        let (f, errors) = analyse_src("async fn f(h: &'_ HeaderMap, r: &'static RequestHead) {}");
        assert_eq!(errors.len(), 1, "only the named lifetime: {errors:?}");
        assert!(errors[0].to_string().contains("write `&RequestHead`"));
        assert!(matches!(f.params[0].model, ParamModel::HeadRef { .. }));
    }

    #[test]
    fn held_with_a_handler_scope_at_the_use_site_is_an_error() {
        let (_, errors) =
            analyse_src(r#"async fn f(#[dep(a, scope = "handler")] a: HeldMut<A>) {}"#);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("take `&mut T`"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_held_unsized_value_is_one_error_naming_the_owned_type() {
        for (src, fix) in [
            ("async fn f(#[dep(a)] a: Held<str>) {}", "`Held<String>`"),
            (
                "async fn f(#[dep(a)] a: HeldMut<[u8]>) {}",
                "`HeldMut<Vec<u8>>`",
            ),
            (
                "async fn f(#[dep(a)] a: Held<dyn Tr>) {}",
                "`Held<Arc<dyn Tr>>`",
            ),
        ] {
            let (f, errors) = analyse_src(src);
            assert_eq!(errors.len(), 1, "{src}");
            assert!(errors[0].to_string().contains(fix), "{}", errors[0]);
            assert!(f.params.is_empty(), "{src}");
        }
        for src in [
            "async fn f(#[dep(a)] a: Held<String>) {}",
            "async fn f(#[dep(a)] a: Held<&'static str>) {}",
            "async fn f(#[dep(a)] a: Held<Box<[u8]>>) {}",
        ] {
            let (_, errors) = analyse_src(src);
            assert!(errors.is_empty(), "{src}");
        }
    }

    #[test]
    fn an_unawaited_provide_is_an_error_at_the_call() {
        for src in [
            "async fn f(y: Yield<u8>) { y.provide(1); }",
            "async fn f(y: Yield<u8>) { let _ = y.provide(1); }",
            "async fn f(r#y: Yield<u8>) { let _outcome = r#y.provide(1); }",
        ] {
            let (_, errors) = analyse_src(src);
            assert_eq!(errors.len(), 1, "{src}");
            assert!(
                errors[0].to_string().contains("`y.provide(value).await`"),
                "{}",
                errors[0]
            );
        }
    }

    #[test]
    fn a_borrowed_value_moved_into_a_later_task_is_an_error_naming_held() {
        let (_, errors) = analyse_src(
            "async fn f(#[dep(db::user)] user: &User, tasks: &BackgroundTasks) { tasks.add(async move { send(user).await; }); }",
        );
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(message.contains("`tasks.add(..)`"), "{message}");
        assert!(
            message.contains("`#[dep(db::user)] user: Held<User>`"),
            "{message}"
        );
        let (_, errors) = analyse_src(
            "async fn f(#[dep(user)] user: &mut Vec<u8>) { tokio::spawn(async move { user.push(1); }); }",
        );
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(message.contains("`tokio::spawn(..)` may run"), "{message}");
        assert!(message.contains("HeldMut<Vec<u8>>"), "{message}");
        // A `&'static` value is moved, not lent; held values and clones may be moved too.
        for src in [
            "async fn f(#[dep(name)] name: &'static str) { tokio::spawn(async move { send(name).await; }); }",
            "async fn f(#[dep(user)] user: Held<User>, tasks: BackgroundTasks) { tasks.add(async move { send(user).await; }); }",
            "async fn f(#[dep(user)] user: User, tasks: &BackgroundTasks) { tasks.add(async move { send(user).await; }); }",
        ] {
            let (_, errors) = analyse_src(src);
            assert!(errors.is_empty(), "{src}: {}", errors[0]);
        }
    }

    #[test]
    fn a_task_that_does_not_use_the_borrowed_value_is_not_an_error() {
        // Each body compiles (checked with rustc against a `'static` `add` and `tokio::spawn`):
        // the name is a field, a module, a format string's named argument, a binding of a
        // macro's pattern, a struct literal's field or a macro's key, never the borrowed value;
        // and a `spawn` of the user's own that runs its closure in place.
        for src in [
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let ev = Event { user: 1 }; tasks.add(async move { println!(\"{}\", ev.user); }); }",
            "async fn f(#[dep(config)] config: &Config, tasks: &BackgroundTasks) { tasks.add(async move { println!(\"{}\", config::VERSION); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let name = user.name.clone(); tasks.add(async move { println!(\"{user}\", user = name); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let x = Some(3u32); tasks.add(async move { assert!(matches!(x, Some(user) if user > 1)); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let id = 1; tasks.add(async move { println!(\"{}\", Point { user: id }.user); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let id = 1; tasks.add(async move { tracing::info!(user = id, \"sent\"); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let id = 1; tasks.add(async move { tracing::info!(user = %id, \"sent\"); }); }",
            "async fn f(#[dep(user)] user: &User, rx: Rx) { tokio::spawn(async move { tokio::select! { user = rx.recv() => drop(user), } }); }",
            "async fn f(#[dep(user)] user: &User) { tokio::spawn(async move { println!(\"{}\", stringify!(user)); }); }",
            "async fn f(#[dep(user)] user: &User) { let n = spawn(|| user.name.len()); }",
            "async fn f(#[dep(user)] user: &User) { std::thread::scope(|s| { std::thread::Scope::spawn(s, || user.name.len()); }); }",
            "async fn f(#[dep(user)] user: &User, tasks: &BackgroundTasks) { let tasks = Pipeline::new(); tasks.add(async { user.name.len(); }); }",
        ] {
            let (_, errors) = analyse_src(src);
            assert!(errors.is_empty(), "{src}: {}", errors[0]);
        }
    }

    #[test]
    fn outputs() {
        let (f, _) = analyse_src("async fn f() -> Result<u8, E> { todo!() }");
        assert!(matches!(
            f.output,
            Output::Plain {
                fallible: true,
                ok_ty: Some(_),
                has_impl: false,
                ..
            }
        ));
        let (f, _) = analyse_src("async fn f() -> io::Result<()> { todo!() }");
        assert!(matches!(
            f.output,
            Output::Plain {
                fallible: true,
                ok_ty: Some(_),
                ..
            }
        ));
        let (f, _) = analyse_src("async fn f() -> Result { todo!() }");
        assert!(matches!(
            f.output,
            Output::Plain {
                fallible: true,
                ok_ty: None,
                ..
            }
        ));
        let (f, _) = analyse_src("async fn f() -> StreamBody<impl Stream<Item = u8>> { todo!() }");
        assert!(matches!(
            f.output,
            Output::Plain {
                fallible: false,
                has_impl: true,
                ..
            }
        ));
        let (f, _) = analyse_src("async fn f(y: Yield<u8>) {}");
        assert!(matches!(f.output, Output::Generator { .. }));
    }

    fn text(ty: &Type) -> String {
        type_text(ty)
    }

    #[test]
    fn schema_types() {
        let ty = |s: &str| syn::parse_str::<Type>(s).unwrap();
        assert_eq!(text(&schema_type(&ty("Query<Page>"))), "Page");
        assert_eq!(text(&schema_type(&ty("Option<Json<New>>"))), "New");
        assert_eq!(text(&schema_type(&ty("Multipart"))), "()");
        assert_eq!(
            text(&output_schema_type(&ty("Json<Vec<Note>>"))),
            "Vec<Note>"
        );
        assert_eq!(
            text(&output_schema_type(&ty("(StatusCode, Json<Note>)"))),
            "Note"
        );
        assert_eq!(text(&output_schema_type(&ty("String"))), "()");
    }

    #[test]
    fn opaque_output_kinds_are_read_from_the_wrapper() {
        let ty = |s: &str| syn::parse_str::<Type>(s).unwrap();
        let kind = |s: &str| opaque_output_kind(&ty(s));
        assert_eq!(
            kind("StreamBody<impl Stream<Item = R> + Send>"),
            Some("Stream")
        );
        assert_eq!(
            kind("(StatusCode, [(H, V); 1], di::StreamBody<impl S>)"),
            Some("Stream")
        );
        assert_eq!(kind("Html<impl Into<Body>>"), Some("Html"));
        assert_eq!(kind("Json<impl Serialize>"), Some("Json"));
        assert_eq!(kind("impl IntoResponse"), None);
        assert_eq!(kind("(StatusCode, impl IntoResponse)"), None);
        assert_eq!(kind("Wrapper<impl Stream>"), None);
    }

    #[test]
    fn doc_comments() {
        let item: syn::ItemFn =
            syn::parse_str("/// List notes.\n///\n///  Oldest first.\nasync fn f() {}").unwrap();
        assert_eq!(doc_text(&item.attrs), "List notes.\n\n Oldest first.");
    }
}
