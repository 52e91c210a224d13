#!/usr/bin/env bash
# How di's cost grows with its dependency graph, in instructions per request (callgrind, in
# process, as bench/instructions.sh counts them): each graph of `graphs` (`/graph/{shape}/{n}`,
# n = 1, 5, 20, 50), and what one more dependency of each shape costs, (cost(50) - cost(1)) / 49.
#
#   bench/graph-instructions.sh            # N=500 (COUNT=path: another build's binary)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-500}
SHAPES=${SHAPES:-"wide_plain deep_plain wide_gen deep_gen"}
SIZES=(1 5 20 50)
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh

echo "| shape | 1 | 5 | 20 | 50 | per added dependency |"
echo "|---|---:|---:|---:|---:|---:|"
for shape in $SHAPES; do
  row="| $shape"
  declare -a per=()
  for size in "${SIZES[@]}"; do
    cost=$(per_request graph "/graph/$shape/$size" "$N")
    per+=("$cost")
    row="$row | $cost"
  done
  echo "$row | $(( (per[3] - per[0]) / 49 )) |"
  unset per
done
