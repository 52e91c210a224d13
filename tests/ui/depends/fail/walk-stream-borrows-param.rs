// A streamed body that borrows a dependency's value (`+ '_`): the message says to take the
// value as `Held<T>` and move it into the stream.
use di_runtime::prelude::*;
use futures_util::stream::{self, Stream};

struct Snapshot(Vec<String>);

#[depends]
async fn snapshot() -> Snapshot {
    Snapshot(vec!["a".into()])
}

#[depends]
async fn export(
    #[dep(snapshot)] s: &Snapshot,
) -> StreamBody<impl Stream<Item = Result<String, std::io::Error>> + Send + '_> {
    StreamBody::new(stream::iter(s.0.iter().map(|line| Ok(line.clone()))))
}

fn main() {
    let _ = App::new().get("/", export);
}
