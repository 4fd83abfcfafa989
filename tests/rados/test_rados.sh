#!/usr/bin/env bash
# What only a rados: store can show (run by tests/rados/with_cluster.sh):
#  1. every command gives the same output and exit code on a pool as on a
#     directory, one life of a store replayed on both;
#  2. archive | restore between a directory and a pool, both ways;
#  3. locks between processes: a client killed holding a block's lock holds
#     it until its lease runs out, a live one keeps it past its lease, and one
#     that stalled past its lease writes nothing when it wakes;
#  4. writers killed at random on overlapping blocks leave a pool that reads
#     whole, with every acknowledged commit, and checks clean after repair.
#
#   tests/rados/with_cluster.sh bash tests/rados/test_rados.sh build/apps/optdb
source "$(dirname "$0")/../cli/lib.sh"
on_rados || { echo "test_rados: skipped: run it with tests/rados/with_cluster.sh" >&2; exit 77; }

hdr() { printf '"header":{"id":"%s","type":"t","collectionId":"c"}' "$1"; }

# ---- 1. one life, on both backends ----

# life STORE LOG: the commands, each as "## ARGS", its exit code and its stdout
# (the store's name replaced by STORE; allocated sizes are the medium's own).
life() {
  local store=$1 log=$2
  : >"$log"
  step() { # step [--stdin TEXT] ARGS...
    local -a pre=()
    if [[ $1 == --stdin ]]; then pre=(--stdin "$2"); shift 2; fi
    run "${pre[@]}" --store "$store" "$@"
    # inspect's sizes are the medium's own: a directory counts its revision
    # index file, a pool holds the index in the block's omap (and allocates nothing visible).
    local -a norm=(-e "s|$store|STORE|g")
    [[ $1 == inspect ]] && norm+=(-e 's/[0-9]* bytes ([0-9]* allocated)/N bytes/' -e 's/ *(allocated [0-9]*)//' -e 's/"\(allocatedB\|b\)ytes":[0-9]*/"\1ytes":N/g'
                                  -e 's/bytes\( *\)[0-9]*/bytes\1N/')
    { echo "## $*"; echo "rc $RC"; sed "${norm[@]}" "$OUTF"; } >>"$log"
  }
  step --stdin "{\"inserts\":{\"b1\":{$(hdr b1),\"l\":[]},\"b2\":{$(hdr b2),\"n\":0}}}" pend --trx t1
  step get b1 b2
  step commit --trx t1 --rev 1 b1 b2
  step --stdin '{"updates":{"b1":[["l",0,0,[1]]]}}' pend --trx t2 --rev 2
  step --stdin '{"updates":{"b1":[["l",0,0,[9]]]}}' pend --trx t3 --rev 2 --policy f
  step get b1 --trx t2
  step commit --trx t2 --rev 2 b1
  step --stdin '{"updates":{"b1":[["l",0,0,[3]]]}}' pend --trx t4 --rev 2
  step commit --trx t9 --rev 3 b1
  step cancel --trx t4 b1
  for r in 3 4 5 6; do
    step --stdin "{\"updates\":{\"b1\":[[\"l\",0,0,[$r]]],\"b2\":[[\"n\",0,1,$r]]}}" pend --trx u$r --rev $r
    step commit --trx u$r --rev $r b2 b1
  done
  step --stdin '{"deletes":["b2"]}' pend --trx d7 --rev 7
  step commit --trx d7 --rev 7 b2
  step get b1 b2 --rev 1
  step get b1 --rev 4
  step get b1 b2 b3
  step inspect
  step inspect --json --revisions
  step inspect --check
  step repair --dry-run
  step repair
  step gc
  step archive --all
  step forget --before 5 --all --discard
  step get b1 --rev 2
  step migrate --to actions --all
  step get b1 b2
  step archive b1
  step --stdin $'{"op":"get","blockIds":["b1"]}\n{"op":"pend","trxId":"x1","transforms":{"updates":{"b1":[["l",0,0,["x"]]]}},"rev":8}\n{"op":"commit","trxId":"x1","blockIds":["b1"],"rev":8}\n{"op":"get","blockIds":["b1"],"rev":7}' batch
  step inspect --check
  step inspect
}

D=$(mktemp -d "$WORK/dir.XXXXXX")
R=$(mkstore)
life "$D" "$WORK/life.dir"
life "$R" "$WORK/life.rados"
case_ "the same life on a directory and on a pool: every output and exit code"
if diff "$WORK/life.dir" "$WORK/life.rados" >"$WORK/life.diff"; then ok; else
  fail "they differ:"$'\n'"$(head -n 40 "$WORK/life.diff")"
fi
expect_eq "the life ran (commits succeeded)" 7 "$(grep -c '^{"success":true}$' "$WORK/life.dir")"

# ---- 2. archive | restore, both ways ----

case_ "a directory's archive restored into a pool, and the pool's into a directory"
run --store "$D" archive --all -o "$WORK/from-dir.ndjson"
expect_rc 0
R2=$(mkstore)
run --store "$R2" restore "$WORK/from-dir.ndjson"
expect_rc 0
run --store "$R2" archive --all -o "$WORK/from-pool.ndjson"
expect_rc 0
cmp -s "$WORK/from-dir.ndjson" "$WORK/from-pool.ndjson" && ok || fail "the pool's archive differs from the directory's"
D2=$(mktemp -d "$WORK/dir.XXXXXX")
"$OPTDB" --store "$R2" archive --all | "$OPTDB" --store "$D2" restore >/dev/null
expect_eq "pipe pool -> directory" 0 "$?"
run --store "$D2" archive --all -o "$WORK/back.ndjson"
cmp -s "$WORK/from-dir.ndjson" "$WORK/back.ndjson" && ok || fail "the round trip changed the archive"
run --store "$R2" inspect --check
expect_rc 0
run --store "$R2" get b1
expect_out "$("$OPTDB" --store "$D" get b1)"

# ---- 3. locks between processes, with a lease ----

L=$(mkstore)
run --stdin "{\"inserts\":{\"k\":{$(hdr k),\"v\":0}}}" --store "$L" pend --trx k1
run --store "$L" commit --trx k1 --rev 1 k
expect_rc 0

# hold_lock LEASE: a process holding k's lock, its stdin on a FIFO ($HOLD_IN);
# sets HOLD_PID once it holds it.
hold_lock() {
  rm -f "$WORK/hold.in" "$WORK/hold.out"
  mkfifo "$WORK/hold.in"
  OPTDB_RADOS_LEASE=$1 "$OPTDB_RADOS_ITEM" hold "$L" k <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
  HOLD_PID=$!
  exec {HOLD_FD}>"$WORK/hold.in"
  for _ in $(seq 200); do grep -q locked "$WORK/hold.out" 2>/dev/null && return 0; msleep 50; done
  fail "the holder never got the lock: $(cat "$WORK/hold.out")"
}
pend_k() { # pend_k TRX REV
  run --stdin "{\"updates\":{\"k\":[[\"v\",0,1,$2]]}}" --store "$L" pend --trx "$1" --rev "$2"
  expect_rc 0
}

case_ "a live holder keeps its lock past its lease (renewed)"
pend_k k2 2
hold_lock 2
msleep 4500
run --store "$L" --lock-timeout 0 commit --trx k2 --rev 2 k
expect_rc 7
expect_err_lines 1

case_ "a client killed holding a lock: others wait for its lease, then get it"
kill -KILL "$HOLD_PID"; wait "$HOLD_PID" 2>/dev/null; exec {HOLD_FD}>&-
run --store "$L" --lock-timeout 0 commit --trx k2 --rev 2 k
expect_rc 7
start=$SECONDS
run --store "$L" --lock-timeout 20 commit --trx k2 --rev 2 k
expect_rc 0
expect_out '{"success":true}'
expect_eq "got it within the lease (2 s) and a little" yes "$( ((SECONDS - start <= 6)) && echo yes)"

case_ "a holder that stalled past its lease writes nothing when it wakes"
pend_k k3 3
hold_lock 2
kill -STOP "$HOLD_PID"
msleep 3000
run --store "$L" --lock-timeout 20 commit --trx k3 --rev 3 k
expect_rc 0
before=$(tree_state "$L")
kill -CONT "$HOLD_PID"
echo go >&"$HOLD_FD"
wait "$HOLD_PID"
hold_rc=$?
exec {HOLD_FD}>&-
expect_eq "the stalled holder's write refused (exit 7)" 7 "$hold_rc"
grep -q "no longer ours" "$WORK/hold.out" && ok || fail "the stalled holder said: $(cat "$WORK/hold.out")"
expect_same_tree "$before" "$L"
run --store "$L" get k
expect_out "{\"k\":{\"block\":{$(hdr k),\"v\":3},\"state\":{\"latest\":{\"trxId\":\"k3\",\"rev\":3},\"pendings\":[]}}}"

# ---- 4. writers killed at random on overlapping blocks ----

K=$(mkstore)
ins=""
for b in c0 c1 c2; do ins+="${ins:+,}\"$b\":{$(hdr "$b"),\"log\":[]}"; done
run --stdin "{\"inserts\":{$ins}}" --store "$K" pend --trx init
run --store "$K" commit --trx init --rev 1 c0 c1 c2
expect_rc 0
: >"$WORK/acked"
# writer W: commits W-N on two of the three blocks, at the next revision, until killed.
writer() {
  local w=$1 n=0 rev a b
  while :; do
    n=$((n + 1))
    a=c$((RANDOM % 3)); b=c$(((${a#c} + 1 + RANDOM % 2) % 3))
    rev=$(("$OPTDB" --store "$K" get c0 c1 c2 2>/dev/null | grep -o '"rev":[0-9]*' | cut -d: -f2; echo 0) | sort -n | tail -1)
    rev=$((rev + 1))
    printf '{"updates":{"%s":[["log",0,0,["%s"]]],"%s":[["log",0,0,["%s"]]]}}' "$a" "$w-$n" "$b" "$w-$n" |
      "$OPTDB" --store "$K" pend --trx "$w-$n" --rev "$rev" >/dev/null 2>&1 || continue
    if "$OPTDB" --store "$K" commit --trx "$w-$n" --rev "$rev" "$a" "$b" >/dev/null 2>&1; then
      echo "$w-$n $rev $a $b" >>"$WORK/acked"
    else
      "$OPTDB" --store "$K" cancel --trx "$w-$n" "$a" "$b" >/dev/null 2>&1
    fi
  done
}
kill_seed 3
for round in 1 2 3; do
  pids=()
  for w in 1 2 3; do set -m; writer "r$round-w$w" & pids+=($!); set +m; done
  msleep $((1500 + RANDOM % 1500))
  for p in "${pids[@]}"; do killjob "$p"; done
done
case_ "after writers killed at random: reads whole, acknowledged commits kept, repair leaves it clean"
acked=$(wc -l <"$WORK/acked")
expect_eq "some commits were acknowledged" yes "$( ((acked > 3)) && echo yes)"
run --store "$K" repair
expect_rc 0
run --store "$K" inspect --check
expect_rc 0
run --store "$K" get c0 c1 c2
expect_rc 0
missing=0
got=$(cat "$OUTF")
for blk in c0 c1 c2; do
  log=$(grep -o "\"$blk\":{\"block\":{[^}]*},\"log\":\[[^]]*\]" <<<"$got")
  while read -r trx rev a b; do
    [[ $a == "$blk" || $b == "$blk" ]] || continue
    [[ $log == *"\"$trx\""* ]] || { missing=$((missing + 1)); echo "lost: $trx on $blk" >&2; }
  done <"$WORK/acked"
done
expect_eq "acknowledged commits lost" 0 "$missing"
echo "test_rados: $acked commits acknowledged by killed writers"

finish
