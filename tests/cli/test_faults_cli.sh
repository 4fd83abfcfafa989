#!/usr/bin/env bash
# Faults met from outside the store (issue 11), through the real binary: each
# check names its defect.
#   defect 5:  a failed write to stdout (/dev/full, a closed stdout, a pipe
#              with no reader) is exit 1 with one "optdb: error:" line, for
#              every command; a closed pipe is EPIPE, never death by SIGPIPE.
#   defect 13: a timeout of any size waits that long (--lock-timeout,
#              pend --timeout, OPTDB_RESTORE_TIMEOUT: 1e11 is not "at once").
#   defect 14: SIGTERM and SIGINT end optdb's running cmd: restore source too.
#   defect 6:  a cmd: restore source's output is spooled and bounded by
#              OPTDB_RESTORE_MAX_BYTES: endless output fails that source only.
#   defect 3:  archive -o writes into a FIFO or a device, never renames over it.
#   also:      a revision option with leading zeros (--rev 01) is refused.
#
#   bash tests/cli/test_faults_cli.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"

# In an argument of every process a test starts, to find what is left of them.
MARK="optdbfaults$$x$RANDOM"
NUM="$$$RANDOM"  # the same, for where only digits will do
REAL_OPTDB=$OPTDB

# The pids of processes with an argument containing $1 (zombies have none),
# found with a regex that grep's own command line does not match.
procs_matching() {
  grep -lsa -- "[${1:0:1}]${1:1}" /proc/[0-9]*/cmdline | sed 's|^/proc/\([0-9]*\)/cmdline$|\1|' | tr '\n' ' ' | sed 's/ $//'
}
# Kills what a failing binary left behind (by pid: never by name).
kill_leftovers() {
  local p
  for p in $(procs_matching "$1"); do kill -9 "$p" 2>/dev/null; done
}
trap 'kill_leftovers "$MARK"; kill_leftovers "$NUM"; cleanup' EXIT

# run_to TARGET ARGS...: like run, with stdout on TARGET: a path (/dev/full),
# "closed" (no stdout at all), or "nopipe" (a pipe whose reader has gone).
run_to() {
  local target=$1
  shift
  case $target in
    closed) timeout -k 5 60 "$OPTDB" "$@" </dev/null 2>"$ERRF" >&- ;;
    nopipe)
      rm -f "$WORK/.pipe" && mkfifo "$WORK/.pipe"
      # Opened for reading and writing (never blocks), a writer added, the reader closed: writes get EPIPE.
      exec 7<>"$WORK/.pipe" 8>"$WORK/.pipe" 7<&-
      timeout -k 5 60 "$OPTDB" "$@" </dev/null 2>"$ERRF" >&8
      ;;
    *) timeout -k 5 60 "$OPTDB" "$@" </dev/null >"$target" 2>"$ERRF" ;;
  esac
  RC=$?
  exec 8>&-
  : >"$OUTF"
}

hdr() { printf '{"header":{"id":"%s","type":"note","collectionId":"c1"}' "$1"; }

# ---- a store: b1 large (its get and archive fill any pipe), b2 small ----
S=$(mkstore)
big=$(head -c 200000 /dev/zero | tr '\0' x)
printf '{"inserts":{"b1":%s,"text":"%s"},"b2":%s,"n":[]}}}' "$(hdr b1)" "$big" "$(hdr b2)" >"$WORK/t1.json"
run --store "$S" pend --trx t1 "$WORK/t1.json"
expect_rc 0
run --store "$S" commit --trx t1 --rev 1 b1 b2
expect_rc 0
run --store "$S" archive b2
expect_rc 0
cp "$OUTF" "$WORK/b2.ndjson"
run --store "$S" get b2
expect_rc 0
cp "$OUTF" "$WORK/b2.get"

# ---- defect 5 ----
rev=1
for target in /dev/full closed nopipe; do
  case_ "defect 5: a failed write to stdout ($target) is exit 1 for every command"
  for args in "get b1" "get b2" "get b2 --rev 1" "get nosuch" "inspect" "inspect --json" "inspect --revisions" \
    "inspect --check --json" "repair --dry-run" "repair" "archive b1" "archive b2" \
    "archive --all" "restore $WORK/b2.ndjson" "cancel --trx nosuch b2" "--help" "get --help" "--version"; do
    # shellcheck disable=SC2086
    run_to "$target" --store "$S" $args
    [[ $RC == 1 ]] && ok || fail "defect 5: $args >$target exits $RC, expected 1; stderr: $(head -c 300 "$ERRF")"
    expect_err_line "writing to stdout"
  done
  # Writers too: what they did is done, and the exit says the result was not delivered.
  rev=$((rev + 1))
  printf '{"updates":{"b2":[["n",0,0,[%d]]]}}' "$rev" >"$WORK/u.json"
  run_to "$target" --store "$S" pend --trx "tw$rev" "$WORK/u.json"
  [[ $RC == 1 ]] && ok || fail "defect 5: pend >$target exits $RC, expected 1"
  expect_err_line "writing to stdout"
  run_to "$target" --store "$S" commit --trx "tw$rev" --rev "$rev" b2
  [[ $RC == 1 ]] && ok || fail "defect 5: commit >$target exits $RC, expected 1"
  expect_err_line "writing to stdout"
done
case_ "defect 5: the writes that failed left the store sound"
run --store "$S" inspect --check
expect_rc 0
run --store "$S" get b2
expect_rc 0
grep -q '"n":\[4,3,2\]' "$OUTF" && ok || fail "defect 5: b2 should hold every commit, got $(cat "$OUTF")"

case_ "defect 5: get b1 | true (a closed pipe) is exit 1, not death by SIGPIPE"
timeout -k 5 60 "$OPTDB" --store "$S" get b1 2>"$ERRF" | true
RC=${PIPESTATUS[0]}
[[ $RC == 1 ]] && ok || fail "defect 5: get b1 | true exits $RC, expected 1 (141 is death by SIGPIPE)"
expect_err_line "writing to stdout"
timeout -k 5 60 "$OPTDB" --store "$S" archive --all 2>"$ERRF" | true
RC=${PIPESTATUS[0]}
[[ $RC == 1 ]] && ok || fail "defect 5: archive --all | true exits $RC, expected 1"
expect_err_line "writing to stdout"

case_ "defect 5: with stdout closed, nothing optdb opens takes its place"
before=$(tree_state "$S")
run_to closed --store "$S" get b1
expect_rc 1
expect_same_tree "$before" "$S"

# ---- defect 13 ----
case_ "defect 13: --lock-timeout 1e11 waits for the lock (it does not give up at once)"
exec 9>"$S/.optdb/store.lock"
flock -x 9
run --store "$S" --lock-timeout 0.2 cancel --trx nosuch b2
expect_rc 7  # the lock held here is the one writers need
for t in 1e11 100000000000 1e400; do
  timeout -k 5 60 "$OPTDB" --store "$S" --lock-timeout "$t" cancel --trx nosuch b2 >"$OUTF" 2>"$ERRF" 9>&- &
  pid=$!
  sleep 1
  if kill -0 "$pid" 2>/dev/null; then ok; else
    wait "$pid"
    fail "defect 13: --lock-timeout $t gave up at once (exit $?): $(cat "$ERRF")"
    continue
  fi
  flock -u 9
  wait "$pid"
  RC=$?
  expect_rc 0
  expect_out '{"success":true,"cancelled":[],"committed":[]}'
  flock -x 9
done
exec 9>&-

case_ "defect 13: pend --policy w --timeout 1e11 waits until the other pending is gone"
printf '{"updates":{"b2":[["n",0,0,["p"]]]}}' >"$WORK/p.json"
run --store "$S" pend --trx tp1 "$WORK/p.json"
expect_rc 0
for t in 1e11 100000000000; do
  timeout -k 5 60 "$OPTDB" --store "$S" pend --trx tp2 --policy w --timeout "$t" "$WORK/p.json" >"$OUTF" 2>"$ERRF" &
  pid=$!
  sleep 1
  if kill -0 "$pid" 2>/dev/null; then ok; else
    wait "$pid"
    fail "defect 13: pend --timeout $t gave up at once (exit $?): $(cat "$OUTF") $(cat "$ERRF")"
    run --store "$S" cancel --trx tp2 b2
    continue
  fi
  run --store "$S" cancel --trx tp1 b2
  wait "$pid"
  RC=$?
  expect_rc 0
  # Swap roles for the next round: tp2 is the pending left.
  run --store "$S" pend --trx tp1 "$WORK/p.json"
  run --store "$S" cancel --trx tp2 b2
done
run --store "$S" cancel --trx tp1 b2

case_ "defect 13: OPTDB_RESTORE_TIMEOUT=1e11 lets a slow restore source finish"
for t in 1e11 100000000000; do
  L=$WORK/lazy13.$t
  run --env OPTDB_RESTORE_TIMEOUT=$t --store "$L" get b2 --restore-from "cmd:sleep 0.5; cat '$WORK/b2.ndjson'"
  [[ $RC == 0 ]] && ok || fail "defect 13: OPTDB_RESTORE_TIMEOUT=$t: exit $RC: $(cat "$ERRF")"
done

case_ "defect 13: decimal seconds only (nan, inf, negative, hexadecimal: exit 2)"
for t in nan inf -1 -0 0x10 1e "" . 1e+ +1; do
  run --store "$S" --lock-timeout "$t" get b2
  [[ $RC == 2 ]] && ok || fail "defect 13: --lock-timeout '$t' exits $RC, expected 2"
  run --store "$S" pend --trx tq --policy w --timeout "$t" "$WORK/p.json"
  [[ $RC == 2 ]] && ok || fail "defect 13: --timeout '$t' exits $RC, expected 2"
done
run --store "$S" --lock-timeout 2.5e0 get b2
expect_rc 0
run --store "$S" --lock-timeout 0 get b2
expect_rc 0

# ---- defect 14 ----
n=0
for sig in TERM INT; do
  case_ "defect 14: SIG$sig to optdb ends its running cmd: restore source"
  L=$WORK/lazy14.$sig
  n=$((n + 1))
  m="1000.$n$NUM"  # sleep's argument
  set -m  # its own process group, SIGINT not ignored (as in an interactive shell)
  "$OPTDB" --store "$L" get b1 --restore-from "cmd:sleep $m; :" >"$OUTF" 2>"$ERRF" &
  pid=$!
  set +m
  for ((i = 0; i < 100; i++)); do
    [[ -n $(procs_matching "$m") ]] && break
    sleep 0.05
  done
  [[ -n $(procs_matching "$m") ]] && ok || fail "defect 14: the restore source never started: $(cat "$ERRF")"
  kill -"$sig" "$pid"
  wait "$pid"
  RC=$?
  want=$((128 + $(kill -l "$sig")))
  [[ $RC == "$want" ]] && ok || fail "defect 14: optdb should die of SIG$sig (exit $want), got $RC"
  left=""
  for ((i = 0; i < 20; i++)); do
    left=$(procs_matching "$m")
    [[ -z $left ]] && break
    sleep 0.05
  done
  expect_eq "defect 14: restore-source processes left after SIG$sig" "" "$left"
  kill_leftovers "$m"
done

# ---- defect 6 ----
# optdb with its address space bounded: holding endless output in memory fails fast.
cat >"$WORK/limited" <<EOF
#!/usr/bin/env bash
ulimit -v 400000
exec "$REAL_OPTDB" "\$@"
EOF
chmod +x "$WORK/limited"

case_ "defect 6: cmd:yes beyond OPTDB_RESTORE_MAX_BYTES fails that source only; the next supplies the block"
L=$WORK/lazy6
OPTDB=$WORK/limited
run --env OPTDB_RESTORE_MAX_BYTES=100000 --store "$L" get b2 --restore-from "cmd:yes $MARK" --restore-from "$WORK/b2.ndjson"
OPTDB=$REAL_OPTDB
[[ $RC == 0 ]] && ok || fail "defect 6: get with cmd:yes first exits $RC, expected 0; stderr: $(head -c 300 "$ERRF")"
expect_out "$(cat "$WORK/b2.get")"
grep -q 'cmd:yes.*its output exceeds OPTDB_RESTORE_MAX_BYTES (100000 bytes)' "$ERRF" && ok ||
  fail "defect 6: no warning that cmd:yes exceeded the limit: $(head -c 300 "$ERRF")"
expect_eq "defect 6: cmd:yes left running" "" "$(procs_matching "$MARK")"
kill_leftovers "$MARK"

case_ "defect 6: the limit is OPTDB_RESTORE_MAX_BYTES exactly"
size=$(stat -c %s "$WORK/b2.ndjson")
run --env OPTDB_RESTORE_MAX_BYTES=$((size - 1)) --store "$WORK/lazy6.under" get b2 --restore-from "cmd:cat '$WORK/b2.ndjson'"
[[ $RC == 3 ]] && ok || fail "defect 6: output of $size bytes with a limit of $((size - 1)): exit $RC, expected 3"
grep -q "exceeds OPTDB_RESTORE_MAX_BYTES ($((size - 1)) bytes)" "$ERRF" && ok || fail "defect 6: no limit warning: $(cat "$ERRF")"
run --env OPTDB_RESTORE_MAX_BYTES=$size --store "$WORK/lazy6.at" get b2 --restore-from "cmd:cat '$WORK/b2.ndjson'"
expect_success "$(cat "$WORK/b2.get")"
for m in 0 -1 abc 1k ""; do
  run --env "OPTDB_RESTORE_MAX_BYTES=$m" --store "$WORK/lazy6.bad" get b2 --restore-from "cmd:true"
  [[ $RC == 2 ]] && ok || fail "defect 6: OPTDB_RESTORE_MAX_BYTES='$m' exits $RC, expected 2"
done

# ---- defect 3 ----
run --store "$S" archive b2
cp "$OUTF" "$WORK/b2.ndjson"  # b2's whole history now
case_ "defect 3: archive -o FIFO writes into the FIFO (a reader gets the whole archive)"
mkfifo "$WORK/fifo"
timeout 10 cat "$WORK/fifo" >"$WORK/fifo.out" &
catpid=$!
run --store "$S" archive b2 -o "$WORK/fifo"
expect_rc 0
wait "$catpid"
expect_eq "defect 3: what a reader on the FIFO got" "$(cat "$WORK/b2.ndjson")" "$(cat "$WORK/fifo.out")"
[[ -p $WORK/fifo ]] && ok || fail "defect 3: -o FIFO replaced the FIFO"

case_ "defect 3: archive -o a character device (a copy of /dev/null) writes into it"
if mknod "$WORK/null" c 1 3 2>/dev/null; then
  run --store "$S" archive b2 -o "$WORK/null"
  expect_rc 0
  expect_no_out
  [[ -c $WORK/null ]] && ok || fail "defect 3: -o DEVICE replaced the character device with a $(stat -c %F "$WORK/null")"
else
  echo "$TEST_NAME: skipped the -o DEVICE check: mknod needs root" >&2
fi

case_ "defect 3: archive -o /dev/stdout writes to stdout (a file, a pipe)"
# First through a link of our own to what /dev/stdout links to: a binary that
# renames over its target then replaces only this link, never /dev/stdout.
ln -s /proc/self/fd/1 "$WORK/stdout-link"
run --store "$S" archive b2 -o "$WORK/stdout-link"
expect_success "$(cat "$WORK/b2.ndjson")"
safe=1
[[ -L $WORK/stdout-link ]] && ok || { fail "defect 3: -o LINK-TO-STDOUT replaced the link"; safe=0; }
[[ $RC == 0 && -L $WORK/stdout-link ]] || safe=0
"$OPTDB" --store "$S" archive b2 -o "$WORK/stdout-link" 2>"$ERRF" | cat >"$WORK/piped"
RC=${PIPESTATUS[0]}
expect_rc 0
expect_eq "defect 3: -o LINK-TO-STDOUT into a pipe" "$(cat "$WORK/b2.ndjson")" "$(cat "$WORK/piped")"
if ((safe)) && [[ -L /dev/stdout ]]; then
  run --store "$S" archive b2 -o /dev/stdout
  expect_success "$(cat "$WORK/b2.ndjson")"
  "$OPTDB" --store "$S" archive b2 -o /dev/stdout 2>"$ERRF" | cat >"$WORK/piped"
  RC=${PIPESTATUS[0]}
  expect_rc 0
  expect_eq "defect 3: -o /dev/stdout into a pipe" "$(cat "$WORK/b2.ndjson")" "$(cat "$WORK/piped")"
  [[ -L /dev/stdout ]] && ok || fail "defect 3: /dev/stdout is no longer a symbolic link"
else
  echo "$TEST_NAME: skipped -o /dev/stdout itself: the same through a link of ours failed" >&2
fi

case_ "defect 3: archive -o DIRECTORY is a usage error; a regular file is still replaced whole"
run --store "$S" archive b2 -o "$WORK"
expect_rc 2
expect_err_line "is a directory"
echo old >"$WORK/reg"
ino=$(stat -c %i "$WORK/reg")
run --store "$S" archive b2 -o "$WORK/reg"
expect_rc 0
expect_file "$WORK/reg" "$(cat "$WORK/b2.ndjson")"$'\n'
[[ $(stat -c %i "$WORK/reg") != "$ino" ]] && ok || fail "defect 3: a regular -o FILE should be replaced by rename"
ln -s reg "$WORK/reg-link"
run --store "$S" archive b1 -o "$WORK/reg-link"
expect_rc 0
[[ -L $WORK/reg-link ]] && ok || fail "defect 3: -o LINK replaced the symbolic link instead of the file it names"
cmp -s "$WORK/reg" <("$OPTDB" --store "$S" archive b1) && ok || fail "defect 3: -o LINK did not write the file it names"

# ---- also noticed: --rev 01 ----
case_ "also noticed: a revision with leading zeros is refused everywhere (exit 2, nothing written)"
before=$(tree_state "$S")
printf '{"updates":{"b2":[["n",0,0,[9]]]}}' >"$WORK/z.json"
for args in "get b2 --rev 01" "get b2 --rev 00" "get b2 --committed tz:01" "pend --trx tz --rev 01 $WORK/z.json" \
  "commit --trx tz --rev 05 b2" "archive b2 --rev 01" "archive b2 --from 01" "archive b2 --to 010"; do
  # shellcheck disable=SC2086
  run --store "$S" $args
  [[ $RC == 2 ]] && ok || fail "also noticed: '$args' exits $RC, expected 2"
done
expect_same_tree "$before" "$S"
run --store "$S" get b2 --rev 0
[[ $RC != 2 ]] && ok || fail "also noticed: --rev 0 is a revision: $(cat "$ERRF")"
run --store "$S" archive b2 --from 0 --to 10
expect_rc 0

finish
