//! Compile-fail and compile-pass tests of `#[depends]`, run with trybuild.
//!
//! The expected `.stderr` files are tied to one compiler version, so the test runs only on it.
//! Regenerate them with `TRYBUILD=overwrite cargo test -p di-tests --test ui` and read each one:
//! it must point at the user's token with a message that says the rule and the fix.

#[test]
#[rustversion::attr(not(stable(1.95)), ignore = "ui stderr is tied to rustc 1.95")]
fn depends_ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/depends/pass/*.rs");
    t.compile_fail("ui/depends/fail/*.rs");
}
