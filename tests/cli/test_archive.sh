#!/usr/bin/env bash
# Archives and restoration through the real binary (SPEC §4): a store with
# several blocks and a few hundred sparse revisions (a deleted block, pending
# transactions) archived with --all and restored into an empty store through a
# pipe, then compared at every revision; chunked and partial archives restored
# in any order; restoring twice; rejected input (exit codes, nothing written);
# archive's usage errors and -o; lazy restoration through every kind of
# --restore-from, including a command that fails and one that prints garbage.
#
#   bash tests/cli/test_archive.sh build/apps/optdb
# Thousands of small files: scratch space in RAM when there is some (unless TMPDIR says otherwise).
[[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm
source "$(dirname "$0")/lib.sh"

BLOCKS=(b0 b1 b2 b3 b4)
hdr() { printf '{"header":{"id":"%s","type":"t","collectionId":"c"},"items":[],"n":0}' "$1"; }

# ---- a history: ~200 transactions at sparse revisions; b2 deleted; pendings ----
A=$(mkstore)
RANDOM=7
declare -A exists=()
rev=0
for ((i = 1; i <= 200; i++)); do
  rev=$((rev + 1 + RANDOM % 3))
  ins="" upd="" del=""
  blocks=()
  if ((i == 150)); then
    del='"b2"'
    blocks=(b2)
  else
    for b in b0 b1 b2 b3; do
      [[ $b == b2 ]] && ((i > 150)) && continue
      ((RANDOM % 3 == 0)) || continue
      if [[ -z ${exists[$b]:-} ]]; then
        ins+="${ins:+,}\"$b\":$(hdr "$b")"
        exists[$b]=1
      else
        upd+="${upd:+,}\"$b\":[[\"items\",0,0,[$rev]],[\"n\",0,0,$rev]]"
      fi
      blocks+=("$b")
    done
  fi
  ((${#blocks[@]})) || continue
  echo "{\"inserts\":{$ins},\"updates\":{$upd},\"deletes\":[$del]}" |
    "$OPTDB" --no-sync --store "$A" pend --trx "tx:r$rev" >/dev/null 2>"$ERRF" || fail "building: pend at $rev: $(cat "$ERRF")"
  "$OPTDB" --no-sync --store "$A" commit --trx "tx:r$rev" --rev "$rev" "${blocks[@]}" >/dev/null 2>"$ERRF" ||
    fail "building: commit at $rev: $(cat "$ERRF")"
done
TOP=$rev
echo '{"updates":{"b0":[["n",0,0,-1]],"b1":[["items",0,0,["p"]]]}}' | "$OPTDB" --store "$A" pend --trx pending-1 >/dev/null
echo "{\"inserts\":{\"b4\":$(hdr b4)}}" | "$OPTDB" --store "$A" pend --trx pending-2 >/dev/null

# Every block at every STEP-th revision (default 1), and at its latest, with get's exit codes.
reads() {
  local s=$1 step=${2:-1} r
  for ((r = 0; r <= TOP + 1; r += step)); do
    "$OPTDB" --store "$s" get "${BLOCKS[@]}" --rev "$r" 2>/dev/null
    echo "rc=$?"
  done
  "$OPTDB" --store "$s" get "${BLOCKS[@]}" 2>/dev/null
  echo "rc=$?"
}
expect_same_reads() { # expect_same_reads STORE [STEP]
  local got want=$A_READS
  got=$(reads "$1" "${2:-1}")
  [[ ${2:-1} == 1 ]] || want=$(reads "$A" "$2")
  if [[ $got == "$want" ]]; then ok; else
    fail "reads differ from the original store:"$'\n'"$(diff <(echo "$want") <(echo "$got") | head -n 10)"
  fi
}
expect_same_metas() { # expect_same_metas STORE: every block's meta.json (ranges, latest) as in A
  local b
  for b in "${BLOCKS[@]}"; do expect_eq "$b/meta.json" "$(cat "$A/$b/meta.json")" "$(cat "$1/$b/meta.json" 2>&1)"; done
}
A_READS=$(reads "$A")
expect_eq "the history has a few hundred revisions" 1 $((TOP >= 300))
expect_eq "b2 is absent at the latest" 1 "$(tail -n 2 <<<"$A_READS" | head -n 1 | grep -c '"b2":{"state":{"latest":{"trxId":"tx:r[0-9]*","rev":[0-9]*},"pendings":\[\]}}')"

# ---- round trip through a pipe, into a store that does not exist yet ----
case_ "archive --all | restore into an empty store"
B=$WORK/b
"$OPTDB" --store "$A" archive --all | "$OPTDB" --no-sync --store "$B" restore >"$OUTF" 2>"$ERRF"
RC=$?
expect_success '{"restored":["b0","b1","b2","b3","b4"],"rejected":[]}'
expect_same_reads "$B"
expect_same_metas "$B"
expect_file "$B/b1/pend/pending-1.json" '{"updates":[["items",0,0,["p"]]]}'
expect_missing_path "$B/b2/pend/pending-1.json"

case_ "archive -o FILE: the same archives, stdout empty"
run --store "$A" archive --all -o "$WORK/all.ndjson"
expect_rc 0
expect_no_out
expect_no_err
"$OPTDB" --store "$A" archive --all >"$WORK/stdout.ndjson"
expect_eq "-o and stdout" "$(sha256sum <"$WORK/stdout.ndjson")" "$(sha256sum <"$WORK/all.ndjson")"
expect_eq "one archive a line, one line a block" 5 "$(wc -l <"$WORK/all.ndjson")"
run --store "$A" --pretty archive b0
expect_eq "--pretty: still one line" 1 "$(wc -l <"$OUTF")"

case_ "restoring twice changes nothing"
before=$(tree_state "$B")
run --store "$B" restore "$WORK/all.ndjson"
expect_rc 0
expect_out '{"restored":["b0","b1","b2","b3","b4"],"rejected":[]}'
expect_same_tree "$before" "$B"
run --in "$WORK/all.ndjson" --store "$B" restore -
expect_rc 0
expect_same_tree "$before" "$B"

# ---- chunked and partial archives, any order ----
case_ "--chunk 5, shuffled, restored from a file"
run --store "$A" archive --all --chunk 5 -o "$WORK/chunks.ndjson"
expect_rc 0
expect_eq "many chunks" 1 $(($(wc -l <"$WORK/chunks.ndjson") > 40))
shuf --random-source=<(yes) "$WORK/chunks.ndjson" >"$WORK/shuffled.ndjson"
C=$(mkstore)
run --no-sync --store "$C" restore "$WORK/shuffled.ndjson"
expect_rc 0
expect_same_metas "$C"
expect_same_reads "$C" 3

case_ "restore --jobs: the same store from 1 thread and from 3; a bad count writes nothing"
C1=$(mkstore)
run --store "$C1" restore --jobs 1 "$WORK/shuffled.ndjson"
expect_rc 0
one=$(cat "$OUTF")
C3=$(mkstore)
run --store "$C3" restore -j 3 "$WORK/shuffled.ndjson"
expect_rc 0
expect_out "$one"
expect_same_tree "$(tree_state "$C1")" "$C3"
for bad in 0 65 x -1 ""; do
  run --store "$WORK/none" restore --jobs "$bad" "$WORK/shuffled.ndjson"
  expect_rc 2
  expect_err_line "--jobs"
  expect_same_tree "(absent)" "$WORK/none"
done

case_ "--to 150 and --from 150, the later half first, as a JSON array and NDJSON"
run --store "$A" archive --all --to 150 -o "$WORK/lo.ndjson"
expect_rc 0
run --store "$A" archive --all --from 150 -o "$WORK/hi.ndjson"
expect_rc 0
{ echo '['; paste -sd, "$WORK/hi.ndjson"; echo ']'; } >"$WORK/hi.json"
D=$(mkstore)
run --no-sync --store "$D" restore "$WORK/hi.json" "$WORK/lo.ndjson"
expect_rc 0
expect_same_metas "$D"
expect_same_reads "$D" 3
before=$(tree_state "$D")
run --store "$D" restore "$WORK/lo.ndjson" "$WORK/hi.ndjson"
expect_rc 0
expect_same_tree "$before" "$D"

case_ "a held piece only: archives claim no more than the store holds"
E=$(mkstore)
run --store "$E" restore "$WORK/hi.ndjson"
expect_rc 0
run --store "$E" archive b1 --rev 3
expect_rc 3
expect_no_out
expect_err_line "not held"
run --store "$E" archive b1
expect_rc 0
expect_eq "b1's range in E" "$(grep -o '"range":\[[0-9]*\]' "$WORK/hi.ndjson" | sed -n 2p)" "$(grep -o '"range":\[[0-9,]*\]' "$OUTF")"

# ---- archive: usage errors, missing blocks, -o untouched on failure ----
case_ "archive usage errors"
for args in "" "--all b0" "b0 --rev 5 --from 1" "b0 --chunk 0" "b0 --from 5 --to 5" "b0 --rev x" "../x"; do
  # shellcheck disable=SC2086
  run --store "$A" archive $args -o "$WORK/never.ndjson"
  expect_rc 2
  expect_no_out
  expect_err_line
done
run --store "$A" archive b0 nope -o "$WORK/never.ndjson"
expect_rc 3
expect_err_line "nope"
expect_missing_path "$WORK/never.ndjson"
expect_eq "no temporary file left" "" "$(find "$WORK" -maxdepth 1 -name '.never*')"
run --store "$A" archive b0 nope
expect_rc 3
expect_no_out

# ---- rejected input ----
B1_LINE=$(grep '"blockId":"b1"' "$WORK/all.ndjson")
# EREV: a revision of b1 (not its first) with no revision of b1 right after it.
B1_REVS=$(ls "$A/b1/revs" | sed 's/\.json$//' | sort -n)
EREV=$(awk 'NR > 1 && prev != "" && $1 != prev + 1 && NR > 2 { print prev; exit } { prev = $1 }' <<<"$B1_REVS")
ENTRY="\"trxId\":\"tx:r$EREV\",\"rev\":$EREV"
EVIL=${ENTRY/\"trxId\":\"tx:r/\"trxId\":\"tx:evil}
FRESH='{"blockId":"fresh","revisions":{},"range":[0]}'

case_ "a conflicting archive: skipped whole, the others written, exit 6"
before_b1=$(tree_state "$B/b1")
printf '%s\n%s\n' "${B1_LINE/"$ENTRY"/"$EVIL"}" "$FRESH" >"$WORK/conflict.ndjson"
run --store "$B" restore "$WORK/conflict.ndjson"
expect_rc 6
expect_out "{\"restored\":[\"fresh\"],\"rejected\":[{\"blockId\":\"b1\",\"reason\":\"revision $EREV is held here by transaction tx:r$EREV; the archive has tx:evil$EREV\"}]}"
expect_err_line "b1"
expect_same_tree "$before_b1" "$B/b1"
expect_file "$B/fresh/meta.json" '{"ranges":[[0]]}'

case_ "bad input: exit 2, nothing written"
FRESH2='{"blockId":"fresh2","revisions":{},"range":[0]}'
bad_inputs=(
  "truncated line|$FRESH2"$'\n'"${B1_LINE:0:300}"
  "bad JSON|$FRESH2"$'\n''{"blockId":"x","revisions":{},"range":[0],}'
  "wrong types|$FRESH2"$'\n''{"blockId":"x","revisions":{"1":{"trx":{"trxId":"t","rev":"1","transform":{}}}},"range":[0]}'
  "wrong types|$FRESH2"$'\n''{"blockId":"x","revisions":[],"range":[0]}'
  "header.id|$FRESH2"$'\n'"${B1_LINE/\"blockId\":\"b1\"/\"blockId\":\"b3\"}"
  "outside|$FRESH2"$'\n''{"blockId":"x","revisions":{"7":{"trx":{"trxId":"t","rev":7,"transform":{}}}},"range":[8]}'
  "revision key|$FRESH2"$'\n''{"blockId":"x","revisions":{"7":{"trx":{"trxId":"t","rev":8,"transform":{}}}},"range":[0]}'
  "garbage|$FRESH2"$'\n''hello'
)
before=$(tree_state "$B")
for entry in "${bad_inputs[@]}"; do
  want=${entry%%|*}
  printf '%s\n' "${entry#*|}" >"$WORK/bad.ndjson"
  run --store "$B" restore "$WORK/bad.ndjson"
  expect_rc 2
  expect_no_out
  expect_err_line "line 2"
  [[ $want == garbage || $want == truncated* || $want == bad* || $want == wrong* ]] || expect_err_line "$want"
  expect_same_tree "$before" "$B"
  run --in "$WORK/bad.ndjson" --store "$WORK/none" restore -
  expect_rc 2
  expect_missing_path "$WORK/none"
done
run --store "$B" restore "$WORK/missing-file.ndjson"
expect_rc 2
expect_same_tree "$before" "$B"

# ---- lazy restoration: get --restore-from ----
R=$((EREV + 1)) # not a revision of b1: the read must find the greatest one below
block_of() { sed -e 's/,"state".*//' "$1"; } # {"b1":{"block":…}
"$OPTDB" --store "$A" get b1 --rev "$R" >"$WORK/want.json"
GOOD_CMD="cmd:\"$OPTDB\" --store \"$A\" archive \"\$1\" \${2:+--rev \"\$2\"}"

for kind in file dir cmd; do
  case $kind in
    file) src=$WORK/all.ndjson ;;
    dir) src=$A ;;
    cmd) src=$GOOD_CMD ;;
  esac
  case_ "get --rev from a $kind source"
  L=$WORK/lazy.$kind
  run --store "$L" get b1 --rev "$R" --restore-from "$src"
  expect_rc 0
  expect_no_err
  expect_eq "the block" "$(block_of "$WORK/want.json")" "$(block_of "$OUTF")"
  run --store "$L" get b1 --rev "$R"  # saved: no source needed now
  expect_rc 0
  expect_eq "the block, again" "$(block_of "$WORK/want.json")" "$(block_of "$OUTF")"
done

case_ "a store source answers as archive --rev: only what the revision needs"
for kind in dir cmd; do
  expect_eq "$kind: b1/meta.json" "{\"ranges\":[[$EREV,$((R + 1))]],\"latest\":{\"trxId\":\"tx:r$EREV\",\"rev\":$EREV}}" \
    "$(cat "$WORK/lazy.$kind/b1/meta.json" 2>&1)"
done
expect_eq "file: b1/meta.json" "$(cat "$A/b1/meta.json")" "$(cat "$WORK/lazy.file/b1/meta.json" 2>&1)"

case_ "failing and garbage sources are reported, the next one is used"
"$OPTDB" --store "$A" archive b1 --rev 1 >"$WORK/b1at1.ndjson"
L=$WORK/lazy.chain
run --store "$L" get b1 --rev "$R" --restore-from 'cmd:exit 5' --restore-from 'cmd:echo garbage' \
  --restore-from "$WORK/b1at1.ndjson" --restore-from "$WORK/missing.ndjson" --restore-from "$A"
expect_rc 0
expect_eq "the block" "$(block_of "$WORK/want.json")" "$(block_of "$OUTF")"
expect_eq "four warnings" 4 "$(grep -c '^optdb: warning: ' "$ERRF")"
expect_eq "nothing else on stderr" 4 "$(wc -l <"$ERRF")"
grep -q 'cmd:exit 5.*status 5' "$ERRF" && ok || fail "the failing command is not named: $(cat "$ERRF")"

case_ "no source has it: exit 3, nothing saved"
L=$WORK/lazy.none
run --store "$L" get b1 --rev "$R" --restore-from 'cmd:exit 1' --restore-from 'cmd:echo "{\"blockId\":\"b1\",' \
  --restore-from "cmd:cat '$WORK/all.ndjson'" --restore-from "$WORK/b1at1.ndjson"
expect_rc 3
expect_out '{"b1":{"state":{"pendings":[]}}}'
expect_eq "warnings" 4 "$(grep -c '^optdb: warning: ' "$ERRF")"
expect_eq "one error" 1 "$(grep -c '^optdb: error: ' "$ERRF")"
expect_missing_path "$L/b1"

case_ "a command that hangs is killed at OPTDB_RESTORE_TIMEOUT, with what it started, and the next source used"
L=$WORK/lazy.timeout
start=$(date +%s)
run --env OPTDB_RESTORE_TIMEOUT=0.3 --store "$L" get b1 --rev "$R" --restore-from "cmd:(sleep 37 &); sleep 36" \
  --restore-from "$WORK/b1at1.ndjson" --restore-from "$A"
expect_rc 0
expect_eq "the block" "$(block_of "$WORK/want.json")" "$(block_of "$OUTF")"
grep -q 'did not finish within 0.3 s' "$ERRF" && ok || fail "no timeout warning: $(cat "$ERRF")"
expect_eq "finished in time" 1 "$(( $(date +%s) - start < 10 ))"
left=""
for f in /proc/[0-9]*/cmdline; do
  c=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
  [[ $c == "sleep 36 " || $c == "sleep 37 " ]] && left+="$c;"
done
expect_eq "nothing it started is left running" "" "$left"
run --env OPTDB_RESTORE_TIMEOUT=soon --store "$L" get b1 --restore-from 'cmd:true'
expect_rc 2

case_ "a missing block without --rev: the whole block, pendings included"
L=$WORK/lazy.whole
run --store "$L" get b0 --restore-from "$A"
expect_rc 0
expect_out "$("$OPTDB" --store "$A" get b0)"
run --store "$L" get b1 --restore-from "cmd:echo \"\$1|\$2\" > '$WORK/args'; exit 1"
expect_rc 3
expect_file "$WORK/args" $'b1|\n'

finish
