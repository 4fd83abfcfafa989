#!/usr/bin/env bash
# Issue 11 on the real file system: what is planted in or done to a store
# (FIFOs, devices, hard links, a store the caller cannot read, a read-only
# mount) never hangs optdb, floods it, hides data or passes for clean.
# Cases that need root (mknod, another user, a mount namespace) report
# themselves skipped when they cannot run.
source "$(dirname "$0")/lib.sh"

skip() { echo "SKIP [$TEST_NAME: $CASE] $*" >&2; }

# A store with blocks b1, b2 committed at revisions 1 and 2.
seed() {
  local s=$1
  run --stdin '{"inserts":{"b1":{"header":{"id":"b1","type":"t","collectionId":"c"},"log":[]},"b2":{"header":{"id":"b2","type":"t","collectionId":"c"},"log":[]}}}' --store "$s" pend --trx t1 -
  expect_rc 0
  run --store "$s" commit --trx t1 --rev 1 b1 b2
  expect_rc 0
  run --stdin '{"updates":{"b1":[["log",0,0,["x"]]]}}' --store "$s" pend --trx t2 --rev 2 -
  expect_rc 0
  run --store "$s" commit --trx t2 --rev 2 b1
  expect_rc 0
}

# As user nobody (root can read anything, so permissions need another user).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
can_drop() { [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null && as_nobody true 2>/dev/null; }

case_ "defect 8: a FIFO as revs/optdb-index hangs neither commit nor archive; --check reports it"
S=$(mkstore); seed "$S"
rm "$S/b1/revs/optdb-index"; mkfifo "$S/b1/revs/optdb-index"
run --store "$S" inspect --check
expect_rc 6
grep -q 'b1/revs/optdb-index' "$OUTF" && ok || fail "--check does not name the FIFO: $(cat "$OUTF")"
run --store "$S" --lock-timeout 5 archive b1
expect_rc 0
run --stdin '{"updates":{"b1":[["log",0,0,["y"]]]}}' --store "$S" pend --trx t3 --rev 3 -
expect_rc 0
run --store "$S" --lock-timeout 5 commit --trx t3 --rev 3 b1
[[ $RC == 0 || $RC == 6 ]] && ok || fail "commit with a FIFO index: exit $RC ($(cat "$ERRF"))"
run --store "$S" get b1
expect_rc 0

case_ "defect 11: a device as meta.json: an integrity error, never a read until memory runs out"
if [[ $(id -u) == 0 ]]; then
  S=$(mkstore); seed "$S"
  rm "$S/b2/meta.json"; mknod "$S/b2/meta.json" c 1 5   # /dev/zero's numbers
  for args in "get b2" "archive b2" "commit --trx t9 --rev 9 b2"; do
    # shellcheck disable=SC2086
    run --store "$S" $args
    expect_rc 6
  done
  echo '{"updates":{"b2":[["log",0,0,["z"]]]}}' >"$WORK/up.json"
  run --store "$S" pend --trx t9 "$WORK/up.json"
  expect_rc 6
  run --store "$S" archive --all
  expect_rc 6   # never an archive that silently leaves b2 out
  run --store "$S" inspect --check
  expect_rc 6
  grep -q 'b2/meta.json' "$OUTF" && ok || fail "--check does not name the device"
  rm "$S/b2/meta.json"; mkfifo "$S/b2/meta.json"
  run --store "$S" archive --all
  expect_rc 6
else
  skip "mknod needs root"
fi

case_ "a hard-linked revs/optdb-index is never appended through the link; --check reports it"
S=$(mkstore); seed "$S"
ln "$S/b1/revs/optdb-index" "$WORK/outside-link"
before=$(cat "$WORK/outside-link")
run --store "$S" inspect --check
expect_rc 6
grep -q 'hard links' "$OUTF" && ok || fail "--check does not report the hard link: $(cat "$OUTF")"
run --stdin '{"updates":{"b1":[["log",0,0,["y"]]]}}' --store "$S" pend --trx t3 --rev 3 -
expect_rc 0
run --store "$S" commit --trx t3 --rev 3 b1
expect_rc 0
expect_eq "the other name's bytes" "$before" "$(cat "$WORK/outside-link")"

case_ "a pending file under both its %3A and its raw ':' name is reported"
S=$(mkstore); seed "$S"
run --stdin '{"updates":{"b2":[["log",0,0,["p"]]]}}' --store "$S" pend --trx tx:a -
expect_rc 0
cp "$S/b2/pend/tx%3Aa.json" "$S/b2/pend/tx:a.json"
run --store "$S" inspect --check
expect_rc 6
grep -q 'two names' "$OUTF" && ok || fail "--check does not report the two names: $(cat "$OUTF")"

case_ "defect 2: a store the caller cannot read is an error (exit 1), never an empty one"
if can_drop; then
  S=$(mkstore); seed "$S"
  chmod 755 "$WORK"; chmod 700 "$S"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" inspect --check 2>"$WORK/err"); rc=$?
  expect_eq "inspect --check exit" 1 "$rc"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" archive --all 2>"$WORK/err"); rc=$?
  expect_eq "archive --all exit" 1 "$rc"
  expect_eq "archive --all output" "" "$out"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" get b1 2>"$WORK/err"); rc=$?
  expect_eq "get exit" 1 "$rc"
  # One unreadable block among readable ones.
  chmod 755 "$S"; chmod -R a+rX "$S"; chmod 700 "$S/b2"
  mkdir -m 777 "$WORK/out"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" archive --all -o "$WORK/out/backup.ndjson" 2>"$WORK/err"); rc=$?
  expect_eq "archive --all with b2 unreadable" 1 "$rc"
  grep -q 'b2' "$WORK/err" && ok || fail "the error does not name b2: $(cat "$WORK/err")"
  [[ ! -e $WORK/out/backup.ndjson ]] && ok || fail "an archive leaving b2 out was written"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" inspect --check 2>"$WORK/err"); rc=$?
  expect_eq "inspect --check with b2 unreadable" 1 "$rc"
  grep -q '"\?b2' <<<"$out" && ok || fail "--check does not name b2: $out"
  case_ "defect 10: repair reports the block it cannot touch, repairs the others, prints its JSON"
  # b1 needs a repair (latest moved back by hand) that nobody may do; b2 cannot be read.
  chmod -R a+rwX "$S"; chmod 700 "$S/b2"
  printf '{"ranges":[[0]],"latest":{"trxId":"t1","rev":1}}' >"$S/b1/meta.json"; chmod a+rw "$S/b1/meta.json"
  out=$(as_nobody timeout 30 "$OPTDB" --store "$S" repair 2>"$WORK/err"); rc=$?
  expect_eq "repair exit" 6 "$rc"
  grep -q '"set-latest"' <<<"$out" && ok || fail "repair did not fix b1: $out / $(cat "$WORK/err")"
  grep -q '"unexamined"' <<<"$out" && ok || fail "repair does not report b2: $out"
  chmod -R u+rwX "$S"
else
  skip "needs root and setpriv to run as another user"
fi

case_ "defect 12: inspect --check, repair --dry-run, get and archive on a read-only mount"
S=$(mkstore); seed "$S"
if unshare -m true 2>/dev/null; then
  out=$(unshare -m bash -c '
    mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
    "$2" --store "$1" inspect --check >/dev/null; echo "check $?"
    "$2" --store "$1" repair --dry-run >/dev/null; echo "dry $?"
    "$2" --store "$1" get b1 >/dev/null; echo "get $?"
    "$2" --store "$1" archive --all >/dev/null; echo "archive $?"
    "$2" --store "$1" repair >/dev/null 2>&1; echo "repair $?"
  ' _ "$S" "$OPTDB" 2>&1)
  if [[ $out == *99* && $out != *check* ]]; then
    skip "no read-only bind mount here"
  else
    expect_eq "on a read-only mount" $'check 0\ndry 0\nget 0\narchive 0\nrepair 0' "$out"
  fi
else
  skip "no mount namespace here"
fi

case_ "an endless pend input is refused (exit 2) at the stored-file limit, never read until memory runs out"
S=$(mkstore)
( ulimit -v 3500000; head -c 1200000000 /dev/zero | timeout 120 "$OPTDB" --store "$S" pend --trx t1 - >"$OUTF" 2>"$ERRF" ); RC=$?
expect_rc 2
grep -q 'larger than' "$ERRF" && ok || fail "no clear error: $(head -c 300 "$ERRF")"
[[ ! -e $S/.optdb && -z $(ls "$S") ]] && ok || fail "something was written: $(ls -A "$S")"

case_ "a timeout of any size waits (--lock-timeout 1e11 is not 'give up at once')"
S=$(mkstore); seed "$S"
run --store "$S" --lock-timeout 1e11 get b1
expect_rc 0

finish
