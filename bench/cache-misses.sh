#!/usr/bin/env bash
# First-level cache misses per request in process, next to the instructions: cachegrind
# simulates this machine's L1 instruction and data caches (read from the CPU), so the counts,
# like callgrind's instructions, do not move with the machine's load. They show what
# instruction counts miss: code and data that do not stay in L1 between requests cost time
# that a count of instructions does not weigh (BENCHMARKS.md, "Instructions against time").
#
#   bench/cache-misses.sh                 # N=2000, routes /items?limit=5 /hello
#   N=500 ROUTES=/hello IMPLS="di axum" bench/cache-misses.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
ROUTES=${ROUTES:-"/items?limit=5 /hello"}
IMPLS=${IMPLS:-"di hyper axum"}
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh

echo "| route | implementation | instructions/request | L1i misses/request | L1d misses/request |"
echo "|---|---|---:|---:|---:|"
for route in $ROUTES; do
  for impl in $IMPLS; do
    read -r instructions l1i l1d < <(cache_per_request "$impl" "$route" "$N")
    echo "| $route | $impl | $instructions | $l1i | $l1d |"
  done
done
