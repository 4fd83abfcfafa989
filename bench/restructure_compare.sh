#!/usr/bin/env bash
# restructure_compare.sh: compares two builds of the optdb CLI in one run
# (issue 13: integrity over RawStorage, commit planning in BlockStorage,
# restore sources asked before reads), so that machine noise hits both alike.
#
#   bash bench/restructure_compare.sh OLD_BINARY NEW_BINARY WORKDIR
#
# WORKDIR must be absent or empty; everything is written beneath it.
# It builds one store with NEW_BINARY (BLOCKS blocks x REVS revisions of a
# small JSON block, loaded through `optdb --no-sync batch`, in the store's
# default dialect; blocks are given sparse revisions, 1..BLOCKS*REVS across the
# store, and one pending transaction is left on the last 10 blocks), then
# gives each binary its own copy and times, alternating old and new runs
# (old, new, old, new, ... ROUNDS of each; RESTORE_ROUNDS for the durable restore), whole processes:
#   check      inspect --check (whole store)
#   summary    inspect (text summary)
#   repair     repair --dry-run
#   archive    archive --all -o /dev/null
#   restore    restore of that archive into an empty directory, durable
#   restore-ns the same with --no-sync
#   get        GETS one-shot `get` of random blocks (one fixed seeded list)
#   pendcommit PAIRS one-shot durable pend + commit pairs on distinct blocks
#              (each round on a fresh copy of the store, one per binary)
# Copies and deletions are not timed, and are followed by sync(1) so that a
# durable run does not pay for their writeback. Each workload is run once per
# binary before its timed rounds (warm page cache). It prints per workload the
# median of each binary, new/old, the median of the per-round ratios, and
# min/max; raw samples (microseconds) are kept in WORKDIR/results/.
# Before timing it checks that both binaries print byte-identical stdout
# (and stderr and exit status) for check, summary, repair and archive on one
# store, and that neither changed it; as extras it compares the stores that
# restore, and the pend+commit workload, leave, and the get outputs.
#
# Environment: ROUNDS (7), RESTORE_ROUNDS (5, for the durable restore, which
# takes about 30 s a run here and has no warm-up run), BLOCKS (200), REVS (30),
# GETS (200), PAIRS (100).
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 OLD_BINARY NEW_BINARY WORKDIR" >&2
  exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
WORK=$3
ROUNDS=${ROUNDS:-7}
BLOCKS=${BLOCKS:-200}
REVS=${REVS:-30}
GETS=${GETS:-200}
PAIRS=${PAIRS:-100}
RESTORE_ROUNDS=${RESTORE_ROUNDS:-5}
unset OPTDB_STORE OPTDB_LAYOUT OPTDB_SYNC OPTDB_RESTORE_TIMEOUT OPTDB_RESTORE_MAX_BYTES

for b in "$OLD" "$NEW"; do
  [[ -x $b ]] || { echo "not an executable: $b" >&2; exit 2; }
done
if [[ -e $WORK && -n $(ls -A "$WORK") ]]; then
  echo "WORKDIR $WORK exists and is not empty" >&2
  exit 2
fi
(( PAIRS <= BLOCKS )) || { echo "PAIRS must be at most BLOCKS" >&2; exit 2; }
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
mkdir -p "$WORK/results" "$WORK/input" "$WORK/out"

bid() { printf 'blk-%04d' "$1"; }   # block id of block number $1
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }
die() { echo "restructure_compare: $*" >&2; exit 1; }

# --- inputs --------------------------------------------------------------
# Loading: revision (r-1)*BLOCKS + k + 1 commits transaction tx-<rev> on block
# k (r = 1..REVS): r = 1 inserts it, later ones append a tag and set n.
awk -v B="$BLOCKS" -v R="$REVS" 'BEGIN {
  for (r = 1; r <= R; r++) for (k = 0; k < B; k++) {
    rev = (r - 1) * B + k + 1; id = sprintf("blk-%04d", k); t = sprintf("tx-%06d", rev)
    if (r == 1)
      tf = sprintf("{\"inserts\":{\"%s\":{\"header\":{\"id\":\"%s\",\"type\":\"note\",\"collectionId\":\"c1\"},\"title\":\"note %d\",\"text\":\"a small block, number %d, for the benchmark\",\"tags\":[],\"n\":0}}}", id, id, k, k)
    else
      tf = sprintf("{\"updates\":{\"%s\":[[\"tags\",-1,0,[\"tag-%d\"]],[\"n\",0,0,%d]]}}", id, r, r)
    printf "{\"op\":\"pend\",\"trxId\":\"%s\",\"transforms\":%s,\"rev\":%d}\n", t, tf, rev
    printf "{\"op\":\"commit\",\"trxId\":\"%s\",\"blockIds\":[\"%s\"],\"rev\":%d}\n", t, id, rev
  }
  # one pending transaction on the last 10 blocks, so that summaries and archives carry pendings
  ups = ""
  for (k = (B > 10 ? B - 10 : 0); k < B; k++)
    ups = ups (ups == "" ? "" : ",") sprintf("\"blk-%04d\":[[\"text\",0,0,\"pending edit\"]]", k)
  printf "{\"op\":\"pend\",\"trxId\":\"tx-pending\",\"transforms\":{\"updates\":{%s}},\"rev\":%d}\n", ups, B * R + 1000
}' > "$WORK/input/load.ndjson"

LAST_REV=$(( BLOCKS * REVS ))
# pend+commit workload: pair i (0..PAIRS-1) updates block i at LAST_REV+1+i
for (( i = 0; i < PAIRS; i++ )); do
  printf '{"updates":{"%s":[["tags",-1,0,["bench"]],["n",0,0,%d]]}}\n' "$(bid "$i")" "$i" \
    > "$WORK/input/pair-$i.json"
done
# get workload: GETS block ids drawn with a fixed seed
awk -v B="$BLOCKS" -v G="$GETS" 'BEGIN { srand(20261125); for (i = 0; i < G; i++) printf "blk-%04d\n", int(rand() * B) }' \
  > "$WORK/input/get-ids"
mapfile -t GET_IDS < "$WORK/input/get-ids"
PAIR_IDS=()
for (( i = 0; i < PAIRS; i++ )); do PAIR_IDS+=("$(bid "$i")"); done

# --- the store -----------------------------------------------------------
echo "# loading $BLOCKS blocks x $REVS revisions with NEW (--no-sync batch)"
"$NEW" --store "$WORK/base" --no-sync batch < "$WORK/input/load.ndjson" > "$WORK/out/load.out"
bad=$(jq -c 'select(.exit != 0)' "$WORK/out/load.out" | head -3)
[[ -z $bad ]] || die "load failed: $bad"
[[ $(wc -l < "$WORK/out/load.out") -eq $(wc -l < "$WORK/input/load.ndjson") ]] || die "load: missing responses"
"$NEW" --store "$WORK/base" inspect --check > /dev/null || die "the loaded store does not check clean"
cp -a "$WORK/base" "$WORK/store-old"
cp -a "$WORK/base" "$WORK/store-new"
cp -a "$WORK/base" "$WORK/store-cmp"
sync
"$NEW" --store "$WORK/base" archive --all -o "$WORK/input/all.ndjson"
sync
echo "# $("$NEW" --store "$WORK/base" inspect | tail -1)"
echo "# store: $(find "$WORK/base" -type f | wc -l) files, $(du -sk "$WORK/base" | cut -f1) KiB; archive $(wc -c < "$WORK/input/all.ndjson") bytes, $(wc -l < "$WORK/input/all.ndjson") lines"
echo "# dialect: $(jq -r '.blocks[0].dialect' <("$NEW" --store "$WORK/base" inspect --json))"

# --- identical output -----------------------------------------------------
tree_digest() {  # every path, type, size and content under $1 (locks included)
  (cd "$1" && find . -printf '%y %p %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) | md5sum | cut -d' ' -f1
}
identical=0
compare() {  # compare NAME ARGS...: run both binaries on store-cmp, compare stdout, stderr, exit
  local name=$1; shift
  local side bin rc
  for side in old new; do
    [[ $side == old ]] && bin=$OLD || bin=$NEW
    rc=0
    "$bin" --store "$WORK/store-cmp" "$@" > "$WORK/out/$name.$side.stdout" 2> "$WORK/out/$name.$side.stderr" || rc=$?
    echo "$rc" > "$WORK/out/$name.$side.rc"
  done
  local verdict="identical" f
  for f in stdout stderr rc; do
    if ! cmp -s "$WORK/out/$name.old.$f" "$WORK/out/$name.new.$f"; then
      verdict="DIFFERENT"; identical=1
      echo "## $name: $f differs:"
      diff <(head -c 2000000 "$WORK/out/$name.old.$f") <(head -c 2000000 "$WORK/out/$name.new.$f") | head -20 || true
    fi
  done
  printf '%-26s %-10s exit %s, stdout %s bytes, sha256 %s\n' "$name" "$verdict" "$(cat "$WORK/out/$name.new.rc")" \
    "$(wc -c < "$WORK/out/$name.new.stdout")" "$(sha256sum < "$WORK/out/$name.new.stdout" | cut -c1-16)"
}
echo
echo "# identical output (both binaries on one copy, $WORK/store-cmp)"
before=$(tree_digest "$WORK/store-cmp")
compare check inspect --check
compare check-json inspect --check --json
compare summary inspect
compare summary-json inspect --json
compare summary-revisions inspect --revisions
compare repair-dry-run repair --dry-run
compare archive archive --all
after=$(tree_digest "$WORK/store-cmp")
if [[ $before == "$after" ]]; then echo "store-cmp unchanged by these commands"; else echo "store-cmp CHANGED by these commands"; identical=1; fi
cmp -s "$WORK/out/archive.new.stdout" "$WORK/input/all.ndjson" || { echo "archive -o differs from archive to stdout"; identical=1; }

echo "# extras"
# get outputs over the whole workload list
for side in old new; do
  [[ $side == old ]] && bin=$OLD || bin=$NEW
  for id in "${GET_IDS[@]}"; do "$bin" --store "$WORK/store-cmp" get "$id"; done > "$WORK/out/gets.$side"
done
cmp -s "$WORK/out/gets.old" "$WORK/out/gets.new" && echo "get x$GETS outputs: identical" || { echo "get x$GETS outputs: DIFFERENT"; identical=1; }
# restore: the resulting trees and outputs
for side in old new; do
  [[ $side == old ]] && bin=$OLD || bin=$NEW
  mkdir "$WORK/restored-$side"
  "$bin" --store "$WORK/restored-$side" restore "$WORK/input/all.ndjson" > "$WORK/out/restore.$side"
done
cmp -s "$WORK/out/restore.old" "$WORK/out/restore.new" && echo "restore output: identical" || { echo "restore output: DIFFERENT"; identical=1; }
[[ $(tree_digest "$WORK/restored-old") == "$(tree_digest "$WORK/restored-new")" ]] \
  && echo "restored stores: identical trees" || { echo "restored stores: DIFFERENT trees"; identical=1; }
rm -rf "$WORK/restored-old" "$WORK/restored-new"

# --- timing ---------------------------------------------------------------
store_of() { [[ $1 == old ]] && echo "$WORK/store-old" || echo "$WORK/store-new"; }
bin_of() { [[ $1 == old ]] && echo "$OLD" || echo "$NEW"; }

# prepare WORKLOAD SIDE: untimed setup before one run
prepare() {
  local w=$1 side=$2
  case $w in
    restore|restore-ns) rm -rf "$WORK/target-$side"; mkdir "$WORK/target-$side"; sync ;;
    pendcommit) rm -rf "$WORK/pc-$side"; cp -a "$WORK/base" "$WORK/pc-$side"; sync ;;
  esac
}
# run WORKLOAD SIDE: the timed part
run() {
  local w=$1 side=$2 bin store i
  bin=$(bin_of "$side"); store=$(store_of "$side")
  case $w in
    check) "$bin" --store "$store" inspect --check > /dev/null || return 1 ;;
    summary) "$bin" --store "$store" inspect > /dev/null || return 1 ;;
    repair) "$bin" --store "$store" repair --dry-run > /dev/null || return 1 ;;
    archive) "$bin" --store "$store" archive --all -o /dev/null || return 1 ;;
    restore) "$bin" --store "$WORK/target-$side" restore "$WORK/input/all.ndjson" > /dev/null || return 1 ;;
    restore-ns) "$bin" --store "$WORK/target-$side" --no-sync restore "$WORK/input/all.ndjson" > /dev/null || return 1 ;;
    get) for i in "${GET_IDS[@]}"; do "$bin" --store "$store" get "$i" > /dev/null || return 1; done ;;
    pendcommit)
      for (( i = 0; i < PAIRS; i++ )); do
        "$bin" --store "$WORK/pc-$side" pend --trx "bench-$i" --rev $(( LAST_REV + 1 + i )) "$WORK/input/pair-$i.json" > /dev/null || return 1
        "$bin" --store "$WORK/pc-$side" commit --trx "bench-$i" --rev $(( LAST_REV + 1 + i )) "${PAIR_IDS[i]}" > /dev/null || return 1
      done ;;
  esac
}

WORKLOADS=(check summary repair archive restore-ns restore get pendcommit)
echo
echo "# timing: $ROUNDS rounds ($RESTORE_ROUNDS for restore), old and new alternating; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for w in "${WORKLOADS[@]}"; do
  n=$ROUNDS
  if [[ $w == restore ]]; then
    n=$RESTORE_ROUNDS   # about half a minute a run: fsync-bound, so no warm-up either (restore-ns warmed the cache)
  else
    for side in old new; do prepare "$w" "$side"; run "$w" "$side" || die "$w ($side) failed"; done   # warm-up, not recorded
  fi
  : > "$WORK/results/$w.old"; : > "$WORK/results/$w.new"
  for (( r = 1; r <= n; r++ )); do
    for side in old new; do
      prepare "$w" "$side"
      t0=$(now_us)
      run "$w" "$side" || die "$w ($side) failed"
      t1=$(now_us)
      echo $(( t1 - t0 )) >> "$WORK/results/$w.$side"
    done
  done
done
# the pend+commit stores: both binaries should have written the same tree
if [[ $(tree_digest "$WORK/pc-old") == "$(tree_digest "$WORK/pc-new")" ]]; then
  echo "pend+commit stores: identical trees"
else
  echo "pend+commit stores: DIFFERENT trees (extra check)"; identical=1
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
echo
printf '%-11s %12s %12s %9s %12s %22s %22s\n' workload "old ms" "new ms" new/old "paired med" "old min..max" "new min..max"
for w in "${WORKLOADS[@]}"; do
  mo=$(median < "$WORK/results/$w.old"); mn=$(median < "$WORK/results/$w.new")
  pr=$(paste "$WORK/results/$w.old" "$WORK/results/$w.new" | awk '{ print $2 / $1 }' | median)
  lo_o=$(sort -n "$WORK/results/$w.old" | head -1); hi_o=$(sort -n "$WORK/results/$w.old" | tail -1)
  lo_n=$(sort -n "$WORK/results/$w.new" | head -1); hi_n=$(sort -n "$WORK/results/$w.new" | tail -1)
  printf '%-11s %12s %12s %9.3f %12.3f %22s %22s\n' "$w" "$(ms "$mo")" "$(ms "$mn")" "$(awk -v a="$mn" -v b="$mo" 'BEGIN { print a / b }')" "$pr" \
    "$(ms "$lo_o")..$(ms "$hi_o")" "$(ms "$lo_n")..$(ms "$hi_n")"
done
echo "(get: $GETS processes per sample; pendcommit: $PAIRS pend + $PAIRS commit processes per sample; times are whole samples)"
exit "$identical"
