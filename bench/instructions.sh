#!/usr/bin/env bash
# Instructions per request in process (callgrind counts instructions, so the numbers do not
# move with the machine's load, unlike times): for each implementation and route, the total
# of a run with N requests minus that of a run with none, divided by N.
#
# With MISSES=1, first-level cache misses per request too: cachegrind simulates this
# machine's L1 instruction and data caches (read from the CPU), so these counts do not move
# with the load either. They show what instruction counts miss: code and data that do not
# stay in L1 between requests cost time that a count of instructions does not weigh
# (BENCHMARKS.md, "Instructions are not the whole cost").
#
#   bench/instructions.sh                 # N=2000, routes /items?limit=5 /stream /hello
#   N=500 ROUTES=/hello bench/instructions.sh
#   MISSES=1 N=1000 IMPLS="di axum" bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
ROUTES=${ROUTES:-"/items?limit=5 /stream /hello"}
IMPLS=${IMPLS:-"di hyper axum"}
MISSES=${MISSES:-0}
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh

if [ "$MISSES" = 1 ]; then
  echo "| route | implementation | instructions/request | vs hyper | vs axum | L1i misses/request | L1d misses/request |"
  echo "|---|---|---:|---:|---:|---:|---:|"
else
  echo "| route | implementation | instructions/request | vs hyper | vs axum |"
  echo "|---|---|---:|---:|---:|"
fi
for route in $ROUTES; do
  declare -A per=() misses=()
  for impl in $IMPLS; do
    if [ "$MISSES" = 1 ]; then
      read -r instructions l1i l1d < <(cache_per_request "$impl" "$route" "$N")
      per[$impl]=$instructions
      misses[$impl]=" $l1i | $l1d |"
    else
      per[$impl]=$(per_request "$impl" "$route" "$N")
      misses[$impl]=""
    fi
  done
  for impl in $IMPLS; do
    awk -v r="$route" -v i="$impl" -v p="${per[$impl]}" -v h="${per[hyper]:-0}" -v a="${per[axum]:-0}" -v m="${misses[$impl]}" \
      'BEGIN { printf "| %s | %s | %d | %s | %s |%s\n", r, i, p, (h ? sprintf("%.2fx", p / h) : "-"), (a ? sprintf("%.2fx", p / a) : "-"), m }'
  done
  unset per misses
done
