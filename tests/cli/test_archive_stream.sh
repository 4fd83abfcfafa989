#!/usr/bin/env bash
# restore reads its input as a stream (issue 5), through the real binary: from
# a pipe (copied to a temporary file while validated, none left behind), with a
# bad archive last (nothing written), from stdin positioned mid-file (read from
# there, twice), and `restore - -` (stdin once).
#
#   bash tests/cli/test_archive_stream.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

# The files under DIR/.optdb, but the lock and intent directories' own.
spool_files() { (cd "$1/.optdb" 2>/dev/null && find . -mindepth 1 ! -path './locks*' ! -path './intents*' ! -name store.lock ! -name settings.json | LC_ALL=C sort); }

A=$(mkstore)
make_history "$A" 40
"$OPTDB" --store "$A" archive --all --chunk 7 -o "$WORK/all.ndjson"
LINES=$(wc -l <"$WORK/all.ndjson")
expect_eq "archive lines" 1 $((LINES > 3))
reads() { "$OPTDB" --store "$1" get b0 b1 b2; for r in 2 10 20 43; do "$OPTDB" --store "$1" get b1 --rev "$r"; done; }
WANT=$(reads "$A")

case_ "a pipe into a store that does not exist yet"
B=$WORK/b
run_pipe "cat '$WORK/all.ndjson'" --no-sync --store "$B" restore
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
expect_eq "reads" "$WANT" "$(reads "$B")"
expect_eq "no temporary file left" "" "$(spool_files "$B")"

case_ "a pipe with a bad archive last: nothing written, no temporary file"
C=$(mkstore)
"$OPTDB" --no-sync --store "$C" restore "$WORK/all.ndjson" >/dev/null
before=$(tree_state "$C")
{ sed 's/"b1"/"n1"/g; s/"tx:u/"tx:n/g' "$WORK/all.ndjson"; echo '{"blockId":"x","revisions":{},"range":[0],}'; } >"$WORK/bad.ndjson"
run_pipe "cat '$WORK/bad.ndjson'" --no-sync --store "$C" restore
expect_rc 2
expect_no_out
expect_err_line "stdin: line $((LINES + 1)):"
expect_same_tree "$before" "$C"
expect_eq "no temporary file left" "" "$(spool_files "$C")"
run_pipe "cat '$WORK/bad.ndjson'" --no-sync --store "$WORK/none" restore
expect_rc 2
expect_missing_path "$WORK/none"

case_ "stdin positioned after the first line: read from there"
D=$(mkstore)
{ read -r _; timeout -k 5 60 "$OPTDB" --no-sync --store "$D" restore >"$OUTF" 2>"$ERRF"; } <"$WORK/all.ndjson"
RC=$?
expect_rc 0
first=$(head -n 1 "$WORK/all.ndjson" | sed 's/^{"blockId":"\([^"]*\)".*/\1/')
expect_eq "first archive's block" b0 "$first"
expect_eq "b0 not restored" '{"restored":["b1","b2"],"rejected":[]}' "$(cat "$OUTF")"

case_ "restore - - reads stdin once"
E=$(mkstore)
run --in "$WORK/all.ndjson" --no-sync --store "$E" restore - -
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'
run_pipe "cat '$WORK/all.ndjson'" --no-sync --store "$E" restore - "$WORK/all.ndjson" -
expect_success '{"restored":["b0","b1","b2"],"rejected":[]}'

finish
