#!/usr/bin/env bash
# How di's cost grows with its dependency graph, in instructions per request (callgrind, in
# process, as bench/instructions.sh counts them): each graph of `graphs` (`/graph/{shape}/{n}`,
# n = 1, 5, 20, 50), and what one more dependency of each shape costs, (cost(50) - cost(1)) / 49.
#
#   bench/graph-instructions.sh            # N=500
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-500}
SHAPES=${SHAPES:-"wide_plain deep_plain wide_gen deep_gen"}
SIZES=(1 5 20 50)
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v valgrind >/dev/null; then
  apt-get update >/dev/null && apt-get install -y valgrind >/dev/null
fi
cargo build --release -p di-bench --bin count >&2
count="$TARGET_DIR/release/count"

total() { # uri n -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$count" graph "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| shape | 1 | 5 | 20 | 50 | per added dependency |"
echo "|---|---:|---:|---:|---:|---:|"
for shape in $SHAPES; do
  row="| $shape"
  declare -a per=()
  for size in "${SIZES[@]}"; do
    uri="/graph/$shape/$size"
    base=$(total "$uri" 0)
    full=$(total "$uri" "$N")
    cost=$(( (full - base) / N ))
    per+=("$cost")
    row="$row | $cost"
  done
  echo "$row | $(( (per[3] - per[0]) / 49 )) |"
  unset per
done
