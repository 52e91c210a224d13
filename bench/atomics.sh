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
#
# HTTP=1 counts them in the server over HTTP/1 on loopback instead, as
# bench/server-instructions.sh counts instructions: the server under callgrind while wrk drives
# it for SHORT and then LONG seconds, the difference of the two counts over the difference of
# the requests served (SERVER=path: another build's server).
#
#   HTTP=1 bench/atomics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
ROUTES=${ROUTES:-"/items?limit=5"}
IMPLS=${IMPLS:-"di hyper axum"}
TOP=${TOP:-0}
HTTP=${HTTP:-}
SHORT=${SHORT:-2}
LONG=${LONG:-8}
BASE_PORT=${BASE_PORT:-39200}
# Over HTTP the `count` binary is not run: not built either.
[ -z "$HTTP" ] || COUNT=${COUNT:-unused}
# shellcheck source=bench/count-lib.sh
. bench/count-lib.sh
for tool in objdump:binutils wrk:wrk curl:curl; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    install_packages "${tool#*:}"
  fi
done
binary=$count
if [ -n "$HTTP" ]; then
  if [ -n "${SERVER:-}" ]; then
    binary=$SERVER
  else
    cargo build --release -p di-bench --bin server >&2
    binary="$TARGET_DIR/release/server"
  fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The addresses of the locked instructions of each object: "object address" lines.
libc=$(ldd "$binary" | awk '/libc\.so/ { print $3 }')
for object in "$binary" "$libc"; do
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

callgrind=(valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no
  --callgrind-out-file="$work/run")

# A run in process: `count` sends n requests.
in_process() { # impl uri n -> requests sent
  "${callgrind[@]}" "$count" "$1" "$2" "$3" >/dev/null 2>&1
  echo "$3"
}

# A run over HTTP: the server under callgrind, driven by wrk for that many seconds.
over_http() { # impl uri seconds -> requests served
  local port=$((BASE_PORT + 1))
  "${callgrind[@]}" "$binary" --impl "$1" --addr "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break
    sleep 0.2
  done
  timeout $(($3 + 30)) wrk -t1 -c16 -d"$3"s "http://127.0.0.1:$port$2" >"$work/wrk"
  kill -TERM "$pid"
  wait "$pid" || true
  grep -Eo '[0-9]+ requests in' "$work/wrk" | grep -Eo '^[0-9]+'
}

# Locked instructions executed in the last run, by function: "count function" lines.
# Callgrind's per-instruction counts, each object's addresses as objdump gives them; the line
# after a `calls=` line is the call's inclusive cost, not the instruction's own, and is skipped.
locked_by_function() {
  awk -v count="$(basename "$binary")" -v libc="$(basename "$libc")" '
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

if [ -n "$HTTP" ]; then
  run=over_http small=$SHORT large=$LONG where="over HTTP/1"
else
  run=in_process small=0 large=$N where="in process"
fi
echo "| route | implementation | atomic read-modify-writes/request $where |"
echo "|---|---|---:|"
for route in $ROUTES; do
  for impl in $IMPLS; do
    small_requests=$($run "$impl" "$route" "$small")
    locked_by_function >"$work/base"
    large_requests=$($run "$impl" "$route" "$large")
    locked_by_function >"$work/full"
    # Per function: (larger run - smaller run) / (the requests between them).
    # The total counts every function, those that ran fewer in the larger run too.
    awk -F'\t' -v n="$((large_requests - small_requests))" '
      NR == FNR { per[$2] = -$1 / n; next }
      { per[$2] += $1 / n }
      END { for (f in per) printf "%.2f\t%s\n", per[f], f }' \
      "$work/base" "$work/full" | sort -rn >"$work/per"
    total=$(awk -F'\t' '{ s += $1 } END { printf "%.0f", s }' "$work/per")
    echo "| $route | $impl | $total |"
    if [ "$TOP" -gt 0 ]; then
      awk -F'\t' '$1 > 0' "$work/per" | head -n "$TOP" | awk -F'\t' '{ printf "|  |  %s | %s |\n", substr($2, 1, 110), $1 }'
    fi
  done
done
