#!/usr/bin/env bash
# A 3-server zkd ensemble (scripts/ensemble.sh) under rotating load-generator
# workloads for SOAK_SECS seconds, with one member killed with SIGKILL and started
# again after every round. After each round it prints each member's RSS, threads,
# descriptors and the mntr figures that count what clients hold; at the end it
# fails if a workload failed or a member holds more than before the first round.
#
#   scripts/soak.sh [DIR]      # DIR defaults to a new temporary directory
#
# SOAK_SECS (default 1800) bounds the rounds (one at least); a round takes about
# 2.5 minutes.
# Ports: CLIENT_BASE, QUORUM_BASE and ELECTION_BASE as in ensemble.sh
# (default 42181, 42888, 43888).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZKD="${ZKD:-$ROOT/bin/zkd}"
DIR="${1:-$(mktemp -d /tmp/zkd-soak.XXXXXX)}"
export CLIENT_BASE="${CLIENT_BASE:-42181}" QUORUM_BASE="${QUORUM_BASE:-42888}" ELECTION_BASE="${ELECTION_BASE:-43888}"
CS="127.0.0.1:$CLIENT_BASE,127.0.0.1:$((CLIENT_BASE + 1)),127.0.0.1:$((CLIENT_BASE + 2))"
END=$(($(date +%s) + ${SOAK_SECS:-1800}))
WORKLOADS=(mix-64x8 sessions-16 watch-500 createseq-32x8 storm lock kafka fanout multi100 setdata-256x1)
HELD="num_alive_connections ephemerals_count watch_count znode_count open_file_descriptor_count"

[ -x "$ZKD" ] || (cd "$ROOT" && make build)

flw() { # flw PORT WORD
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%s' "$2" >&3
  timeout 5 cat <&3
  exec 3<&-
}

figures() { # figures N: member N's held figures, "key=value ..."
  flw $((CLIENT_BASE + $1 - 1)) mntr 2>/dev/null | awk -v keys="$HELD" '
    BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) want["zk_" k[i]] = 1 }
    want[$1] { printf "%s=%s ", substr($1, 4), $2 }'
}

sample() { # sample LABEL: one line per member
  local i pid
  for i in 1 2 3; do
    pid=$(cat "$DIR/$i/zkd.pid" 2>/dev/null)
    printf '%s %-8s server.%d rss_kb=%s threads=%s %s\n' "$(date +%T)" "$1" "$i" \
      "$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null)" \
      "$(awk '/^Threads/{print $2}' "/proc/$pid/status" 2>/dev/null)" "$(figures "$i")"
  done
}

"$ROOT/scripts/ensemble.sh" start "$DIR" >/dev/null || exit 1
trap '"$ROOT/scripts/ensemble.sh" stop "$DIR"' EXIT
sleep 2
declare -A before
for i in 1 2 3; do before[$i]="$(figures "$i")"; done
sample start
failed=0 round=0
while [ "$round" -eq 0 ] || [ "$(date +%s)" -lt "$END" ]; do
  round=$((round + 1))
  for w in "${WORKLOADS[@]}"; do
    log="$DIR/bench.$round.$w.log"
    if timeout 180 "$ZKD" bench -addr "$CS" -quiet -warmup 2s -duration 15s -seed "$round" "$w" >"$log" 2>&1; then
      echo "$(date +%T) round $round $w: $(grep -m1 '^== ' "$log" | sed 's/^== //')"
    else
      echo "$(date +%T) round $round $w FAILED: $(tail -1 "$log")"
      failed=$((failed + 1))
    fi
  done
  victim=$((round % 3 + 1))
  kill -9 "$(cat "$DIR/$victim/zkd.pid")"
  echo "$(date +%T) round $round: server.$victim killed with SIGKILL"
  sleep 3
  "$ROOT/scripts/ensemble.sh" restart "$victim" "$DIR" >/dev/null || failed=$((failed + 1))
  sleep 2
  sample "round$round"
done
sleep 15 # the sessions of the last killed member expire
sample end
grown=0
for i in 1 2 3; do
  now="$(figures "$i")"
  for kv in ${before[$i]}; do
    k=${kv%%=*} was=${kv#*=}
    is=$(tr ' ' '\n' <<<"$now" | sed -n "s/^$k=//p")
    slack=0 # an idle member's descriptors move by one or two (quorum links, the accept reserve)
    [ "$k" = open_file_descriptor_count ] && slack=2
    if [ -z "$is" ] || [ "$is" -gt $((was + slack)) ]; then
      echo "server.$i holds $k=${is:-?}, $was before the first round"
      grown=$((grown + 1))
    fi
  done
done
echo "logs: $DIR"
echo "$round rounds, $((round * ${#WORKLOADS[@]})) workload runs, $round members killed: $failed failed, $grown figures above their start"
[ "$failed" -eq 0 ] && [ "$grown" -eq 0 ]
