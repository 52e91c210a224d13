//! The cost of the every-problem search of a bad body: an array of objects of several fields
//! whose 64 problems (missing fields, each found by serde's visitor) are at its end, at 87 KB
//! and 1.2 MB. Ignored; run in release and read what it prints:
//!
//! `cargo test --release -p di-runtime --lib cost -- --ignored --nocapture`
//!
//! With `DI_COST_ONCE=87k` (or `1.2m`) it parses that body once, for
//! `valgrind --tool=callgrind --toggle-collect='*from_json*'`.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::super::from_json;
use super::super::tree::Tree;

#[allow(dead_code, reason = "deserialized only")]
#[derive(Debug, Deserialize)]
struct Line {
    id: u64,
    name: String,
    qty: u32,
    price: f64,
    tags: Vec<String>,
}

/// `items` objects, the last `bad` without their `qty`.
fn bad_body(items: usize, bad: usize) -> Vec<u8> {
    let mut out = String::from("[");
    for i in 0..items {
        if i > 0 {
            out.push(',');
        }
        if i + bad >= items {
            out.push_str(&format!(
                r#"{{"id":{i},"name":"item number {i}","price":12.5,"tags":["a","bc"]}}"#
            ));
        } else {
            out.push_str(&format!(
                r#"{{"id":{i},"name":"item number {i}","qty":{},"price":12.5,"tags":["a","bc"]}}"#,
                i % 100
            ));
        }
    }
    out.push(']');
    out.into_bytes()
}

/// Problems listed, and the time of one search (the tree parsed beforehand).
fn search(body: &[u8]) -> (usize, Duration) {
    let tree: Tree = serde_json::from_slice(body).expect("valid JSON");
    let start = Instant::now();
    let problems = from_json::<Vec<Line>>(&tree).expect_err("bad");
    (problems.len(), start.elapsed())
}

#[test]
#[ignore = "a measurement: run in release with --nocapture"]
fn cost_of_a_bad_body() {
    let bodies = [("87k", bad_body(1_160, 64)), ("1.2m", bad_body(15_300, 64))];
    if let Ok(which) = std::env::var("DI_COST_ONCE") {
        let (_, body) = bodies
            .iter()
            .find(|(n, _)| *n == which)
            .expect("87k or 1.2m");
        let (n, _) = search(body);
        println!("{which}: {n} problems");
        return;
    }
    for (name, body) in &bodies {
        let mut best = Duration::MAX;
        let mut listed = 0;
        for _ in 0..7 {
            let (n, took) = search(body);
            best = best.min(took);
            listed = n;
        }
        println!(
            "{name}: {} bytes, {listed} problems listed, best of 7: {:.2} ms",
            body.len(),
            best.as_secs_f64() * 1e3
        );
    }
}
