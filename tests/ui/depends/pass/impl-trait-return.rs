// A handler may return `StreamBody<impl Stream<..>>` that owns a `Held<T>`, also inside a
// `Result`.
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
    StreamBody::new(stream::iter(
        (0..count).map(move |i| Ok(Bytes::from(rows[i].clone()))),
    ))
}

#[depends]
async fn checked_export(
    #[dep(rows)] rows: HeldMut<Vec<String>>,
) -> Result<StreamBody<impl Stream<Item = Result<String, std::io::Error>>>, HttpError> {
    if rows.is_empty() {
        return Err(HttpError::not_found("no rows"));
    }
    Ok(StreamBody::new(stream::iter(
        rows.clone().into_iter().map(Ok),
    )))
}

fn main() {
    let _ = App::new()
        .get("/export", export)
        .get("/checked", checked_export);
}
