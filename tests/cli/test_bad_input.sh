#!/usr/bin/env bash
# Bad input through the real binary (SPEC §5, §7). Every case must:
#   exit with the documented code (2: usage error or invalid input),
#   print exactly one line on stderr, starting with "optdb: error: ",
#   print nothing on stdout,
#   leave the store byte-identical (same paths, same file contents).
#
#   bash tests/cli/test_bad_input.sh build/apps/optdb
#   SHOW_ERR=1 bash tests/cli/test_bad_input.sh build/apps/optdb   (also prints each message)
source "$(dirname "$0")/lib.sh"

S=$(mkstore)
O=(--store "$S")
NCASES=0
WATCH=()   # more paths whose state must not change, besides the store

# ---- a store with history, pendings and transactions that cannot apply ----
setup() {
  run "$@"
  [[ $RC == 0 ]] || { echo "setup failed: optdb $* -> $RC: $(cat "$ERRF")" >&2; exit 1; }
}
setup --stdin '{"inserts":{"b1":{"header":{"id":"b1","type":"t","collectionId":"c"},"title":"s","items":[1]},"b2":{"header":{"id":"b2","type":"t","collectionId":"c"}}}}' "${O[@]}" pend --trx t1
setup "${O[@]}" commit --trx t1 --rev 1 b1 b2
setup --stdin '{"updates":{"b1":[["items",0,0,[2]]]}}' "${O[@]}" pend --trx t2 --rev 2
setup "${O[@]}" commit --trx t2 --rev 2 b1
setup --stdin '{"updates":{"b1":[["title",0,0,["x"]]]}}' "${O[@]}" pend --trx tsplice --rev 3
setup --stdin '{"updates":{"ghost":[["items",0,0,[1]]]}}' "${O[@]}" pend --trx tghost --rev 3
setup --stdin '{"updates":{"b2":[["v",0,0,1]]}}' "${O[@]}" pend --trx tok --rev 3
FILE_STORE=$WORK/plainfile
printf 'not a directory\n' >"$FILE_STORE"

# bad WANT_RC DESCRIPTION [run options] ARGS...
bad() {
  local want=$1 what=$2
  shift 2
  case_ "$what"
  NCASES=$((NCASES + 1))
  local before w
  local -a befores=()
  before=$(tree_state "$S")
  for w in ${WATCH[@]+"${WATCH[@]}"}; do befores+=("$(tree_state "$w")"); done
  run "$@"
  [[ -n ${SHOW_ERR:-} ]] && echo "[$what] $(cat "$ERRF")"
  expect_rc "$want"
  expect_no_out
  expect_err_line
  expect_same_tree "$before" "$S"
  local i=0
  for w in ${WATCH[@]+"${WATCH[@]}"}; do expect_same_tree "${befores[i]}" "$w"; i=$((i + 1)); done
}

# badjson DESCRIPTION BYTES (printf format) [extra pend args]: pend with that input.
badjson() {
  local what=$1 bytes=$2
  shift 2
  printf "$bytes" >"$WORK/in.json"
  bad 2 "pend: $what" --in "$WORK/in.json" "${O[@]}" pend --trx tb --rev 3 "$@"
}
HDR='"header":{"id":"b5","type":"t","collectionId":"c"}'
LONG=$(printf 'a%.0s' {1..300})
T129=$(printf 'a%.0s' {1..129})

# ---- JSON syntax and encoding ----
badjson "truncated JSON" '{"inserts":{"b5":{"header":'
badjson "invalid JSON (unquoted key)" '{inserts:{}}'
badjson "trailing garbage" '{"deletes":["b1"]} x'
badjson "two JSON values" '{"deletes":["b1"]}{"deletes":["b2"]}'
badjson "empty input" ''
badjson "only whitespace" ' \n\t '
badjson "NaN" '{"updates":{"b1":[["v",0,0,NaN]]}}'
badjson "number too large for a double" '{"updates":{"b1":[["v",0,0,1e400]]}}'
badjson "invalid UTF-8 byte in a string" '{"updates":{"b1":[["v",0,0,"a\xffb"]]}}'
badjson "overlong UTF-8 in a key" '{"updates":{"b\xc0\xaf":[]}}'
badjson "UTF-8 encoded surrogate" '{"updates":{"b1":[["v",0,0,"\xed\xa0\x80"]]}}'
badjson "truncated UTF-8 sequence" '{"updates":{"b1":[["v",0,0,"\xe2\x82"]]}}'
badjson 'lone surrogate "\\ud800"' '{"updates":{"b1":[["v",0,0,"\\ud800"]]}}'
badjson 'lone low surrogate "\\udc00"' '{"updates":{"b1":[["v",0,0,"x\\udc00"]]}}'
badjson "raw control character in a string" '{"updates":{"b1":[["v",0,0,"a\tb"]]}}'

# ---- JSON shape ----
badjson "top level is an array" '[]'
badjson "top level is a number" '42'
badjson "unknown top-level member" '{"insert":{}}'
badjson "inserts as an array" '{"inserts":[]}'
badjson "updates as an array" '{"updates":[["b1"]]}'
badjson "deletes as a string" '{"deletes":"b1"}'
badjson "deletes holding a number" '{"deletes":[1]}'
badjson "an update list that is an object" '{"updates":{"b1":{"0":["items",0,0,[]]}}}'
badjson "operation with three elements" '{"updates":{"b1":[["items",0,0]]}}'
badjson "operation that is a string" '{"updates":{"b1":["items"]}}'
badjson "entity not a string" '{"updates":{"b1":[[1,0,0,[]]]}}'
badjson "index as a string" '{"updates":{"b1":[["items","0",0,[1]]]}}'
badjson "index 7.0" '{"updates":{"b1":[["items",7.0,0,[1]]]}}'
badjson "index 1e0" '{"updates":{"b1":[["items",1e0,0,[1]]]}}'
badjson "index null" '{"updates":{"b1":[["items",null,0,[1]]]}}'
badjson "index beyond 64 bits" '{"updates":{"b1":[["items",18446744073709551616,0,[1]]]}}'
badjson "deleteCount 1.5" '{"updates":{"b1":[["items",0,1.5,[1]]]}}'
badjson "deleteCount a boolean" '{"updates":{"b1":[["items",0,true,[1]]]}}'
badjson "inserted block is an array" '{"inserts":{"b5":[]}}'
badjson "inserted block without header" '{"inserts":{"b5":{"id":"b5"}}}'
badjson "header without collectionId" '{"inserts":{"b5":{"header":{"id":"b5","type":"t"}}}}'
badjson "header.type a number" '{"inserts":{"b5":{"header":{"id":"b5","type":1,"collectionId":"c"}}}}'
badjson "header.id different from its key" '{"inserts":{"b5":{"header":{"id":"b6","type":"t","collectionId":"c"}}}}'
badjson "header.id invalid" '{"inserts":{"b5":{"header":{"id":"..","type":"t","collectionId":"c"}}}}'
badjson "bad second block after a good one" "{\"inserts\":{\"b5\":{$HDR}},\"updates\":{\"b1\":[[\"items\",0,0.5,[]]]}}"
badjson "empty {} transforms" '{}'
badjson "transforms with only empty members" '{"inserts":{},"updates":{},"deletes":[]}'

# ---- block ids inside JSON ----
badjson 'block id ".."' '{"updates":{"..":[]}}'
badjson 'block id "."' '{"deletes":["."]}'
badjson 'block id "a/b"' '{"updates":{"a/b":[]}}'
badjson 'block id ".x"' '{"updates":{".x":[]}}'
badjson 'block id "/etc"' '{"deletes":["/etc"]}'
badjson 'block id "a\\\\b"' '{"updates":{"a\\\\b":[]}}'
badjson "block id of 300 characters" "{\"updates\":{\"$LONG\":[]}}"
badjson "block id with a control character" '{"updates":{"b\\u0001":[]}}'
badjson "block id with DEL" '{"deletes":["b\\u007f"]}'
badjson "block id with NUL" '{"deletes":["b\\u0000"]}'
badjson "empty block id" '{"updates":{"":[]}}'

# ---- files ----
bad 2 "pend: input file that does not exist" "${O[@]}" pend --trx tb "$WORK/no-such-file.json"
bad 2 "pend: input file that is a directory" "${O[@]}" pend --trx tb "$WORK"
bad 2 "pend: empty input file name" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb ''
bad 2 "pend: two input files" "${O[@]}" pend --trx tb "$WORK/in.json" "$WORK/in.json"

# ---- block ids on the command line ----
for id in .. . a/b .x /etc "$LONG" $'a\tb' $'b\x01' $'b\x7f' $'b\xff' "" 'a\b'; do
  shown=$(printf '%q' "$id")
  bad 2 "get: block id ${shown:0:40}" "${O[@]}" get b1 "$id"
done
bad 2 "commit: block id .." "${O[@]}" commit --trx tok --rev 3 b2 ..
bad 2 "cancel: block id /etc" "${O[@]}" cancel --trx tok /etc
bad 2 "cancel: block id a/b" "${O[@]}" cancel --trx tok b2 a/b

# ---- transaction ids ----
bad 2 "pend: --trx 'a b'" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx 'a b'
bad 2 "get: --trx of 129 characters" "${O[@]}" get b1 --trx "$T129"
bad 2 "commit: --trx tx: alone" "${O[@]}" commit --trx tx: --rev 3 b2
bad 2 "cancel: --trx stamp: alone" "${O[@]}" cancel --trx stamp: b2
bad 2 "cancel: --trx with a colon not in a prefix" "${O[@]}" cancel --trx a:b b2
bad 2 "cancel: --trx with a non-ASCII letter" "${O[@]}" cancel --trx 'é' b2
bad 2 "commit: --trx empty" "${O[@]}" commit --trx '' --rev 3 b2
bad 2 "get: --trx with no value" "${O[@]}" get b1 --trx

# ---- revisions ----
bad 2 "get: --rev -1" "${O[@]}" get b1 --rev -1
bad 2 "get: --rev abc" "${O[@]}" get b1 --rev abc
bad 2 "get: --rev 2^53" "${O[@]}" get b1 --rev 9007199254740992
bad 2 "get: --rev of 20 digits" "${O[@]}" get b1 --rev 99999999999999999999
bad 2 "get: --rev 1.0" "${O[@]}" get b1 --rev 1.0
bad 2 "get: --rev +1" "${O[@]}" get b1 --rev +1
bad 2 "get: --rev ' 1'" "${O[@]}" get b1 --rev ' 1'
bad 2 "get: --rev empty" "${O[@]}" get b1 --rev ''
bad 2 "get: --rev 0x10" "${O[@]}" get b1 --rev 0x10
bad 2 "pend: --rev empty" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --rev ''
bad 2 "get: --trx empty" "${O[@]}" get b1 --trx ''
bad 2 "--lock-timeout empty" "${O[@]}" --lock-timeout '' get b1
bad 2 "get: --rev given twice" "${O[@]}" get b1 --rev 1 --rev 2
bad 2 "pend: --rev -5" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --rev -5
bad 2 "pend: --rev 2^53" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --rev 9007199254740992
bad 2 "commit: --rev 2^53" "${O[@]}" commit --trx tok --rev 9007199254740992 b2
bad 2 "commit: --rev 0" "${O[@]}" commit --trx tok --rev 0 b2
bad 2 "commit: --rev x" "${O[@]}" commit --trx tok --rev x b2

# ---- --committed ----
bad 2 "get: --committed without colon" "${O[@]}" get b1 --committed tok
bad 2 "get: --committed with a bad rev" "${O[@]}" get b1 --committed tok:x
bad 2 "get: --committed with an empty rev" "${O[@]}" get b1 --committed tok:
bad 2 "get: --committed with a bad trx id" "${O[@]}" get b1 --committed 'a b:3'
bad 2 "get: --committed with rev 2^53" "${O[@]}" get b1 --committed tok:9007199254740992
bad 2 "get: --committed with no value" "${O[@]}" get b1 --committed

# ---- options, commands, arguments ----
bad 2 "unknown subcommand option" "${O[@]}" get b1 --bogus
bad 2 "unknown short option" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb -x
bad 2 "unknown global option" --bogus "${O[@]}" get b1
bad 2 "unknown option after a commit's blocks" "${O[@]}" commit --trx tok --rev 3 b2 --force
bad 2 "unknown subcommand" "${O[@]}" frobnicate b1
bad 2 "the command after --" "${O[@]}" -- get b1
bad 2 "no subcommand" "${O[@]}"
bad 2 "nothing at all"
bad 2 "get: no blocks" "${O[@]}" get
bad 2 "get: no blocks, only options" "${O[@]}" get --rev 1
bad 2 "commit: no blocks" "${O[@]}" commit --trx tok --rev 3
bad 2 "commit: no --rev" "${O[@]}" commit --trx tok b2
bad 2 "commit: no --trx" "${O[@]}" commit --rev 3 b2
bad 2 "cancel: no --trx" "${O[@]}" cancel b2
bad 2 "cancel: no blocks" "${O[@]}" cancel --trx tok
bad 2 "pend: no --trx" --stdin '{"deletes":["b2"]}' "${O[@]}" pend
bad 2 "pend: --policy z" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --policy z
bad 2 "pend: --policy empty" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --policy ''
bad 2 "pend: --policy ff" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --policy ff
bad 2 "pend: --timeout -1" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --policy w --timeout -1
bad 2 "pend: --timeout abc" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --timeout abc
bad 2 "pend: --timeout 1.2.3" --stdin '{"deletes":["b2"]}' "${O[@]}" pend --trx tb --timeout 1.2.3
bad 2 "--lock-timeout -1" "${O[@]}" --lock-timeout -1 get b1
bad 2 "--lock-timeout x" "${O[@]}" --lock-timeout x cancel --trx tok b2

# ---- the store ----
bad 2 "no store given" get b1
bad 2 "OPTDB_STORE empty" --env OPTDB_STORE= get b1
bad 2 "--store empty" --store '' get b1
bad 2 "no store given, pend" --stdin '{"deletes":["b2"]}' pend --trx tb
WATCH=("$FILE_STORE")
bad 2 "store is a regular file: get" --store "$FILE_STORE" get b1
bad 2 "store is a regular file: pend" --stdin '{"deletes":["b2"]}' --store "$FILE_STORE" pend --trx tb
bad 2 "store is a regular file: commit" --store "$FILE_STORE" commit --trx tok --rev 3 b2
bad 2 "store is a regular file: cancel" --env OPTDB_STORE="$FILE_STORE" cancel --trx tok b2
WATCH=()

# ---- transforms refused by the store: exit 2, nothing written ----
bad 2 "pend: transaction already committed on a block" --stdin '{"updates":{"b1":[]}}' "${O[@]}" pend --trx t2 --rev 3
bad 2 "commit: splice on a member that is not an array" "${O[@]}" commit --trx tsplice --rev 3 b1
bad 2 "commit: updates to a block that does not exist" "${O[@]}" commit --trx tghost --rev 3 ghost

# The store still works after all that: the good pending commits.
case_ "the store is intact"
run "${O[@]}" commit --trx tok --rev 3 b2
expect_rc 0
expect_out '{"success":true}'
run "${O[@]}" get b1 b2
expect_out '{"b1":{"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"title":"s","items":[2,1]},"state":{"latest":{"trxId":"t2","rev":2},"pendings":["tsplice"]}},"b2":{"block":{"header":{"id":"b2","type":"t","collectionId":"c"},"v":1},"state":{"latest":{"trxId":"tok","rev":3},"pendings":[]}}}'

echo "$TEST_NAME: $NCASES bad-input cases"
finish
