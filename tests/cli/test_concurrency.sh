#!/usr/bin/env bash
# Concurrent writers through the real binary. WORKERS processes each run CYCLES
# transactions against 4 shared blocks b0..b3 (SPEC §3: pend's stale and
# pending checks, commit's stale check, locks across processes):
#
#   get b0 b1 b2 b3            → R = (highest latest rev) + 1
#   pend --rev R --policy f|c|w  → appends the trxId to the "log" array of 1–4
#                                  of the blocks (a random subset, in random order)
#   commit --rev R               → all four blocks, in random order
#   on exit 4 (stale) or 5 (pending conflict): cancel, back off, retry.
# Any other exit code (7: a lock not acquired in 20 s, 1, 2, 3, a crash) fails the test.
#
# Every transaction lists all four blocks (the blocks it does not append to get
# an empty update list, a no-op), so any two transactions share a block and the
# store itself must refuse a second commit at a revision: revisions are then
# unique across all transactions. (With disjoint block sets two transactions may
# legitimately commit at the same revision: SPEC §3 compares a commit's rev
# with the latest of its own blocks only.)
#
# Afterwards: every commit that exited 0 is present at its revision, revisions
# never repeat and have no gaps, every block equals the replay of the recorded
# appends in revision order, and no pending transaction is left.
#
#   bash tests/cli/test_concurrency.sh build/apps/optdb [WORKERS] [CYCLES]
source "$(dirname "$0")/lib.sh"

WORKERS=${2:-8}
CYCLES=${3:-100}
DEADLINE=${OPTDB_CONCURRENCY_DEADLINE:-400}   # seconds before the workers are killed
mkstore_fast S
BLOCKS=(b0 b1 b2 b3)
ERRS=$WORK/errors
: >"$ERRS"

hdr() { printf '"header":{"id":"%s","type":"log","collectionId":"c"}' "$1"; }

# ---- the four blocks, inserted at rev 1 ----
ins=""
for b in "${BLOCKS[@]}"; do ins+="${ins:+,}\"$b\":{$(hdr "$b"),\"log\":[]}"; done
run --stdin "{\"inserts\":{$ins}}" --store "$S" pend --trx init
expect_rc 0
run --store "$S" commit --trx init --rev 1 "${BLOCKS[@]}"
expect_rc 0
((FAILS)) && finish

# A sleep that forks nothing: read with a timeout on a FIFO that never delivers.
mkfifo "$WORK/never"
exec 9<>"$WORK/never"
nap() { read -r -t "$1" -u 9; }

# worker W: CYCLES committed transactions; one record line per commit that exited 0:
#   TRXID REV BLOCKS(comma-separated, the ones appended to) TRANSFORMS-JSON
# (Written to spawn nothing but optdb itself: the machine's two cores are for optdb.)
worker() {
  local w=$1 rec=$WORK/rec.$1 out=$WORK/w.$1.out err=$WORK/w.$1.err
  local n=0 attempt=0 rc r max R mask i j t b json touched line what trx ms
  local -a order pol
  : >"$rec"
  opt() { "$OPTDB" --store "$S" --no-sync --lock-timeout 20 "$@" >"$out" 2>"$err"; }
  while ((n < CYCLES)); do
    attempt=$((attempt + 1))
    trx="w$w-$n-$attempt"
    if ((attempt > 500)); then echo "worker $w: no progress after $attempt attempts" >>"$ERRS"; return 1; fi

    opt get "${BLOCKS[@]}"
    rc=$?
    line=""
    read -r line <"$out"
    if ((rc != 0)); then echo "worker $w: get exited $rc: $(<"$err")" >>"$ERRS"; return 1; fi
    max=0
    while [[ $line =~ \"rev\":([0-9]+)(.*) ]]; do
      r=${BASH_REMATCH[1]}
      ((r > max)) && max=$r
      line=${BASH_REMATCH[2]}
    done
    R=$((max + 1))

    # 1–4 blocks get the append, in a random order; the others an empty update list.
    mask=$((RANDOM % 15 + 1))
    order=("${BLOCKS[@]}")
    for ((i = 3; i > 0; i--)); do
      j=$((RANDOM % (i + 1)))
      t=${order[i]}
      order[i]=${order[j]}
      order[j]=$t
    done
    json="" touched=""
    for b in "${order[@]}"; do
      if ((mask & (1 << ${b#b}))); then
        json+="${json:+,}\"$b\":[[\"log\",1000000,0,[\"$trx\"]]]"
        touched+="${touched:+,}$b"
      else
        json+="${json:+,}\"$b\":[]"
      fi
    done
    json="{\"updates\":{$json}}"
    # f fails fast (5) while another transaction is pending; c pends beside it,
    # and then the later commit at the same R is stale (4); w waits for the
    # others to go, and then finds R stale (4) or goes ahead.
    case $((RANDOM % 4)) in
      0) pol=(--policy c) ;;
      1) pol=(--policy w --timeout 2) ;;
      *) pol=(--policy f) ;;
    esac

    opt pend --trx "$trx" --rev "$R" "${pol[@]}" <<<"$json"
    rc=$?
    what=pend
    if ((rc == 0)); then
      opt commit --trx "$trx" --rev "$R" -- "${order[@]}"
      rc=$?
      what=commit
      if ((rc == 0)); then
        line=""
        read -r line <"$out"
        if [[ $line != '{"success":true}' ]]; then
          echo "worker $w: commit $trx exited 0 but printed: $line" >>"$ERRS"
          return 1
        fi
        echo "$trx $R $touched $json" >>"$rec"
        n=$((n + 1))
        attempt=0
        continue
      fi
    fi
    if ((rc != 4 && rc != 5)); then
      echo "worker $w: $what $trx at $R exited $rc: $(<"$out") $(<"$err")" >>"$ERRS"
      return 1
    fi
    opt cancel --trx "$trx" "${BLOCKS[@]}"
    rc=$?
    if ((rc != 0)); then echo "worker $w: cancel $trx exited $rc: $(<"$err")" >>"$ERRS"; return 1; fi
    # back off a little, more after repeated failures, so the losers do not spin
    printf -v ms '%03d' $((RANDOM % (10 << (attempt < 4 ? attempt : 4))))
    nap "0.$ms"
  done
}

t0=$SECONDS
pids=()
for ((w = 1; w <= WORKERS; w++)); do
  worker "$w" &
  pids+=($!)
done
# wait for all, but never longer than DEADLINE
while :; do
  running=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  ((running == 0)) && break
  if ((SECONDS - t0 > DEADLINE)); then
    fail "workers still running after ${DEADLINE}s: killed"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    break
  fi
  sleep 0.2
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
WORK_TIME=$((SECONDS - t0))

case_ "workers"
if [[ -s $ERRS ]]; then fail "$(head -n 20 "$ERRS")"; else ok; fi

# ---- the records ----
cat "$WORK"/rec.* | sort -n -k2,2 >"$WORK/records"
total=$(wc -l <"$WORK/records")
expect_eq "commits recorded" $((WORKERS * CYCLES)) "$total"
for ((w = 1; w <= WORKERS; w++)); do
  expect_eq "commits of worker $w" "$CYCLES" "$(wc -l <"$WORK/rec.$w")"
done

case_ "revisions"
dups=$(cut -d' ' -f2 "$WORK/records" | uniq -d | head -n 5 | tr '\n' ' ')
expect_eq "revisions committed twice" "" "$dups"
# R = highest latest + 1 and every transaction shares a block with every other:
# the revisions must be exactly 2, 3, …, total + 1.
expect_eq "revisions" "$(seq 2 $((total + 1)) | tr '\n' ' ')" "$(cut -d' ' -f2 "$WORK/records" | tr '\n' ' ')"

# ---- replay the records in revision order; every commit must read back at its revision ----
declare -A LOG HDR
for b in "${BLOCKS[@]}"; do
  LOG[$b]=""
  HDR[$b]=$(hdr "$b")
done
last=$(tail -n 1 "$WORK/records")
last_trx=${last%% *}
last_rev=$(cut -d' ' -f2 <<<"$last")
# expected_get VAR: VAR = the exact `get b0 b1 b2 b3` output for the current LOG
# (every block's latest is the last commit: every transaction lists every block).
expected_get() {
  local s="" b
  for b in "${BLOCKS[@]}"; do
    s+="${s:+,}\"$b\":{\"block\":{${HDR[$b]},\"log\":[${LOG[$b]}]},\"state\":{\"latest\":{\"trxId\":\"$last_trx\",\"rev\":$last_rev},\"pendings\":[]}}"
  done
  printf -v "$1" '{%s}' "$s"
}
case_ "every commit at its revision"
# The expected reads, in order; then two checkers run the 800 gets side by side.
declare -a EXP REVS DESCS
while read -r trx rev touched json; do
  for b in ${touched//,/ }; do LOG[$b]+="${LOG[$b]:+,}\"$trx\""; done
  expected_get want
  EXP+=("$want")
  REVS+=("$rev")
  DESCS+=("commit $trx on $touched")
done <"$WORK/records"
check_revs() { # check_revs PART PARTS: every PARTS-th record from PART on; mismatches to $WORK/mismatch.PART
  local k got rc
  for ((k = $1; k < ${#EXP[@]}; k += $2)); do
    "$OPTDB" --store "$S" get "${BLOCKS[@]}" --rev "${REVS[k]}" >"$WORK/v.$1" 2>/dev/null
    rc=$?
    got=""
    read -r got <"$WORK/v.$1"
    if [[ $rc != 0 || $got != "${EXP[k]}" ]]; then
      printf 'get --rev %s (%s): exit %s\n  expected: %s\n  got:      %s\n' \
        "${REVS[k]}" "${DESCS[k]}" "$rc" "${EXP[k]}" "$got" >>"$WORK/mismatch.$1"
    fi
  done
}
: >"$WORK/mismatch.0"
: >"$WORK/mismatch.1"
check_revs 0 2 &
check_revs 1 2
wait
bad_revs=$(($(grep -c '^get --rev' "$WORK/mismatch.0") + $(grep -c '^get --rev' "$WORK/mismatch.1")))
((bad_revs == 0)) && ok || fail "$bad_revs revisions read back wrong, e.g.:
$(cat "$WORK/mismatch.0" "$WORK/mismatch.1" | head -n 9)"

case_ "final state equals the replay, no pending left"
run --store "$S" get "${BLOCKS[@]}"
expect_rc 0
expected_get want
expect_out "$want"
if on_rados; then
  # No item objects left that no index names (check reports them as leftovers).
  run --store "$S" inspect --check
  expect_rc 0
else
  for b in "${BLOCKS[@]}"; do
    left=$(find "$S/$b/pend" -name '*.json' 2>/dev/null | wc -l)
    expect_eq "pending files left on $b" 0 "$left"
  done
  left=$(find "$S" -name '.*.tmp.*' | wc -l)
  expect_eq "temporary files left" 0 "$left"
fi

attempts=0
while read -r trx _; do attempts=$((attempts + ${trx##*-})); done <"$WORK/records"
echo "$TEST_NAME: $WORKERS workers x $CYCLES commits in ${WORK_TIME}s (attempts of the committed transactions: $attempts)"
finish
