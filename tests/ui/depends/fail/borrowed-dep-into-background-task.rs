// A borrowed `#[dep]` value moved into a background task, which outlives the call: the borrow
// checker's "borrowed data escapes", at the parameter and the task (clone it, or take `Held<T>`).
use di_runtime::prelude::*;

#[depends]
async fn user() -> String {
    "ada".into()
}

#[depends]
async fn hello(#[dep(user)] user: &String, tasks: &BackgroundTasks) -> String {
    tasks.add(async move {
        println!("{user}");
    });
    "ok".into()
}

fn main() {
    let _ = App::new().get("/x", hello);
}
