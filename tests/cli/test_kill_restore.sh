#!/usr/bin/env bash
# kill -9 of a durable restore in parallel (--jobs 2, each thread its own
# journal units and flush window) at random moments. After every kill, the
# restore run again to its end and a repair leave exactly the store that one
# uninterrupted restore leaves, and `inspect --check` is clean. Between the
# kill and that, a reader sees every block it finds whole: each block it reads
# is one of the states the archive's revisions make (never a revision missing
# below one it holds).
#
#   bash tests/cli/test_kill_restore.sh build/apps/optdb
#   OPTDB_KILL_SEED=1234 … (replay a run)   OPTDB_KILLS=100 … (more kills)
source "$(dirname "$0")/lib.sh"
set -m # each background job in its own process group, so that it dies whole

kill_seed 30

case_ "setup: 16 blocks of 25 revisions, archived in chunks of 6"
mkstore_fast A
{
  for ((b = 0; b < 16; b++)); do
    echo "{\"op\":\"pend\",\"trxId\":\"i$b\",\"transforms\":{\"inserts\":{\"r$b\":{\"header\":{\"id\":\"r$b\",\"type\":\"t\",\"collectionId\":\"c\"},\"log\":[]}}}}"
    echo "{\"op\":\"commit\",\"trxId\":\"i$b\",\"blockIds\":[\"r$b\"],\"rev\":1}"
    for ((r = 2; r <= 25; r++)); do
      echo "{\"op\":\"pend\",\"trxId\":\"u$b-$r\",\"transforms\":{\"updates\":{\"r$b\":[[\"log\",1000,0,[\"$r\"]]]}}}"
      echo "{\"op\":\"commit\",\"trxId\":\"u$b-$r\",\"blockIds\":[\"r$b\"],\"rev\":$r}"
    done
  done
} >"$WORK/build.ndjson"
run --in "$WORK/build.ndjson" --no-sync --store "$A" batch --buffer
expect_rc 0
expect_eq "requests that failed" 0 "$(grep -vc '"exit":0' "$OUTF")"
run --store "$A" archive --all --chunk 6 -o "$WORK/all.ndjson"
expect_rc 0

case_ "setup: the store one uninterrupted restore leaves"
mkstore_fast R
started=$(date +%s%N)
run --store "$R" restore --jobs 2 "$WORK/all.ndjson"
expect_rc 0
took_ms=$((($(date +%s%N) - started) / 1000000))
want=$(tree_state "$R")
expect_eq "restored" 16 "$(grep -o '"r[0-9]*"' "$OUTF" | sort -u | wc -l)"


# What a reader of block r$1 may see: its log after some prefix of its revisions.
readable() {
  local b=$1 out
  out=$("$OPTDB" --store "$S" get "r$b" 2>/dev/null) || return 0 # absent or refused: nothing seen
  local log
  log=$(grep -o '"log":\[[^]]*\]' <<<"$out" | head -n 1)
  [[ -z $log ]] && return 0 # not restored yet
  local n i expect='"log":['
  n=$(grep -o '"[0-9]*"' <<<"$log" | wc -l)
  for ((i = 2; i <= n + 1; i++)); do expect+="$([[ $i -gt 2 ]] && echo ,)\"$i\""; done
  expect+=']'
  [[ $log == "$expect" ]] || { fail "r$b reads $log, not a prefix of its history"; return 1; }
}

span=$((took_ms > 20 ? took_ms : 20))
partway=0
for ((it = 1; it <= KILLS; it++)); do
  case_ "after kill $it (seed $SEED)"
  [[ -n ${S:-} ]] && rm -rf "$S"
  mkstore_fast S
  kills=$((1 + (RANDOM % 3 == 0)))
  for ((k = 0; k < kills; k++)); do
    "$OPTDB" --store "$S" restore --jobs 2 "$WORK/all.ndjson" >/dev/null 2>&1 </dev/null &
    pid=$!
    msleep $((1 + RANDOM % span))
    killjob "$pid"
  done
  for b in $((RANDOM % 16)) $((RANDOM % 16)); do readable "$b" || break 2; done
  # Killed part way: some blocks' files there, not yet all of them.
  there=$(find "$S" -maxdepth 2 -name meta.json | wc -l)
  ((there > 0 && there < 16)) && partway=$((partway + 1))
  run --store "$S" restore --jobs 2 "$WORK/all.ndjson"
  expect_rc 0
  run --store "$S" repair
  expect_rc 0
  run --store "$S" inspect --check
  expect_rc 0
  expect_no_out
  expect_same_tree "$want" "$S"
  ((FAILS)) && break
done
echo "test_kill_restore: a whole restore took ${took_ms} ms; $partway of $KILLS kills left it part way"

finish
