#!/usr/bin/env bash
# Atomic read-modify-writes per request in process: the instructions with a `lock` prefix
# (and `xchg` with memory, locked without one) that one request executes, counted as
# bench/instructions.sh counts instructions (callgrind, a run of N requests minus a run of
# none, over N), in the `count` binary and in libc. Each is a reference count, a lock, a
# counter or a waker moved; on x86 each costs some 20 cycles where an ordinary add costs one,
# and one on a cache line that other cores write too costs a transfer of that line.
#
#   bench/atomics.sh                      # N=1000, /items?limit=5, di hyper axum
#   N=500 ROUTES=/hello IMPLS=di bench/atomics.sh
#   TOP=20 IMPLS=di bench/atomics.sh      # and the 20 functions that run the most of them
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
ROUTES=${ROUTES:-"/items?limit=5"}
IMPLS=${IMPLS:-"di hyper axum"}
TOP=${TOP:-0}
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh
if ! command -v objdump >/dev/null; then
  apt-get update >/dev/null && apt-get install -y binutils >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The addresses of the locked instructions of each object: "object address" lines.
libc=$(ldd "$count" | awk '/libc\.so/ { print $3 }')
for object in "$count" "$libc"; do
  # Each object is named by its file's name: valgrind may give libc another path (a link).
  objdump -d --no-show-raw-insn "$object" \
    | awk -v object="$(basename "$object")" '
        /^ *[0-9a-f]+:\t/ {
          split($0, parts, "\t")
          instruction = parts[2]
          if (instruction ~ /^lock / || (instruction ~ /^xchg/ && instruction ~ /\(/)) {
            address = $1; sub(":", "", address); sub(/^0+/, "", address)
            print object, address
          }
        }'
done >"$work/locked"

# Locked instructions executed in a run, by function: "count function" lines. Callgrind's
# per-instruction counts, each object's addresses as objdump gives them; the line after a
# `calls=` line is the call's inclusive cost, not the instruction's own, and is skipped.
locked_run() { # impl uri n
  valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
    --callgrind-out-file="$work/run" "$count" "$1" "$2" "$3" >/dev/null 2>&1
  awk -v count="$(basename "$count")" -v libc="$(basename "$libc")" '
    NR == FNR { locked[$1 " " $2] = 1; next }
    /^ob=/ { object = substr($0, 4); sub(/.*\//, "", object); next }
    /^fn=/ { function_name = substr($0, 4); next }
    /^calls=/ { skip = 1; next }
    /^0x/ {
      if (skip) { skip = 0; next }
      if (object != count && object != libc) next
      address = substr($1, 3); sub(/^0+/, "", address)
      if ((object " " address) in locked) by[function_name] += $3
      next
    }
    { skip = 0 }
    END { for (f in by) print by[f] "\t" f }' "$work/locked" "$work/run"
}

echo "| route | implementation | atomic read-modify-writes/request |"
echo "|---|---|---:|"
for route in $ROUTES; do
  for impl in $IMPLS; do
    locked_run "$impl" "$route" 0 >"$work/base"
    locked_run "$impl" "$route" "$N" >"$work/full"
    # Per function: (run of N - run of none) / N.
    awk -F'\t' -v n="$N" '
      NR == FNR { base[$2] = $1; next }
      { per[$2] = ($1 - base[$2]) / n }
      END { for (f in per) if (per[f] > 0) printf "%.2f\t%s\n", per[f], f }' \
      "$work/base" "$work/full" | sort -rn >"$work/per"
    total=$(awk -F'\t' '{ s += $1 } END { printf "%.0f", s }' "$work/per")
    echo "| $route | $impl | $total |"
    if [ "$TOP" -gt 0 ]; then
      head -n "$TOP" "$work/per" | awk -F'\t' '{ printf "|  |  %s | %s |\n", substr($2, 1, 110), $1 }'
    fi
  done
done
