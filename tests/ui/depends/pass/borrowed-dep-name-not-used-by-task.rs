// A `#[dep]` value taken by reference whose name appears in a task that outlives the call
// without being used there: a field, a module path, a named format argument, a binding of a
// macro's pattern, an item of the task's block, and a `spawn` of the user's own that runs its
// closure in place. None of these is the borrowed value: the code compiles.
#![allow(non_upper_case_globals)]
use di_runtime::prelude::*;

mod user {
    pub const NAME: &str = "users";
}

struct Event {
    user: u32,
}

fn spawn<F: FnOnce() -> R, R>(f: F) -> R {
    f()
}

#[depends]
async fn load_user() -> String {
    "ada".into()
}

#[depends]
async fn hello(#[dep(load_user)] user: &String, tasks: &BackgroundTasks) -> String {
    let name = user.clone();
    let event = Event { user: 1 };
    let found = Some(3u32);
    tasks.add(async move {
        println!("{} {}", event.user, user::NAME);
        println!("{user}", user = name);
        assert!(matches!(found, Some(user) if user > 1));
    });
    tokio::spawn(async move {
        const user: u8 = 1;
        println!("{user}");
    });
    let len = spawn(|| user.len());
    format!("ok {len}")
}

fn main() {
    let _ = App::new().get("/x", hello);
}
