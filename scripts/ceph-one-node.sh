#!/usr/bin/env bash
# A throw-away one-node Ceph cluster for tests: one ceph-mon, one ceph-osd on
# memstore, auth off, pool size 1, the monitor on 127.0.0.1 at a free port.
#
#   scripts/ceph-one-node.sh start DIR    # creates DIR, prints CEPH_CONF=DIR/ceph.conf
#   scripts/ceph-one-node.sh status DIR   # exit 0 when up (prints fsid and health)
#   scripts/ceph-one-node.sh stop DIR     # kills the daemons by pid file, removes DIR
#
# Exit 77 (the "skipped" code of ctest/automake) when the packages cannot be
# installed or the cluster cannot start; other failures exit 1, usage 2.
# Environment: OPTDB_CEPH_POOL (pool to create, default optdb),
# CEPH_ONE_NODE_TIMEOUT (seconds to wait for I/O, default 60),
# CEPH_ONE_NODE_PORT (the monitor's port; default a free one picked at random).
# Every daemon writes a pid file under DIR and is stopped by that pid only;
# logs, admin sockets and the monitor's store are under DIR too.
set -euo pipefail

PKGS=(ceph-mon ceph-osd ceph-common librados-dev libradospp-dev)
POOL=${OPTDB_CEPH_POOL:-optdb}
WAIT=${CEPH_ONE_NODE_TIMEOUT:-60}
MARK=.ceph-one-node # marks a DIR this script created: stop removes only those

say() { echo "ceph-one-node: $*" >&2; }
skip() { echo "ceph-one-node: skipped: $*" >&2; exit 77; }
usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }

ensure_packages() {
  local missing=() p
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || skip "missing packages (${missing[*]}) and not root to install them"
  command -v apt-get >/dev/null || skip "missing packages (${missing[*]}) and no apt-get"
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local log; log=$(mktemp)
  if ! { apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
         { apt-get update -qq >>"$log" 2>&1 &&
           apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }; }; then
    local why; why=$(grep -E '^(E|W):' "$log" | tail -1); rm -f "$log"
    skip "apt-get install ${missing[*]} failed${why:+: $why}"
  fi
  rm -f "$log"
}

# A port is taken when any TCP socket (v4 or v6, any state) is bound to it, or
# something answers a connection on 127.0.0.1.
port_taken() {
  local hex; hex=$(printf '%04X' "$1")
  awk -v h="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == h) found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
  return 1
}

# Below the kernel's ephemeral range, so outgoing connections never hold it.
pick_port() {
  local lo hi i p
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || lo=32768
  hi=$((lo - 1)); lo=$((hi > 20000 ? 20000 : 10000))
  for i in $(seq 1 200); do
    p=$((lo + RANDOM % (hi - lo + 1)))
    port_taken "$p" || { echo "$p"; return 0; }
  done
  return 1
}

pid_alive() { # DIR/NAME.pid -> 0 when that pid is running with -c DIR/ceph.conf
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $(dirname "$1")/ceph.conf "
}

kill_daemons() { # DIR: OSDs first (they tell the monitor), then the monitor
  local d=$1 f
  for f in "$d"/osd.*.pid; do kill_one "$f"; done
  for f in "$d"/*.pid; do kill_one "$f"; done
}

kill_one() { # pid file: TERM, wait for exit, KILL after 10 s
  local f=$1 pid i
  [ -e "$f" ] || [ -L "$f" ] || return 0
  if pid_alive "$f"; then
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do pid_alive "$f" || break; sleep 0.1; done
    if pid_alive "$f"; then
      say "pid $pid did not exit on TERM, killing"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do pid_alive "$f" || break; sleep 0.1; done
    fi
  fi
  rm -f "$f"
}

ceph_() { timeout 20 ceph -c "$CONF" --connect-timeout 10 "$@"; }

fail_start() { # message: stop what was started, keep DIR's logs, exit 77
  kill_daemons "$DIR"
  skip "$* (logs in $DIR)"
}

start() {
  DIR=$1
  [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
  if [ -e "$DIR/$MARK" ] && pid_alive "$DIR/mon.a.pid" && pid_alive "$DIR/osd.0.pid"; then
    say "already running in $DIR"
    echo "CEPH_CONF=$DIR/ceph.conf"; return 0
  fi
  if [ -e "$DIR" ] && [ ! -e "$DIR/$MARK" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    echo "ceph-one-node: $DIR exists and is not empty" >&2; exit 1
  fi
  ensure_packages
  local t0=$SECONDS b
  for b in ceph-mon ceph-osd ceph rados monmaptool; do
    command -v "$b" >/dev/null || skip "$b not found after installing ${PKGS[*]}"
  done
  [ -e "$DIR" ] && kill_daemons "$DIR" && rm -rf "$DIR"
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  CONF=$DIR/ceph.conf
  touch "$DIR/$MARK"
  local fsid osd_uuid port host
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  host=$(hostname -s 2>/dev/null || echo localhost)

  # Picking the port and binding the monitor are serialized between
  # concurrent starts; the fsid check below catches any other taker.
  local lock=${TMPDIR:-/tmp}/ceph-one-node.$(id -u).lock
  exec 9>>"$lock" || fail_start "cannot open $lock"
  flock -w 60 9 || fail_start "could not take $lock"
  if [ -n "${CEPH_ONE_NODE_PORT:-}" ]; then
    port=$CEPH_ONE_NODE_PORT
    port_taken "$port" && fail_start "port $port (CEPH_ONE_NODE_PORT) is taken"
  else
    port=$(pick_port) || fail_start "no free port"
  fi
  cat >"$CONF" <<EOF
# written by scripts/ceph-one-node.sh: a throw-away one-node test cluster
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on pool no app = false
# monitor map changes commit in 0.1 s, not 1 s: start takes ~2 s instead of ~5 s
paxos propose interval = 0.1
mon mgr mkfs grace = 31536000
mon data avail warn = 2
mon data avail crit = 1
keyring = $DIR/keyring
run dir = $DIR
pid file = $DIR/\$name.pid
log file = $DIR/\$name.log
log to stderr = false
crash dir = $DIR/crash
[client]
# librados clients (optdb, tests) log to DIR/client.NAME.log, never to stderr
err to stderr = false
[mon]
admin socket = $DIR/\$name.asok
mon data = $DIR/\$name
mon cluster log file = $DIR/cluster.log
[osd]
admin socket = $DIR/\$name.asok
osd data = $DIR/\$name
osd objectstore = memstore
memstore device bytes = 1073741824
osd max object size = 134217728
osd crush update on start = true
crush location = root=default host=$host
osd heartbeat grace = 20
EOF
  : >"$DIR/keyring"
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$DIR/monmap" \
    >"$DIR/monmaptool.out" 2>&1 || fail_start "monmaptool failed"
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >"$DIR/mon.mkfs.out" 2>&1 9>&- ||
    fail_start "ceph-mon --mkfs failed"
  port_taken "$port" && fail_start "port $port was taken meanwhile"
  ceph-mon -c "$CONF" -i a >"$DIR/mon.a.out" 2>&1 9>&- || fail_start "ceph-mon did not start"
  local i
  for i in $(seq 1 100); do port_taken "$port" && break; sleep 0.1; done
  flock -u 9; exec 9>&-
  pid_alive "$DIR/mon.a.pid" || fail_start "ceph-mon exited"

  local got
  got=$(ceph_ fsid 2>>"$DIR/client.err") || fail_start "the monitor does not answer"
  [ "$got" = "$fsid" ] || fail_start "the monitor at 127.0.0.1:$port has fsid $got, not ours ($fsid)"

  # The pool first: the monitor creates it before any OSD is up.
  ceph_ osd pool create "$POOL" 8 8 >>"$DIR/client.out" 2>>"$DIR/client.err" ||
    fail_start "ceph osd pool create $POOL failed"
  local id
  id=$(ceph_ osd new "$osd_uuid" 2>>"$DIR/client.err") || fail_start "ceph osd new failed"
  mkdir -p "$DIR/osd.$id"
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$DIR/osd.mkfs.out" 2>&1 ||
    fail_start "ceph-osd --mkfs failed"
  ceph-osd -c "$CONF" -i "$id" >"$DIR/osd.$id.out" 2>&1 || fail_start "ceph-osd did not start"
  [ "$id" = 0 ] || ln -sf "osd.$id.pid" "$DIR/osd.0.pid"

  # Ready when a 1-byte object can be written and read back.
  printf x >"$DIR/probe.in"
  local deadline=$((SECONDS + WAIT)) ok=
  while [ $SECONDS -lt $deadline ]; do
    pid_alive "$DIR/osd.$id.pid" || fail_start "ceph-osd exited"
    if timeout 10 rados -c "$CONF" -p "$POOL" --rados-osd-op-timeout 5 put optdb.probe "$DIR/probe.in" 2>>"$DIR/client.err" &&
       timeout 10 rados -c "$CONF" -p "$POOL" --rados-osd-op-timeout 5 get optdb.probe "$DIR/probe.out" 2>>"$DIR/client.err" &&
       cmp -s "$DIR/probe.in" "$DIR/probe.out"; then
      ok=1; break
    fi
    sleep 0.5
  done
  [ -n "$ok" ] || fail_start "no I/O on pool $POOL within ${WAIT}s"
  timeout 10 rados -c "$CONF" -p "$POOL" rm optdb.probe 2>>"$DIR/client.err" || true
  rm -f "$DIR/probe.in" "$DIR/probe.out"
  say "up in $((SECONDS - t0))s: fsid $fsid, mon 127.0.0.1:$port, pool $POOL"
  echo "CEPH_CONF=$CONF"
}

status() {
  DIR=$1
  [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
  CONF=$DIR/ceph.conf
  if [ ! -e "$DIR/$MARK" ]; then echo "not running (no cluster in $DIR)"; return 1; fi
  local f up=1 want got
  for f in "$DIR"/mon.a.pid "$DIR"/osd.0.pid; do
    if pid_alive "$f"; then echo "$(basename "$f" .pid): pid $(cat "$f")"
    else echo "$(basename "$f" .pid): not running"; up=; fi
  done
  [ -n "$up" ] || return 1
  want=$(sed -n 's/^fsid = //p' "$CONF")
  got=$(ceph_ fsid 2>/dev/null) || { echo "monitor does not answer"; return 1; }
  [ "$got" = "$want" ] || { echo "fsid mismatch: $got (ours $want)"; return 1; }
  echo "fsid: $got"
  echo "health: $(ceph_ health 2>/dev/null || echo unknown)"
  echo "CEPH_CONF=$CONF"
}

stop() {
  DIR=$1
  [ -e "$DIR" ] || return 0
  DIR=$(cd "$DIR" && pwd)
  if [ ! -e "$DIR/$MARK" ]; then
    echo "ceph-one-node: $DIR was not made by this script; not removing it" >&2; exit 1
  fi
  kill_daemons "$DIR"
  rm -rf "$DIR"
}

[ $# -eq 2 ] || usage
[ -n "$2" ] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  status) status "$2" ;;
  *) usage ;;
esac
