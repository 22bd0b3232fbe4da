#!/usr/bin/env bash
# Run the conformance kit's five real clients against zkd.
#
#   scripts/conformance.sh [client ...]      (clients: zkcli kazoo curator ccli go; default all)
#
# Starts bin/zkd (build it first: `make conformance` does) standalone on a free
# 127.0.0.1 port with a fresh temporary data dir, runs $SHARED/conformance/smoke-all.sh
# against it, stops zkd, and exits with smoke-all's status (number of failed clients).
# The temp dir (zoo.cfg, zkd.log, smoke/<client>.log) is removed on success and kept
# on failure.
#
# env: SHARED (default ../shared, relative to the repo root), ZKD (default bin/zkd),
#      ZKD_START_TIMEOUT (s, default 30), KEEP=1 keeps the temp dir.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SHARED="${SHARED:-../shared}"
KIT="$SHARED/conformance"
ZKD="${ZKD:-bin/zkd}"
[ -x "$KIT/smoke-all.sh" ] || { echo "conformance: no $KIT/smoke-all.sh (set SHARED)" >&2; exit 2; }
[ -x "$ZKD" ] || { echo "conformance: no $ZKD; run make build" >&2; exit 2; }
KIT="$(cd "$KIT" && pwd)"
# zk_4lw, zk_kill_pid
source "$KIT/lib/common.sh"

free_port() {  # ask the kernel for a free loopback port
  if command -v /usr/bin/python3 >/dev/null 2>&1; then
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}

DIR="$(mktemp -d "${TMPDIR:-/tmp}/zkd-conformance.XXXXXX")"
PORT="$(free_port)"
mkdir -p "$DIR/data" "$DIR/smoke"
cat > "$DIR/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$DIR/data
clientPort=$PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
CFG

PID=
RC=1
cleanup() {
  if [ -n "$PID" ]; then zk_kill_pid "$PID" 15; wait "$PID" 2>/dev/null || true; fi
  if [ "$RC" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$DIR"
  else
    echo "conformance: logs kept in $DIR (zkd.log, smoke/)" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ZKD" -config "$DIR/zoo.cfg" > "$DIR/zkd.log" 2>&1 < /dev/null &
PID=$!

# Ready when the port accepts connections (4lw support is checked by the clients).
up=0
for ((i = 0; i < ${ZKD_START_TIMEOUT:-30} * 10; i++)); do
  kill -0 "$PID" 2>/dev/null || break
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "conformance: zkd did not listen on 127.0.0.1:$PORT; tail of $DIR/zkd.log:" >&2
  tail -n 30 "$DIR/zkd.log" >&2 || true
  exit 1
fi
echo "conformance: zkd pid $PID on 127.0.0.1:$PORT, dir $DIR"

set +e
SMOKE_LOGDIR="$DIR/smoke" "$KIT/smoke-all.sh" "127.0.0.1:$PORT" "$@"
RC=$?
set -e
if ! kill -0 "$PID" 2>/dev/null; then
  echo "conformance: zkd exited during the run; tail of $DIR/zkd.log:" >&2
  tail -n 30 "$DIR/zkd.log" >&2 || true
  PID=
  [ "$RC" -ne 0 ] || RC=1
fi
exit "$RC"
