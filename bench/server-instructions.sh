#!/usr/bin/env bash
# Instructions the server spends per request over HTTP on loopback, under callgrind: each
# server runs under valgrind while wrk drives it twice (SHORT and LONG seconds); the
# difference of the two totals over the difference of the requests served is the marginal
# cost of one request, start-up excluded. Instruction counts do not move with the machine's
# load, unlike requests per second; wrk's own numbers under valgrind mean nothing.
#
#   bench/server-instructions.sh                       # hyper axum di, /items?limit=5
#   IMPLS=di ROUTE=/stream bench/server-instructions.sh
#
# H2=STREAMS measures HTTP/2 instead: one connection with STREAMS requests in flight, sent by
# the `load` binary (wrk speaks HTTP/1 only): SHORT_N and LONG_N requests (default 200 and
# 1200) instead of SHORT and LONG seconds.
#
#   H2=64 bench/server-instructions.sh
#
# CACHE=1 runs the servers under cachegrind with its cache and branch simulation instead, and
# prints per request, beside the instructions: first-level instruction-cache misses, data-cache
# misses (reads and writes) and mispredicted branches: cachegrind's simulation of this
# machine's first-level caches (their sizes read from the CPU, 32 KiB each here) and of a
# branch predictor, not the machine's own counters, which its virtual machine does not
# expose. Slower: about three times callgrind's run time.
#
#   CACHE=1 bench/server-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IMPLS=${IMPLS:-"hyper axum di"}
ROUTE=${ROUTE:-"/items?limit=5"}
SHORT=${SHORT:-2}
LONG=${LONG:-8}
H2=${H2:-}
CACHE=${CACHE:-}
SHORT_N=${SHORT_N:-200}
LONG_N=${LONG_N:-1200}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BASE_PORT=${BASE_PORT:-39100}

# shellcheck source=bench/install-lib.sh
. bench/install-lib.sh
for tool in valgrind wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    install_packages "$tool"
  fi
done
# SERVER=path runs that binary (one built at another commit, to compare) instead of building.
if [ -n "${SERVER:-}" ]; then
  server=$SERVER
else
  cargo build --release -p di-bench --bin server >&2
  server="$TARGET_DIR/release/server"
fi
if [ -n "$H2" ]; then
  cargo build --release -p di-bench --bin load >&2
fi
load="$TARGET_DIR/release/load"
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# The valgrind tool and what is read from its summary: callgrind's instructions, or with CACHE
# cachegrind's instructions, I1 misses, D1 misses (read and write) and mispredicted branches.
if [ -n "$CACHE" ]; then
  tool=(--tool=cachegrind --cache-sim=yes --branch-sim=yes --cachegrind-out-file=/dev/null)
else
  tool=(--tool=callgrind --callgrind-out-file=/dev/null)
fi
counts() { # valgrind's log -> its counts, space-separated
  if [ -n "$CACHE" ]; then
    awk '{ gsub(",", "") }
         /I +refs/ { i = $4 } /I1 +misses/ { i1 = $4 } /D1 +misses/ { d1 = $4 }
         /Mispredicts/ { mp = $3 }
         END { print i, i1, d1, mp }' "$1"
  else
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$1"
  fi
}

run() { # impl seconds-or-requests port -> "counts... requests"
  valgrind "${tool[@]}" "$server" --impl "$1" \
    --addr "127.0.0.1:$3" >"$log/server" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$3/hello" && break
    sleep 0.2
  done
  local served
  if [ -n "$H2" ]; then
    timeout 300 "$load" --addr "127.0.0.1:$3" --requests "$2" --path "$ROUTE" --h2 "$H2" >"$log/load"
    served=$2
  else
    timeout $(($2 + 30)) wrk -t1 -c16 -d"$2"s "http://127.0.0.1:$3$ROUTE" >"$log/wrk"
    served=$(grep -Eo '[0-9]+ requests in' "$log/wrk" | grep -Eo '^[0-9]+')
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$(counts "$log/server") $served"
}

# The two runs' lengths: seconds of wrk, or requests over HTTP/2.
short=$SHORT long=$LONG protocol="HTTP"
if [ -n "$H2" ]; then
  short=$SHORT_N long=$LONG_N protocol="HTTP/2, $H2 streams"
fi

if [ -n "$CACHE" ]; then
  echo "| server | per request over $protocol ($ROUTE): instructions | I1 misses | D1 misses | mispredicted branches |"
  echo "|---|---:|---:|---:|---:|"
else
  echo "| server | instructions/request over $protocol ($ROUTE) |"
  echo "|---|---:|"
fi
port=$BASE_PORT
for impl in $IMPLS; do
  read -r -a short_run < <(run "$impl" "$short" $((port += 1)))
  read -r -a long_run < <(run "$impl" "$long" $((port += 1)))
  # The last field is the requests served; each count before it, per request.
  last=$((${#long_run[@]} - 1))
  requests=$((long_run[last] - short_run[last]))
  row="| $impl"
  for ((k = 0; k < last; k++)); do
    row="$row | $(( (long_run[k] - short_run[k]) / requests ))"
  done
  echo "$row |"
done
