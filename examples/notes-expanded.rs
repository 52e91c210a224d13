//! Run with: cargo run --example notes-expanded
//!
//! What `#[depends]` generates, tidied by hand (`DI_MACROS_DEBUG=1 cargo build` prints the real
//! expansion). CI compiles and tests this file, so it stays true. It expands the two functions
//! at the heart of `notes.rs`, with a stand-in for the database:
//!
//! ```ignore
//! #[depends(scope = "handler")]
//! async fn tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) -> Result<(), HttpError> { .. }
//!
//! #[depends]
//! async fn create_note(#[dep(tx)] tx: &mut Tx, Json(title): Json<String>) -> Result<String, HttpError> { .. }
//! ```
//!
//! For each function the macro emits:
//!
//! 1. a struct with the function's name, `struct tx {}`: what `#[dep(tx)]` names, as a type. It
//!    has braces so that it lives only in the type namespace (a unit struct would also be a
//!    value, and every parameter called `tx` would become a pattern matching it);
//! 2. the function exactly as written, as the associated function `tx::call`, minus the
//!    `#[dep]` attributes;
//! 3. a function `fn tx(UseAsDepOrCall<tx>) -> UseAsDepOrCall<tx>` in the value namespace. It
//!    can never be called (`UseAsDepOrCall` cannot be built: a call `tx()` is reported as
//!    missing an argument of type `UseAsDepOrCall<tx>`, naming the two ways to use it); it lets
//!    `App::post("/notes", create_note)` infer the struct from the function's name;
//! 4. in a `const _: () = { .. };` block: `impl Dependency` with a static description of the
//!    function (name, declared scope, parameters) and `__di_run`, which takes each argument
//!    from the request and starts the function; `impl CanBeHeld` unless the function is
//!    `handler`-scoped, so that `Held<T>` of a `handler`-scoped value does not compile.
//!
//! Every path goes through the hidden `di_runtime::__private` module, which is not a stable
//! API. Try it: the server below serves `POST /notes` on 127.0.0.1:3000.

use di_runtime::prelude::*;

/// Stands in for a connection pool.
pub struct Pool;

/// Stands in for a transaction: the titles written in it.
#[derive(Debug, Default)]
pub struct Tx(Vec<String>);

/// The pool (not expanded here: an ordinary `#[depends]` function).
#[depends(scope = "app")]
async fn pool() -> Pool {
    Pool
}

// -------------------------------------------------------------------------------------------
// #[depends(scope = "handler")]
// async fn tx(#[dep(pool)] pool: &Pool, y: Yield<Tx>) -> Result<(), HttpError> { .. }
// -------------------------------------------------------------------------------------------

/// A transaction for one handler call, committed or rolled back before the response is sent.
// `repr(C)`: rustc's `non_camel_case_types` leaves such a struct alone, and an `#[allow]` of
// it would be an error in a crate that forbids the lint.
#[repr(C)]
struct tx {}

/// `#[depends]` function `tx`: route it with `App::get(path, tx)`, inject it with
/// `#[dep(tx)]`, call it directly as `tx::call(..)`.
// The macro's marker function has no `#[allow(dead_code)]` (rustc reports no dead code at an
// item whose `fn` token comes from a macro; an unused function is reported at `name::call`).
// Written out by hand, it is reported: the allow is this file's only.
#[allow(dead_code, reason = "written out by hand, see above")]
fn tx(
    never: di_runtime::__private::UseAsDepOrCall<tx>,
) -> di_runtime::__private::UseAsDepOrCall<tx> {
    never.unreachable()
}

impl tx {
    /// The function as written; call it directly in unit tests.
    async fn call(pool: &Pool, y: Yield<Tx>) -> Result<(), HttpError> {
        let _ = pool;
        let (tx, outcome) = y.provide(Tx::default()).await;
        if outcome.is_success() {
            println!("commit {:?}", tx.0);
        } else {
            println!("rollback ({outcome})");
        }
        Ok(())
    }
}

const _: () = {
    use di_runtime::__private::{
        Access, ArgError, Args, DepMeta, Dependency, Doc, IntoGenResult, Param, ParamKind, Scope,
        Started,
    };

    impl Dependency for tx {
        /// The `T` of its `Yield<T>`.
        type Output = Tx;
        /// The type itself, for the runtime's `Args` (see `Dependency::Itself`).
        type Itself = Self;

        fn meta() -> &'static DepMeta {
            static META: DepMeta = DepMeta {
                name: "tx",
                module: module_path!(),
                path: concat!(module_path!(), "::", "tx"),
                scope: Some(Scope::Handler),
                generator: true,
                max_concurrency: None,
                params: &[
                    Param {
                        name: "pool",
                        kind: ParamKind::Dep {
                            meta: <pool as Dependency>::meta,
                            scope: None,
                            fresh: false,
                            access: Access::Shared,
                        },
                    },
                    Param {
                        name: "y",
                        kind: ParamKind::Yield,
                    },
                ],
                run: __di_run,
                type_id: std::any::TypeId::of::<tx>,
                // Its doc comment and output, for the OpenAPI document.
                doc: Doc::NONE,
            };
            &META
        }
    }

    /// Borrows `pool` (an owned read guard that keeps it alive), makes the `Yield`, and
    /// starts the function; the runtime drives it up to `provide`, and on to its end at
    /// teardown.
    fn __di_run(args: &mut Args<'_>) -> Result<Started, ArgError> {
        let p0 = args.shared::<pool, <pool as Dependency>::Output>(0)?;
        let p1 = args.provider::<tx, Tx>();
        Ok(Started::generator(async move {
            tx::call(&p0, p1).await.into_gen_result()
        }))
    }

    // No `impl CanBeHeld for tx`: it is `handler`-scoped, so a body cannot hold it.
};

// -------------------------------------------------------------------------------------------
// #[depends]
// async fn create_note(#[dep(tx)] tx: &mut Tx, Json(title): Json<String>) -> Result<String, HttpError> { .. }
// -------------------------------------------------------------------------------------------

/// `POST /notes`: writes the title in the handler's transaction.
// `repr(C)`: rustc's `non_camel_case_types` leaves such a struct alone, and an `#[allow]` of
// it would be an error in a crate that forbids the lint.
#[repr(C)]
struct create_note {}

/// `#[depends]` function `create_note`.
// The macro's marker function has no `#[allow(dead_code)]` (rustc reports no dead code at an
// item whose `fn` token comes from a macro; an unused function is reported at `name::call`).
// Written out by hand, it is reported: the allow is this file's only.
#[allow(dead_code, reason = "written out by hand, see above")]
fn create_note(
    never: di_runtime::__private::UseAsDepOrCall<create_note>,
) -> di_runtime::__private::UseAsDepOrCall<create_note> {
    never.unreachable()
}

impl create_note {
    /// The function as written.
    async fn call(tx: &mut Tx, Json(title): Json<String>) -> Result<String, HttpError> {
        if title.is_empty() {
            return Err(HttpError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty title",
            ));
        }
        tx.0.push(title.clone());
        Ok(format!("created {title}"))
    }
}

const _: () = {
    use di_runtime::__private::{
        Access, ArgError, Args, CanBeHeld, DepMeta, DepResult, Dependency, Doc, ErrorViaInto,
        FromRequest, Param, ParamKind, Probe, Started, extract, undocumented_input,
    };

    impl Dependency for create_note {
        /// The `T` of its `Result<T, E>`.
        type Output = String;
        /// The type itself.
        type Itself = Self;

        fn meta() -> &'static DepMeta {
            static META: DepMeta = DepMeta {
                name: "create_note",
                module: module_path!(),
                path: concat!(module_path!(), "::", "create_note"),
                // No declared scope: a plain function takes the shortest of its dependencies'.
                scope: None,
                generator: false,
                max_concurrency: None,
                params: &[
                    Param {
                        name: "tx",
                        kind: ParamKind::Dep {
                            meta: <tx as Dependency>::meta,
                            scope: None,
                            fresh: false,
                            access: Access::Exclusive,
                        },
                    },
                    Param {
                        // A request input is named by its type as written.
                        name: "Json<String>",
                        kind: ParamKind::Input {
                            // Extracted before any dependency is set up, then checked by the
                            // type's own rules (bad input: its broken rules join its problems):
                            // `CheckRules` is found first when the input is `Validated` (a
                            // `Json<T>` of a `T: validator::Validate`, with the `validator`
                            // feature), `CheckNothing` otherwise, as here.
                            extract: |head| {
                                // Both traits, imported by one glob, used whichever is
                                // picked: no `#[allow(unused_imports)]`.
                                use di_runtime::__private::pick::rules::*;
                                (&Probe::<Json<String>>::NEW)
                                    .check_input(extract::<Json<String>>(head), head)
                            },
                            needs_body: <Json<String> as FromRequest>::NEEDS_BODY,
                            streams_body: <Json<String> as FromRequest>::STREAMS_BODY,
                            app_input: <Json<String> as FromRequest>::APP_INPUT,
                            // What the OpenAPI document says of it (`#[depends]` finds its
                            // kind and its type's JSON Schema; left out here).
                            describe: undocumented_input,
                        },
                    },
                ],
                run: __di_run,
                type_id: std::any::TypeId::of::<create_note>,
                doc: Doc::NONE,
            };
            &META
        }
    }

    /// Borrows `tx` exclusively (an owned write guard), takes the extracted JSON body, and
    /// starts the function; its `Err` becomes the error response (and the handler-error
    /// outcome) through `Into<HttpError>`, which `HttpError` has (`ErrorViaInto`). The macro
    /// writes `(&&&&DepResult::of(&ret)).dep_result(ret)` with `ErrorViaHttp`,
    /// `ErrorViaResponse` and `ErrorViaAxumResponse` in scope too, which method resolution
    /// takes, in that order, for an `HttpError`, an error that is `IntoResponse`, and one that
    /// is axum's `IntoResponse` (feature `axum`).
    fn __di_run(args: &mut Args<'_>) -> Result<Started, ArgError> {
        let mut p0 = args.exclusive::<tx, <tx as Dependency>::Output>(0)?;
        let p1 = args.input::<Json<String>>(1)?;
        Ok(Started::plain(async move {
            let ret = create_note::call(&mut p0, p1).await;
            DepResult::of(&ret).dep_result(ret)
        }))
    }

    impl CanBeHeld for create_note {}
};

/// The routes.
fn app() -> App {
    App::new().post("/notes", create_note)
}

#[tokio::main]
async fn main() -> Result<(), ServeError> {
    app().serve("127.0.0.1:3000").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hand_expanded_functions_behave_like_the_macro_output() {
        let client = TestClient::start(app()).await.expect("starts");
        let response = client.post("/notes").json("first").send().await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("text"), "created first");
        let response = client.post("/notes").json("").send().await;
        assert_eq!(response.status(), 422);
        client.shutdown().await;
    }
}
