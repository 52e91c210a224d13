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
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v valgrind >/dev/null; then
  apt-get update >/dev/null && apt-get install -y valgrind >/dev/null
fi
# COUNT=path runs that binary (one built at another commit, to compare) instead of building.
if [ -n "${COUNT:-}" ]; then
  count=$COUNT
else
  cargo build --release -p di-bench --bin count >&2
  count="$TARGET_DIR/release/count"
fi

total() { # impl route n -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$count" "$1" "$2" "$3" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| route | implementation | instructions/request | vs hyper | vs axum |"
echo "|---|---|---:|---:|---:|"
for route in $ROUTES; do
  declare -A per=()
  for impl in $IMPLS; do
    base=$(total "$impl" "$route" 0)
    full=$(total "$impl" "$route" "$N")
    per[$impl]=$(( (full - base) / N ))
  done
  for impl in $IMPLS; do
    awk -v r="$route" -v i="$impl" -v p="${per[$impl]}" -v h="${per[hyper]:-0}" -v a="${per[axum]:-0}" \
      'BEGIN { printf "| %s | %s | %d | %s | %s |\n", r, i, p, (h ? sprintf("%.2fx", p / h) : "-"), (a ? sprintf("%.2fx", p / a) : "-") }'
  done
  unset per
done
