//! Dependency graphs of 1, 5, 20 and 50 dependencies in four shapes, to show how di's cost
//! grows with the graph: `wide_plain` (the handler uses N independent plain dependencies),
//! `deep_plain` (a chain: each plain dependency uses the one before, the handler the last),
//! `wide_gen` and `deep_gen` (the same with `request`-scoped generators). Each graph is served
//! at `/graph/{shape}/{n}` by [`app`]; every handler answers `ok`.

use di_runtime::App;

/// The shapes, in the order the benchmarks report them.
pub const SHAPES: [&str; 4] = ["wide_plain", "deep_plain", "wide_gen", "deep_gen"];
/// The graph sizes.
pub const SIZES: [usize; 4] = [1, 5, 20, 50];

/// The path of a graph, for example `/graph/wide_plain/20`.
pub fn path(shape: &str, n: usize) -> String {
    format!("/graph/{shape}/{n}")
}

/// N independent plain dependencies, used by the handler.
macro_rules! wide_plain {
    ($($dep:ident),+) => {
        $(
            #[doc = concat!("Plain dependency `", stringify!($dep), "`.")]
            #[depends]
            pub async fn $dep() -> u64 {
                black_box(1)
            }
        )+
        /// The handler: uses every dependency.
        #[allow(clippy::too_many_arguments, reason = "one parameter per dependency")]
        #[depends]
        pub async fn handler($(#[dep($dep)] $dep: &u64),+) -> &'static str {
            black_box(0 $(+ *$dep)+);
            "ok"
        }
    };
}

/// N independent `request`-scoped generators, used by the handler.
macro_rules! wide_gen {
    ($($dep:ident),+) => {
        $(
            #[doc = concat!("Generator `", stringify!($dep), "`.")]
            #[depends]
            pub async fn $dep(y: Yield<u64>) {
                let (value, outcome) = y.provide(black_box(1)).await;
                black_box((value, outcome.is_success()));
            }
        )+
        /// The handler: uses every dependency.
        #[allow(clippy::too_many_arguments, reason = "one parameter per dependency")]
        #[depends]
        pub async fn handler($(#[dep($dep)] $dep: &u64),+) -> &'static str {
            black_box(0 $(+ *$dep)+);
            "ok"
        }
    };
}

/// A chain of N plain dependencies, each using the one before; the handler uses the last.
macro_rules! deep_plain {
    ($first:ident $(, $rest:ident)*) => {
        /// The first link.
        #[depends]
        pub async fn $first() -> u64 {
            black_box(1)
        }
        deep_plain!(@link $first $(, $rest)*);
    };
    (@link $prev:ident, $next:ident $(, $rest:ident)*) => {
        #[doc = concat!("Link `", stringify!($next), "`, using `", stringify!($prev), "`.")]
        #[depends]
        pub async fn $next(#[dep($prev)] prev: &u64) -> u64 {
            prev + 1
        }
        deep_plain!(@link $next $(, $rest)*);
    };
    (@link $last:ident) => {
        /// The handler: uses the last link.
        #[depends]
        pub async fn handler(#[dep($last)] last: &u64) -> &'static str {
            black_box(*last);
            "ok"
        }
    };
}

/// A chain of N `request`-scoped generators, each using the one before; the handler uses the
/// last. Teardown runs in reverse: the last link first.
macro_rules! deep_gen {
    ($first:ident $(, $rest:ident)*) => {
        /// The first link.
        #[depends]
        pub async fn $first(y: Yield<u64>) {
            let (value, outcome) = y.provide(black_box(1)).await;
            black_box((value, outcome.is_success()));
        }
        deep_gen!(@link $first $(, $rest)*);
    };
    (@link $prev:ident, $next:ident $(, $rest:ident)*) => {
        #[doc = concat!("Link `", stringify!($next), "`, using `", stringify!($prev), "`.")]
        #[depends]
        pub async fn $next(#[dep($prev)] prev: &u64, y: Yield<u64>) {
            let (value, outcome) = y.provide(prev + 1).await;
            black_box((value, outcome.is_success()));
        }
        deep_gen!(@link $next $(, $rest)*);
    };
    (@link $last:ident) => {
        /// The handler: uses the last link.
        #[depends]
        pub async fn handler(#[dep($last)] last: &u64) -> &'static str {
            black_box(*last);
            "ok"
        }
    };
}

/// One module per size, `n1`, `n5`, `n20`, `n50`, each a graph of `$shape`.
macro_rules! sizes {
    ($shape:ident) => {
        /// 1 dependency.
        pub mod n1 {
            use super::*;
            $shape!(d01);
        }
        /// 5 dependencies.
        pub mod n5 {
            use super::*;
            $shape!(d01, d02, d03, d04, d05);
        }
        /// 20 dependencies.
        pub mod n20 {
            use super::*;
            $shape!(
                d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14, d15, d16,
                d17, d18, d19, d20
            );
        }
        /// 50 dependencies.
        pub mod n50 {
            use super::*;
            $shape!(
                d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11, d12, d13, d14, d15, d16,
                d17, d18, d19, d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32,
                d33, d34, d35, d36, d37, d38, d39, d40, d41, d42, d43, d44, d45, d46, d47, d48,
                d49, d50
            );
        }
    };
}

/// Independent plain dependencies.
pub mod wide_plain {
    use di_runtime::prelude::*;
    use std::hint::black_box;
    sizes!(wide_plain);
}

/// A chain of plain dependencies.
pub mod deep_plain {
    use di_runtime::prelude::*;
    use std::hint::black_box;
    sizes!(deep_plain);
}

/// Independent generators.
pub mod wide_gen {
    use di_runtime::prelude::*;
    use std::hint::black_box;
    sizes!(wide_gen);
}

/// A chain of generators.
pub mod deep_gen {
    use di_runtime::prelude::*;
    use std::hint::black_box;
    sizes!(deep_gen);
}

macro_rules! routes {
    ($app:expr; $($shape:ident),+) => {
        $app
        $(
            .get(concat!("/graph/", stringify!($shape), "/1"), $shape::n1::handler)
            .get(concat!("/graph/", stringify!($shape), "/5"), $shape::n5::handler)
            .get(concat!("/graph/", stringify!($shape), "/20"), $shape::n20::handler)
            .get(concat!("/graph/", stringify!($shape), "/50"), $shape::n50::handler)
        )+
    };
}

/// One app serving every graph at [`path`]`(shape, n)`.
pub fn app() -> App {
    routes!(App::new(); wide_plain, deep_plain, wide_gen, deep_gen)
}

/// The static path of a graph, for the in-process benchmarks (which send `&'static str`
/// URIs).
pub fn static_path(shape: &str, n: usize) -> &'static str {
    Box::leak(path(shape, n).into_boxed_str())
}
