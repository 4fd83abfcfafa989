#!/usr/bin/env bash
# Issue 16's zstd figures: archive size and MB/s, plain and zstd, on the wide
# store of bench/archive_bench.sh, as ratios taken in one run. Not run by ctest.
#
#   bash bench/zstd_bench.sh [BUILD_DIR]    (default: build; needs optdb built)
#
# 1. Restores the generated wide stream (bench/gen_archive.py: BLOCKS blocks,
#    default 2000, of REVS revisions, default 275; >= 200 MB) into a store.
# 2. ROUNDS times (default 3), alternating: `archive --all -o wide.ndjson` and
#    `archive --all -o wide.zst` (level 3); and `restore --dry-run` of each
#    (the whole read side: decompress, parse, validate, check against the
#    store, without the writes that would drown the difference); medians.
#    `zstd -3` of the plain archive is the compression floor.
# 3. `--no-sync restore` of each into an empty store, once, with peak RSS.
# MB/s are always MB of plain NDJSON per wall second, so that plain and zstd
# compare as work done. Scratch data: a temporary directory ($TMPDIR, else
# /tmp), removed at the end; TMPDIR=/dev/shm takes the disk's noise out (on this
# shared disk one restore of the same input took 13 to 65 s).
set -euo pipefail

BUILD=${1:-build}
OPTDB=$BUILD/apps/optdb
BLOCKS=${BLOCKS:-2000}
REVS=${REVS:-275}
ROUNDS=${ROUNDS:-3}
[[ -x $OPTDB ]] || { echo "zstd_bench: $OPTDB is missing: build $BUILD first" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "zstd_bench: /usr/bin/time is missing: apt-get install -y time" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/optdb-zstd-bench.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
trap 'exit 130' INT TERM

source "$(dirname "$0")/bench_lib.sh"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "zstd_bench: generating and restoring $BLOCKS blocks x $REVS revisions ..." >&2
python3 "$(dirname "$0")/gen_archive.py" wide "$BLOCKS" "$REVS" >"$WORK/gen.ndjson"
"$OPTDB" --no-sync --store "$WORK/wide" restore "$WORK/gen.ndjson" >/dev/null
rm -f -- "$WORK/gen.ndjson"

a_plain=() a_zstd=() d_plain=() d_zstd=() floor=()
for ((i = 1; i <= ROUNDS; i++)); do
  echo "zstd_bench: round $i of $ROUNDS ..." >&2
  timed ap "$OPTDB" --no-sync --store "$WORK/wide" archive --all -o "$WORK/wide.ndjson"
  a_plain+=("$SECS")
  timed az "$OPTDB" --no-sync --store "$WORK/wide" archive --all -o "$WORK/wide.zst"
  a_zstd+=("$SECS") AZ_RSS=$RSS_MB
  timed dp "$OPTDB" --store "$WORK/wide" restore --dry-run "$WORK/wide.ndjson" >/dev/null
  d_plain+=("$SECS")
  timed dz "$OPTDB" --store "$WORK/wide" restore --dry-run "$WORK/wide.zst" >/dev/null
  d_zstd+=("$SECS")
  if command -v zstd >/dev/null; then
    timed fl sh -c 'zstd -q -3 -c "$1" >/dev/null' sh "$WORK/wide.ndjson"
    floor+=("$SECS")
  fi
done
PLAIN_MB=$(mb "$WORK/wide.ndjson") ZSTD_MB=$(mb "$WORK/wide.zst")
AP=$(median "${a_plain[@]}") AZ=$(median "${a_zstd[@]}") DP=$(median "${d_plain[@]}") DZ=$(median "${d_zstd[@]}")

echo "zstd_bench: restore of each into an empty store ..." >&2
timed rp "$OPTDB" --no-sync --store "$WORK/r-plain" restore "$WORK/wide.ndjson" >/dev/null
RP=$SECS RP_RSS=$RSS_MB
rm -rf -- "$WORK/r-plain"
timed rz "$OPTDB" --no-sync --store "$WORK/r-zstd" restore "$WORK/wide.zst" >/dev/null
RZ=$SECS RZ_RSS=$RSS_MB

echo "wide store: $BLOCKS blocks x $REVS revisions; medians of $ROUNDS rounds; MB of plain NDJSON per second"
echo "archive size: plain $PLAIN_MB MB, zstd $ZSTD_MB MB: $(ratio "$PLAIN_MB" "$ZSTD_MB")x smaller"
echo "archive --all:     plain $(rate "$PLAIN_MB" "$AP") MB/s, zstd $(rate "$PLAIN_MB" "$AZ") MB/s: zstd takes $(ratio "$AZ" "$AP")x the time (peak RSS $AZ_RSS MB)"
if ((${#floor[@]})); then
  FL=$(median "${floor[@]}")
  echo "  floor: zstd -3 alone compresses the plain archive at $(rate "$PLAIN_MB" "$FL") MB/s, $(ratio "$AP" "$FL")x faster than archive reads the store"
fi
echo "restore --dry-run: plain $(rate "$PLAIN_MB" "$DP") MB/s, zstd $(rate "$PLAIN_MB" "$DZ") MB/s: zstd takes $(ratio "$DZ" "$DP")x the time"
echo "restore:           plain $(rate "$PLAIN_MB" "$RP") MB/s, zstd $(rate "$PLAIN_MB" "$RZ") MB/s: zstd takes $(ratio "$RZ" "$RP")x the time (peak RSS $RP_RSS MB plain, $RZ_RSS MB zstd)"
