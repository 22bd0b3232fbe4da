#!/usr/bin/env bash
# A 3-server zkd ensemble on this machine, from three ordinary zoo.cfg files.
#
#   scripts/ensemble.sh start [DIR]   # writes DIR/{1,2,3}/zoo.cfg and myid, starts bin/zkd x3,
#                                     # and returns once all three serve clients
#   scripts/ensemble.sh status [DIR]  # each server's Mode (srvr)
#   scripts/ensemble.sh kill-leader [DIR]   # kill -9 the leader, to watch a failover
#   scripts/ensemble.sh restart N [DIR]     # start server N again
#   scripts/ensemble.sh stop [DIR]
#
# DIR defaults to ./ensemble. Client ports 2181-2183, quorum ports 2888-2890,
# election ports 3888-3890 (as in ZooKeeper's documentation), all on 127.0.0.1;
# override the base ports with CLIENT_BASE, QUORUM_BASE and ELECTION_BASE.
# Connect string: 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZKD="${ZKD:-$ROOT/bin/zkd}"
cmd="${1:-}"
shift || true
if [ "$cmd" = restart ]; then n="${1:?server number}"; shift; fi
DIR="$(mkdir -p "${1:-$PWD/ensemble}" && cd "${1:-$PWD/ensemble}" && pwd)"
CB="${CLIENT_BASE:-2181}" QB="${QUORUM_BASE:-2888}" EB="${ELECTION_BASE:-3888}"

flw() {  # flw PORT WORD: a four-letter word, without nc
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%s' "$2" >&3
  cat <&3
  exec 3<&-
}

write_configs() {
  for i in 1 2 3; do
    mkdir -p "$DIR/$i/data"
    echo "$i" > "$DIR/$i/data/myid"
    cat > "$DIR/$i/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$DIR/$i/data
clientPort=$((CB + i - 1))
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
server.1=127.0.0.1:$QB:$EB
server.2=127.0.0.1:$((QB + 1)):$((EB + 1))
server.3=127.0.0.1:$((QB + 2)):$((EB + 2))
CFG
  done
}

start_one() {
  local i=$1
  nohup "$ZKD" "$DIR/$i/zoo.cfg" > "$DIR/$i/zkd.log" 2>&1 &
  echo $! > "$DIR/$i/zkd.pid"
  echo "server.$i: pid $(cat "$DIR/$i/zkd.pid"), client port $((CB + i - 1)), log $DIR/$i/zkd.log"
}

alive() {  # a killed server this shell did not start stays a zombie until reaped: not alive
  [ -f "$DIR/$1/zkd.pid" ] || return 1
  local st
  st=$(ps -o stat= -p "$(cat "$DIR/$1/zkd.pid")" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

mode() { flw $((CB + $1 - 1)) srvr 2>/dev/null | sed -n 's/^Mode: //p'; }

wait_serving() {  # wait_serving N...: until each serves clients (srvr has a Mode), at most 30 s
  local i m waited=0
  for i in "$@"; do
    until m=$(mode "$i" || true); [ -n "$m" ]; do
      if [ $waited -ge 300 ]; then
        echo "server.$i is not serving after 30 s; see $DIR/$i/zkd.log" >&2
        return 1
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    echo "server.$i: $m"
  done
}

case "$cmd" in
start)
  [ -x "$ZKD" ] || (cd "$ROOT" && make build)
  [ -f "$DIR/1/zoo.cfg" ] || write_configs
  for i in 1 2 3; do alive "$i" || start_one "$i"; done
  # Clients are refused until the members have elected a leader.
  wait_serving 1 2 3
  echo "connect string: 127.0.0.1:$CB,127.0.0.1:$((CB + 1)),127.0.0.1:$((CB + 2))"
  ;;
status)
  for i in 1 2 3; do
    if alive "$i"; then echo "server.$i: $(mode "$i" || true)"; else echo "server.$i: down"; fi
  done
  ;;
kill-leader)
  for i in 1 2 3; do
    if alive "$i" && [ "$(mode "$i")" = leader ]; then
      kill -9 "$(cat "$DIR/$i/zkd.pid")"
      echo "killed the leader, server.$i"
      exit 0
    fi
  done
  echo "no leader found" >&2
  exit 1
  ;;
restart)
  alive "$n" || start_one "$n"
  wait_serving "$n"
  ;;
stop)
  for i in 1 2 3; do
    if alive "$i"; then kill "$(cat "$DIR/$i/zkd.pid")"; fi
  done
  ;;
*)
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
