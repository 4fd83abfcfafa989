#!/usr/bin/env bash
# Issue 5's figures: archive/restore throughput next to a floor measured in the
# same run, and the peak memory of both, on a wide store and on one long history.
# Not run by ctest.
#
#   bash bench/archive_bench.sh [BUILD_DIR]    (default: build; needs optdb and json_floor built)
#
# 1. Generates an NDJSON archive stream (python3): BLOCKS blocks (default 2000)
#    of REVS revisions each (default 275), blocks of ~3 KB, each revision an
#    update of a few hundred bytes, the lowest revision carrying `block`: >= 200 MB.
# 2. Times `optdb --no-sync restore` of it into an empty store, the same
#    restore durable (through the journal, issue 15; by default in a thread
#    per CPU, then with --jobs 1), `optdb archive
#    --all -o FILE` of that store, and json_floor (nlohmann parse + dump, the
#    floor) on the same bytes; prints MB/s (input MB / wall seconds) and the
#    ratio of each to the floor.
# 3. Peak RSS (/usr/bin/time -v) of restore and archive --all on that store, and
#    on one block of LONG revisions (default 200000): restored from a generated
#    archive chunked by 1000, then `archive BLOCK --chunk 1000`.
# Scratch data lives in a temporary directory ($TMPDIR, else /tmp) removed at the end,
# not between runs: an ext4 without a journal skips inodes freed in the last
# 30 s, so a run right after a large removal pays for it.
set -euo pipefail

BUILD=${1:-build}
OPTDB=$BUILD/apps/optdb
FLOOR=$BUILD/bench/json_floor
BLOCKS=${BLOCKS:-2000}
REVS=${REVS:-275}
LONG=${LONG:-200000}
CHUNK=1000
for exe in "$OPTDB" "$FLOOR"; do
  [[ -x $exe ]] || { echo "archive_bench: $exe is missing: build $BUILD first" >&2; exit 2; }
done
if [[ ! -x /usr/bin/time ]]; then
  echo "archive_bench: /usr/bin/time is missing: apt-get install -y time" >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/optdb-archive-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
trap 'exit 130' INT TERM

gen() { # gen wide BLOCKS REVS | gen long REVS CHUNK: NDJSON on stdout
  python3 "$(dirname "$0")/gen_archive.py" "$@"
}

source "$(dirname "$0")/bench_lib.sh"

echo "archive_bench: generating $BLOCKS blocks x $REVS revisions ..." >&2
gen wide "$BLOCKS" "$REVS" >"$WORK/wide.ndjson"
WIDE_MB=$(mb "$WORK/wide.ndjson")
echo "archive_bench: generating one block of $LONG revisions, chunks of $CHUNK ..." >&2
gen long "$LONG" "$CHUNK" >"$WORK/long.ndjson"
LONG_MB=$(mb "$WORK/long.ndjson")

echo "archive_bench: json_floor ..." >&2
cat "$WORK/wide.ndjson" >/dev/null  # the same page cache for everyone
timed floor "$FLOOR" <"$WORK/wide.ndjson" >/dev/null 2>"$WORK/floor.err"
FLOOR_S=$SECS FLOOR_RSS=$RSS_MB

echo "archive_bench: restore (wide: file on stdin, then a pipe) ..." >&2
timed restore_wide sh -c '"$1" --no-sync --store "$2" restore <"$3" >/dev/null' sh "$OPTDB" "$WORK/wide" "$WORK/wide.ndjson"
# sh's own RSS is tiny: the peak is optdb's (time -v reports the largest descendant)
RESTORE_S=$SECS RESTORE_RSS=$RSS_MB
# the same input as a pipe, so that stdin is spooled: the bounded-memory path
timed restore_wide_pipe sh -c 'cat "$3" | "$1" --no-sync --store "$2" restore >/dev/null' sh "$OPTDB" "$WORK/wide-pipe" "$WORK/wide.ndjson"
RESTORE_PIPE_S=$SECS RESTORE_PIPE_RSS=$RSS_MB
# durable (issue 15): the same restore, made durable through the journal at its end
echo "archive_bench: restore wide, durable ..." >&2
timed restore_wide_durable sh -c '"$1" --store "$2" restore <"$3" >/dev/null' sh "$OPTDB" "$WORK/wide-durable" "$WORK/wide.ndjson"
RESTORE_D_S=$SECS RESTORE_D_RSS=$RSS_MB
# the same in one thread (restore's default is a thread per CPU, at most 4)
echo "archive_bench: restore wide, durable, --jobs 1 ..." >&2
timed restore_wide_durable1 sh -c '"$1" --store "$2" restore --jobs 1 <"$3" >/dev/null' sh "$OPTDB" "$WORK/wide-durable1" "$WORK/wide.ndjson"
RESTORE_D1_S=$SECS RESTORE_D1_RSS=$RSS_MB

echo "archive_bench: archive --all (wide) ..." >&2
timed archive_wide "$OPTDB" --no-sync --store "$WORK/wide" archive --all -o "$WORK/wide-out.ndjson"
ARCHIVE_S=$SECS ARCHIVE_RSS=$RSS_MB
OUT_MB=$(mb "$WORK/wide-out.ndjson")

echo "archive_bench: restore and archive --chunk $CHUNK (one block, $LONG revisions) ..." >&2
timed restore_long "$OPTDB" --no-sync --store "$WORK/long" restore "$WORK/long.ndjson" >/dev/null
LRESTORE_S=$SECS LRESTORE_RSS=$RSS_MB
timed archive_long "$OPTDB" --no-sync --store "$WORK/long" archive long --chunk "$CHUNK" -o "$WORK/long-out.ndjson"
LARCHIVE_S=$SECS LARCHIVE_RSS=$RSS_MB
LOUT_MB=$(mb "$WORK/long-out.ndjson")
LOUT_LINES=$(wc -l <"$WORK/long-out.ndjson")

FLOOR_R=$(rate "$WIDE_MB" "$FLOOR_S")
R_R=$(rate "$WIDE_MB" "$RESTORE_S")
RP_R=$(rate "$WIDE_MB" "$RESTORE_PIPE_S")
RD_R=$(rate "$WIDE_MB" "$RESTORE_D_S")
RD1_R=$(rate "$WIDE_MB" "$RESTORE_D1_S")
A_R=$(rate "$OUT_MB" "$ARCHIVE_S")
echo
echo "archive/restore, $(nproc) cores; wide: $BLOCKS blocks x $REVS revisions = $WIDE_MB MB NDJSON (archive --all wrote $OUT_MB MB);"
echo "long: 1 block x $LONG revisions = $LONG_MB MB in chunks of $CHUNK (archive --chunk $CHUNK wrote $LOUT_MB MB, $LOUT_LINES archives)"
printf '%-44s %9s %9s %10s %12s\n' case seconds MB/s "x floor" "peak RSS MB"
printf '%-44s %9s %9s %10s %12s\n' "json_floor (parse+dump, nlohmann)" "$FLOOR_S" "$FLOOR_R" "1.00" "$FLOOR_RSS"
printf '%-44s %9s %9s %10s %12s\n' "restore wide (file on stdin)" "$RESTORE_S" "$R_R" "$(ratio "$R_R" "$FLOOR_R")" "$RESTORE_RSS"
printf '%-44s %9s %9s %10s %12s\n' "restore wide (pipe on stdin, spooled)" "$RESTORE_PIPE_S" "$RP_R" "$(ratio "$RP_R" "$FLOOR_R")" "$RESTORE_PIPE_RSS"
printf '%-44s %9s %9s %10s %12s\n' "restore wide, durable (file on stdin)" "$RESTORE_D_S" "$RD_R" "$(ratio "$RD_R" "$FLOOR_R")" "$RESTORE_D_RSS"
printf '%-44s %9s %9s %10s %12s\n' "restore wide, durable, --jobs 1" "$RESTORE_D1_S" "$RD1_R" "$(ratio "$RD1_R" "$FLOOR_R")" "$RESTORE_D1_RSS"
printf '%-44s %9s %9s %10s %12s\n' "archive --all wide (-o FILE)" "$ARCHIVE_S" "$A_R" "$(ratio "$A_R" "$FLOOR_R")" "$ARCHIVE_RSS"
printf '%-44s %9s %9s %10s %12s\n' "restore long ($LONG revs, chunks of $CHUNK)" "$LRESTORE_S" "$(rate "$LONG_MB" "$LRESTORE_S")" "-" "$LRESTORE_RSS"
printf '%-44s %9s %9s %10s %12s\n' "archive long --chunk $CHUNK" "$LARCHIVE_S" "$(rate "$LOUT_MB" "$LARCHIVE_S")" "-" "$LARCHIVE_RSS"
