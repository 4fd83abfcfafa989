#!/usr/bin/env bash
# zstd archives and restore --dry-run (SPEC §8 "compressed archives", §5;
# issue 16), through the real binary: archive -o FILE.zst and --zstd, every
# reader (restore from files, pipes and stdin, get --restore-from files and
# cmd: sources) detecting zstd by its magic bytes, truncated and corrupt
# streams refused with nothing written, OPTDB_RESTORE_MAX_BYTES holding for
# decompressed output, restore in bounded memory, and restore --dry-run
# writing nothing while reporting what a restore would.
#
#   bash tests/cli/test_zstd.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

# Everything under DIR, .optdb/ included (a lock file counts): every path,
# its type and mode, and every file's hash. "(absent)" when DIR is not there.
full_state() {
  [[ -e $1 ]] || { echo "(absent)"; return; }
  (cd "$1" && find . -printf '%y %m %p\n' | LC_ALL=C sort)
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
expect_same_full() {
  local now
  now=$(full_state "$2")
  if [[ $now == "$1" ]]; then ok; else
    fail "the store changed:"$'\n'"$(diff <(echo "$1") <(echo "$now") | head -n 20)"
  fi
}
is_zstd() { [[ $(head -c 4 "$1" | od -An -tx1 | tr -d ' \n') == 28b52ffd ]] && echo yes || echo no; }

# A store: b0, b1 with 30 revisions and a pending, b2.
A=$(mkstore)
make_history "$A" 30
echo '{"updates":{"b1":[["v",0,0,99]]}}' | "$OPTDB" --no-sync --store "$A" pend --trx "tx:p" >/dev/null
reads() { "$OPTDB" --store "$1" get b0 b1 b2; for r in 2 10 20 33; do "$OPTDB" --store "$1" get b1 --rev "$r"; done; }
WANT=$(reads "$A")

case_ "archive -o FILE.zst, --zstd on stdout and with -o of another name"
run --store "$A" archive --all --chunk 7 -o "$WORK/all.ndjson"
expect_rc 0
run --store "$A" archive --all --chunk 7 -o "$WORK/all.zst"
expect_rc 0
expect_no_out
expect_eq "FILE.zst is a zstd stream" yes "$(is_zstd "$WORK/all.zst")"
run --store "$A" archive --all --chunk 7 --zstd
expect_rc 0
expect_no_err
cp "$OUTF" "$WORK/stdout.zst"
expect_eq "--zstd on stdout is a zstd stream" yes "$(is_zstd "$WORK/stdout.zst")"
run --store "$A" archive --all --chunk 7 --zstd -o "$WORK/other.bin"
expect_eq "--zstd -o other.bin is a zstd stream" yes "$(is_zstd "$WORK/other.bin")"
expect_eq "plain -o is not" no "$(is_zstd "$WORK/all.ndjson")"
expect_eq "smaller than the plain archive" yes "$( (($(stat -c %s "$WORK/all.zst") < $(stat -c %s "$WORK/all.ndjson"))) && echo yes)"
if command -v zstd >/dev/null; then
  for f in all.zst stdout.zst other.bin; do
    expect_eq "zstd -dc $f is the plain archive" "$(sha256sum <"$WORK/all.ndjson")" "$(zstd -qdc <"$WORK/$f" | sha256sum)"
  done
fi

case_ "restore FILE.zst: the same store as restoring the plain archive"
P=$(mkstore)
run --no-sync --store "$P" restore "$WORK/all.ndjson"
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
Z=$(mkstore)
run --no-sync --store "$Z" restore "$WORK/all.zst"
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
expect_eq "the same files" "$(tree_state "$P")" "$(tree_state "$Z")"
expect_eq "reads" "$WANT" "$(reads "$Z")"
run --no-sync --store "$Z" restore "$WORK/all.zst"
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
expect_eq "restored twice: the same files" "$(tree_state "$P")" "$(tree_state "$Z")"

case_ "archive --zstd piped to restore, and restore from stdin"
Q=$WORK/q
run_pipe "'$OPTDB' --store '$A' archive --all --zstd" --no-sync --store "$Q" restore
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
expect_eq "reads" "$WANT" "$(reads "$Q")"
R=$(mkstore)
run --in "$WORK/all.zst" --no-sync --store "$R" restore -
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
expect_eq "reads" "$WANT" "$(reads "$R")"
R2=$(mkstore)
run --in "$WORK/stdout.zst" --no-sync --store "$R2" restore "$WORK/all.ndjson" -
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'

case_ "get --restore-from FILE.zst and a cmd: source printing zstd"
G=$(mkstore)
run --store "$G" get b1 --rev 20 --restore-from "$WORK/all.zst"
expect_rc 0
expect_out "$("$OPTDB" --store "$A" get b1 --rev 20)"
"$OPTDB" --store "$A" archive b1 -o "$WORK/b1.zst"
"$OPTDB" --store "$A" archive b1 -o "$WORK/b1.ndjson"
G2=$(mkstore)
run --store "$G2" get b1 --rev 10 --restore-from "cmd:cat '$WORK/b1.zst'"
expect_rc 0
expect_out "$("$OPTDB" --store "$A" get b1 --rev 10)"

case_ "OPTDB_RESTORE_MAX_BYTES holds for decompressed cmd: output"
ZS=$(stat -c %s "$WORK/b1.zst")
PS=$(stat -c %s "$WORK/b1.ndjson")
LIMIT=$(((ZS + PS) / 2))
expect_eq "compressed < limit < decompressed" yes "$( ((ZS < LIMIT && LIMIT < PS)) && echo yes)"
G3=$(mkstore)
run --env OPTDB_RESTORE_MAX_BYTES=$LIMIT --store "$G3" get b1 --rev 10 --restore-from "cmd:cat '$WORK/b1.zst'"
expect_rc 3
grep -q 'decompressed, it exceeds OPTDB_RESTORE_MAX_BYTES' "$ERRF" && ok || fail "the limit is not named: $(cat "$ERRF")"
expect_eq "nothing restored" "(absent)" "$(tree_state "$G3/b1")"
run --env OPTDB_RESTORE_MAX_BYTES=$((PS + 1)) --store "$G3" get b1 --rev 10 --restore-from "cmd:cat '$WORK/b1.zst'"
expect_rc 0

case_ "a truncated or corrupt .zst: exit 2, one line, nothing written"
ZS=$(stat -c %s "$WORK/all.zst")
head -c $((ZS / 2)) "$WORK/all.zst" >"$WORK/trunc.zst"
cp "$WORK/all.zst" "$WORK/corrupt.zst"
printf '\xff\x00\xff\x00\xff\x00' | dd of="$WORK/corrupt.zst" bs=1 seek=$((ZS / 2)) conv=notrunc 2>/dev/null
{ cat "$WORK/all.zst"; printf 'garbage after the frame'; } >"$WORK/trailing.zst"
S=$(mkstore)
run --no-sync --store "$S" restore "$WORK/all.ndjson"
echo '{"updates":{"b2":[["v",0,0,7]]}}' | "$OPTDB" --no-sync --store "$S" pend --trx "tx:s" >/dev/null
before=$(full_state "$S")
# A fresh block (n0) first, so that a partial write would show.
sed 's/"b0"/"n0"/g; s/"tx:ib0"/"tx:in0"/g' "$WORK/all.ndjson" | head -n 1 >"$WORK/n0.ndjson"
"$OPTDB" --store "$A" archive --all --zstd >"$WORK/fresh.zst" 2>/dev/null
for f in trunc corrupt trailing; do
  run --no-sync --store "$S" restore "$WORK/n0.ndjson" "$WORK/$f.zst"
  expect_rc 2
  expect_no_out
  case $f in
    trunc) expect_err_line "$f.zst: truncated zstd stream" ;;
    *) expect_err_line "$f.zst: corrupt zstd stream" ;;
  esac
  expect_same_full "$before" "$S"
  run --no-sync --store "$WORK/never-$f" restore "$WORK/$f.zst"
  expect_rc 2
  expect_missing_path "$WORK/never-$f"
done
run_pipe "cat '$WORK/trunc.zst'" --no-sync --store "$S" restore
expect_rc 2
expect_err_line "stdin: truncated zstd stream"
expect_same_full "$before" "$S"
run --in "$WORK/corrupt.zst" --no-sync --store "$S" restore --dry-run
expect_rc 2
expect_no_out
expect_err_line "stdin: corrupt zstd stream"
T=$(mkstore)
run --store "$T" get b1 --rev 10 --restore-from "$WORK/trunc.zst"
expect_rc 3
grep -q 'truncated zstd stream' "$ERRF" && ok || fail "the source's failure is not said: $(cat "$ERRF")"
expect_eq "nothing restored" "(absent)" "$(tree_state "$T/b1")"

case_ "restore --dry-run into a store that does not exist: nothing created"
N=$WORK/nostore
run --store "$N" restore --dry-run "$WORK/all.zst"
expect_rc 0
expect_no_err
expect_missing_path "$N"
expect_eq "what it would write" '3 33 1' \
  "$(jq -r '[(.archives|map(.blockId)|unique|length), (.archives|map(.write.revisions)|add), (.archives|map(.write.pending)|add)]|join(" ")' "$OUTF")"
expect_eq "restored and rejected as a real restore prints" '{"restored":["b0","b1","b2"],"rejected":[]}' "$(jq -c '{restored,rejected}' "$OUTF")"
run_pipe "cat '$WORK/all.zst'" --store "$N" restore --dry-run
expect_rc 0
expect_missing_path "$N"

case_ "restore --dry-run on a restored store: everything skipped, nothing written"
before=$(full_state "$Z")
run --store "$Z" restore --dry-run "$WORK/all.ndjson" "$WORK/all.zst"
expect_rc 0
expect_same_full "$before" "$Z"
expect_eq "nothing to write" '0 0 false' \
  "$(jq -r '[(.archives|map(.write.revisions)|add), (.archives|map(.write.pending)|add), (.archives|map(.write.meta)|any)]|join(" ")' "$OUTF")"
expect_eq "all skipped" 66 "$(jq '.archives|map(.skip.revisions)|add' "$OUTF")"

# dry_then_real STORE INPUT...: a dry run writes nothing, and reports the
# restored, rejected and exit code that the real restore then gives.
dry_then_real() {
  local store=$1
  shift
  local before dry drc
  before=$(full_state "$store")
  run --no-sync --store "$store" restore --dry-run "$@"
  dry=$(cat "$OUTF")
  drc=$RC
  expect_same_full "$before" "$store"
  run --no-sync --store "$store" restore "$@"
  expect_eq "exit code" "$RC" "$drc"
  expect_eq "restored and rejected" "$(cat "$OUTF")" "$(jq -c '{restored,rejected}' <<<"$dry")"
  expect_eq "the dry run's rejected blocks are its refused archives" \
    "$(jq -c '[.archives[]|select(.refuse)|{blockId,reason:.refuse}]' <<<"$dry")" "$(jq -c '.rejected' <<<"$dry")"
}

case_ "restore --dry-run reports the conflicts a real restore finds"
sed 's/"tx:u5"/"tx:other"/g' "$WORK/all.ndjson" >"$WORK/conflict.ndjson"
zstd -q -c "$WORK/conflict.ndjson" >"$WORK/conflict.zst" 2>/dev/null || cp "$WORK/conflict.ndjson" "$WORK/conflict.zst"
C1=$(mkstore)
"$OPTDB" --no-sync --store "$C1" restore "$WORK/all.ndjson" >/dev/null
dry_then_real "$C1" "$WORK/conflict.zst"
expect_rc 6
expect_eq "one archive rejected" 1 "$(jq '.rejected|length' "$OUTF")"
# Conflicts inside the input: the second archive of b1's revisions meets the first.
C2=$WORK/c2
dry_then_real "$C2" "$WORK/all.zst" "$WORK/conflict.ndjson"
expect_rc 6
# Over a store holding b1 up to 10, with tx:u12 pending here (the archive
# shows it committed: removed) and without tx:p (the archive's: added).
C3=$(mkstore)
"$OPTDB" --store "$A" archive --all --to 10 | "$OPTDB" --no-sync --store "$C3" restore >/dev/null
echo '{"updates":{"b1":[["v",0,0,12]]}}' | "$OPTDB" --no-sync --store "$C3" pend --trx "tx:u12" >/dev/null
run --store "$C3" restore --dry-run "$WORK/all.zst"
expect_eq "pendings: one removed, one added; revisions: 24 written" '1 1 24' \
  "$(jq -r '[(.archives|map(.removePending)|add), (.archives|map(.write.pending)|add), (.archives|map(.write.revisions)|add)]|join(" ")' "$OUTF")"
dry_then_real "$C3" "$WORK/all.zst" "$WORK/n0.ndjson"
expect_rc 0
expect_eq "reads" "$WANT" "$(reads "$C3")"

case_ "restore --dry-run on bad input: exit 2, nothing printed"
printf '{"blockId":"b1","revisions":{},"range":[0],}\n' >"$WORK/bad.ndjson"
run --store "$Z" restore --dry-run "$WORK/all.zst" "$WORK/bad.ndjson"
expect_rc 2
expect_no_out
expect_err_line "bad.ndjson: line 1:"

case_ "restore of a zstd archive runs in bounded memory"
if [[ -x /usr/bin/time ]]; then
  # 40 blocks of 1 MB each (2 MB a line), which zstd packs into a few hundred KB.
  big=$(head -c 1000000 /dev/zero | tr '\0' 'x')
  for ((i = 0; i < 40; i++)); do
    h="{\"header\":{\"id\":\"m$i\",\"type\":\"t\",\"collectionId\":\"c\"},\"s\":\"$big$i\"}"
    printf '{"blockId":"m%d","revisions":{"1":{"trx":{"trxId":"tx:m%d","rev":1,"transform":{"insert":%s}},"block":%s}},"range":[1]}\n' \
      "$i" "$i" "$h" "$h"
  done >"$WORK/big.ndjson"
  unset big h
  zstd -q -c "$WORK/big.ndjson" >"$WORK/big.zst" 2>/dev/null ||
    { M=$(mkstore); "$OPTDB" --no-sync --store "$M" restore "$WORK/big.ndjson" >/dev/null; "$OPTDB" --store "$M" archive --all -o "$WORK/big.zst"; }
  rss() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
  # One thread: restore holds one archive at a time. (With --jobs N, each
  # thread holds one more and has one waiting: checked below.)
  M1=$(mkstore)
  /usr/bin/time -v -o "$WORK/plain.time" "$OPTDB" --no-sync --store "$M1" restore --jobs 1 "$WORK/big.ndjson" >/dev/null
  M2=$(mkstore)
  /usr/bin/time -v -o "$WORK/zstd.time" "$OPTDB" --no-sync --store "$M2" restore --jobs 1 "$WORK/big.zst" >"$OUTF"
  expect_eq "restored" 40 "$(jq '.restored|length' "$OUTF")"
  M3=$(mkstore)
  cat "$WORK/big.zst" | /usr/bin/time -v -o "$WORK/pipe.time" "$OPTDB" --no-sync --store "$M3" restore --jobs 1 >/dev/null
  M4=$(mkstore)
  /usr/bin/time -v -o "$WORK/jobs.time" "$OPTDB" --no-sync --store "$M4" restore --jobs 2 "$WORK/big.zst" >/dev/null
  plainKb=$(rss "$WORK/plain.time") zstdKb=$(rss "$WORK/zstd.time") pipeKb=$(rss "$WORK/pipe.time") jobsKb=$(rss "$WORK/jobs.time")
  echo "restore --jobs 2 max RSS: ${jobsKb} KiB"
  expect_eq "RSS of --jobs 2 bounded by the archives in flight, not the input ($jobsKb KiB against $plainKb)" yes \
    "$( ((jobsKb < plainKb * 3)) && echo yes)"
  expect_eq "the same store from --jobs 2" "$(tree_state "$M1")" "$(tree_state "$M4")"
  inputKb=$(($(stat -c %s "$WORK/big.ndjson") / 1024))
  echo "restore max RSS: plain ${plainKb} KiB, zstd file ${zstdKb} KiB, zstd pipe ${pipeKb} KiB; input ${inputKb} KiB decompressed, $(($(stat -c %s "$WORK/big.zst") / 1024)) KiB compressed"
  for kb in "$zstdKb" "$pipeKb"; do
    expect_eq "RSS well below the decompressed input ($kb KiB of $inputKb)" yes "$( ((kb * 3 < inputKb)) && echo yes)"
    expect_eq "RSS near a plain restore's ($kb KiB against $plainKb)" yes "$( ((kb < plainKb * 3 / 2 + 8192)) && echo yes)"
  done
  expect_eq "the same store" "$(tree_state "$M1")" "$(tree_state "$M2")"
fi

finish
