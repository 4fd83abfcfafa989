#!/usr/bin/env bash
# optdb inspect and optdb repair through the real binary: the summary (text
# and JSON, --revisions, --pretty), --check and its exit codes, repair and
# --dry-run, the store lock, named blocks, and symbolic links never followed.
#
#   bash tests/cli/test_inspect.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

H() { printf '"header":{"id":"%s","type":"note","collectionId":"c"}' "$1"; }

# ---- an empty store, and one that does not exist ----
S=$(mkstore)
O=(--store "$S")

case_ "inspect: an empty store"
run "${O[@]}" inspect
expect_success 'store: 0 blocks, 0 revisions, 0 pending transactions, 0 bytes (0 allocated), 0 problems'
run "${O[@]}" inspect --json
expect_rc 0
expect_out '{"blocks":[],"summary":{"blocks":0,"revisions":0,"pendings":0,"bytes":0,"allocatedBytes":0,"problems":0}}'
run "${O[@]}" --pretty inspect --json
expect_out $'{\n  "blocks": [],\n  "summary": {\n    "blocks": 0,\n    "revisions": 0,\n    "pendings": 0,\n    "bytes": 0,\n    "allocatedBytes": 0,\n    "problems": 0\n  }\n}'

case_ "inspect --check and repair: an empty store is clean"
run "${O[@]}" inspect --check
expect_rc 0
expect_no_out
expect_no_err
run "${O[@]}" inspect --check --json
expect_rc 0
expect_out '{"problems":[]}'
run "${O[@]}" repair
expect_rc 0
expect_out '{"actions":[],"remaining":[]}'

case_ "a store that does not exist is not created by inspect"
run --store "$WORK/none" inspect --check
expect_rc 0
run --store "$WORK/none" inspect
expect_rc 0
expect_missing_path "$WORK/none"

case_ "no store given"
run inspect
expect_rc 2
expect_err_line "store"

# ---- a store with history ----
case_ "setup: two blocks, three commits, one pending"
run --stdin "{\"inserts\":{\"b1\":{$(H b1),\"n\":[]},\"b2\":{$(H b2),\"n\":[]}}}" "${O[@]}" pend --trx t1 --rev 1
expect_rc 0
run "${O[@]}" commit --trx t1 --rev 1 b1 b2
expect_rc 0
run --stdin '{"updates":{"b1":[["n",9,0,[1]]],"b2":[["n",9,0,[1]]]}}' "${O[@]}" pend --trx t2 --rev 3
run "${O[@]}" commit --trx t2 --rev 3 b1 b2
expect_rc 0
run --stdin '{"updates":{"b1":[["n",9,0,[2]]]}}' "${O[@]}" pend --trx tx:3 --rev 5
run "${O[@]}" commit --trx tx:3 --rev 5 b1
expect_rc 0
run --stdin '{"updates":{"b1":[["n",9,0,[3]]]}}' "${O[@]}" pend --trx t4 --rev 6
expect_rc 0

bytes() { find "$S/$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
B1=$(bytes b1) B2=$(bytes b2)
# Allocated bytes are what du(1) counts for the block's directory, itself included.
allocated() { du -s --block-size=1 "$S/$1" | cut -f1; }
A1=$(allocated b1) A2=$(allocated b2)
size() { stat -c %s "$S/$1"; }

case_ "inspect --json: every block, then the store's totals"
run "${O[@]}" inspect --json
expect_success "{\"blocks\":[{\"blockId\":\"b1\",\"dialect\":\"trx\",\"ranges\":[[0]],\"latest\":{\"trxId\":\"tx:3\",\"rev\":5},\"revisionCount\":3,\"revisionSpan\":[1,5],\"pendings\":[\"t4\"],\"materialized\":2,\"bytes\":$B1,\"allocatedBytes\":$A1},{\"blockId\":\"b2\",\"dialect\":\"trx\",\"ranges\":[[0]],\"latest\":{\"trxId\":\"t2\",\"rev\":3},\"revisionCount\":2,\"revisionSpan\":[1,3],\"pendings\":[],\"materialized\":2,\"bytes\":$B2,\"allocatedBytes\":$A2}],\"summary\":{\"blocks\":2,\"revisions\":5,\"pendings\":1,\"bytes\":$((B1 + B2)),\"allocatedBytes\":$((A1 + A2)),\"problems\":0}}"

case_ "inspect BLOCK --json --revisions"
run "${O[@]}" inspect b2 --json --revisions
expect_rc 0
expect_out "{\"blocks\":[{\"blockId\":\"b2\",\"dialect\":\"trx\",\"ranges\":[[0]],\"latest\":{\"trxId\":\"t2\",\"rev\":3},\"revisionCount\":2,\"revisionSpan\":[1,3],\"pendings\":[],\"materialized\":2,\"bytes\":$B2,\"allocatedBytes\":$A2,\"revisions\":[{\"rev\":1,\"trxId\":\"t1\",\"materialized\":true,\"transformBytes\":$(size b2/trx/t1.json)},{\"rev\":3,\"trxId\":\"t2\",\"materialized\":true,\"transformBytes\":$(size b2/trx/t2.json)}]}],\"summary\":{\"blocks\":1,\"revisions\":2,\"pendings\":0,\"bytes\":$B2,\"allocatedBytes\":$A2,\"problems\":0}}"

case_ "--pretty prints what JSON.stringify(v, null, 2) would, though streamed"
run "${O[@]}" inspect --json --revisions
compact=$(cat "$OUTF")
run "${O[@]}" --pretty inspect --json --revisions
expect_rc 0
if command -v python3 >/dev/null && python3 -c 'import json' 2>/dev/null; then
  want=$(printf '%s' "$compact" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2, ensure_ascii=False))')
  expect_out "$want"
fi
run "${O[@]}" --pretty inspect --check --json
expect_out '{
  "problems": []
}'

case_ "inspect: text"
run "${O[@]}" inspect b1 --revisions
expect_rc 0
expect_out "block b1
  dialect       trx
  ranges        [[0]]
  latest        5 (tx:3)
  revisions     3 (from 1 to 5)
  pendings      1: t4
  materialized  2
  bytes         $B1 (allocated $A1)
  revision 1 t1 materialized, transform $(size b1/trx/t1.json) bytes
  revision 3 t2 not materialized, transform $(size b1/trx/t2.json) bytes
  revision 5 tx:3 materialized, transform $(size b1/trx/tx%3A3.json) bytes
store: 1 block, 3 revisions, 1 pending transaction, $B1 bytes ($A1 allocated), 0 problems"

case_ "inspect: named blocks, missing and invalid"
run "${O[@]}" inspect b2 nope
expect_rc 3
expect_err_line "nope"
run "${O[@]}" inspect --check b2 nope
expect_rc 3
expect_no_out
expect_err_line "nope"
run "${O[@]}" inspect ../b1
expect_rc 2
expect_err_line "invalid block id"
run "${O[@]}" repair .hidden
expect_rc 2
run "${O[@]}" inspect -- -x
expect_rc 3

case_ "--help"
run inspect --help
expect_rc 0
run repair --help
expect_rc 0

case_ "a clean store checks clean"
run "${O[@]}" inspect --check
expect_rc 0
expect_no_out
run "${O[@]}" repair
expect_rc 0
expect_out '{"actions":[],"remaining":[]}'

# ---- corruption ----
case_ "corrupt: truncated meta.json, a stray temp file, a lost revision file, symlinks out of the store"
printf '{"ranges":[[0]],"lat' >"$S/b2/meta.json"
printf 'x' >"$S/b1/blocks/.tx%3A3.json.tmp.77.1"
rm "$S/b1/revs/3.json" # t2 is still recorded at 3 on b2
ln -s /tmp "$S/outside"
ln -s /etc/passwd "$S/b1/trx/t9.json"

run "${O[@]}" inspect --check
expect_rc 6
expect_out "b1/blocks/.tx%3A3.json.tmp.77.1: a stray temporary file left by an interrupted write
b1/trx/t9.json: a symbolic link inside the store; optdb never follows it
b1/trx/t2.json: committed transaction t2 is named by no revision file (a lost revision file)
b2/meta.json: meta.json is not valid JSON (unterminated string at line 1, column 21, the end of the input)
outside: a symbolic link inside the store; optdb never follows it"
expect_no_err

run "${O[@]}" inspect --check --json
expect_rc 6
expect_out '{"problems":[{"path":"b1/blocks/.tx%3A3.json.tmp.77.1","kind":"temp-file","message":"a stray temporary file left by an interrupted write"},{"path":"b1/trx/t9.json","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"},{"path":"b1/trx/t2.json","kind":"lost-revision","message":"committed transaction t2 is named by no revision file (a lost revision file)"},{"path":"b2/meta.json","kind":"bad-json","message":"meta.json is not valid JSON (unterminated string at line 1, column 21, the end of the input)"},{"path":"outside","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"}]}'

case_ "inspect (summary) names the file that does not parse, lists the block, exits 6"
run "${O[@]}" inspect --json b2
expect_rc 6
expect_err_line "b2/meta.json"
if grep -q '"blockId":"b2","dialect":"trx","ranges":null' "$OUTF"; then ok; else fail "b2 should be listed with null ranges: $(cat "$OUTF")"; fi

# b1 comes last: its lost revision needs a sibling's evidence, gathered after the first pass.
case_ "repair --dry-run: reports, changes nothing"
before=$(tree_state "$S")
run "${O[@]}" repair --dry-run
expect_rc 6
expect_out '{"actions":[{"path":"b2/meta.json","action":"rebuild-meta","message":"rebuilt meta.json from the block'"'"'s files: ranges [[1]], latest revision 3 (t2)"},{"path":"b1/blocks/.tx%3A3.json.tmp.77.1","action":"remove-temp","message":"removed a stray temporary file"},{"path":"b1/revs/3.json","action":"rebuild-revision","message":"wrote the lost revision file of t2 at revision 3 again, from block b2, another block of the same transaction, which records it there"}],"remaining":[{"path":"outside","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"},{"path":"b1/trx/t9.json","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"}]}'
expect_same_tree "$before" "$S"

case_ "repair: fixes what it can, leaves the symlinks, exits 6"
run "${O[@]}" repair
expect_rc 6
expect_out '{"actions":[{"path":"b2/meta.json","action":"rebuild-meta","message":"rebuilt meta.json from the block'"'"'s files: ranges [[1]], latest revision 3 (t2)"},{"path":"b1/blocks/.tx%3A3.json.tmp.77.1","action":"remove-temp","message":"removed a stray temporary file"},{"path":"b1/revs/3.json","action":"rebuild-revision","message":"wrote the lost revision file of t2 at revision 3 again, from block b2, another block of the same transaction, which records it there"}],"remaining":[{"path":"b1/trx/t9.json","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"},{"path":"outside","kind":"symlink","message":"a symbolic link inside the store; optdb never follows it"}]}'
expect_file "$S/b1/revs/3.json" "t2"
expect_file "$S/b2/meta.json" '{"ranges":[[1]],"latest":{"trxId":"t2","rev":3}}'
if [[ -L $S/outside && -L $S/b1/trx/t9.json && -d /tmp && -s /etc/passwd ]]; then ok; else fail "a symlink or its target was touched"; fi

case_ "the symlinks removed by hand: clean"
rm "$S/outside" "$S/b1/trx/t9.json"
run "${O[@]}" repair
expect_rc 0
expect_out '{"actions":[],"remaining":[]}'
run "${O[@]}" inspect --check
expect_rc 0
expect_no_out
run "${O[@]}" get b1 b2
expect_rc 0
expect_out "{\"b1\":{\"block\":{$(H b1),\"n\":[1,2]},\"state\":{\"latest\":{\"trxId\":\"tx:3\",\"rev\":5},\"pendings\":[\"t4\"]}},\"b2\":{\"block\":{$(H b2),\"n\":[1]},\"state\":{\"latest\":{\"trxId\":\"t2\",\"rev\":3},\"pendings\":[]}}}"

# ---- an interrupted commit (as optdb-repair(1) shows it) ----
case_ "an interrupted commit: cancel refused, repair finishes it, then cancel finds it committed"
run --stdin '{"updates":{"b1":[["n",9,0,[7]]],"b2":[["n",9,0,[7]]]}}' "${O[@]}" pend --trx t7 --rev 7
expect_rc 0
mkdir -p "$S/.optdb/intents"
printf '{"trxId":"t7","rev":7,"blockIds":["b1","b2"]}' >"$S/.optdb/intents/t7.json"
printf 't7' >"$S/b2/revs/7.json" # its first step on b2, then the process died
run "${O[@]}" inspect --check
expect_rc 6
expect_out '.optdb/intents/t7.json: the commit of t7 at revision 7 on b1, b2 did not finish
b2/revs/7.json: revision 7 names transaction t7, which is only pending: an interrupted commit'
run "${O[@]}" cancel --trx t7 b1 b2
expect_rc 6
expect_err_line "repair"
run "${O[@]}" repair b2
expect_rc 0
expect_out '{"actions":[{"path":"b1","action":"finish-commit","message":"finished the interrupted commit of t7 at revision 7 (from its intent)"},{"path":"b2","action":"finish-commit","message":"finished the interrupted commit of t7 at revision 7 (from its intent)"},{"path":".optdb/intents/t7.json","action":"remove-intent","message":"removed the intent of t7: its commit is complete on every block"}],"remaining":[]}'
run "${O[@]}" cancel --trx t7 b1 b2
expect_rc 0
expect_out '{"success":true,"cancelled":[],"committed":["b1","b2"]}'
run "${O[@]}" inspect --check
expect_rc 0

# ---- the store lock ----
case_ "inspect --check and repair wait for the store lock, then exit 7"
exec {lockfd}>>"$S/.optdb/store.lock"
flock -s "$lockfd" # as a writer holds it
run "${O[@]}" --lock-timeout 0.2 inspect --check
expect_rc 7
expect_err_line "lock"
run "${O[@]}" --lock-timeout 0 inspect --check --json
expect_rc 7
expect_no_out
run "${O[@]}" --lock-timeout 0 repair
expect_rc 7
expect_no_out
run "${O[@]}" inspect # the summary reads like get: no lock
expect_rc 0
exec {lockfd}>&-
run "${O[@]}" --lock-timeout 0 inspect --check
expect_rc 0

finish
