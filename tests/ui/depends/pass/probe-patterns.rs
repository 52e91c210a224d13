// Parameters with patterns a user writes: `_`, `mut`, `ref`, tuples, references, and
// explicitly elided lifetimes `&'_ T`. A request input taken as `&'_ RequestHead` was refused
// ("a request input ... has no lifetime to name"), though `'_` names none.
use di_runtime::prelude::*;

#[depends]
async fn pair() -> (u8, String) {
    (1, "a".to_owned())
}

#[depends]
async fn name() -> String {
    "n".to_owned()
}

#[depends]
async fn hello(
    #[dep(pair)] (n, s): (u8, String),
    #[dep(pair)] &(m, _): &(u8, String),
    #[dep(name)] _: &String,
    #[dep(name)] mut owned: String,
    #[dep(name)] ref by_ref: String,
    #[dep(name)] elided: &'_ String,
    _: &HeaderMap,
    mut q: Query<u32>,
    Path((a, b)): Path<(u32, String)>,
    head: &'_ RequestHead,
) -> String {
    owned.push('!');
    q.0 += 1;
    format!("{n}{s}{m}{owned}{by_ref}{elided}{}{a}{b}{}", q.0, head.uri())
}

fn main() {
    App::new().get("/{a}/{b}", hello).check().unwrap();
}
