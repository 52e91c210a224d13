// A long parameter list (24 parameters) compiles.
use di_runtime::prelude::*;

#[depends]
async fn n() -> u8 {
    1
}

#[depends]
async fn many(
    #[dep(n)] a1: &u8,
    #[dep(n)] a2: &u8,
    #[dep(n)] a3: &u8,
    #[dep(n)] a4: &u8,
    #[dep(n)] a5: &u8,
    #[dep(n)] a6: &u8,
    #[dep(n)] a7: &u8,
    #[dep(n)] a8: &u8,
    #[dep(n)] a9: u8,
    #[dep(n)] a10: u8,
    #[dep(n)] a11: u8,
    #[dep(n)] a12: u8,
    h1: &HeaderMap,
    h2: &Method,
    h3: &Uri,
    q1: Query<u8>,
    #[dep(n)] b1: Held<u8>,
    #[dep(n)] b2: Held<u8>,
    #[dep(n)] b3: &u8,
    #[dep(n)] b4: &u8,
    #[dep(n)] c1: &u8,
    #[dep(n)] c2: &u8,
    #[dep(n)] c3: &u8,
    #[dep(n)] c4: &u8,
) -> String {
    let sum = [
        *a1, *a2, *a3, *a4, *a5, *a6, *a7, *a8, a9, a10, a11, a12, *b1, *b2, *b3, *b4, *c1, *c2,
        *c3, *c4,
    ]
    .iter()
    .map(|x| u32::from(*x))
    .sum::<u32>();
    format!("{sum}{}{h2}{h3}{}", h1.len(), q1.0)
}

fn main() {
    App::new().get("/", many).check().unwrap();
}
