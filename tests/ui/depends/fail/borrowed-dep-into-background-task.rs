// A borrowed `#[dep]` value moved into a background task, which outlives the call: an error at
// its use in the task that names the fixes (`Held<T>`, a clone), then the borrow checker's
// "borrowed data escapes" at the parameter and the task.
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
