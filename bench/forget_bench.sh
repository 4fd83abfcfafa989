#!/usr/bin/env bash
# Issue 16's forget figure: the disk bytes of one block of 3,000 revisions
# before and after `forget --before 2900`, apparent (du -sb) and allocated
# (du -s --block-size=1, what the file system spends), and what the archive
# that received the history takes (plain and zstd). Not run by ctest.
#
#   bash bench/forget_bench.sh [BUILD_DIR]    (default: build; needs optdb built)
#
# The history is written with `batch --buffer` (--no-sync: how it was written
# does not change what it occupies), one small update per revision, as a
# block's history grows in use. Scratch data under $TMPDIR (else /tmp).
set -euo pipefail

BUILD=${1:-build}
OPTDB=$BUILD/apps/optdb
REVS=${REVS:-3000}
BEFORE=${BEFORE:-2900}
[[ -x $OPTDB ]] || { echo "forget_bench: $OPTDB is missing: build $BUILD first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/optdb-forget-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
export OPTDB_LAYOUT=${OPTDB_LAYOUT:-trx}

{
  echo '{"op":"pend","trxId":"t1","transforms":{"inserts":{"b1":{"header":{"id":"b1","type":"note","collectionId":"c"},"n":1,"text":"a note of some length, as blocks hold"}}}}'
  echo '{"op":"commit","trxId":"t1","blockIds":["b1"],"rev":1}'
  for ((i = 2; i <= REVS; i++)); do
    echo "{\"op\":\"pend\",\"trxId\":\"t$i\",\"transforms\":{\"updates\":{\"b1\":[[\"n\",0,1,$i]]}},\"rev\":$i}"
    echo "{\"op\":\"commit\",\"trxId\":\"t$i\",\"blockIds\":[\"b1\"],\"rev\":$i}"
  done
} | "$OPTDB" --store "$WORK/s" --no-sync batch --buffer >/dev/null

apparent() { du -sb "$1" | cut -f1; }
allocated() { du -s --block-size=1 "$1" | cut -f1; }
a0=$(apparent "$WORK/s") k0=$(allocated "$WORK/s")
cp -a "$WORK/s" "$WORK/z"
start=$(date +%s.%N)
"$OPTDB" --store "$WORK/s" forget --before "$BEFORE" b1 -o "$WORK/old.ndjson" >"$WORK/out.json"
took=$(echo "$(date +%s.%N) - $start" | bc)
"$OPTDB" --store "$WORK/z" forget --before "$BEFORE" b1 -o "$WORK/old.ndjson.zst" >/dev/null
a1=$(apparent "$WORK/s") k1=$(allocated "$WORK/s")
"$OPTDB" --store "$WORK/s" inspect --check >/dev/null

echo "forget_bench: one block of $REVS revisions, forget --before $BEFORE ($(cat "$WORK/out.json"))"
printf '  %-28s %12s %12s\n' "" "apparent" "allocated"
printf '  %-28s %12d %12d\n' "store before" "$a0" "$k0"
printf '  %-28s %12d %12d\n' "store after" "$a1" "$k1"
printf '  %-28s %12.1f %12.1f\n' "before/after" "$(echo "$a0 / $a1" | bc -l)" "$(echo "$k0 / $k1" | bc -l)"
printf '  %-28s %12d %12d\n' "archive (plain NDJSON)" "$(stat -c %s "$WORK/old.ndjson")" "$(allocated "$WORK/old.ndjson")"
printf '  %-28s %12d %12d\n' "archive (zstd)" "$(stat -c %s "$WORK/old.ndjson.zst")" "$(allocated "$WORK/old.ndjson.zst")"
echo "  forget took ${took}s (durable)"
