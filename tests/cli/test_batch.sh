#!/usr/bin/env bash
# optdb batch through the real binary: bad lines of every kind answered and
# the batch going on, ids echoed, responses in order behind a request that
# waits, a coprocess, --buffer and flush, a cut stdout, no final newline.
#
#   bash tests/cli/test_batch.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

H() { printf '"header":{"id":"%s","type":"t","collectionId":"c"}' "$1"; }
S=$(mkstore)
O=(--store "$S")
INS="{\"op\":\"pend\",\"trxId\":\"t1\",\"transforms\":{\"inserts\":{\"b1\":{$(H b1),\"v\":[]}}}}"

case_ "bad lines of every kind are answered with exit 2, and the batch goes on"
{
  echo 'not json'
  echo '[1,2]'
  echo '{"op":"frobnicate"}'
  echo '{"blockIds":["b1"]}'
  echo '{"op":"get"}'
  echo '{"op":"get","blockIds":"b1"}'
  echo '{"op":"get","blockIds":["b/1"]}'
  echo '{"op":"commit","trxId":"t1","blockIds":["b1"],"rev":-1}'
  echo '{"op":"get","blockIds":["b1"],"extra":1}'
  echo '{"op":"pend","trxId":"t x","transforms":{}}'
  echo '{"op":"get","blockIds":["b1"],"id":"last"}'
} >"$WORK/bad.ndjson"
run --in "$WORK/bad.ndjson" "${O[@]}" batch
expect_rc 0
expect_no_err
expect_eq "eleven responses" 11 "$(wc -l <"$OUTF")"
n=0
while IFS= read -r line; do
  n=$((n + 1))
  if ((n < 11)); then
    if [[ $line == "{\"exit\":2,\"error\":\"line $n: "* ]]; then ok; else fail "line $n: $line"; fi
  else
    expect_eq "a good line after them" '{"id":"last","exit":3,"result":{"b1":{"state":{"pendings":[]}}}}' "$line"
  fi
done <"$OUTF"
expect_eq "nothing written" "" "$(ls -A "$S")"

case_ "ids echoed first, results as the one-shot commands print them"
run --stdin "$(printf '%s\n' "${INS%\}},\"id\":{\"k\":[1]}}" '{"op":"commit","trxId":"t1","blockIds":["b1"],"rev":1,"id":2}')" "${O[@]}" batch
expect_success '{"id":{"k":[1]},"exit":0,"result":{"success":true,"pending":[],"blockIds":["b1"]}}
{"id":2,"exit":0,"result":{"success":true}}'
run "${O[@]}" get b1
oneshot=$(cat "$OUTF")
run --stdin '{"op":"get","blockIds":["b1"]}' "${O[@]}" batch
expect_success "{\"exit\":0,\"result\":$oneshot}"

case_ "input without a final newline, blank lines skipped"
printf '\n{"op":"get","blockIds":["b1"],"id":1}\n\n{"op":"get","blockIds":["b1"],"id":2}' >"$WORK/nonl"
run --in "$WORK/nonl" "${O[@]}" batch
expect_rc 0
expect_eq "two responses, the last one too" '1 2' "$(grep -o '"id":[0-9]' "$OUTF" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"

case_ "a request that waits keeps the responses in order"
run --stdin '{"updates":{"b1":[["v",0,0,[2]]]}}' "${O[@]}" pend --trx t2
expect_rc 0
printf '%s\n' '{"op":"pend","trxId":"t3","transforms":{"updates":{"b1":[["v",0,0,[3]]]}},"policy":"w","timeout":0.5,"id":"waits"}' \
  '{"op":"get","blockIds":["b1"],"id":"after"}' >"$WORK/wait.ndjson"
run --in "$WORK/wait.ndjson" "${O[@]}" batch
expect_rc 0
expect_eq "the waiting request first, answered as policy f" '"waits" 5' "$(head -1 "$OUTF" | grep -o '"id":"waits","exit":5' | sed 's/"id":\("waits"\),"exit":/\1 /')"
expect_eq "then the next" '"after"' "$(sed -n 2p "$OUTF" | grep -o '"id":"after"' | cut -d: -f2)"

case_ "a held lock: that request gets exit 7, the next is answered"
if command -v flock >/dev/null; then
  mkdir -p "$S/.optdb/locks"
  (exec 9>"$S/.optdb/locks/b1"; flock -x 9; sleep 3) &
  holder=$!
  sleep 0.3
  printf '%s\n' '{"op":"cancel","trxId":"t2","blockIds":["b1"],"id":1}' '{"op":"get","blockIds":["b1"],"id":2}' >"$WORK/lock.ndjson"
  run --in "$WORK/lock.ndjson" "${O[@]}" --lock-timeout 0.3 batch
  expect_rc 0
  if head -1 "$OUTF" | grep -q '^{"id":1,"exit":7,"error":'; then ok; else fail "locked: $(head -1 "$OUTF")"; fi
  if sed -n 2p "$OUTF" | grep -q '^{"id":2,"exit":0,'; then ok; else fail "after the lock: $(sed -n 2p "$OUTF")"; fi
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
fi

case_ "a coprocess gets each response before it sends the next request"
coproc DB { "$OPTDB" --store "$S" batch 2>&1; }
dbpid=$DB_PID
for i in 1 2 3; do
  echo "{\"op\":\"get\",\"blockIds\":[\"b1\"],\"id\":$i}" >&"${DB[1]}"
  if IFS= read -r -t 10 answer <&"${DB[0]}" && [[ $answer == "{\"id\":$i,\"exit\":0,"* ]]; then ok; else fail "coprocess answer $i: $answer"; fi
done
exec {DB[1]}>&-
wait "$dbpid"
expect_eq "exit at the end of input" 0 "$?"

case_ "--buffer: nothing until flush, then everything, flush last with its count"
coproc BUF { "$OPTDB" --store "$S" batch --buffer 2>&1; }
bufpid=$BUF_PID
echo '{"op":"get","blockIds":["b1"],"id":1}' >&"${BUF[1]}"
echo '{"op":"get","blockIds":["b1"],"id":2}' >&"${BUF[1]}"
if IFS= read -r -t 0.5 early <&"${BUF[0]}"; then fail "answered before flush: $early"; else ok; fi
echo '{"op":"flush","id":"f"}' >&"${BUF[1]}"
got=""
for _ in 1 2 3; do IFS= read -r -t 10 l <&"${BUF[0]}" && got+="${l:0:12} "; done
expect_eq "three lines at flush" '{"id":1,"exi {"id":2,"exi {"id":"f","e ' "$got"
echo '{"op":"get","blockIds":["b1"],"id":3}' >&"${BUF[1]}"
exec {BUF[1]}>&-
IFS= read -r -t 10 l <&"${BUF[0]}"
expect_eq "the rest at the end of input" '{"id":3,' "${l:0:8}"
wait "$bufpid"
run --stdin '{"op":"flush"}' "${O[@]}" batch --buffer
expect_success '{"exit":0,"result":{"flushed":0}}'

case_ "--buffer: a window's commits reach other readers at its flush, and a writer elsewhere builds on them first"
W=$(mkstore)
run --stdin "$INS"$'\n''{"op":"commit","trxId":"t1","blockIds":["b1"],"rev":1}' --store "$W" batch
expect_rc 0
coproc WIN { "$OPTDB" --store "$W" batch --buffer 2>&1; }
winpid=$WIN_PID
echo '{"op":"pend","trxId":"u2","transforms":{"updates":{"b1":[["v",0,0,[2]]]}},"id":"p2"}' >&"${WIN[1]}"
echo '{"op":"commit","trxId":"u2","blockIds":["b1"],"rev":2,"id":"c2"}' >&"${WIN[1]}"
# The window's commit is marked under b1's lock once it is in the journal (not yet flushed).
for _ in $(seq 100); do [[ -s "$W/.optdb/locks/b1" ]] && grep -q '"trxId":"u2"' "$W/.optdb/journal" 2>/dev/null && break; sleep 0.05; done
expect_file "$W/b1/meta.json" '{"ranges":[[0]],"latest":{"trxId":"t1","rev":1}}'
run --store "$W" get b1
expect_out '{"b1":{"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":[]},"state":{"latest":{"trxId":"t1","rev":1},"pendings":[]}}}'
# Another process pends at revision 3: taking b1's lock, it finishes the window's units first.
run --stdin '{"updates":{"b1":[["v",0,0,[3]]]}}' --store "$W" pend --trx u3 --rev 3
expect_rc 0
run --store "$W" commit --trx u3 --rev 3 b1
expect_rc 0
echo '{"op":"flush","id":"f"}' >&"${WIN[1]}"
got=""
for _ in 1 2 3; do IFS= read -r -t 10 l <&"${WIN[0]}" && got+="$l "; done
expect_eq "the window's answers at its flush" '{"id":"p2","exit":0,"result":{"success":true,"pending":[],"blockIds":["b1"]}} {"id":"c2","exit":0,"result":{"success":true}} {"id":"f","exit":0,"result":{"flushed":2}} ' "$got"
exec {WIN[1]}>&-
wait "$winpid"
run --store "$W" get b1
expect_out '{"b1":{"block":{"header":{"id":"b1","type":"t","collectionId":"c"},"v":[3,2]},"state":{"latest":{"trxId":"u3","rev":3},"pendings":[]}}}'
expect_missing_path "$W/b1/pend/u2.json"

case_ "stdout cut mid-batch: exit 1, and every acknowledged commit is in the store"
C=$(mkstore)
{
  echo "${INS}"
  echo '{"op":"commit","trxId":"t1","blockIds":["b1"],"rev":1,"id":1}'
  for r in $(seq 2 200); do
    echo "{\"op\":\"pend\",\"trxId\":\"u$r\",\"transforms\":{\"updates\":{\"b1\":[[\"v\",0,0,[$r]]]}},\"rev\":$r}"
    echo "{\"op\":\"commit\",\"trxId\":\"u$r\",\"blockIds\":[\"b1\"],\"rev\":$r,\"id\":$r}"
  done
} >"$WORK/many.ndjson"
"$OPTDB" --no-sync --store "$C" batch <"$WORK/many.ndjson" 2>"$WORK/cut.err" | head -n 9 >"$WORK/cut.out"
rc=${PIPESTATUS[0]}
expect_eq "batch exits 1 when stdout fails" 1 "$rc"
acked=$(grep -o '"id":[0-9]*,"exit":0' "$WORK/cut.out" | tail -1 | sed 's/"id":\([0-9]*\).*/\1/')
run --store "$C" get b1 --rev "$acked"
expect_rc 0
if grep -q "\"v\":\[$acked[],]" "$OUTF"; then ok; else fail "commit $acked acknowledged but not read back: $(cat "$OUTF")"; fi

finish
