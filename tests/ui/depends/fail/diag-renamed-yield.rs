// `Yield` imported under another name is not known for a generator's: the parameter is taken
// for a request input, and the error says to import it unrenamed.
use di_runtime::prelude::*;
use di_runtime::Yield as Provide;

#[depends]
async fn db(y: Provide<String>) {
    let _ = y.provide(String::from("conn")).await;
}

fn main() {}
