# optdb forget (SPEC §8): history below N moves into an archive file and
# comes back with get --restore-from or restore; bad input writes nothing;
# kill -9 at random moments loses no revision, and running forget again finishes.
source "$(dirname "$0")/lib.sh"

# b0, b1, b2 at revisions 1 to 3, then b1 updated at 4 to 43.
BASE=$(mkstore)
make_history "$BASE/s" 40
reads() { # reads STORE [GET OPTIONS]: b1 and b0 at every revision, with exit codes
  local store=$1 r out
  shift
  for r in $(seq 1 43); do
    out=$("$OPTDB" --store "$store" get --rev "$r" b1 "$@" 2>/dev/null)
    echo "$r b1 $out rc=$?"
  done
  out=$("$OPTDB" --store "$store" get --rev 2 b0 "$@" 2>/dev/null)
  echo "b0 $out rc=$?"
}
WANT=$(reads "$BASE/s")

case_ "forget --before 30 one block into an archive, then get it back with --restore-from"
S=$(mkstore)
cp -a "$BASE/s" "$S/s"
du_before=$(du -sb "$S/s" | cut -f1)
run --store "$S/s" forget --before 30 b1 -o "$S/old.ndjson"
expect_rc 0
expect_out '{"forgotten":[{"blockId":"b1","from":30,"revisions":27,"bytes":'"$(grep -o '"bytes":[0-9]*' "$OUTF" | cut -d: -f2)"'}]}'
expect_no_err
expect_file "$S/s/b1/meta.json" '{"ranges":[[30]],"latest":{"trxId":"tx:u40","rev":43}}'
expect_eq "revisions left" 14 "$(ls "$S/s/b1/revs" | grep -c '^[0-9]*\.json$')"
expect_eq "smaller" yes "$([[ $(du -sb "$S/s" | cut -f1) -lt $du_before ]] && echo yes)"
expect_eq "archive lines" 1 "$(wc -l <"$S/old.ndjson")"
run --store "$S/s" get --rev 29 b1
expect_rc 3
run --store "$S/s" get --rev 30 b1
expect_rc 0
run --store "$S/s" inspect --check
expect_rc 0
expect_eq "reads with --restore-from" "$WANT" "$(reads "$S/s" --restore-from "$S/old.ndjson")"
expect_file "$S/s/b1/meta.json" '{"ranges":[[0]],"latest":{"trxId":"tx:u40","rev":43}}'

case_ "forget --all into a zstd archive, run twice; restore brings everything back"
S=$(mkstore)
cp -a "$BASE/s" "$S/s"
run --store "$S/s" forget --before 43 --all -o "$S/old.ndjson.zst"
expect_rc 0
expect_eq "blocks forgotten" '"b1"' "$(grep -o '"blockId":"b[0-9]"' "$OUTF" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
expect_eq "zstd magic" "28b52ffd" "$(head -c 4 "$S/old.ndjson.zst" | od -An -tx1 | tr -d ' \n')"
size=$(stat -c %s "$S/old.ndjson.zst")
run --store "$S/s" forget --before 43 --all -o "$S/old.ndjson.zst"
expect_success '{"forgotten":[]}'
expect_eq "archive unchanged by a run with nothing to do" "$size" "$(stat -c %s "$S/old.ndjson.zst")"
run --store "$S/s" restore "$S/old.ndjson.zst"
expect_rc 0
expect_eq "reads after restore" "$WANT" "$(reads "$S/s")"
run --store "$S/s" inspect --check
expect_rc 0

case_ "forget --discard"
S=$(mkstore)
cp -a "$BASE/s" "$S/s"
run --store "$S/s" forget --before 10 b1 b0 --discard
expect_rc 0
expect_eq "forgotten" '"b1"' "$(grep -o '"blockId":"b[0-9]"' "$OUTF" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
run --store "$S/s" get --rev 9 b1
expect_rc 3
expect_eq "nothing else written" "s" "$(ls "$S")"

case_ "bad input writes nothing"
S=$(mkstore)
cp -a "$BASE/s" "$S/s"
printf 'not an archive\n' >"$S/notes.txt"
mkdir "$S/dir"
before=$(tree_state "$S")
for args in "b1 -o $S/a.ndjson" "--before 30 b1" "--before 30 b1 -o $S/a.ndjson --discard" "--before x b1 --discard" \
  "--before 30 --discard" "--before 30 --all b1 --discard" "--before 30 b1 -o -" "--before 30 b1 -o $S/notes.txt" \
  "--before 30 b1 -o $S/dir" "--before 30 a/b --discard"; do
  # shellcheck disable=SC2086
  run --store "$S/s" forget $args
  expect_rc 2
  expect_err_line
done
run --store "$S/s" forget --before 30 nosuch -o "$S/a.ndjson"
expect_rc 3
expect_err_line "nosuch"
expect_same_tree "$before" "$S"

case_ "kill -9 at random moments: every revision is in the store or the archive, and a rerun finishes"
SEED=${OPTDB_KILL_SEED:-$(($(od -An -N2 -tu2 /dev/urandom)))}
echo "test_forget: seed $SEED (replay with OPTDB_KILL_SEED=$SEED)"
RANDOM=$SEED
for it in $(seq 1 12); do
  S=$(mkstore)
  cp -a "$BASE/s" "$S/s"
  "$OPTDB" --store "$S/s" forget --before 30 --all -o "$S/old.ndjson" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"  # a forget here takes about 30 ms
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # What the store still reads is right; what it does not, the archive brings back.
  now=$(reads "$S/s")
  while read -r line; do
    [[ $line == *" rc=3" ]] && continue
    grep -qxF -- "$line" <<<"$WANT" || fail "iteration $it: a read changed: $line"
  done <<<"$now"
  run --store "$S/s" forget --before 30 --all -o "$S/old.ndjson"
  expect_rc 0
  expect_eq "iteration $it: after the rerun" '{"ranges":[[30]],"latest":{"trxId":"tx:u40","rev":43}}' "$(cat "$S/s/b1/meta.json")"
  expect_eq "iteration $it: reads with the archive" "$WANT" "$(reads "$S/s" --restore-from "$S/old.ndjson")"
done

finish
