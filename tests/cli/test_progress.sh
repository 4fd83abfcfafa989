# Progress lines (SPEC §5): on a terminal, the long commands show one on
# stderr, ending with its own newline before the result; on a pipe or a file,
# never. The terminal is a pseudo-terminal made by script(1).
source "$(dirname "$0")/lib.sh"

if ! command -v script >/dev/null; then
  echo "SKIP [$TEST_NAME] script(1) is not installed: progress on a terminal untested" >&2
  exit 0
fi

S=$(mkstore)
for b in b1 b2 b3; do
  run --stdin "{\"inserts\":{\"$b\":{\"header\":{\"id\":\"$b\",\"type\":\"T\",\"collectionId\":\"c\"}}}}" --store "$S" pend --trx "t-$b"
  run --store "$S" commit --trx "t-$b" --rev 1 "$b"
done
expect_rc 0

# Runs optdb under a pseudo-terminal; what the terminal showed goes to $OUTF.
on_tty() {
  local cmd
  cmd=$(printf '%q ' "$OPTDB" --store "$S" "$@")
  timeout -k 5 60 script -qec "$cmd" /dev/null </dev/null >"$OUTF" 2>"$ERRF"
  RC=$?
}

for cmd in "gc" "gc --dry-run" "migrate --to actions --all" "archive --all -o $WORK/a.ndjson" "restore $WORK/a.ndjson" \
  "inspect --check" "inspect --check --json" "repair" "repair --dry-run" \
  "forget --before 1 --all -o $WORK/f.ndjson" "forget --before 1 --all --discard"; do
  name=${cmd%% *} unit=blocks
  [[ $name == restore ]] && unit=archives  # restore counts the archives it applies
  case_ "$cmd on a terminal"
  # shellcheck disable=SC2086
  on_tty $cmd
  expect_rc 0
  if tr '\r' '\n' <"$OUTF" | grep -qE "^optdb: $name: 3/3 $unit(, [0-9]+/s)?"$'\e'"\[K$"; then ok; else
    fail "no final progress line '$name: 3/3 $unit' on the terminal: $(od -c "$OUTF" | head -5)"
  fi
  case_ "$cmd on a pipe"
  # shellcheck disable=SC2086
  run --store "$S" $cmd
  expect_rc 0
  expect_no_err
  if grep -q "$unit" "$OUTF"; then fail "a progress line on stdout: $(cat "$OUTF")"; else ok; fi
done

case_ "the result follows the progress line, never beside it"
on_tty gc
if tr '\r' '\n' <"$OUTF" | grep -v '^$' | tail -n 1 | grep -qx '{"removed":0,"bytes":0}'; then ok; else
  fail "the result is not a line of its own: $(od -c "$OUTF" | head -5)"
fi

case_ "inspect --check on a terminal: each problem on a line of its own, never beside a progress line"
T=$(mkstore)
for b in b1 b2 b3; do
  run --stdin "{\"inserts\":{\"$b\":{\"header\":{\"id\":\"$b\",\"type\":\"T\",\"collectionId\":\"c\"}}}}" --store "$T" pend --trx "t-$b"
  run --store "$T" commit --trx "t-$b" --rev 1 "$b"
done
printf 'x' >"$T/b2/.meta.json.tmp.1.1"
S=$T
run --store "$S" inspect --check
expect_rc 6
problem=$(cat "$OUTF")
expect_eq "one problem" 1 "$(wc -l <<<"$problem")"
on_tty inspect --check
expect_rc 6
# What the terminal shows, line by line: \r starts a line again, ESC[K erases what followed.
shown=$(tr '\r' '\n' <"$OUTF" | sed 's/\x1b\[K//g' | grep -v '^$')
if grep -qxF -- "$problem" <<<"$shown"; then ok; else fail "the problem is not a line of its own: $(od -c "$OUTF" | head -8)"; fi
if grep -q 'blocks.' <<<"$(grep -F -- "$problem" <<<"$shown")"; then fail "the problem beside a progress line: $shown"; else ok; fi
if tail -n 1 <<<"$shown" | grep -qE '^optdb: inspect: 3/3 blocks'; then ok; else fail "no final progress line: $shown"; fi
on_tty repair
expect_rc 0
if tr '\r' '\n' <"$OUTF" | grep -qE "^optdb: repair: 3/3 blocks(, [0-9]+/s)?"$'\e'"\[K$"; then ok; else
  fail "no final progress line 'repair: 3/3 blocks': $(od -c "$OUTF" | head -5)"
fi
if tr '\r' '\n' <"$OUTF" | grep -v '^$' | tail -n 1 | grep -q '^{"actions":\[{"path":"b2/.meta.json.tmp.1.1","action":"remove-temp"'; then ok; else
  fail "repair's result is not a line of its own after the progress line: $(od -c "$OUTF" | head -8)"
fi

finish
