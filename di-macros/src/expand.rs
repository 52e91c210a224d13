//! The expansion of `#[depends] async fn name(..)`:
//!
//! - a struct `name {}` that stands for the function in the type namespace, so that
//!   `#[dep(name)]` can name it as a type; it is braced, not a unit struct, because a unit
//!   struct would also live in the value namespace and turn every parameter called `name`
//!   into a pattern matching it;
//! - the user's function, intact, as the associated function `name::call`;
//! - a function `name(Marker<name>) -> Marker<name>` in the value namespace, which can never
//!   be called and lets `App::get(path, name)` infer the struct from the function's name;
//! - the runtime trait impls, in a `const _: () = { ... };` block.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{ScopeArg, parse_depends_args};
use crate::model::{Access, Function, Output, ParamModel, analyse};
use crate::paths::Paths;

/// Expands `#[depends(attr)] item`. Never panics: every problem becomes a `compile_error!`
/// next to the user's function, so other diagnostics keep working.
pub(crate) fn depends(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[depends]` goes on an `async fn`",
            );
            let mut out = error.into_compile_error();
            out.extend(item);
            return out;
        }
    };
    let args = match parse_depends_args(attr) {
        Ok(args) => args,
        Err(error) => return with_errors(strip_dep_attrs(item_fn), vec![error]),
    };
    let (function, errors) = analyse(item_fn, args.scope.map(|s| s.0));
    if !errors.is_empty() {
        return with_errors(function.item, errors);
    }
    let krate = args.krate.unwrap_or_else(|| syn::parse_quote!(::di_runtime));
    expand_function(&function, &Paths::new(&krate))
}

/// The user's function as written (minus our parameter attributes), plus the errors.
fn with_errors(item: syn::ItemFn, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(syn::Error::into_compile_error);
    quote! {
        #item
        #(#errors)*
    }
}

fn strip_dep_attrs(mut item: syn::ItemFn) -> syn::ItemFn {
    for arg in &mut item.sig.inputs {
        if let syn::FnArg::Typed(pat_type) = arg {
            pat_type.attrs.retain(|a| !a.path().is_ident("dep"));
        }
    }
    item
}

fn expand_function(function: &Function, paths: &Paths) -> TokenStream {
    let item = &function.item;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let name = ident.to_string();
    let docs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));

    let mut call_fn = item.clone();
    call_fn.sig.ident = syn::Ident::new("call", ident.span());
    call_fn.attrs.insert(0, syn::parse_quote!(#[doc = "The function as written; call it directly in unit tests."]));
    let call_fn_attrs = call_fn.attrs.iter().filter(|a| !a.path().is_ident("doc"));
    let call_attrs: Vec<_> = call_fn_attrs.collect();
    let call_sig = &call_fn.sig;
    let call_block = &call_fn.block;

    let dependency = paths.dependency();
    let marker = paths.marker();
    let marker_doc = format!(
        "`#[depends]` function `{name}`: route it with `App::get(path, {name})`, inject it with `#[dep({name})]`, call it directly as `{name}::call(..)`."
    );
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
    let output_ty = match &function.output {
        Output::Generator { provided } => quote!(#provided),
        Output::Plain { has_impl: true, .. } => paths.response(),
        Output::Plain { ty, fallible: true, .. } => {
            let into_dep_result = paths.into_dep_result();
            quote!(<#ty as #into_dep_result>::Ok)
        }
        Output::Plain { ty, fallible: false, .. } => quote!(#ty),
    };

    let params_meta = function.params.iter().map(|p| param_meta(p, paths));
    let run = run_fn(function, paths);
    let held_checks = function.params.iter().filter_map(|p| match &p.model {
        ParamModel::Dep { dep, access: Access::Held | Access::HeldMut, .. } if dep.scope.is_none() => {
            let path = &dep.path;
            let assert = paths.assert_can_be_held();
            Some(quote_spanned! {path.span()=> const _: () = #assert::<#path>(); })
        }
        _ => None,
    });
    let can_be_held = (function.scope != Some(ScopeArg::Handler)).then(|| {
        let can_be_held = paths.can_be_held();
        quote!(impl #can_be_held for #ident {})
    });

    quote! {
        #(#docs)*
        #[allow(non_camel_case_types, reason = "stands for the function of the same name")]
        #[allow(dead_code, reason = "only named as a type, never built")]
        #vis struct #ident {}

        #[doc = #marker_doc]
        #[allow(dead_code, reason = "named by `App` routes and overrides, never called")]
        #vis fn #ident(never: #marker<#ident>) -> #marker<#ident> {
            never.unreachable()
        }

        impl #ident {
            #(#call_attrs)*
            #vis #call_sig #call_block
        }

        #[allow(clippy::all, clippy::pedantic, clippy::nursery, reason = "generated by `#[depends]`")]
        const _: () = {
            #[automatically_derived]
            impl #dependency for #ident {
                type Output = #output_ty;

                fn meta() -> &'static #dep_meta {
                    static META: #dep_meta = #dep_meta {
                        name: #name,
                        module: #core::module_path!(),
                        scope: #declared_scope,
                        generator: #generator,
                        params: &[#(#params_meta),*],
                        run: __di_run,
                        type_id: #core::any::TypeId::of::<#ident>,
                    };
                    &META
                }
            }

            #[automatically_derived]
            #can_be_held

            #run

            #(#held_checks)*
        };
    }
}

fn param_meta(param: &crate::model::Param, paths: &Paths) -> TokenStream {
    let param_path = paths.param();
    let kind = paths.param_kind();
    let core = paths.core();
    let name = &param.name;
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
            let from_request = paths.from_request();
            quote_spanned! {ty.span()=>
                #kind::Input { extract: #extract::<#ty>, needs_body: <#ty as #from_request>::NEEDS_BODY }
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

    let mut bindings = Vec::new();
    let mut call_args = Vec::new();
    for (index, param) in function.params.iter().enumerate() {
        let var = format_ident!("__di_p{}", index);
        match &param.model {
            ParamModel::Dep { dep, access, value_ty, ty } => {
                let path = &dep.path;
                let output = quote_spanned!(path.span()=> <#path as #dependency>::Output);
                let (method, arg) = match access {
                    Access::Shared => (quote!(shared), quote_spanned!(ty.span()=> &*#var)),
                    Access::Exclusive => (quote!(exclusive), quote_spanned!(ty.span()=> &mut *#var)),
                    Access::Cloned => (quote!(cloned), quote!(#var)),
                    Access::Held => (quote!(shared), quote!(#var)),
                    Access::HeldMut => (quote!(exclusive), quote!(#var)),
                };
                let mutability = (*access == Access::Exclusive).then(|| quote!(mut));
                bindings.push(quote_spanned! {ty.span()=>
                    let #mutability #var = __di_args.#method::<#output>(#index)?;
                });
                // Ties the parameter's declared type to the dependency's output, so that a
                // mismatch is reported at the parameter.
                let _ = value_ty;
                call_args.push(arg);
            }
            ParamModel::Input { ty } => {
                bindings.push(quote_spanned! {ty.span()=> let #var = __di_args.input::<#ty>(#index)?; });
                call_args.push(quote!(#var));
            }
            ParamModel::HeadRef { inner, ty } => {
                let from_request_ref = paths.from_request_ref();
                bindings.push(quote!(let #var = __di_args.head();));
                call_args.push(quote_spanned!(ty.span()=> <#inner as #from_request_ref>::from_request_ref(&#var)));
            }
            ParamModel::Yield { inner } => {
                bindings.push(quote_spanned! {inner.span()=> let #var = __di_args.provider::<#inner>(); });
                call_args.push(quote!(#var));
            }
        }
    }
    let call = quote!(#ident::call(#(#call_args),*).await);
    let started_expr = match &function.output {
        Output::Generator { .. } => {
            let into_gen_result = paths.into_gen_result();
            let ret_span = ret_span(function);
            let convert = quote_spanned!(ret_span=> #into_gen_result::into_gen_result(#call));
            quote!(#started::generator(async move { #convert }))
        }
        Output::Plain { fallible, has_impl, .. } => {
            let respond = paths.respond();
            let ret_span = ret_span(function);
            let value = match (fallible, has_impl) {
                (false, false) => quote!(#core::result::Result::Ok::<_, #http_error>(#call)),
                (false, true) => quote!(#core::result::Result::Ok::<_, #http_error>(#respond(#call))),
                (true, has_impl) => {
                    let into_dep_result = paths.into_dep_result();
                    let converted = quote_spanned!(ret_span=> #into_dep_result::into_dep_result(#call));
                    if *has_impl {
                        quote!(#converted.map(#respond))
                    } else {
                        converted
                    }
                }
            };
            quote!(#started::plain(async move { #value }))
        }
    };
    quote! {
        fn __di_run(__di_args: &mut #args_ty<'_>) -> #core::result::Result<#started, #arg_error> {
            #(#bindings)*
            #core::result::Result::Ok(#started_expr)
        }
    }
}

fn ret_span(function: &Function) -> Span {
    match &function.item.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => function.item.sig.ident.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_the_function() {
        let out = depends(quote!(), quote!(fn not_async(#[dep(x)] a: &A) {})).to_string();
        assert!(out.contains("fn not_async"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
        assert!(!out.contains("dep (x)"), "the `#[dep]` attribute is removed: {out}");
    }

    #[test]
    fn expansion_uses_the_crate_override() {
        let out = depends(quote!(crate = "my_di"), quote!(async fn f() {})).to_string();
        assert!(out.contains("my_di :: __private"), "{out}");
        assert!(!out.contains(":: di_runtime"), "{out}");
    }

    #[test]
    fn non_functions_are_rejected_without_panicking() {
        let out = depends(quote!(), quote!(struct S;)).to_string();
        assert!(out.contains("goes on an `async fn`"), "{out}");
        assert!(out.contains("struct S"), "{out}");
    }
}
