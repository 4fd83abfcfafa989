#!/usr/bin/env bash
# kill -9 at random moments: no acknowledged commit is ever lost.
#
# A child process loops over pend/commit cycles on 1 to 4 blocks (a commit on
# one block records no intent, on several it does) through the real
# binary, logging a commit only after `optdb commit` exited 0, and is killed
# with SIGKILL (its whole process group, so an optdb mid-write dies too) after
# a random 5–40 ms (every 8th: 40–200 ms). Sometimes the repair that follows is killed as well and
# run again. After every kill:
#   - `optdb repair` exits 0 and `optdb inspect --check` is clean (exit 0);
#   - every logged commit is present at its revision on each of its blocks;
#   - every block reads back equal to replaying its committed transforms
#     (each transform appends its transaction id to the block's "log").
#
# fsync is on (the default). The store lives on tmpfs when there is one, so
# the fsyncs are made but cost little: a kill loses no page cache anyway (the
# power-cut cases are test_powercut's).
#
#   bash tests/cli/test_kill.sh build/apps/optdb
#   OPTDB_KILL_SEED=1234 bash tests/cli/test_kill.sh build/apps/optdb   # replay a run
#   OPTDB_KILLS=1000 …                                                 # more kills
source "$(dirname "$0")/lib.sh"
set -m  # each background job in its own process group, so that it dies whole

kill_seed 200

mkstore_fast S
LOG=$WORK/committed.log # "trxId rev block…", one line per acknowledged commit
: >"$LOG"
BLOCKS=(k0 k1 k2 k3 k4 k5)

case_ "setup: insert every block at revision 1"
json='{"inserts":{'
sep=''
for b in "${BLOCKS[@]}"; do
  json+="$sep\"$b\":{\"header\":{\"id\":\"$b\",\"type\":\"log\",\"collectionId\":\"c\"},\"log\":[]}"
  sep=,
done
run --stdin "$json}}" --store "$S" pend --trx init --rev 1
expect_rc 0
run --store "$S" commit --trx init --rev 1 "${BLOCKS[@]}"
expect_rc 0

# The child: pend, then commit, 1–4 blocks at a time, at increasing revisions
# from its base, forever. Its randomness comes from its own seed.
CHILD=$WORK/child.sh
cat >"$CHILD" <<'EOF'
OPTDB=$1 S=$2 LOG=$3 RANDOM=$4 rev=$5
blocks=(k0 k1 k2 k3 k4 k5)
while :; do
  rev=$((rev + 1))
  trx="c$rev"
  count=$((1 + RANDOM % 4)) start=$((RANDOM % 6))
  picked=()
  for ((j = 0; j < count; j++)); do picked+=("${blocks[(start + j) % 6]}"); done
  json='{"updates":{' sep=''
  for b in "${picked[@]}"; do
    json+="$sep\"$b\":[[\"log\",1000000,0,[\"$trx\"]]]"
    sep=,
  done
  printf '%s}}' "$json" | "$OPTDB" --store "$S" pend --trx "$trx" --rev "$rev" >/dev/null 2>&1 || continue
  if "$OPTDB" --store "$S" commit --trx "$trx" --rev "$rev" "${picked[@]}" >/dev/null 2>&1; then
    echo "$trx $rev ${picked[*]}" >>"$LOG"   # only after exit 0
  fi
done
EOF


verify() {
  case_ "after kill $1 (seed $SEED)"
  run --store "$S" repair
  expect_rc 0
  if ((RC != 0)); then return 1; fi
  run --store "$S" inspect --check
  expect_rc 0
  expect_no_out
  if ((RC != 0)); then return 1; fi
  # What the store holds: "block rev trxId" for every complete revision, ascending per block.
  run --store "$S" inspect --revisions
  expect_rc 0
  awk '/^block /{b=$2} /^  revision /{print b" "$2" "$3}' "$OUTF" >"$WORK/present"
  # Every acknowledged commit is there, at its revision, on each of its blocks.
  awk '{for (i = 3; i <= NF; i++) print $i" "$2" "$1}' "$LOG" | LC_ALL=C sort >"$WORK/want"
  local missing
  missing=$(LC_ALL=C comm -23 "$WORK/want" <(LC_ALL=C sort "$WORK/present") | head -n 5)
  if [[ -n $missing ]]; then fail "acknowledged commits missing (block rev trx): $missing"; return 1; fi
  ok
  # Every block equals the replay of its committed transforms: its log lists
  # the transactions committed on it, in revision order.
  run --store "$S" get "${BLOCKS[@]}"
  expect_rc 0
  grep -o '"log":\[[^]]*\]' "$OUTF" | sed 's/^"log":\[//; s/\]$//; s/"//g' >"$WORK/logs"
  awk -v list="${BLOCKS[*]}" 'BEGIN { n = split(list, bs, " ") }
    $3 != "init" { w[$1] = w[$1] (w[$1] == "" ? "" : ",") $3 }
    END { for (i = 1; i <= n; i++) print w[bs[i]] }' "$WORK/present" >"$WORK/replayed"
  if ! diff "$WORK/replayed" "$WORK/logs" >"$WORK/diff"; then
    fail "blocks (${BLOCKS[*]}, one per line) differ from the replay of their committed transforms (< replay, > read):
$(head -c 2000 "$WORK/diff")"
    return 1
  fi
  ok
}

repair_kills=0
for ((it = 1; it <= KILLS; it++)); do
  delay=$((5 + RANDOM % 36)) childSeed=$RANDOM
  # Every 8th kill comes later (40–200 ms), so that commits complete and get
  # acknowledged even where optdb starts slowly (a loaded CI, a sanitizer build).
  if ((it % 8 == 0)); then delay=$((40 + RANDOM % 161)); fi
  # Still too few (a very slow machine): every 4th kill waits up to 0.9 s.
  if ((it % 4 == 2 && $(wc -l <"$LOG") < it / 10)); then delay=$((200 + RANDOM % 700)); fi
  # Revisions far above anything an earlier child (or its finished commit) used.
  bash "$CHILD" "$OPTDB" "$S" "$LOG" "$childSeed" $((it * 100000)) </dev/null &
  pid=$!
  msleep "$delay"
  killjob "$pid"
  if ((RANDOM % 6 == 0)); then # kill the repair itself, part way
    "$OPTDB" --store "$S" repair >/dev/null 2>&1 </dev/null &
    pid=$!
    msleep $((RANDOM % 4))
    killjob "$pid"
    repair_kills=$((repair_kills + 1))
  fi
  verify "$it" || break
done

acknowledged=$(wc -l <"$LOG")
landed=$(awk '$3 != "init"' "$WORK/present" | awk '{print $3}' | sort -u | wc -l)
echo "test_kill: $((it > KILLS ? KILLS : it)) kills of the writer, $repair_kills of repair; $acknowledged acknowledged commits;" \
  "$landed commits in the store ($((landed - acknowledged)) more: killed past their point of no return, finished by repair)"
case_ "enough commits were acknowledged to mean something"
if ((acknowledged >= KILLS / 10)); then ok; else fail "only $acknowledged commits acknowledged in $KILLS kills"; fi
finish
