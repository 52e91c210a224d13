//! A generator's `y.provide(value)` that is never awaited: the call only makes a future, so
//! without `.await` the value is never handed over and every request that uses the
//! dependency fails (a 500: "returned without calling `provide`").
//!
//! Read from the syntax, conservatively, so that correct code is never refused: only a call
//! `y.provide(..)` on the generator's own `Yield` parameter (by its name) that is a statement
//! of its own (`y.provide(v);`), the one argument of a `drop(..)` statement
//! (`drop(y.provide(v));`, `std::mem::drop` too), or the whole value of a `let` whose pattern is
//! `_` or a name that the rest of the block never mentions (`let p = y.provide(v); p.await` is
//! fine). A call
//! passed on (`timeout(d, y.provide(v))`), or inside a macro's arguments, is not read. A body
//! that binds the parameter's name again anywhere (a `let y`, a closure's `|y|`) is not read
//! at all: its `y.provide` may be another value's method.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Pat, Stmt};

use crate::model::has_ident;

/// The calls `handle.provide(..)` in `block` that are never awaited, as written (to span an
/// error over the whole call).
pub(crate) fn unawaited_provides(block: &syn::Block, handle: &syn::Ident) -> Vec<TokenStream> {
    // The visitor only reads; `visit_mut` is the visitor `syn` is built with here.
    let mut block = block.clone();
    if rebinds(&mut block, handle) {
        return Vec::new();
    }
    let mut finder = Unawaited {
        handle,
        found: Vec::new(),
    };
    finder.visit_block_mut(&mut block);
    finder.found
}

/// Whether a pattern anywhere in `block` binds the handle's name again: the checks then read
/// nothing in it as the handle.
fn rebinds(block: &mut syn::Block, handle: &syn::Ident) -> bool {
    let mut rebound = Rebound {
        handle,
        found: false,
    };
    rebound.visit_block_mut(block);
    rebound.found
}

/// The handle moved into a task (`tokio::spawn(async move { y.provide(v).await })`, a
/// closure given to `std::thread::spawn`): there the value is never handed over, since the
/// runtime resumes only the generator's own future, which has returned or waits for a task that
/// is never woken. Each `handle.provide(..)` call inside the spawned closure or `async` block,
/// as written; the first use of the handle as a value there when it makes no such call. Read as
/// conservatively as [`unawaited_provides`]: only a call of a function or method named `spawn`,
/// `spawn_local` or `spawn_blocking` whose argument is a closure or an `async` block, and not at
/// all in a body that binds the handle's name again.
pub(crate) fn spawned_provides(block: &syn::Block, handle: &syn::Ident) -> Vec<TokenStream> {
    let mut block = block.clone();
    if rebinds(&mut block, handle) {
        return Vec::new();
    }
    let mut finder = Spawned {
        handle,
        found: Vec::new(),
    };
    finder.visit_block_mut(&mut block);
    finder.found
}

/// Where a value borrowed for the call (`#[dep(f)] user: &User`) is moved into a task that
/// may outlive the call: a closure or an `async` block given to a runtime's spawn function
/// (`tokio::spawn(..)`, `std::thread::spawn(..)`, see [`DETACHED_SPAWNS`]: a path, not a
/// method, since `scope.spawn(..)` of `std::thread::scope` may borrow), or to `tasks.add(..)`
/// on one of `lists`, the function's `BackgroundTasks` parameters (unless the body binds its
/// name again). The first mention of the name in the first such task, as written (a macro's
/// argument naming it, `{user}` in a format string too): the borrow checker's "borrowed data
/// escapes" says the same without the fix. Not read at all in a body that binds the name
/// again.
pub(crate) fn borrowed_into_task(
    block: &syn::Block,
    borrowed: &syn::Ident,
    lists: &[&syn::Ident],
) -> Option<(TokenStream, Task)> {
    let mut block = block.clone();
    if rebinds(&mut block, borrowed) {
        return None;
    }
    // A list's name bound again may name another value, whose `add` may borrow.
    let lists: Vec<&syn::Ident> = lists
        .iter()
        .copied()
        .filter(|list| !rebinds(&mut block, list))
        .collect();
    let mut finder = Escapes {
        borrowed,
        lists: &lists,
        found: None,
    };
    finder.visit_block_mut(&mut block);
    finder.found
}

/// What a task found by [`borrowed_into_task`] was given to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// `list.add(..)` of a `BackgroundTasks` parameter, by its name.
    Background(String),
    /// A `spawn` function, as written (`tokio::spawn`).
    Spawned(String),
}

/// Collects the first mention of a borrowed value in a task.
struct Escapes<'a> {
    borrowed: &'a syn::Ident,
    lists: &'a [&'a syn::Ident],
    found: Option<(TokenStream, Task)>,
}

impl VisitMut for Escapes<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if self.found.is_some() {
            return;
        }
        if let Some((args, task)) = self.task_call(expr) {
            let first = task_bodies(args).find_map(|body| first_mention(body, self.borrowed, true));
            if let Some(first) = first {
                self.found = Some((first, task));
                return;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }
}

impl Escapes<'_> {
    /// The arguments of a call that runs them as a task that may outlive the call, and what
    /// it is: a runtime's spawn function, or `add` of one of the task lists.
    fn task_call<'e>(&self, expr: &'e Expr) -> Option<(&'e Arguments, Task)> {
        match expr {
            Expr::Call(call) => match peel_expr(&call.func) {
                Expr::Path(func) if func.qself.is_none() => {
                    detached_spawn(&func.path).map(|name| (&call.args, Task::Spawned(name)))
                }
                _ => None,
            },
            Expr::MethodCall(call)
                if call.method == "add"
                    && matches!(peel_expr(&call.receiver), Expr::Path(path)
                        if path.qself.is_none()
                            && self.lists.iter().any(|list| path.path.is_ident(*list))) =>
            {
                let list = peel_expr(&call.receiver).to_token_stream().to_string();
                Some((&call.args, Task::Background(list)))
            }
            _ => None,
        }
    }
}

/// A call's arguments.
type Arguments = syn::punctuated::Punctuated<Expr, syn::Token![,]>;

/// The arguments that are a task's body: a closure or an `async` block.
fn task_bodies(args: &Arguments) -> impl Iterator<Item = &Expr> {
    args.iter()
        .filter(|arg| matches!(peel_expr(arg), Expr::Closure(_) | Expr::Async(_)))
}

/// The first mention of `name` as a value in `expr`, as written (see [`Mention`]).
fn first_mention(expr: &Expr, name: &syn::Ident, macros: bool) -> Option<TokenStream> {
    let mut mention = Mention {
        name,
        macros,
        first: None,
    };
    // The visitor only reads; `visit_mut` is the visitor `syn` is built with here.
    mention.visit_expr_mut(&mut expr.clone());
    mention.first
}

/// The first mention of a name as a value: a path expression naming it alone (`run(y)`,
/// `Point { y }`; not a field, a struct literal's field name or a lifetime of that name), or,
/// if `macros`, a macro whose arguments use it (see [`Mention::names_in_arguments`]).
struct Mention<'a> {
    name: &'a syn::Ident,
    /// Whether macros' arguments are read.
    macros: bool,
    first: Option<TokenStream>,
}

impl VisitMut for Mention<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if self.first.is_some() {
            return;
        }
        if let Expr::Path(path) = &*expr
            && path.qself.is_none()
            && path.path.is_ident(self.name)
        {
            self.first = Some(path.to_token_stream());
            return;
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        if self.macros && self.first.is_none() && self.names_in_arguments(mac) {
            self.first = Some(mac.to_token_stream());
        }
    }
}

impl Mention<'_> {
    /// Whether a macro's arguments use the name as a value, read only when they are
    /// expressions separated by commas (`format!`, `assert!`, `vec!`, `dbg!`): there a
    /// field (`p.user`), a path (`user::X`), a struct literal's field, a named argument
    /// (`user = x`, its value is read) or a binding of a closure's pattern is not the value.
    /// Any other macro (`select!`, `matches!`, `json!`, `info!(user = %x)`) may bind or name
    /// the name otherwise and is not read; nor is `stringify!`, which evaluates nothing.
    fn names_in_arguments(&self, mac: &syn::Macro) -> bool {
        use syn::parse::Parser;

        if mac
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "stringify")
        {
            return false;
        }
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        let Ok(arguments) = parser.parse2(mac.tokens.clone()) else {
            return false;
        };
        let mut arguments: Vec<Expr> = arguments.into_iter().collect();
        let binds = arguments.iter_mut().any(|argument| {
            let mut rebound = Rebound {
                handle: self.name,
                found: false,
            };
            rebound.visit_expr_mut(argument);
            rebound.found
        });
        if binds {
            return false;
        }
        let name = self.name.unraw().to_string();
        let mut named = false;
        let mut values = Vec::new();
        let mut formats = Vec::new();
        for argument in arguments {
            match argument {
                Expr::Assign(assign) => {
                    if let Expr::Path(path) = peel_expr(&assign.left)
                        && path.qself.is_none()
                        && path
                            .path
                            .get_ident()
                            .is_some_and(|ident| ident.unraw() == name)
                    {
                        named = true;
                    }
                    values.push(*assign.right);
                }
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }) => formats.push(text.value()),
                other => values.push(other),
            }
        }
        if !named && formats.iter().any(|format| inline_argument(format, &name)) {
            return true;
        }
        values
            .iter()
            .any(|value| first_mention(value, self.name, true).is_some())
    }
}

/// Whether a format string names `name` as an inline argument: `{name}` or `{name:..}`
/// (`{{` is an escaped brace, not an argument).
fn inline_argument(format: &str, name: &str) -> bool {
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        if let Some(after) = rest.strip_prefix(name)
            && (after.starts_with('}') || after.starts_with(':'))
        {
            return true;
        }
    }
    false
}

/// The names of the functions and methods that run their argument as another task.
const SPAWNS: &[&str] = &["spawn", "spawn_local", "spawn_blocking"];

/// The functions, by path as written, that run their argument as a task that must be
/// `'static` (it may outlive the caller): a runtime's, named by its crate (or by the module
/// `thread` or `task` of `use std::thread;`, `use tokio::task;`). A name alone (`spawn(..)`)
/// may be the user's own function, which may run its argument in place, and a path through
/// a type (`std::thread::Scope::spawn(s, ..)`) may borrow: neither is read.
const DETACHED_SPAWNS: &[&str] = &[
    "tokio::spawn",
    "tokio::task::spawn",
    "tokio::task::spawn_blocking",
    "tokio::task::spawn_local",
    "task::spawn",
    "task::spawn_blocking",
    "task::spawn_local",
    "std::thread::spawn",
    "thread::spawn",
    "async_std::task::spawn",
    "async_std::task::spawn_blocking",
    "async_std::task::spawn_local",
    "smol::spawn",
    "rayon::spawn",
    "actix_rt::spawn",
    "actix_web::rt::spawn",
    "wasm_bindgen_futures::spawn_local",
    "glommio::spawn_local",
    "monoio::spawn",
    "ntex::rt::spawn",
];

/// The path of a call as written (`tokio::spawn`), if it is one of [`DETACHED_SPAWNS`].
fn detached_spawn(path: &syn::Path) -> Option<String> {
    let name = path
        .segments
        .iter()
        .map(|segment| segment.ident.unraw().to_string())
        .collect::<Vec<_>>()
        .join("::");
    DETACHED_SPAWNS.contains(&name.as_str()).then_some(name)
}

/// Collects the provides (or mentions of the handle) in spawned tasks.
struct Spawned<'a> {
    handle: &'a syn::Ident,
    found: Vec<TokenStream>,
}

impl VisitMut for Spawned<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        let args = match &*expr {
            Expr::Call(call) => match peel_expr(&call.func) {
                Expr::Path(func)
                    if func.qself.is_none()
                        && func
                            .path
                            .segments
                            .last()
                            .is_some_and(|last| SPAWNS.iter().any(|s| last.ident == s)) =>
                {
                    Some(&call.args)
                }
                _ => None,
            },
            Expr::MethodCall(call) if SPAWNS.iter().any(|s| call.method == s) => Some(&call.args),
            _ => None,
        };
        let mut reported = false;
        for task in args.into_iter().flat_map(task_bodies) {
            let mut provides = Provides {
                handle: self.handle,
                found: Vec::new(),
            };
            provides.visit_expr_mut(&mut task.clone());
            if provides.found.is_empty() {
                if let Some(first) = first_mention(task, self.handle, false) {
                    self.found.push(first);
                    reported = true;
                }
            } else {
                self.found.extend(provides.found);
                reported = true;
            }
        }
        if !reported {
            visit_mut::visit_expr_mut(self, expr);
        }
    }
}

/// Every `handle.provide(..)` call, as written.
struct Provides<'a> {
    handle: &'a syn::Ident,
    found: Vec<TokenStream>,
}

impl VisitMut for Provides<'_> {
    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        if call.method == "provide"
            && matches!(peel_expr(&call.receiver), Expr::Path(path)
                if path.qself.is_none() && path.path.is_ident(self.handle))
        {
            self.found.push(call.to_token_stream());
        }
        visit_mut::visit_expr_method_call_mut(self, call);
    }
}

/// Whether a pattern anywhere in the body binds the handle's name again.
struct Rebound<'a> {
    handle: &'a syn::Ident,
    found: bool,
}

impl VisitMut for Rebound<'_> {
    fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
        if pat.ident == *self.handle {
            self.found = true;
        }
        visit_mut::visit_pat_ident_mut(self, pat);
    }

    // An item declared in a block (`fn y()`, `const y`, `use a::b as y`) names its value
    // throughout the block, over a parameter of the same name.
    fn visit_item_fn_mut(&mut self, item: &mut syn::ItemFn) {
        self.found |= item.sig.ident == *self.handle;
        visit_mut::visit_item_fn_mut(self, item);
    }

    fn visit_item_const_mut(&mut self, item: &mut syn::ItemConst) {
        self.found |= item.ident == *self.handle;
        visit_mut::visit_item_const_mut(self, item);
    }

    fn visit_item_static_mut(&mut self, item: &mut syn::ItemStatic) {
        self.found |= item.ident == *self.handle;
        visit_mut::visit_item_static_mut(self, item);
    }

    fn visit_use_name_mut(&mut self, name: &mut syn::UseName) {
        self.found |= name.ident == *self.handle;
    }

    fn visit_use_rename_mut(&mut self, rename: &mut syn::UseRename) {
        self.found |= rename.rename == *self.handle;
    }
}

/// Collects the unawaited calls, block by block.
struct Unawaited<'a> {
    handle: &'a syn::Ident,
    found: Vec<TokenStream>,
}

impl VisitMut for Unawaited<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        for (at, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Expr(expr, Some(_)) if self.is_provide(expr) => {
                    self.found.push(expr.to_token_stream());
                }
                Stmt::Expr(expr, Some(_)) => {
                    if let Some(dropped) = dropped(expr).filter(|arg| self.is_provide(arg)) {
                        self.found.push(dropped.to_token_stream());
                    }
                }
                Stmt::Local(local) => {
                    let Some(init) = &local.init else { continue };
                    if init.diverge.is_some() || !self.is_provide(&init.expr) {
                        continue;
                    }
                    let unused = match peel_pat(&local.pat) {
                        Pat::Wild(_) => true,
                        Pat::Ident(pat) if pat.subpat.is_none() => {
                            !block.stmts[at + 1..].iter().any(|later| {
                                has_ident(later.to_token_stream(), &|found| *found == pat.ident)
                            })
                        }
                        _ => false,
                    };
                    if unused {
                        self.found.push(init.expr.to_token_stream());
                    }
                }
                _ => {}
            }
        }
        visit_mut::visit_block_mut(self, block);
    }
}

impl Unawaited<'_> {
    /// Whether `expr` is `handle.provide(..)` (in parentheses or not).
    fn is_provide(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Paren(paren) => self.is_provide(&paren.expr),
            Expr::Group(group) => self.is_provide(&group.expr),
            Expr::MethodCall(call) => {
                call.method == "provide"
                    && matches!(peel_expr(&call.receiver), Expr::Path(path)
                        if path.qself.is_none() && path.path.is_ident(self.handle))
            }
            _ => false,
        }
    }
}

/// `x` of `drop(x)`, `mem::drop(x)`, `std::mem::drop(x)` and `core::mem::drop(x)`.
fn dropped(expr: &Expr) -> Option<&Expr> {
    let Expr::Call(call) = peel_expr(expr) else {
        return None;
    };
    let Expr::Path(func) = peel_expr(&call.func) else {
        return None;
    };
    let names: Vec<&syn::Ident> = func.path.segments.iter().map(|s| &s.ident).collect();
    let is_drop = func.qself.is_none()
        && match names[..] {
            [drop] => drop == "drop",
            [mem, drop] => mem == "mem" && drop == "drop",
            [root, mem, drop] => {
                (root == "std" || root == "core") && mem == "mem" && drop == "drop"
            }
            _ => false,
        };
    match (is_drop, call.args.len()) {
        (true, 1) => call.args.first(),
        _ => None,
    }
}

fn peel_expr(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(paren) => peel_expr(&paren.expr),
        Expr::Group(group) => peel_expr(&group.expr),
        other => other,
    }
}

/// `p` of `p: T` and `(p)`.
fn peel_pat(pat: &Pat) -> &Pat {
    match pat {
        Pat::Type(typed) => peel_pat(&typed.pat),
        Pat::Paren(paren) => peel_pat(&paren.pat),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(body: &str) -> usize {
        let block: syn::Block = syn::parse_str(body).unwrap();
        unawaited_provides(
            &block,
            &syn::Ident::new("y", proc_macro2::Span::call_site()),
        )
        .len()
    }

    #[test]
    fn finds_a_provide_that_is_a_statement_or_bound_and_never_awaited() {
        assert_eq!(found("{ y.provide(1); }"), 1);
        assert_eq!(found("{ let _ = y.provide(1); }"), 1);
        assert_eq!(found("{ let _p: P = (y).provide(1); teardown(); }"), 1);
        assert_eq!(
            found("{ if ok { y.provide(1); } else { y.provide(2).await; } }"),
            1
        );
        assert_eq!(found("{ async move { let _ = y.provide(1); }.await }"), 1);
        assert_eq!(found("{ drop(y.provide(1)); }"), 1);
        assert_eq!(found("{ std::mem::drop((y).provide(1)); teardown(); }"), 1);
        assert_eq!(found("{ ::core::mem::drop(y.provide(1)); }"), 1);
    }

    fn spawned(body: &str) -> Vec<String> {
        let block: syn::Block = syn::parse_str(body).unwrap();
        spawned_provides(
            &block,
            &syn::Ident::new("y", proc_macro2::Span::call_site()),
        )
        .iter()
        .map(|found| found.to_string().replace(' ', ""))
        .collect()
    }

    #[test]
    fn finds_a_handle_moved_into_a_spawned_task() {
        assert_eq!(
            spawned("{ tokio::spawn(async move { y.provide(1).await; }); }"),
            ["y.provide(1)"]
        );
        assert_eq!(
            spawned("{ let h = spawn(async move { let _ = y.provide(1).await; }); h.await; }"),
            ["y.provide(1)"]
        );
        assert_eq!(
            spawned("{ std::thread::spawn(move || block_on(y.provide(1))); }"),
            ["y.provide(1)"]
        );
        assert_eq!(
            spawned("{ set.spawn(async move { run(y).await }); }"),
            ["y"]
        );
        assert_eq!(
            spawned("{ tokio::spawn(async move { keep(Point { x: 1, y }).await }); }"),
            ["y"]
        );
        assert_eq!(
            spawned("{ if a { tokio::task::spawn_local(async { y.provide(1).await }); } }"),
            ["y.provide(1)"]
        );
    }

    #[test]
    fn leaves_other_tasks_and_provides_alone() {
        assert!(
            spawned("{ tokio::spawn(async move { work().await }); y.provide(1).await; }")
                .is_empty()
        );
        assert!(spawned("{ tokio::spawn(y.provide(1)); }").is_empty());
        assert!(spawned("{ timeout(d, async move { y.provide(1).await }).await; }").is_empty());
        assert!(
            spawned("{ let y = other(); tokio::spawn(async move { y.provide(1).await }); }")
                .is_empty()
        );
        assert!(spawned("{ y.provide(1).await; }").is_empty());
        // Not the handle: a field, a struct literal's field name, a lifetime.
        assert!(
            spawned(
                r#"{ tokio::spawn(async move { println!("{}", p.y); p.y }); y.provide(1).await; }"#
            )
            .is_empty()
        );
        assert!(
            spawned("{ tokio::spawn(async move { let _p = Point { x: 1, y: 2 }; }); y.provide(1).await; }")
                .is_empty()
        );
        assert!(
            spawned("{ std::thread::spawn(move || { fn f<'y>(s: &'y str) -> &'y str { s } }); y.provide(1).await; }")
                .is_empty()
        );
    }

    #[test]
    fn leaves_awaited_or_passed_on_provides_alone() {
        assert_eq!(found("{ y.provide(1).await; }"), 0);
        assert_eq!(found("{ let _ = y.provide(1).await; }"), 0);
        assert_eq!(found("{ let (v, o) = y.provide(1).await; }"), 0);
        assert_eq!(found("{ let p = y.provide(1); p.await; }"), 0);
        assert_eq!(
            found("{ let p = y.provide(1); let r = tokio::select! { r = p => r }; }"),
            0
        );
        assert_eq!(found("{ timeout(d, y.provide(1)).await; }"), 0);
        assert_eq!(found("{ let f = y.provide(1); f }"), 0);
        assert_eq!(found("{ y.provide(1) }"), 0);
        assert_eq!(found("{ x.provide(1); }"), 0);
        assert_eq!(found("{ self.y.provide(1); }"), 0);
        assert_eq!(
            found("{ y.provide(1).await; let y = Other; y.provide(2); }"),
            0
        );
        assert_eq!(found("{ tokio::spawn(y.provide(1)); }"), 0);
        assert_eq!(found("{ drop(y.provide(1).await); }"), 0);
        assert_eq!(found("{ drop(x.provide(1)); }"), 0);
        assert_eq!(found("{ my::drop(y.provide(1)); }"), 0);
    }

    /// What [`borrowed_into_task`] finds of `user` in `body`, with `tasks` the function's
    /// `BackgroundTasks`: the mention as written and the task's call.
    fn escapes(body: &str) -> Option<(String, Task)> {
        let block: syn::Block = syn::parse_str(body).unwrap();
        let span = proc_macro2::Span::call_site();
        let tasks = syn::Ident::new("tasks", span);
        borrowed_into_task(&block, &syn::Ident::new("user", span), &[&tasks])
            .map(|(mention, task)| (mention.to_string(), task))
    }

    #[test]
    fn finds_a_borrowed_value_moved_into_a_task_that_outlives_the_call() {
        let background = || Task::Background("tasks".to_owned());
        assert_eq!(
            escapes("{ tasks.add(async move { send(user).await; }); }"),
            Some(("user".to_owned(), background()))
        );
        assert_eq!(
            escapes("{ if ok { (tasks).add(async { user.len(); }); } }"),
            Some(("user".to_owned(), background()))
        );
        // In a macro's arguments, as a token or inline in a format string.
        assert_eq!(
            escapes(r#"{ tasks.add(async move { println!("{user}"); }); }"#),
            Some((r#"println ! ("{user}")"#.to_owned(), background()))
        );
        assert_eq!(
            escapes(r#"{ tasks.add(async move { log!("{} {user:?}", 1); }); }"#)
                .map(|(_, task)| task),
            Some(background())
        );
        assert_eq!(
            escapes("{ tasks.add(async move { assert!(user.ok()); }); }").map(|(_, task)| task),
            Some(background())
        );
        assert_eq!(
            escapes("{ tokio::spawn(async move { keep(Point { user }).await }); }"),
            Some(("user".to_owned(), Task::Spawned("tokio::spawn".to_owned())))
        );
        assert_eq!(
            escapes("{ std::thread::spawn(move || drop(user)); }").map(|(_, task)| task),
            Some(Task::Spawned("std::thread::spawn".to_owned()))
        );
        assert_eq!(
            escapes("{ tokio::task::spawn_blocking(|| user.len()); }").map(|(_, task)| task),
            Some(Task::Spawned("tokio::task::spawn_blocking".to_owned()))
        );
        assert_eq!(
            escapes("{ thread::spawn(move || user.len()); }").map(|(_, task)| task),
            Some(Task::Spawned("thread::spawn".to_owned()))
        );
        // In a macro's expressions, through a named argument's value or a nested macro.
        assert_eq!(
            escapes(r#"{ tasks.add(async move { log!("{who}", who = user.name); }); }"#)
                .map(|(_, task)| task),
            Some(background())
        );
        assert_eq!(
            escapes(r#"{ tasks.add(async move { println!("{}", format!("{user:?}")); }); }"#)
                .map(|(_, task)| task),
            Some(background())
        );
    }

    #[test]
    fn leaves_a_task_that_borrows_nothing_of_the_call_alone() {
        // Cloned before, or the name bound again anywhere.
        assert_eq!(
            escapes(
                "{ let name = user.name.clone(); tasks.add(async move { send(name).await; }); }"
            ),
            None
        );
        assert_eq!(
            escapes("{ let user = user.clone(); tasks.add(async move { send(user).await; }); }"),
            None
        );
        assert_eq!(
            escapes("{ tasks.add(async move { let f = |user: u8| user; f(1); }); }"),
            None
        );
        // A field, a struct literal's field name, an escaped brace.
        assert_eq!(
            escapes("{ tasks.add(async move { send(p.user, Point { user: 1 }).await; }); }"),
            None
        );
        assert_eq!(
            escapes(r#"{ tasks.add(async move { println!("{{user}} {users}"); }); }"#),
            None
        );
        // Another list's `add`, a scoped thread's `spawn` (a method), a task that is not a
        // closure or a block, and a borrow used outside the task.
        assert_eq!(escapes("{ other.add(async move { send(user) }); }"), None);
        assert_eq!(
            escapes("{ let tasks = Pipeline::new(); tasks.add(async { user.len(); }); }"),
            None
        );
        assert_eq!(
            escapes("{ std::thread::scope(|s| { s.spawn(|| user.len()); }); }"),
            None
        );
        assert_eq!(escapes("{ tasks.add(send(user.id)); }"), None);
        // A name alone may be the user's own function, which may run its closure in place.
        assert_eq!(escapes("{ spawn_blocking(|| user.len()); }"), None);
        assert_eq!(escapes("{ spawn(|| user.len()); }"), None);
        // In a macro: a field, a path, a named argument, a struct literal's field, a pattern's
        // binding, a macro that is not expressions, `stringify!`.
        for body in [
            r#"{ tasks.add(async move { println!("{} {}", p.user, user::NAME); }); }"#,
            r#"{ tasks.add(async move { println!("{user}", user = name); }); }"#,
            r#"{ tasks.add(async move { dbg!(Point { user: 1 }); }); }"#,
            r#"{ tasks.add(async move { dbg!(xs.iter().map(|user| user + 1)); }); }"#,
            r#"{ tasks.add(async move { assert!(matches!(x, Some(user) if user > 1)); }); }"#,
            r#"{ tasks.add(async move { info!(user = %id, "sent"); }); }"#,
            r#"{ tasks.add(async move { select! { user = rx.recv() => drop(user) } }); }"#,
            r#"{ tasks.add(async move { log(stringify!(user)); }); }"#,
            // An item of the task's block named like the value, which it names there.
            "{ tasks.add(async move { const user: u8 = 1; send(user).await; }); }",
            "{ tasks.add(async move { fn user() -> u8 { 2 } send(user()).await; }); }",
            "{ tasks.add(async move { use crate::load as user; send(user()).await; }); }",
        ] {
            assert_eq!(escapes(body), None, "{body}");
        }
        assert_eq!(
            escapes(
                "{ let id = user.id; tasks.add(async move { send(id).await; }); send(user).await; }"
            ),
            None
        );
    }
}
