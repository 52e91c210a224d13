#!/usr/bin/env bash
# Instructions per request in process (callgrind counts instructions, so the numbers do not
# move with the machine's load, unlike times): for each implementation and route, the total
# of a run with N requests minus that of a run with none, divided by N.
#
#   bench/instructions.sh                 # N=2000, routes /items?limit=5 /stream /hello
#   N=500 ROUTES=/hello bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
ROUTES=${ROUTES:-"/items?limit=5 /stream /hello"}
IMPLS=${IMPLS:-"di hyper axum"}
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh

echo "| route | implementation | instructions/request | vs hyper | vs axum |"
echo "|---|---|---:|---:|---:|"
for route in $ROUTES; do
  declare -A per=()
  for impl in $IMPLS; do
    per[$impl]=$(per_request "$impl" "$route" "$N")
  done
  for impl in $IMPLS; do
    awk -v r="$route" -v i="$impl" -v p="${per[$impl]}" -v h="${per[hyper]:-0}" -v a="${per[axum]:-0}" \
      'BEGIN { printf "| %s | %s | %d | %s | %s |\n", r, i, p, (h ? sprintf("%.2fx", p / h) : "-"), (a ? sprintf("%.2fx", p / a) : "-") }'
  done
  unset per
done
