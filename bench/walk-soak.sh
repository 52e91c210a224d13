#!/usr/bin/env bash
# A soak of di under mixed faults over real sockets (tests/walk_independent.rs,
# `soak_mixed_faults_keep_every_guarantee_and_memory_flat`, ignored by `cargo test`): waves of
# HTTP/1.1 and HTTP/1.0 clients reset (SO_LINGER 0) at random offsets of streamed exports,
# HTTP/2 streams reset and connections killed mid-flight, requests owing slow background work
# and slow teardowns, pipelines cut during quiet streams. Every wave is checked (each teardown once, the true
# outcome, tasks iff success, no hidden request served, counters balanced); resident memory is
# sampled after each wave and must be flat after warm-up (last quarter within 8 MiB of the
# second quarter). Prints the waves, requests and RSS figures.
#
#   bench/walk-soak.sh                  # 60 s, debug build
#   WALK_SOAK_SECS=600 bench/walk-soak.sh --release
#   WALK_SEED=7 bench/walk-soak.sh      # other random offsets
set -euo pipefail
cd "$(dirname "$0")/.."
export WALK_SOAK_SECS="${WALK_SOAK_SECS:-60}"
exec cargo test "$@" -p di-tests --test walk_independent -- --ignored --nocapture soak_mixed_faults
