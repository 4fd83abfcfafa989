# Shared helpers for the CLI tests: source it from a tests/cli/test_*.sh script
# that was started as `bash test_x.sh /path/to/optdb`.
#
# Every optdb run goes through `run`, which leaves the exit code in $RC and
# stdout/stderr in the files $OUTF/$ERRF; the expect_* helpers compare them
# byte for byte. A failed expectation is reported and counted; `finish` ends
# the script with exit 1 when anything failed.

set -u

OPTDB=${1:-}
if [[ -z $OPTDB || ! -x $OPTDB ]]; then
  echo "usage: bash $0 /path/to/optdb  (got '${OPTDB}')" >&2
  exit 2
fi
# Never let a caller's environment pick a store or turn fsync off behind a test's back.
unset OPTDB_STORE OPTDB_SYNC
# The suites written before the actions dialect read trx/ and trxId: they run in
# that dialect; test_dialects.sh unsets it to test the default.
export OPTDB_LAYOUT=trx

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/optdb-${TEST_NAME}.XXXXXX") || exit 1
OUTF=$WORK/.out
ERRF=$WORK/.err
INF=$WORK/.in
RC=0
FAILS=0
CHECKS=0
CASE=""
STARTED=$SECONDS
FAST_DIRS=()
cleanup() { rm -rf -- "$WORK" ${FAST_DIRS[@]+"${FAST_DIRS[@]}"}; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# A new empty store directory (removed at exit); its path on stdout.
# OPTDB_TEST_BACKEND=rados (tests/rados/with_cluster.sh): stores are fresh
# namespaces of a RADOS pool, looked into with $OPTDB_RADOS_ITEM
# (tests/rados/rados_item.cpp); the helpers below take a store's paths as on a
# directory ($S/b1/meta.json) and find the object or omap entry that holds it.
on_rados() { [[ ${OPTDB_TEST_BACKEND:-} == rados ]]; }

mkstore() {
  if on_rados; then
    printf 'rados:%s/%s-%s-%s\n' "$OPTDB_TEST_RADOS_POOL" "$TEST_NAME" "$BASHPID" "$(date +%s%N)"
  else
    mktemp -d "$WORK/store.XXXXXX"
  fi
}

# rados_item PATH: STORE and ITEM for a directory-layout PATH under a rados: store.
rados_item() {
  local path=$1 store rest id kind name
  store=$(cut -d/ -f1-2 <<<"$path"); rest=${path#"$store"/}
  id=${rest%%/*}; rest=${rest#"$id"}; rest=${rest#/}
  name=${rest#*/}; name=${name%.json}; name=${name//%3A/:}
  case $rest in
    meta.json) printf '%s b.%s#meta\n' "$store" "$id" ;;
    revs/*) printf '%s b.%s#r.%016d\n' "$store" "$id" "$name" ;;
    pend/*) kind=p ;;& trx/*) kind=t ;;& actions/*) kind=a ;;& blocks/*) kind=m ;;&
    pend/* | trx/* | actions/* | blocks/*) printf '%s %s.%s.%s\n' "$store" "$kind" "$name" "$id" ;;
    *) printf '%s ?%s\n' "$store" "$rest" ;;
  esac
}

# store_where STORE PATH: how optdb's messages name PATH: relative to a
# directory store, or the RADOS item (object, or object#key) holding it.
store_where() {
  if [[ $1 == rados:* ]]; then local w; w=$(rados_item "$2"); echo "${w#* }"; else echo "${2#"$1"/}"; fi
}

# store_read PATH: the bytes at PATH (a file, or its RADOS item); fails when absent.
store_read() {
  if [[ $1 == rados:* ]]; then
    local where; where=$(rados_item "$1")
    "$OPTDB_RADOS_ITEM" get ${where}
  else
    cat "$1" 2>/dev/null
  fi
}

# store_write PATH BYTES: PATH made to hold BYTES behind optdb's back (damage tests).
store_write() {
  if [[ $1 == rados:* ]]; then
    local where; where=$(rados_item "$1")
    printf '%s' "$2" | "$OPTDB_RADOS_ITEM" put ${where}
  else
    printf '%s' "$2" >"$1"
  fi
}

# Like mkstore, but on tmpfs (/dev/shm) when there is one: for tests that make
# thousands of files and measure concurrency, not the disk. Sets the variable
# named by $1 (not a $(…) call: the directory must be registered for cleanup here).
mkstore_fast() {
  local d
  if on_rados; then
    d=$(mkstore)
  elif [[ -d /dev/shm && -w /dev/shm ]] && d=$(mktemp -d "/dev/shm/optdb-${TEST_NAME}.XXXXXX"); then
    FAST_DIRS+=("$d")
  else
    d=$(mkstore)
  fi
  printf -v "$1" '%s' "$d"
}

# Names the case that the following checks belong to (shown on failure).
case_() { CASE=$*; }

fail() {
  FAILS=$((FAILS + 1))
  echo "FAIL [$TEST_NAME${CASE:+: $CASE}] $*" >&2
}

ok() { CHECKS=$((CHECKS + 1)); }

# run [--in FILE | --stdin STRING] [--env NAME=VALUE]... ARGS...: runs optdb
# (killed after 60 s: a hang is a failure, not a stuck test).
run() {
  local input=/dev/null
  local -a envs=()
  while (($#)); do
    case $1 in
      --in) input=$2; shift 2 ;;
      --stdin) printf '%s' "$2" >"$INF"; input=$INF; shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      *) break ;;
    esac
  done
  env ${envs[@]+"${envs[@]}"} timeout -k 5 60 "$OPTDB" "$@" <"$input" >"$OUTF" 2>"$ERRF"
  RC=$?
}

expect_rc() {
  if [[ $RC == "$1" ]]; then ok; else
    fail "exit code $RC, expected $1; stdout: $(head -c 500 "$OUTF"); stderr: $(head -c 500 "$ERRF")"
  fi
}

# stdout is exactly the argument followed by one newline.
expect_out() {
  if [[ "$(cat "$OUTF"; echo x)" == "$1"$'\n'x ]]; then ok; else
    fail "stdout differs
  expected: $1
  got:      $(cat "$OUTF")"
  fi
}

expect_no_out() {
  if [[ ! -s $OUTF ]]; then ok; else fail "stdout should be empty, got: $(head -c 500 "$OUTF")"; fi
}

expect_no_err() {
  if [[ ! -s $ERRF ]]; then ok; else fail "stderr should be empty, got: $(head -c 500 "$ERRF")"; fi
}

# expect_success OUT: exit code 0, stdout exactly OUT (and a newline), stderr empty.
expect_success() {
  expect_rc 0
  expect_out "$1"
  expect_no_err
}

# stderr is exactly one line "optdb: error: …" (and, if given, it contains $1).
expect_err_line() {
  local lines
  lines=$(wc -l <"$ERRF")
  if [[ $lines -ne 1 ]] || [[ "$(tail -c 1 "$ERRF" | od -An -c | tr -d ' ')" != '\n' ]]; then
    fail "stderr should be exactly one line, got $lines:"$'\n'"$(head -c 1000 "$ERRF")"
    return
  fi
  if [[ "$(head -c 14 "$ERRF")" != "optdb: error: " ]]; then
    fail "stderr should start with 'optdb: error: ', got: $(cat "$ERRF")"
    return
  fi
  if (($#)) && ! grep -qF -- "$1" "$ERRF"; then
    fail "stderr should mention '$1', got: $(cat "$ERRF")"
    return
  fi
  ok
}

# Every stderr line is an "optdb: error: " line; there are exactly N.
expect_err_lines() {
  local n=$1 lines bad
  lines=$(wc -l <"$ERRF")
  bad=$(grep -vc '^optdb: error: ' "$ERRF")
  if [[ $lines -eq $n && $bad -eq 0 ]]; then ok; else
    fail "expected $n 'optdb: error:' lines on stderr, got:"$'\n'"$(cat "$ERRF")"
  fi
}

# A fingerprint of a store: every path under it (directories too, so an empty
# block directory left behind is seen) and the hash of every file, leaving
# out .optdb/ (lock files may appear there). Equal fingerprints = nothing written.
tree_state() {
  local dir=$1
  if [[ $dir == rados:* ]]; then
    local d; d=$("$OPTDB_RADOS_ITEM" dump "$dir") || return 1
    echo "${d:-(absent)}"; return
  fi
  [[ -e $dir ]] || { echo "(absent)"; return; }
  if [[ -f $dir ]]; then sha256sum <"$dir"; return; fi
  (cd "$dir" && find . -mindepth 1 ! -path './.optdb' ! -path './.optdb/*' -printf '%y %p\n' | LC_ALL=C sort)
  (cd "$dir" && find . -type f ! -path './.optdb/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# expect_same_tree BEFORE DIR: DIR's fingerprint still equals BEFORE.
expect_same_tree() {
  local now
  now=$(tree_state "$2")
  if [[ $now == "$1" ]]; then ok; else
    fail "the store changed:"$'\n'"$(diff <(echo "$1") <(echo "$now") | head -n 20)"
  fi
}

expect_file() { # expect_file PATH CONTENT: PATH holds exactly CONTENT (no newline added)
  local got
  if got=$(store_read "$1" && echo x) && [[ $got == "$2"x ]]; then ok; else
    fail "$1 should hold '$2', got '$(store_read "$1" || echo '(missing)')'"
  fi
}

expect_missing_path() {
  if [[ $1 == rados:* ]]; then
    if ! store_read "$1" >/dev/null; then ok; else fail "$1 should not exist"; fi
  elif [[ ! -e $1 ]]; then ok; else fail "$1 should not exist"; fi
}

expect_eq() { # expect_eq WHAT EXPECTED GOT
  if [[ $2 == "$3" ]]; then ok; else fail "$1: expected '$2', got '$3'"; fi
}

# run_pipe PRODUCER ARGS...: `bash -c PRODUCER | optdb ARGS...`, like run.
run_pipe() {
  local producer=$1
  shift
  bash -c "$producer" | timeout -k 5 60 "$OPTDB" "$@" >"$OUTF" 2>"$ERRF"
  RC=${PIPESTATUS[1]}
}

# make_history STORE N: blocks b0, b1 and b2 inserted at revisions 1 to 3
# (tx:ib0…), then N updates of b1 (tx:u1…, revisions 4 to N + 3).
make_history() {
  local store=$1 n=$2 rev=0 b i
  for b in b0 b1 b2; do
    printf '{"inserts":{"%s":{"header":{"id":"%s","type":"t","collectionId":"c"},"v":0}}}' "$b" "$b" |
      "$OPTDB" --no-sync --store "$store" pend --trx "tx:i$b" >/dev/null
    rev=$((rev + 1))
    "$OPTDB" --no-sync --store "$store" commit --trx "tx:i$b" --rev "$rev" "$b" >/dev/null
  done
  for ((i = 1; i <= n; i++)); do
    echo "{\"updates\":{\"b1\":[[\"v\",0,0,$i]]}}" | "$OPTDB" --no-sync --store "$store" pend --trx "tx:u$i" >/dev/null
    rev=$((rev + 1))
    "$OPTDB" --no-sync --store "$store" commit --trx "tx:u$i" --rev "$rev" b1 >/dev/null
  done
}

# kill_seed DEFAULT_KILLS: SEED (OPTDB_KILL_SEED, else random) seeds $RANDOM
# and KILLS is OPTDB_KILLS, else DEFAULT_KILLS; says both, and how to replay.
kill_seed() {
  SEED=${OPTDB_KILL_SEED:-$(($(od -An -N2 -tu2 /dev/urandom)))}
  KILLS=${OPTDB_KILLS:-$1}
  echo "$TEST_NAME: seed $SEED, $KILLS kills (replay with OPTDB_KILL_SEED=$SEED)"
  RANDOM=$SEED
}

# msleep MS: sleeps a number of milliseconds.
msleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# killjob PID: kills a background job's whole process group (started under
# set -m) and reaps it.
killjob() {
  kill -KILL -- "-$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

finish() {
  local took=$((SECONDS - STARTED))
  if ((FAILS)); then
    echo "$TEST_NAME: $FAILS of $((CHECKS + FAILS)) checks FAILED (${took}s)" >&2
    exit 1
  fi
  echo "$TEST_NAME: all $CHECKS checks passed (${took}s)"
  exit 0
}
