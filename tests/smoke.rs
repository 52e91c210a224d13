use di_runtime::prelude::*;

#[depends(scope = "app")]
async fn config() -> String {
    "cfg".to_owned()
}

#[depends(scope = "handler")]
async fn tx(#[dep(config)] cfg: &String, y: Yield<Vec<String>>) -> Result<(), HttpError> {
    let (v, outcome) = y.provide(vec![cfg.clone()]).await;
    eprintln!("teardown {v:?} {outcome}");
    Ok(())
}

#[depends]
async fn hello(#[dep(tx)] tx: &mut Vec<String>, Path(id): Path<u32>) -> Result<String, HttpError> {
    tx.push(id.to_string());
    Ok(format!("{tx:?}"))
}

#[tokio::test]
async fn smoke() {
    let client = TestClient::start(App::new().get("/x/{id}", hello)).await.unwrap();
    let r = client.get("/x/5").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"["cfg", "5"]"#);
    let r = client.get("/x/abc").send().await;
    assert_eq!(r.status(), 422);
    eprintln!("{}", r.text().await.unwrap());
    client.shutdown().await;
}
