// A handler may return `StreamBody<impl Stream<..>>` that owns a `Held<T>`.
use di_runtime::prelude::*;
use futures_util::Stream;
use futures_util::stream;

#[depends]
async fn rows(y: Yield<Vec<String>>) {
    let _ = y.provide(vec!["a".to_owned(), "b".to_owned()]).await;
}

#[depends]
async fn export(
    #[dep(rows)] rows: Held<Vec<String>>,
) -> StreamBody<impl Stream<Item = Result<Bytes, std::io::Error>>> {
    let count = rows.len();
    StreamBody::new(stream::iter((0..count).map(move |i| Ok(Bytes::from(rows[i].clone())))))
}

fn main() {
    let _ = App::new().get("/export", export);
}
