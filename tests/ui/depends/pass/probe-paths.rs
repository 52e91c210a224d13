// A dependency named through `crate::`, `super::`, `self::` and a `use ... as` rename, two
// dependencies with the same name in two modules, `pub(in path)` visibility, a `mod` in a fn.
use di_runtime::prelude::*;

mod a {
    pub(crate) mod conn {
        use di_runtime::prelude::*;
        #[depends]
        pub(in crate::a) async fn conn() -> String {
            "a".to_owned()
        }
        #[depends]
        pub(crate) async fn user(
            #[dep(self::conn)] c: &String,
            #[dep(super::super::b::conn)] d: &String,
        ) -> String {
            format!("{c}{d}")
        }
    }
}

mod b {
    use di_runtime::prelude::*;
    #[depends]
    pub async fn conn() -> String {
        "b".to_owned()
    }
}

use b::conn as renamed;

#[depends]
async fn hello(
    #[dep(crate::a::conn::user)] u: &String,
    #[dep(b::conn)] b: &String,
    #[dep(renamed)] r: &String,
) -> String {
    format!("{u}{b}{r}")
}

fn main() {
    mod inside {
        use di_runtime::prelude::*;
        #[depends]
        pub async fn deep() -> String {
            "deep".to_owned()
        }
    }
    App::new()
        .get("/", hello)
        .get("/r", renamed)
        .get("/d", inside::deep)
        .check()
        .unwrap();
}
