#!/usr/bin/env bash
# Issue 3's figure: the wall time of a whole `optdb get` of one block (median
# of 20) next to `cat` of the two files that get reads, in the same run.
#   bash bench/get_vs_cat.sh [path/to/optdb]
set -euo pipefail
B=${1:-$(dirname "$0")/../build/apps/optdb}
S=$(mktemp -d)/store
trap 'rm -rf "$(dirname "$S")"' EXIT
export OPTDB_STORE=$S
echo '{"inserts":{"b1":{"header":{"id":"b1","type":"n","collectionId":"c"},"l":[1,2,3]}}}' | "$B" pend --trx t1 - >/dev/null
"$B" commit --trx t1 --rev 1 b1 >/dev/null
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
time20() { for _ in $(seq 20); do s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); echo $(((e - s) / 1000)); done | med; }
g=$(time20 "$B" get b1)
c=$(time20 cat "$S/b1/meta.json" "$S/b1/blocks/t1.json")
echo "optdb get b1: ${g} us (median of 20); cat of meta.json and the tip: ${c} us; ratio $(awk "BEGIN{printf \"%.2f\", $g/$c}")"
