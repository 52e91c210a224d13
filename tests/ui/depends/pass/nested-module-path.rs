// A dependency in a nested module is named by its path: `#[dep(inner::f)]`,
// `#[dep(self::..)]`, `#[dep(crate::..)]`.
use di_runtime::prelude::*;

mod outer {
    pub mod inner {
        use di_runtime::prelude::*;

        #[depends]
        pub async fn f() -> u32 {
            1
        }
    }

    use di_runtime::prelude::*;

    #[depends]
    pub async fn g(
        #[dep(inner::f)] a: &u32,
        #[dep(self::inner::f)] b: &u32,
        #[dep(crate::outer::inner::f)] c: &u32,
    ) -> String {
        format!("{a} {b} {c}")
    }
}

use outer::inner;

#[depends]
async fn hello(#[dep(inner::f)] f: &u32, #[dep(outer::g)] g: &String) -> String {
    format!("{f} {g}")
}

fn main() {
    let _ = App::new()
        .get("/", hello)
        .get("/g", outer::g)
        .override_dep(outer::inner::f, inner::f);
}
