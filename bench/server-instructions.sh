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
set -euo pipefail
cd "$(dirname "$0")/.."

IMPLS=${IMPLS:-"hyper axum di"}
ROUTE=${ROUTE:-"/items?limit=5"}
SHORT=${SHORT:-2}
LONG=${LONG:-8}
H2=${H2:-}
SHORT_N=${SHORT_N:-200}
LONG_N=${LONG_N:-1200}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BASE_PORT=${BASE_PORT:-39100}

for tool in valgrind wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null
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

run() { # impl seconds-or-requests port -> "instructions requests"
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$server" --impl "$1" \
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
  echo "$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$log/server") $served"
}

# The two runs' lengths: seconds of wrk, or requests over HTTP/2.
short=$SHORT long=$LONG protocol="HTTP"
if [ -n "$H2" ]; then
  short=$SHORT_N long=$LONG_N protocol="HTTP/2, $H2 streams"
fi

echo "| server | instructions/request over $protocol ($ROUTE) |"
echo "|---|---:|"
port=$BASE_PORT
for impl in $IMPLS; do
  read -r short_total short_requests < <(run "$impl" "$short" $((port += 1)))
  read -r long_total long_requests < <(run "$impl" "$long" $((port += 1)))
  echo "| $impl | $(( (long_total - short_total) / (long_requests - short_requests) )) |"
done
