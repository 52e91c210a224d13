//! Every absolute path the expansion uses, in one table. The runtime is reached through its
//! hidden `__private` module, so user code that shadows `std`, `core` or renames the runtime
//! crate (`crate = "..."`) still expands correctly.

use proc_macro2::TokenStream;
use quote::quote;

/// The paths used by generated code, rooted at the runtime crate.
pub(crate) struct Paths {
    private: TokenStream,
}

impl Paths {
    pub(crate) fn new(krate: &syn::Path) -> Self {
        Self {
            private: quote!(#krate::__private),
        }
    }

    fn item(&self, name: &str) -> TokenStream {
        let private = &self.private;
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        quote!(#private::#ident)
    }

    pub(crate) fn dependency(&self) -> TokenStream {
        self.item("Dependency")
    }
    pub(crate) fn marker(&self) -> TokenStream {
        self.item("UseAsDepOrCall")
    }
    pub(crate) fn can_be_held(&self) -> TokenStream {
        self.item("CanBeHeld")
    }
    pub(crate) fn dep_meta(&self) -> TokenStream {
        self.item("DepMeta")
    }
    pub(crate) fn param(&self) -> TokenStream {
        self.item("Param")
    }
    pub(crate) fn param_kind(&self) -> TokenStream {
        self.item("ParamKind")
    }
    pub(crate) fn access(&self) -> TokenStream {
        self.item("Access")
    }
    pub(crate) fn scope(&self) -> TokenStream {
        self.item("Scope")
    }
    pub(crate) fn args(&self) -> TokenStream {
        self.item("Args")
    }
    pub(crate) fn started(&self) -> TokenStream {
        self.item("Started")
    }
    pub(crate) fn arg_error(&self) -> TokenStream {
        self.item("ArgError")
    }
    pub(crate) fn http_error(&self) -> TokenStream {
        self.item("HttpError")
    }
    pub(crate) fn extract(&self) -> TokenStream {
        self.item("extract")
    }
    pub(crate) fn probe(&self) -> TokenStream {
        self.item("Probe")
    }
    pub(crate) fn trait_from_request(&self) -> TokenStream {
        self.item("FromRequest")
    }
    pub(crate) fn trait_from_request_ref(&self) -> TokenStream {
        self.item("FromRequestRef")
    }
    pub(crate) fn trait_into_dep_result(&self) -> TokenStream {
        self.item("IntoDepResult")
    }
    pub(crate) fn trait_into_gen_result(&self) -> TokenStream {
        self.item("IntoGenResult")
    }
    pub(crate) fn respond(&self) -> TokenStream {
        self.item("respond")
    }
    pub(crate) fn response(&self) -> TokenStream {
        self.item("Response")
    }
    pub(crate) fn assert_can_be_held(&self) -> TokenStream {
        self.item("assert_can_be_held")
    }
    pub(crate) fn assert_static_borrow(&self) -> TokenStream {
        self.item("assert_static_borrow")
    }
    pub(crate) fn assert_is_held(&self) -> TokenStream {
        self.item("assert_is_held")
    }
    pub(crate) fn assert_is_yield(&self) -> TokenStream {
        self.item("assert_is_yield")
    }
    pub(crate) fn dep_result(&self) -> TokenStream {
        self.item("DepResult")
    }
    pub(crate) fn keep(&self) -> TokenStream {
        self.item("Keep")
    }
    pub(crate) fn doc(&self) -> TokenStream {
        self.item("Doc")
    }
    pub(crate) fn openapi_only(&self) -> TokenStream {
        self.item("openapi_only")
    }
    pub(crate) fn any_schema(&self) -> TokenStream {
        self.item("any_schema")
    }
    pub(crate) fn no_fields(&self) -> TokenStream {
        self.item("no_fields")
    }
    pub(crate) fn unknown_output(&self) -> TokenStream {
        self.item("unknown_output")
    }
    pub(crate) fn output_doc(&self) -> TokenStream {
        self.item("OutputDoc")
    }
    pub(crate) fn output_kind(&self) -> TokenStream {
        self.item("OutputKind")
    }
    pub(crate) fn doc_probe(&self) -> TokenStream {
        self.item("DocProbe")
    }
    pub(crate) fn schema_probe(&self) -> TokenStream {
        self.item("SchemaProbe")
    }
    /// `use` of the traits one method call in generated code picks among (`keep`, `error`,
    /// `rules`, `describe`, `output`, `schema`, `fields`): a glob, used whichever is picked.
    pub(crate) fn use_pick(&self, set: &str) -> TokenStream {
        let private = &self.private;
        let set = syn::Ident::new(set, proc_macro2::Span::call_site());
        quote!(use #private::pick::#set::*;)
    }
    pub(crate) fn core(&self) -> TokenStream {
        self.item("core")
    }
}
