#!/bin/bash
# Runs one flood against a fresh server: ./run.sh MODE N ARG REPEAT (see client.rs's modes).
# Prints the server's last sample after each repeat, then its peak RSS. Build first:
#   cp ../../Cargo.lock . && cargo build --release
ulimit -n 65536 2>/dev/null
R=${R:-target/release}
PORT=${PORT:-40404}
LOG=log-$1-$2-$3.txt
$R/server $PORT > $LOG 2>&1 &
SP=$!
sleep 1.5
head -1 $LOG
for i in $(seq 1 ${4:-1}); do
  $R/client $PORT $1 $2 $3
  sleep ${SETTLE:-3}
  tail -1 $LOG
done
echo "peak hwm_kb: $(grep -o 'hwm_kb=[0-9]*' $LOG | cut -d= -f2 | sort -n | tail -1)"
echo "peak heap_kb: $(grep -o 'heap_kb=[0-9]*' $LOG | cut -d= -f2 | sort -n | tail -1)"
kill $SP; wait $SP 2>/dev/null
