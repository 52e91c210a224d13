#!/usr/bin/env bash
# Build times of an app, di against axum: the same generated service written twice (DEPS
# dependencies in chains of five, every third a generator in di and a cached extractor in
# axum; ROUTES handlers, each taking three dependencies and a `Path<u64>`), then the time of
# `cargo check` (and `cargo build` with BUILD=1) after a one-line edit of one handler,
# ROUNDS times each. With OPT3=1 the apps' workspace builds its proc macros optimized
# (`[profile.dev.build-override] opt-level = 3`), as the README's "Build times" suggests.
#
#   bench/compile-time.sh                       # DEPS=250 ROUTES=500 ROUNDS=3
#   DEPS=50 ROUTES=100 OPT3=1 bench/compile-time.sh
#
# The apps are written under OUT (default target/compile-time), a workspace of their own
# that uses this repository's di-runtime by path and shares CARGO_TARGET_DIR if set (else
# OUT/target). The first build of each app is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DEPS=${DEPS:-250}
ROUTES=${ROUTES:-500}
ROUNDS=${ROUNDS:-3}
OPT3=${OPT3:-0}
BUILD=${BUILD:-0}
OUT=${OUT:-$ROOT/target/compile-time}
[[ "$DEPS" =~ ^[1-9][0-9]*$ && "$ROUTES" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]] \
    || { echo "DEPS, ROUTES and ROUNDS must be positive integers" >&2; exit 2; }
# The edit is made to handler 50, so there must be one.
(( ROUTES > 50 )) || { echo "ROUTES must be more than 50 (handler 50 is the one edited)" >&2; exit 2; }

mkdir -p "$OUT/di_app/src" "$OUT/axum_app/src"
{
    echo '[workspace]'
    echo 'resolver = "3"'
    echo 'members = ["di_app", "axum_app"]'
    if [[ "$OPT3" == 1 ]]; then
        printf '\n[profile.dev.build-override]\nopt-level = 3\n'
    fi
} > "$OUT/Cargo.toml"
# The repository's lock file, so that the apps build the versions its tests build.
cp "$ROOT/Cargo.lock" "$OUT/Cargo.lock"
cat > "$OUT/di_app/Cargo.toml" <<EOF
[package]
name = "ct-di"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
di-runtime = { path = "$ROOT/di-runtime" }
tokio = { version = "1.50", features = ["rt-multi-thread", "macros"] }
EOF
cat > "$OUT/axum_app/Cargo.toml" <<'EOF'
[package]
name = "ct-axum"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
axum = { version = "0.8", features = ["http2"] }
tokio = { version = "1.50", features = ["rt-multi-thread", "macros"] }
EOF

python3 - "$DEPS" "$ROUTES" "$OUT" <<'PY'
import sys
deps, routes, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def uses(j):
    return sorted({j % deps, (j * 7 + 3) % deps, (j * 13 + 5) % deps})

di = ["use di_runtime::prelude::*;", ""]
for i in range(deps):
    prev = f"#[dep(d{i - 1})] prev: &u64" if i % 5 else ""
    value = "*prev" if i % 5 else "0"
    if i % 3 == 0:
        args = ", ".join(a for a in [prev, "y: Yield<u64>"] if a)
        di.append(f"#[depends]\npub async fn d{i}({args}) {{\n    let (v, outcome) = y.provide({value} + {i}).await;\n    std::hint::black_box((v, outcome.is_success()));\n}}\n")
    else:
        di.append(f"#[depends]\npub async fn d{i}({prev}) -> u64 {{\n    {value} + {i}\n}}\n")
for j in range(routes):
    us = uses(j)
    args = ", ".join([f"#[dep(d{u})] a{u}: &u64" for u in us] + ["Path(id): Path<u64>"])
    total = " + ".join(f"*a{u}" for u in us)
    di.append(f"#[depends]\npub async fn h{j}({args}) -> String {{\n    format!(\"route {j} {{}}\", id + {total})\n}}\n")
di.append("pub fn app() -> App {\n    App::new()")
di += [f"        .get(\"/r{j}/{{id}}\", h{j})" for j in range(routes)]
di.append("}\n")
di.append("#[tokio::main]\nasync fn main() -> Result<(), ServeError> {\n    app().serve(\"127.0.0.1:39050\").await\n}")
open(f"{out}/di_app/src/main.rs", "w").write("\n".join(di))

ax = ["#![allow(unused_variables)]", "use axum::{Router, routing::get, extract::{Path, FromRequestParts}, http::request::Parts};", "use std::convert::Infallible;", ""]
for i in range(deps):
    ax.append(f"pub struct D{i}(pub u64);")
    body = f"let prev = D{i - 1}::from_request_parts(parts, s).await?.0;" if i % 5 else "let prev = 0u64;"
    if i % 3 == 0:
        body += f"\n        if let Some(v) = parts.extensions.get::<Cache{i}>() {{ return Ok(D{i}(v.0)); }}\n        parts.extensions.insert(Cache{i}(prev + {i}));"
        ax.append(f"#[derive(Clone)] struct Cache{i}(u64);")
    state = "s" if i % 5 else "_s"
    ax.append(f"impl<S: Send + Sync> FromRequestParts<S> for D{i} {{\n    type Rejection = Infallible;\n    async fn from_request_parts(parts: &mut Parts, {state}: &S) -> Result<Self, Self::Rejection> {{\n        {body}\n        Ok(D{i}(prev + {i}))\n    }}\n}}\n")
for j in range(routes):
    us = uses(j)
    args = ", ".join(["Path(id): Path<u64>"] + [f"D{u}(a{u}): D{u}" for u in us])
    total = " + ".join(f"a{u}" for u in us)
    ax.append(f"async fn h{j}({args}) -> String {{\n    format!(\"route {j} {{}}\", id + {total})\n}}\n")
ax.append("pub fn app() -> Router {\n    Router::new()")
ax += [f"        .route(\"/r{j}/{{id}}\", get(h{j}))" for j in range(routes)]
ax.append("}\n")
ax.append("#[tokio::main]\nasync fn main() {\n    let listener = tokio::net::TcpListener::bind(\"127.0.0.1:39051\").await.unwrap();\n    axum::serve(listener, app()).await.unwrap();\n}")
open(f"{out}/axum_app/src/main.rs", "w").write("\n".join(ax))
PY

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$OUT/target}
commands=(check)
[[ "$BUILD" == 1 ]] && commands+=(build)
echo "DEPS=$DEPS ROUTES=$ROUTES OPT3=$OPT3: seconds after a one-line edit of one handler"
echo "| command | app | rounds (s) |"
echo "|---|---|---|"
for command in "${commands[@]}"; do
    for app in di axum; do
        (cd "$OUT" && cargo "$command" -q -p "ct-$app")
        times=()
        for round in $(seq "$ROUNDS"); do
            sed -i -E "s/\"route 50(e[0-9]+)? /\"route 50e$round /" "$OUT/${app}_app/src/main.rs"
            start=$(date +%s.%N)
            (cd "$OUT" && cargo "$command" -q -p "ct-$app")
            end=$(date +%s.%N)
            times+=("$(echo "$end - $start" | bc | awk '{printf "%.2f", $1}')")
        done
        echo "| cargo $command | $app | ${times[*]} |"
    done
done
