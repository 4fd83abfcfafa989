#!/usr/bin/env bash
# A whole life cycle through the real binary: insert, update, delete, reads at
# every revision, stale pends and commits, pending-conflict policies, missing
# pendings, cancel, retried commits, catch-up, --pretty, --help, OPTDB_STORE.
# Every result is compared with the exact JSON that SPEC.md prescribes.
#
#   bash tests/cli/test_cycle.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

S=$(mkstore)
O=(--store "$S")

# ---- the blocks, as typed and as optdb must print them (SPEC §1 number and string rules) ----
H1='"header":{"id":"b1","type":"note","collectionId":"c1"}'
H2='"header":{"id":"b2","type":"list","collectionId":"c1"}'
H3='"header":{"id":"b3","type":"note","collectionId":"c1"}'
B1_IN='{ "header": {"id":"b1", "type":"note", "collectionId":"c1"}, "z":1, "2":"two", "a":"x", "items":[1,2,3],
        "nums":[100.0, 1e-7, 1.5e21, 0.000001, -0, -0.0000015, 9007199254740993, 2.5, 123e-20, -1e21, 1E2] }'
B1="{$H1,\"z\":1,\"2\":\"two\",\"a\":\"x\",\"items\":[1,2,3],\"nums\":[100,1e-7,1.5e+21,0.000001,0,-0.0000015,9007199254740993,2.5,1.23e-18,-1e+21,100]}"
B2="{$H2,\"items\":[\"x\",\"y\",\"z\"]}"
B3_IN="{$H3,\"text\":\"h\\u00e9llo \\\"q\\\" \\\\ \\u0007 \\/ \\u2028\"}"
B3="{$H3,\"text\":\"héllo \\\"q\\\" \\\\ \\u0007 / "$'\u2028'"\"}"

# ---- 1. three blocks inserted in one transaction ----
case_ "pend t1 (insert b2, b1, b3)"
run --stdin "{\"inserts\":{\"b2\":$B2,\"b1\":$B1_IN,\"b3\":$B3_IN}}" "${O[@]}" pend --trx t1
expect_success '{"success":true,"pending":[],"blockIds":["b2","b1","b3"]}'
expect_file "$S/b1/pend/t1.json" "{\"insert\":$B1}"
expect_file "$S/b1/meta.json" '{"ranges":[[0]]}'

case_ "get before commit: pending only"
run "${O[@]}" get b1
expect_rc 3
expect_out '{"b1":{"state":{"pendings":["t1"]}}}'
expect_err_lines 1

case_ "get --trx t1 shows the pending insert"
run "${O[@]}" get b1 --trx t1
expect_success "{\"b1\":{\"block\":$B1,\"state\":{\"pendings\":[\"t1\"]}}}"

case_ "commit t1 at rev 1"
run "${O[@]}" commit --trx t1 --rev 1 b1 b2 b3
expect_success '{"success":true}'
expect_file "$S/b1/meta.json" '{"ranges":[[0]],"latest":{"trxId":"t1","rev":1}}'
expect_file "$S/b3/revs/1.json" 't1'
expect_file "$S/b2/trx/t1.json" "{\"insert\":$B2}"
expect_missing_path "$S/b2/pend/t1.json"

# ---- 2. update two blocks and delete the third, at a sparse revision ----
U1='[["items",1,1,["a","b"]],["title",0,0,"new"],["a",0,0,"y"]]'
U2='[["items",-1,5,[]],["items",-10,0,["first"]]]'
B1_5="{$H1,\"z\":1,\"2\":\"two\",\"a\":\"y\",\"items\":[1,\"a\",\"b\",3],\"nums\":[100,1e-7,1.5e+21,0.000001,0,-0.0000015,9007199254740993,2.5,1.23e-18,-1e+21,100],\"title\":\"new\"}"
B2_5="{$H2,\"items\":[\"first\",\"x\",\"y\"]}"
case_ "pend t2 --rev 2 (update b1, b2; delete b3)"
run --stdin "{\"deletes\":[\"b3\"],\"updates\":{\"b1\":$U1,\"b2\":$U2}}" "${O[@]}" pend --trx t2 --rev 2
expect_success '{"success":true,"pending":[],"blockIds":["b1","b2","b3"]}'

case_ "commit t2 at rev 5 (blocks in any order)"
run "${O[@]}" --no-sync commit --trx t2 --rev 5 b3 b2 b1
expect_success '{"success":true}'
expect_file "$S/b3/meta.json" '{"ranges":[[0]],"latest":{"trxId":"t2","rev":5}}'

# ---- 3. reads at each revision ----
L5='"latest":{"trxId":"t2","rev":5}'
case_ "get --rev 0: nothing yet"
run "${O[@]}" get b1 b2 b3 --rev 0
expect_rc 3
expect_out "{\"b1\":{\"state\":{$L5,\"pendings\":[]}},\"b2\":{\"state\":{$L5,\"pendings\":[]}},\"b3\":{\"state\":{$L5,\"pendings\":[]}}}"
expect_err_lines 3

for rev in 1 2 4; do
  case_ "get --rev $rev: as inserted"
  run "${O[@]}" get b1 b2 b3 --rev $rev
  expect_rc 0
  expect_out "{\"b1\":{\"block\":$B1,\"state\":{$L5,\"pendings\":[]}},\"b2\":{\"block\":$B2,\"state\":{$L5,\"pendings\":[]}},\"b3\":{\"block\":$B3,\"state\":{$L5,\"pendings\":[]}}}"
  expect_no_err
done

for rev in 5 6 9007199254740991; do
  case_ "get --rev $rev: updated, b3 deleted"
  run "${O[@]}" get b3 b2 b1 --rev $rev
  expect_rc 3
  expect_out "{\"b3\":{\"state\":{$L5,\"pendings\":[]}},\"b2\":{\"block\":$B2_5,\"state\":{$L5,\"pendings\":[]}},\"b1\":{\"block\":$B1_5,\"state\":{$L5,\"pendings\":[]}}}"
  expect_err_line "b3"
done

case_ "get latest, a block named twice is read once"
run "${O[@]}" get b1 b2 b1
expect_success "{\"b1\":{\"block\":$B1_5,\"state\":{$L5,\"pendings\":[]}},\"b2\":{\"block\":$B2_5,\"state\":{$L5,\"pendings\":[]}}}"

case_ "get a block that was never written"
run "${O[@]}" get nope
expect_rc 3
expect_out '{"nope":{"state":{"pendings":[]}}}'
expect_err_line "nope"
expect_missing_path "$S/nope"

# ---- 4. stale pends: exit 4 with the exact missing transactions, nothing written ----
M1="{\"trxId\":\"t1\",\"rev\":1,\"transforms\":{\"inserts\":{\"b1\":$B1},\"updates\":{},\"deletes\":[]}}"
M2="{\"trxId\":\"t2\",\"rev\":5,\"transforms\":{\"inserts\":{},\"updates\":{\"b1\":$U1},\"deletes\":[]}}"
before=$(tree_state "$S")
case_ "stale pend --rev 1"
run --stdin '{"updates":{"b1":[["items",0,0,[0]]]}}' "${O[@]}" pend --trx t3 --rev 1
expect_rc 4
expect_out "{\"success\":false,\"missing\":[$M1,$M2]}"
expect_no_err
expect_same_tree "$before" "$S"

case_ "stale pend --rev 2, restricted to the blocks asked about"
run --stdin '{"updates":{"b1":[["items",0,0,[0]]]},"deletes":["b3"]}' "${O[@]}" pend --trx t3 --rev 2
expect_rc 4
expect_out "{\"success\":false,\"missing\":[{\"trxId\":\"t2\",\"rev\":5,\"transforms\":{\"inserts\":{},\"updates\":{\"b1\":$U1},\"deletes\":[\"b3\"]}}]}"
expect_no_err
expect_same_tree "$before" "$S"

case_ "stale pend: an insert without --rev is checked from 0"
run --stdin "{\"inserts\":{\"b3\":$B3}}" "${O[@]}" pend --trx t3
expect_rc 4
expect_out "{\"success\":false,\"missing\":[{\"trxId\":\"t1\",\"rev\":1,\"transforms\":{\"inserts\":{\"b3\":$B3},\"updates\":{},\"deletes\":[]}},{\"trxId\":\"t2\",\"rev\":5,\"transforms\":{\"inserts\":{},\"updates\":{},\"deletes\":[\"b3\"]}}]}"
expect_no_err
expect_same_tree "$before" "$S"

case_ "stale pend --pretty: JSON.stringify(v, null, 2) layout, {} and [] kept short"
run --stdin '{"updates":{"b2":[]}}' "${O[@]}" --pretty pend --trx t3 --rev 5
expect_rc 4
expect_out '{
  "success": false,
  "missing": [
    {
      "trxId": "t2",
      "rev": 5,
      "transforms": {
        "inserts": {},
        "updates": {
          "b2": [
            [
              "items",
              -1,
              5,
              []
            ],
            [
              "items",
              -10,
              0,
              [
                "first"
              ]
            ]
          ]
        },
        "deletes": []
      }
    }
  ]
}'
expect_same_tree "$before" "$S"

# ---- 5. a pending transaction, then stale commit and pending-conflict policies ----
B1_T3="{$H1,\"z\":1,\"2\":\"two\",\"a\":\"y\",\"items\":[0,1,\"a\",\"b\",3],\"nums\":[100,1e-7,1.5e+21,0.000001,0,-0.0000015,9007199254740993,2.5,1.23e-18,-1e+21,100],\"title\":\"new\"}"
case_ "pend t3 --rev 6"
run --stdin '{"updates":{"b1":[["items",0,0,[0]]]}}' "${O[@]}" pend --trx t3 --rev 6
expect_success '{"success":true,"pending":[],"blockIds":["b1"]}'

case_ "get --trx t3 applies the pending transform"
run "${O[@]}" get b1 --trx t3
expect_rc 0
expect_out "{\"b1\":{\"block\":$B1_T3,\"state\":{$L5,\"pendings\":[\"t3\"]}}}"

case_ "get --trx of a transaction not pending on the block"
run "${O[@]}" get b2 --trx t3
expect_rc 3
expect_err_line "t3"

before=$(tree_state "$S")
case_ "stale commit at rev 5"
run "${O[@]}" commit --trx t3 --rev 5 b1
expect_rc 4
expect_out "{\"success\":false,\"missing\":[$M2]}"
expect_no_err
expect_same_tree "$before" "$S"

T4='{"updates":{"b1":[["title",0,0,"t4"]]}}'
case_ "policy f"
run --stdin "$T4" "${O[@]}" pend --trx t4 --rev 6 --policy f
expect_rc 5
expect_out '{"success":false,"pending":[{"blockId":"b1","trxId":"t3"}]}'
expect_no_err
expect_same_tree "$before" "$S"

case_ "policy r returns the pending transforms"
run --stdin "$T4" "${O[@]}" pend --trx t4 --rev 6 --policy r
expect_rc 5
expect_out '{"success":false,"pending":[{"blockId":"b1","trxId":"t3","transform":{"updates":[["items",0,0,[0]]]}}]}'
expect_no_err
expect_same_tree "$before" "$S"

case_ "policy w times out as f"
t0=$(date +%s%N)
run --stdin "$T4" "${O[@]}" pend --trx t4 --rev 6 --policy w --timeout 0.4
took_ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc 5
expect_out '{"success":false,"pending":[{"blockId":"b1","trxId":"t3"}]}'
expect_same_tree "$before" "$S"
if ((took_ms >= 350 && took_ms < 10000)); then ok; else fail "policy w with --timeout 0.4 returned after ${took_ms} ms"; fi

case_ "policy c continues and lists the other pendings"
run --stdin "$T4" "${O[@]}" pend --trx t4 --rev 6 --policy c
expect_success '{"success":true,"pending":[{"blockId":"b1","trxId":"t3"}],"blockIds":["b1"]}'

case_ "policy w waits for the pending to go, then pends"
printf '%s' '{"updates":{"b1":[["title",0,0,"t5"]]}}' >"$WORK/t5.json"
timeout 60 "$OPTDB" "${O[@]}" pend --trx t5 --rev 6 --policy w --timeout 30 "$WORK/t5.json" >"$WORK/w.out" 2>"$WORK/w.err" &
wpid=$!
sleep 0.5
if kill -0 $wpid 2>/dev/null; then ok; else fail "policy w did not wait while t3 and t4 were pending"; fi
run "${O[@]}" cancel --trx t4 b1
expect_out '{"success":true,"cancelled":["b1"],"committed":[]}'
sleep 0.3
if kill -0 $wpid 2>/dev/null; then ok; else fail "policy w stopped waiting while t3 was still pending"; fi
run "${O[@]}" cancel --trx t3 b1
expect_out '{"success":true,"cancelled":["b1"],"committed":[]}'
wait $wpid
wrc=$?
expect_eq "policy w exit code" 0 "$wrc"
expect_eq "policy w output" '{"success":true,"pending":[],"blockIds":["b1"]}' "$(cat "$WORK/w.out")"
run "${O[@]}" cancel --trx t5 b1
expect_out '{"success":true,"cancelled":["b1"],"committed":[]}'
run --stdin '{"updates":{"b1":[["items",0,0,[0]]]}}' "${O[@]}" pend --trx t3 --rev 6
expect_rc 0

# ---- 6. commit of a transaction that is not pending: exit 3, nothing written ----
before=$(tree_state "$S")
case_ "commit of an unknown transaction"
run "${O[@]}" commit --trx nosuch --rev 6 b1
expect_rc 3
expect_no_out
expect_err_line "nosuch"
expect_same_tree "$before" "$S"

case_ "commit where one block lacks the pending: no block is committed"
run "${O[@]}" commit --trx t3 --rev 6 b1 b2
expect_rc 3
expect_no_out
expect_err_line "b2"
expect_same_tree "$before" "$S"

case_ "commit t3 at rev 6"
run "${O[@]}" commit --trx t3 --rev 6 b1
expect_rc 0
expect_out '{"success":true}'
run "${O[@]}" get b1
expect_out "{\"b1\":{\"block\":$B1_T3,\"state\":{\"latest\":{\"trxId\":\"t3\",\"rev\":6},\"pendings\":[]}}}"

# ---- 7. cancel ----
case_ "cancel removes the pending where it is, names where it is committed"
run --stdin '{"updates":{"b1":[["x",0,0,1]],"b2":[["x",0,0,1]]}}' "${O[@]}" pend --trx t6 --rev 7
expect_rc 0
run "${O[@]}" cancel --trx t6 b2 b1 b4
expect_success '{"success":true,"cancelled":["b2","b1"],"committed":[]}'
expect_missing_path "$S/b1/pend/t6.json"
expect_missing_path "$S/b4"
expect_file "$S/b2/meta.json" '{"ranges":[[0]],"latest":{"trxId":"t2","rev":5}}'

case_ "cancel of a committed transaction"
before=$(tree_state "$S")
run "${O[@]}" cancel --trx t2 b1 b2 b3
expect_rc 0
expect_out '{"success":true,"cancelled":[],"committed":["b1","b2","b3"]}'
expect_same_tree "$before" "$S"

case_ "cancel twice"
run "${O[@]}" cancel --trx t6 b1
expect_rc 0
expect_out '{"success":true,"cancelled":[],"committed":[]}'

case_ "cancel never removes meta.json of a block left empty"
run --stdin "{\"inserts\":{\"b9\":{\"header\":{\"id\":\"b9\",\"type\":\"t\",\"collectionId\":\"c1\"}}}}" "${O[@]}" pend --trx t9
expect_rc 0
run "${O[@]}" cancel --trx t9 b9
expect_out '{"success":true,"cancelled":["b9"],"committed":[]}'
expect_file "$S/b9/meta.json" '{"ranges":[[0]]}'

# ---- 8. retried commits of committed transactions: success, nothing changes ----
before=$(tree_state "$S")
case_ "retried commit t2 at rev 5"
run "${O[@]}" commit --trx t2 --rev 5 b1 b2 b3
expect_success '{"success":true}'
case_ "retried commit t1 at rev 1"
run "${O[@]}" commit --trx t1 --rev 1 b3 b1 b2
expect_rc 0
expect_out '{"success":true}'
expect_same_tree "$before" "$S"
case_ "re-pending a committed transaction is refused"
run --stdin '{"updates":{"b1":[]}}' "${O[@]}" pend --trx t2 --rev 7
expect_rc 2
expect_err_line "t2"
expect_same_tree "$before" "$S"

# ---- 9. catch-up with --committed, a tx: id (file names use %3A) and a block id starting with '-' ----
case_ "pend tx:t7 on b2 and -dash"
run --stdin '{"updates":{"b2":[["items",99,0,["z"]]]},"inserts":{"-dash":{"header":{"id":"-dash","type":"t","collectionId":"c1"}}}}' \
  "${O[@]}" pend --trx tx:t7 --rev 7
expect_rc 0
expect_out '{"success":true,"pending":[],"blockIds":["-dash","b2"]}'
expect_file "$S/b2/pend/tx%3At7.json" '{"updates":[["items",99,0,["z"]]]}'
case_ "get --committed commits the pending here first"
run "${O[@]}" get b2 --committed 'tx:t7:8'
expect_rc 0
expect_out "{\"b2\":{\"block\":{$H2,\"items\":[\"first\",\"x\",\"y\",\"z\"]},\"state\":{\"latest\":{\"trxId\":\"tx:t7\",\"rev\":8},\"pendings\":[]}}}"
expect_file "$S/b2/revs/8.json" 'tx:t7'
expect_missing_path "$S/b2/pend/tx%3At7.json"
case_ "commit a block whose id starts with '-'"
run "${O[@]}" commit --trx tx:t7 --rev 8 b2 -- -dash
expect_rc 0
expect_out '{"success":true}'
DASH='"-dash":{"block":{"header":{"id":"-dash","type":"t","collectionId":"c1"}},"state":{"latest":{"trxId":"tx:t7","rev":8},"pendings":[]}}'
run "${O[@]}" get -- -dash
expect_rc 0
expect_out "{$DASH}"
case_ "'--' after other block ids and options"
run "${O[@]}" get b3 --rev 8 -- -dash --rev
expect_rc 3
expect_out "{\"b3\":{\"state\":{$L5,\"pendings\":[]}},$DASH,\"--rev\":{\"state\":{\"pendings\":[]}}}"
expect_err_lines 2
run "${O[@]}" cancel --trx tx:t7 b2 -- -dash
expect_rc 0
expect_out '{"success":true,"cancelled":[],"committed":["b2","-dash"]}'

# ---- 10. --pretty ----
case_ "--pretty get"
run "${O[@]}" --pretty get b2
expect_rc 0
expect_out '{
  "b2": {
    "block": {
      "header": {
        "id": "b2",
        "type": "list",
        "collectionId": "c1"
      },
      "items": [
        "first",
        "x",
        "y",
        "z"
      ]
    },
    "state": {
      "latest": {
        "trxId": "tx:t7",
        "rev": 8
      },
      "pendings": []
    }
  }
}'
case_ "--pretty cancel"
run --env OPTDB_STORE="$S" --pretty cancel --trx t3 b1
expect_rc 0
expect_out '{
  "success": true,
  "cancelled": [],
  "committed": [
    "b1"
  ]
}'

# ---- 11. OPTDB_STORE ----
case_ "OPTDB_STORE names the store"
run "${O[@]}" get b1 b2
want=$(cat "$OUTF")
run --env OPTDB_STORE="$S" get b1 b2
expect_rc 0
expect_out "$want"
case_ "--store wins over OPTDB_STORE"
run --env OPTDB_STORE="$WORK/elsewhere" "${O[@]}" get b1 b2
expect_rc 0
expect_out "$want"
expect_missing_path "$WORK/elsewhere"
case_ "OPTDB_STORE for writers; a missing store directory is created"
S2=$WORK/new/store
run --env OPTDB_STORE="$S2" --stdin '{"inserts":{"k":{"header":{"id":"k","type":"t","collectionId":"c"},"v":[]}}}' pend --trx a1
expect_rc 0
run --env OPTDB_STORE="$S2" commit --trx a1 --rev 3 k
expect_rc 0
run --store "$S2" get k
expect_out '{"k":{"block":{"header":{"id":"k","type":"t","collectionId":"c"},"v":[]},"state":{"latest":{"trxId":"a1","rev":3},"pendings":[]}}}'

# ---- 12. a stored file that does not parse: exit 6 naming the file, nothing written ----
S3=$(mkstore)
run --stdin '{"inserts":{"k":{"header":{"id":"k","type":"t","collectionId":"c"},"v":[]}}}' --store "$S3" pend --trx a1
run --store "$S3" commit --trx a1 --rev 1 k
expect_rc 0
run --stdin '{"updates":{"k":[["v",0,0,[1]]]}}' --store "$S3" pend --trx a2 --rev 2
expect_rc 0
store_write "$S3/k/meta.json" '{"ranges":[[0]],"lat'
meta_where=$(store_where "$S3" "$S3/k/meta.json")  # k/meta.json, or where a rados: store keeps it
before=$(tree_state "$S3")
for args in "get k" "get k --rev 1" "commit --trx a2 --rev 2 k"; do
  case_ "corrupt meta.json: $args"
  run --store "$S3" $args
  expect_rc 6
  expect_no_out
  expect_err_line "$meta_where"
  expect_same_tree "$before" "$S3"
done
case_ "corrupt meta.json: pend"
run --stdin '{"updates":{"k":[]}}' --store "$S3" pend --trx a3 --rev 2
expect_rc 6
expect_no_out
expect_err_line "$meta_where"
expect_same_tree "$before" "$S3"

# ---- 13. --help of every command: exit 0, an example, nothing on stderr ----
case_ "optdb --help"
run --help
expect_rc 0
expect_no_err
for c in get pend commit cancel inspect archive restore repair; do
  grep -qE "^  $c( |$)" "$OUTF" && ok || fail "optdb --help does not list $c"
done
for c in get pend commit cancel inspect archive restore repair; do
  case_ "optdb $c --help"
  run "${O[@]}" $c --help
  expect_rc 0
  expect_no_err
  if grep -q "not available yet" "$OUTF"; then
    echo "note: optdb $c is not built yet; its example is not checked" >&2
    continue
  fi
  grep -q '^Example' "$OUTF" && grep -qE "^ +(.*\| *)?optdb .*$c" "$OUTF" && ok ||
    fail "optdb $c --help shows no example:"$'\n'"$(cat "$OUTF")"
done
case_ "optdb --version"
run --version
expect_rc 0
grep -qE '^optdb [0-9]+\.[0-9]+' "$OUTF" && ok || fail "optdb --version printed: $(cat "$OUTF")"

finish
