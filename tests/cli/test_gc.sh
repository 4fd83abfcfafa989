# optdb gc (SPEC §8): upstream v0.24's own trees hold nothing to collect (its
# rule is the actions rule); a migrated history is collected and reads the
# same; a dry run writes nothing; bad input is refused with nothing written.
source "$(dirname "$0")/lib.sh"
unset OPTDB_LAYOUT  # each store in its own dialect

for tree in store continued; do
  case_ "upstream's $tree tree"
  S=$(mkstore)
  cp -a "$OPTDB_TESTDATA/upstream-v0.24/$tree/." "$S/"
  before=$(tree_state "$S")
  run --store "$S" gc --dry-run
  expect_success '{"dryRun":true,"removed":0,"bytes":0,"materializations":[]}'
  run --store "$S" gc
  expect_success '{"removed":0,"bytes":0}'
  expect_same_tree "$before" "$S"
done

case_ "a trx history migrated to actions"
S=$(mkstore)
run --stdin '{"inserts":{"b1":{"header":{"id":"b1","type":"T","collectionId":"c"},"n":0}}}' --store "$S" --layout trx pend --trx t1
expect_rc 0
run --store "$S" commit --trx t1 --rev 1 b1
expect_rc 0
for i in $(seq 2 40); do
  run --stdin "{\"updates\":{\"b1\":[[\"n\",0,0,$i]]}}" --store "$S" --no-sync pend --trx "t$i"
  run --store "$S" --no-sync commit --trx "t$i" --rev "$i" b1
done
expect_rc 0
run --store "$S" migrate --to actions --all
expect_rc 0
reads() { for r in 1 16 17 33 39 40; do "$OPTDB" --store "$S" get --rev "$r" b1; done; }
want=$(reads)
before=$(tree_state "$S")
run --store "$S" gc --dry-run
expect_rc 0
expect_eq "dry run lists t17 and t33" '"t17" "t33"' "$(grep -o '"trxId":"t[0-9]*"' "$OUTF" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
expect_same_tree "$before" "$S"
run --store "$S" gc b1
expect_rc 0
expect_eq "removed" 2 "$(grep -o '"removed":[0-9]*' "$OUTF" | cut -d: -f2)"
expect_eq "blocks/ after gc" "t1.json t40.json" "$(ls "$S/b1/blocks" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "reads after gc" "$want" "$(reads)"
run --store "$S" inspect --check
expect_rc 0

case_ "bad input"
before=$(tree_state "$S")
run --store "$S" gc nosuch
expect_rc 3
expect_err_line "nosuch"
run --store "$S" gc 'a/b'
expect_rc 2
expect_err_line "invalid block id"
run --store "$S" gc --bogus
expect_rc 2
expect_same_tree "$before" "$S"

case_ "no progress line on a pipe or file"
run --store "$S" gc
expect_no_err

finish
