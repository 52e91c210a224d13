// An argument of `#[depends]` given twice is reported at the second, never silently
// overwritten (the last one won).
use di_runtime::prelude::*;
use di_runtime::BodyStream;

#[depends]
async fn audit() {}

#[depends(status = 200, status = 201)]
async fn created() -> String {
    "created".to_owned()
}

#[depends(content_type = "a/b", content_type = "c/d")]
async fn typed() -> String {
    "typed".to_owned()
}

#[depends(body_content_type = "a/b", body_content_type = "c/d")]
async fn read(body: BodyStream) -> String {
    drop(body);
    "read".to_owned()
}

#[depends(uses(audit, audit))]
async fn audited_twice() -> String {
    "audited".to_owned()
}

#[depends(uses(audit), uses(audit))]
async fn two_lists() -> String {
    "audited".to_owned()
}

fn main() {}
