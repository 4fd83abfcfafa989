#!/usr/bin/env bash
# Installs what is missing, builds, and runs an optdb session on a store in a
# temporary directory: a transaction over three blocks, an update, history,
# and a conflict with its exit code.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1
# Only the binary the demo runs (not the tests or benchmarks), quietly: the
# compiler's output is shown only if the build fails.
log=$(mktemp)
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j2 --target optdb; } >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
optdb() { ./build/apps/optdb "$@"; }
export OPTDB_STORE=$(mktemp -d)/store
trap 'rm -rf "$(dirname "$OPTDB_STORE")"' EXIT
run() { printf '\n$ %s\n' "$*"; "$@"; printf '[exit %d]\n' $?; }

echo "store: $OPTDB_STORE"
cat > /tmp/optdb-demo-t1.json <<'JSON'
{"inserts":{
  "alice":{"header":{"id":"alice","type":"account","collectionId":"bank"},"balance":100,"log":[]},
  "bob":{"header":{"id":"bob","type":"account","collectionId":"bank"},"balance":50,"log":[]},
  "carol":{"header":{"id":"carol","type":"account","collectionId":"bank"},"balance":0,"log":[]}}}
JSON
run optdb pend --trx t1 /tmp/optdb-demo-t1.json
run optdb commit --trx t1 --rev 1 alice bob carol
echo '{"updates":{"alice":[["balance",0,0,70],["log",0,0,["-30 to bob"]]],"bob":[["balance",0,0,80],["log",0,0,["+30 from alice"]]]}}' > /tmp/optdb-demo-t2.json
run optdb pend --trx t2 --rev 2 /tmp/optdb-demo-t2.json
run optdb commit --trx t2 --rev 2 alice bob
run optdb get alice bob
run optdb get alice --rev 1
echo '# a writer that last saw revision 1 is told what it missed (exit 4):'
echo '{"updates":{"alice":[["balance",0,0,0]]}}' | { printf '\n$ optdb pend --trx t3 --rev 2 -  (stale)\n'; optdb pend --trx t3 --rev 2 -; printf '[exit %d]\n' $?; }
echo '# two writers on one block: policy f refuses while t4 is pending (exit 5):'
echo '{"updates":{"carol":[["balance",0,0,5]]}}' | optdb pend --trx t4 - >/dev/null
echo '{"updates":{"carol":[["balance",0,0,9]]}}' | { printf '\n$ optdb pend --trx t5 --policy f -\n'; optdb pend --trx t5 --policy f -; printf '[exit %d]\n' $?; }
run optdb cancel --trx t4 carol
run optdb --pretty get carol
rm -f /tmp/optdb-demo-t1.json /tmp/optdb-demo-t2.json
