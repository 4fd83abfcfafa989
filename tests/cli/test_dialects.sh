#!/usr/bin/env bash
# The two layout generations through the real binary: the default for a new
# store, --layout and OPTDB_LAYOUT (and bad values), optdb continuing an
# upstream v0.24 tree, migrate and its exit codes, upstream's own archives.
#
#   bash tests/cli/test_dialects.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"
unset OPTDB_LAYOUT  # lib.sh sets trx for the older suites; this one tests the default

FIX=${OPTDB_TESTDATA:?}/upstream-v0.24
H() { printf '"header":{"id":"%s","type":"T","collectionId":"c1"}' "$1"; }

case_ "a new store is written in the actions dialect, and says so"
S=$(mkstore)
run --stdin "{\"inserts\":{\"a\":{$(H a),\"v\":[]}}}" --store "$S" pend --trx t1
expect_rc 0
expect_file "$S/a/meta.json" '{"ranges":[]}'
expect_file "$S/.optdb/settings.json" '{"layout":"actions"}'
run --store "$S" commit --trx t1 --rev 2 a
expect_success '{"success":true}'
expect_file "$S/a/meta.json" '{"ranges":[[2]],"latest":{"actionId":"t1","rev":2}}'
expect_file "$S/a/actions/t1.json" "{\"insert\":{$(H a),\"v\":[]}}"
expect_missing_path "$S/a/trx"
expect_missing_path "$S/a/revs/optdb-index"
run --store "$S" inspect a
expect_rc 0
if grep -q '^  dialect       actions$' "$OUTF"; then ok; else fail "inspect should show the dialect: $(cat "$OUTF")"; fi

case_ "--layout and OPTDB_LAYOUT choose the trx dialect for a new store"
T=$(mkstore)
run --stdin "{\"inserts\":{\"a\":{$(H a),\"v\":[]}}}" --store "$T" --layout trx pend --trx t1
expect_rc 0
expect_file "$T/a/meta.json" '{"ranges":[[0]]}'
expect_file "$T/.optdb/settings.json" '{"layout":"trx"}'
U=$(mkstore)
run --stdin "{\"inserts\":{\"a\":{$(H a),\"v\":[]}}}" --env OPTDB_LAYOUT=trx --store "$U" pend --trx t1
expect_rc 0
expect_file "$U/.optdb/settings.json" '{"layout":"trx"}'

case_ "a bad --layout or OPTDB_LAYOUT is a usage error, nothing written"
V=$(mkstore)
run --stdin "{\"inserts\":{\"a\":{$(H a),\"v\":[]}}}" --store "$V" --layout json pend --trx t1
expect_rc 2
expect_no_out
expect_err_line "--layout"
run --stdin "{\"inserts\":{\"a\":{$(H a),\"v\":[]}}}" --env OPTDB_LAYOUT=Actions --store "$V" pend --trx t1
expect_rc 2
expect_err_line "--layout"
expect_eq "nothing written" "" "$(ls -A "$V")"

case_ "optdb continues an upstream v0.24 tree as upstream would (commit, pend, cancel)"
W=$WORK/w
cp -r "$FIX/store" "$W"
run --store "$W" commit --trx u41 --rev 41 ua
expect_success '{"success":true}'
run --stdin '{"updates":{"ua":[["title",0,0,"sixty-four"]]}}' --store "$W" pend --trx u64 --rev 64
expect_rc 0
run --store "$W" commit --trx u64 --rev 64 ua
expect_success '{"success":true}'
expect_file "$W/ua/meta.json" '{"ranges":[[1]],"latest":{"actionId":"u64","rev":64}}'
for f in actions/u41.json actions/u64.json blocks/u64.json; do
  expect_file "$W/ua/$f" "$(cat "$FIX/continued/ua/$f")"
done
expect_missing_path "$W/ua/blocks/u41.json"  # upstream's retention: 41 is neither floor nor a multiple of 32
run --store "$W" cancel --trx "tx:rfWWjXt5q3fC_tQPey7RL4z3MNTs47G6j9EMaXhx2IY" ca
expect_rc 0
expect_missing_path "$W/ca/pend/tx%3ArfWWjXt5q3fC_tQPey7RL4z3MNTs47G6j9EMaXhx2IY.json"
expect_file "$W/.optdb/settings.json" '{"layout":"actions"}'
run --store "$W" inspect --check
expect_rc 0
expect_no_out

case_ "migrate: to trx and back gives upstream's tree again"
M=$WORK/m
cp -r "$FIX/store" "$M"
run --store "$M" migrate --to trx --all
expect_success '{"migrated":["ca","la","ma","mb","mc","ua"],"unchanged":["pa"]}'
expect_missing_path "$M/ua/actions"
expect_file "$M/ua/meta.json" '{"ranges":[[1]],"latest":{"trxId":"u40","rev":40}}'
run --store "$M" inspect --check
expect_rc 0
run --store "$M" get ua --rev 5
expect_rc 0
want=$(cd "$FIX/store" && find . -type f | LC_ALL=C sort | xargs sha256sum)
run --store "$M" migrate --to actions --all
expect_success '{"migrated":["ca","la","ma","mb","mc","ua"],"unchanged":["pa"]}'
expect_eq "the tree upstream wrote" "$want" "$(cd "$M" && find . -path ./.optdb -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum)"
run --store "$M" migrate --to actions ua
expect_success '{"migrated":[],"unchanged":["ua"]}'

case_ "migrate: usage errors and a missing block"
run --store "$M" migrate --to json --all
expect_rc 2
expect_err_line "--to"
run --store "$M" migrate --to trx
expect_rc 2
expect_err_line "no block"
run --store "$M" migrate --to trx --all ua
expect_rc 2
expect_err_line "not both"
before=$(tree_state "$M")
run --store "$M" migrate --to trx ua nosuch
expect_rc 3
expect_no_out
expect_err_line "nosuch"
expect_same_tree "$before" "$M"

case_ "restore reads upstream v0.24's own archives (no rev in an action)"
R=$(mkstore)
run --store "$R" restore "$FIX/archive.json" "$FIX/archive-la.json"
expect_success '{"restored":["ua","la"],"rejected":[]}'
run --store "$R" get ua la
expect_rc 0
nopend() { sed 's/"pendings":\[[^]]*\]//g' "$OUTF"; }  # the archives carry no pending
got=$(nopend)
A=$WORK/arc
cp -r "$FIX/store" "$A"
run --store "$A" get ua la  # optdb reads the fixture as upstream does (test_upstream)
expect_eq "ua and la as in the tree they came from" "$(nopend)" "$got"
# Upstream's sync archive carries the state as an insert, and restore keeps the archive's transform.
if [[ $(head -c 10 "$R/ua/actions/u40.json") == '{"insert":' ]]; then ok; else fail "ua/actions/u40.json: $(cat "$R/ua/actions/u40.json")"; fi
run --store "$R" inspect --check
expect_rc 0

case_ "archive writes the block's dialect, or --layout's"
run --store "$A" archive ua --rev 40
expect_rc 0
if grep -q '"action":{"actionId":"u40","rev":40,' "$OUTF"; then ok; else fail "actions archive: $(head -c 300 "$OUTF")"; fi
run --store "$A" --layout trx archive ua --rev 40
expect_rc 0
if grep -q '"trx":{"trxId":"u40","rev":40,' "$OUTF" && ! grep -q actionId "$OUTF"; then ok; else fail "trx archive: $(head -c 300 "$OUTF")"; fi

finish
