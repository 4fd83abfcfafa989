# inspect --prom FILE (SPEC §8): the Prometheus text format for
# node_exporter's textfile collector, written atomically beside inspect's
# own output. Every file written is parsed by the format's rules, and its
# values are checked against a store whose numbers are known and against
# inspect --json's summary of the same run.
source "$(dirname "$0")/lib.sh"

S=$(mkstore)
O=(--store "$S")
H() { printf '"header":{"id":"%s","type":"T","collectionId":"c"}' "$1"; }

# ---- the parser: the text exposition format, strictly ----

# parse_prom FILE: checks FILE by the format's rules (each failure reported)
# and fills PROM["name{labels}"]=value. Rules: every line is "# HELP name
# text", "# TYPE name gauge", or a sample "name{label="value",…} value"
# with a valid metric name, label names and escaped label values, and a
# float value; a metric's HELP and TYPE (each once) come before its samples;
# a metric's samples are one group; no sample twice, no empty line; the file
# ends with a newline, and every metric has HELP and TYPE.
declare -A PROM
parse_prom() {
  local file=$1 line name labels value n=0 bad=0 current=""
  local name_re='[a-zA-Z_:][a-zA-Z0-9_:]*'
  local lvalue_re='"([^"\\]|\\[\\"n])*"'
  local label_re="[a-zA-Z_][a-zA-Z0-9_]*=$lvalue_re"
  local float_re='[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|Inf|inf)|NaN'
  local sample_re="^($name_re)(\{($label_re(,$label_re)*)?\})? ($float_re)$"
  local -A help=() type=() done_=()
  PROM=()
  if [[ ! -s $file ]]; then fail "$file is missing or empty"; return; fi
  if [[ "$(tail -c 1 "$file" | od -An -c | tr -d ' ')" != '\n' ]]; then fail "$file does not end with a newline"; bad=1; fi
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    if [[ -z $line ]]; then fail "line $n is empty"; bad=1; continue; fi
    if [[ $line =~ ^#\ HELP\ ($name_re)\ (.*)$ ]]; then
      name=${BASH_REMATCH[1]}
      [[ -n ${help[$name]:-} ]] && { fail "line $n: a second HELP for $name"; bad=1; }
      [[ -n ${done_[$name]:-} || $current == "$name" ]] && { fail "line $n: HELP for $name after its samples"; bad=1; }
      help[$name]=1
      continue
    fi
    if [[ $line =~ ^#\ TYPE\ ($name_re)\ (counter|gauge|histogram|summary|untyped)$ ]]; then
      name=${BASH_REMATCH[1]}
      [[ ${BASH_REMATCH[2]} == gauge ]] || { fail "line $n: $name is a ${BASH_REMATCH[2]}, not a gauge"; bad=1; }
      [[ -n ${type[$name]:-} ]] && { fail "line $n: a second TYPE for $name"; bad=1; }
      [[ -n ${done_[$name]:-} || $current == "$name" ]] && { fail "line $n: TYPE for $name after its samples"; bad=1; }
      type[$name]=1
      continue
    fi
    if [[ $line == '#'* ]]; then
      if [[ $line == '# HELP '* || $line == '# TYPE '* ]]; then fail "line $n: a malformed HELP or TYPE: $line"; bad=1; fi
      continue  # any other comment is allowed
    fi
    if [[ ! $line =~ $sample_re ]]; then fail "line $n is not a sample 'name{labels} value': $line"; bad=1; continue; fi
    name=${BASH_REMATCH[1]}
    labels=${BASH_REMATCH[2]}
    value=${line##* }
    if [[ -z ${help[$name]:-} || -z ${type[$name]:-} ]]; then fail "line $n: a sample of $name before its HELP and TYPE"; bad=1; fi
    if [[ $name != "$current" ]]; then
      [[ -n ${done_[$name]:-} ]] && { fail "line $n: the samples of $name are not one group"; bad=1; }
      [[ -n $current ]] && done_[$current]=1
      current=$name
    fi
    if [[ -n ${PROM[$name$labels]+x} ]]; then fail "line $n: $name$labels twice"; bad=1; fi
    PROM[$name$labels]=$value
  done <"$file"
  for name in "${!help[@]}" "${!type[@]}"; do
    [[ -n ${help[$name]:-} && -n ${type[$name]:-} ]] || { fail "$name lacks its HELP or its TYPE"; bad=1; }
  done
  ((bad)) || ok
}

# expect_metric SERIES VALUE: the last file parsed has SERIES at exactly VALUE.
expect_metric() {
  if [[ ${PROM[$1]+x} && ${PROM[$1]} == "$2" ]]; then ok; else fail "$1 should be $2, got '${PROM[$1]-(absent)}'"; fi
}

# The SPEC §6 problem kinds, as optdb-inspect(1) lists them.
KINDS=(bad-json bad-meta bad-ranges latest-missing interrupted-commit above-latest lost-revision missing-transform
  duplicate-revision leftover-intent unmaterializable-tip pending-committed temp-file bad-name bad-type symlink
  unexamined hard-link duplicate-name overtaken-commit forked-history mixed-dialect)

# A summary member of inspect --json's output (in $OUTF): "summary":{…,"NAME":N,…}.
summary_of() { grep -o '"summary":{[^}]*}' "$OUTF" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }

# ---- a store with known numbers ----
# b1, b2, b3 inserted at revisions 1 to 3, b1 updated at 4: 4 revisions.
# t7 pending on b1 and b2 (2 pending transactions), its commit interrupted:
# its intent is there (1 interrupted commit) and its revision file on b2.
# b1's pending file written 1000 s ago, b2's 500 s ago.
rev=0
for b in b1 b2 b3; do
  rev=$((rev + 1))
  run --stdin "{\"inserts\":{\"$b\":{$(H $b),\"n\":[]}}}" "${O[@]}" pend --trx "t-$b"
  run "${O[@]}" commit --trx "t-$b" --rev $rev "$b"
done
run --stdin '{"updates":{"b1":[["n",0,0,[1]]]}}' "${O[@]}" pend --trx t4 --rev 4
run "${O[@]}" commit --trx t4 --rev 4 b1
expect_rc 0
run --stdin '{"updates":{"b1":[["n",9,0,[7]]],"b2":[["n",9,0,[7]]]}}' "${O[@]}" pend --trx t7 --rev 5
expect_rc 0
mkdir -p "$S/.optdb/intents"
printf '{"trxId":"t7","rev":5,"blockIds":["b1","b2"]}' >"$S/.optdb/intents/t7.json"
printf 't7' >"$S/b2/revs/5.json" # its first step on b2, then the process died
now=$(date +%s)
touch -d "@$((now - 1000))" "$S/b1/pend/t7.json"
touch -d "@$((now - 500))" "$S/b2/pend/t7.json"

P=$WORK/metrics/optdb.prom
mkdir -p "$WORK/metrics"

case_ "inspect --json --prom: the file parses, the numbers are the store's and the summary's"
run "${O[@]}" inspect --json --prom "$P"
expect_rc 0
expect_no_err
parse_prom "$P"
expect_metric optdb_blocks 3
expect_metric optdb_revisions 4
expect_metric optdb_pending_transactions 2
expect_metric optdb_interrupted_commits 1
expect_eq "blocks as the summary" "$(summary_of blocks)" "${PROM[optdb_blocks]-}"
expect_eq "revisions as the summary" "$(summary_of revisions)" "${PROM[optdb_revisions]-}"
expect_eq "pendings as the summary" "$(summary_of pendings)" "${PROM[optdb_pending_transactions]-}"
expect_eq "apparent bytes as the summary" "$(summary_of bytes)" "${PROM[optdb_bytes{kind=\"apparent\"}]-}"
expect_eq "allocated bytes as the summary" "$(summary_of allocatedBytes)" "${PROM[optdb_bytes{kind=\"allocated\"}]-}"
age=${PROM[optdb_oldest_pending_age_seconds]-x}
if [[ $age =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v a="$age" 'BEGIN { exit !(a >= 1000 && a < 1060) }'; then ok; else
  fail "optdb_oldest_pending_age_seconds should be b1's pending file's age, 1000 s and a little: got '$age'"
fi
if grep -q '^optdb_problems' "$P"; then fail "optdb_problems without --check"; else ok; fi
expect_eq "exactly these series" \
  'optdb_blocks optdb_bytes{kind="allocated"} optdb_bytes{kind="apparent"} optdb_interrupted_commits optdb_oldest_pending_age_seconds optdb_pending_transactions optdb_revisions' \
  "$(printf '%s\n' "${!PROM[@]}" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "nothing but the file in its directory" "optdb.prom" "$(ls -A "$WORK/metrics")"

case_ "stdout is what inspect prints without --prom (text and JSON)"
for flags in "" "--json" "--json --revisions"; do
  # shellcheck disable=SC2086
  run "${O[@]}" inspect $flags
  without=$(cat "$OUTF")
  # shellcheck disable=SC2086
  run "${O[@]}" inspect $flags --prom "$P"
  expect_rc 0
  expect_eq "stdout of inspect $flags" "$without" "$(cat "$OUTF")"
done

case_ "inspect --check --prom: every problem kind a series, the problems counted; exit 6 as without"
run "${O[@]}" inspect --check
without=$(cat "$OUTF")
run "${O[@]}" inspect --check --prom "$P"
expect_rc 6
expect_eq "stdout as without --prom" "$without" "$(cat "$OUTF")"
parse_prom "$P"
expect_metric optdb_blocks 3
expect_metric optdb_revisions 4
expect_metric optdb_pending_transactions 2
expect_metric optdb_interrupted_commits 1
for k in "${KINDS[@]}"; do
  want=0
  [[ $k == leftover-intent || $k == interrupted-commit ]] && want=1
  expect_metric "optdb_problems{kind=\"$k\"}" $want
done
expect_eq "one optdb_problems series per kind, no other" "${#KINDS[@]}" "$(grep -c '^optdb_problems{' "$P")"
expect_eq "problems counted as the check printed them" "$(wc -l <<<"$without")" \
  "$(grep '^optdb_problems{' "$P" | awk '{ s += $2 } END { print s }')"

case_ "inspect BLOCK… --prom: the metrics of those blocks"
run "${O[@]}" inspect b3 --prom "$P"
expect_rc 0
parse_prom "$P"
expect_metric optdb_blocks 1
expect_metric optdb_revisions 1
expect_metric optdb_pending_transactions 0
expect_metric optdb_oldest_pending_age_seconds 0 # no pending: 0
expect_metric optdb_interrupted_commits 0         # t7's intent touches b1 and b2 only
run "${O[@]}" inspect b2 b3 nosuch --json --prom "$P"
expect_rc 3 # as without --prom: a named block is not in the store
parse_prom "$P"
expect_metric optdb_blocks 2
expect_metric optdb_pending_transactions 1
expect_metric optdb_interrupted_commits 1
expect_eq "apparent bytes as the summary" "$(summary_of bytes)" "${PROM[optdb_bytes{kind=\"apparent\"}]-}"
age=${PROM[optdb_oldest_pending_age_seconds]-x}
if awk -v a="$age" 'BEGIN { exit !(a >= 500 && a < 560) }'; then ok; else fail "b2's pending is 500 s old, got '$age'"; fi

case_ "the file is replaced atomically: a new inode, whole, nothing else left in its directory"
printf 'old\n' >"$P"
inode=$(stat -c %i "$P")
run "${O[@]}" inspect --prom "$P"
expect_rc 0
parse_prom "$P"
expect_metric optdb_blocks 3
if [[ $(stat -c %i "$P") != "$inode" ]]; then ok; else fail "$P was rewritten in place, not renamed over"; fi
expect_eq "nothing but the file in its directory" "optdb.prom" "$(ls -A "$WORK/metrics")"

case_ "a FILE that cannot be written: exit 1, one error line, no file, no temporary file"
for bad in "$WORK/nodir/optdb.prom" "$WORK/metrics/optdb.prom/x.prom"; do
  run "${O[@]}" inspect --prom "$bad"
  expect_rc 1
  expect_err_line "--prom $bad"
  expect_no_out # failed before anything was done
  expect_missing_path "$bad"
done
expect_eq "nothing left beside FILE" "optdb.prom" "$(ls -A "$WORK/metrics")"
run "${O[@]}" inspect --check --prom "$WORK/nodir/optdb.prom"
expect_rc 1
expect_err_line "--prom"

case_ "an inspect that fails leaves FILE as it was, and no temporary file"
if command -v flock >/dev/null; then
  cp "$P" "$WORK/before.prom"
  exec 9>"$S/.optdb/store.lock"
  flock -x 9
  run "${O[@]}" --lock-timeout 0 inspect --check --prom "$P"
  expect_rc 7
  exec 9>&-
  if cmp -s "$P" "$WORK/before.prom"; then ok; else fail "$P changed though inspect failed"; fi
  expect_eq "nothing left beside FILE" "optdb.prom" "$(ls -A "$WORK/metrics")"
fi

case_ "--prom - writes the metrics on stdout, after inspect's own output"
run "${O[@]}" inspect b3 --json --prom -
expect_rc 0
head -n 1 "$OUTF" >"$WORK/first"
if grep -q '^{"blocks":\[{"blockId":"b3"' "$WORK/first"; then ok; else fail "inspect's JSON first: $(head -c 300 "$OUTF")"; fi
tail -n +2 "$OUTF" >"$WORK/rest.prom"
parse_prom "$WORK/rest.prom"
expect_metric optdb_blocks 1

case_ "a store with no pending transaction: age 0; an empty store: all 0"
E=$(mkstore)
run --store "$E" inspect --check --prom "$P"
expect_rc 0
parse_prom "$P"
for m in optdb_blocks optdb_revisions optdb_pending_transactions optdb_oldest_pending_age_seconds optdb_interrupted_commits \
  'optdb_bytes{kind="apparent"}' 'optdb_bytes{kind="allocated"}'; do
  expect_metric "$m" 0
done
expect_eq "every kind a series" "${#KINDS[@]}" "$(grep -c '^optdb_problems{' "$P")"
run "${O[@]}" repair
expect_rc 0
run "${O[@]}" cancel --trx t7 b1 b2
run "${O[@]}" inspect --prom "$P"
expect_rc 0
parse_prom "$P"
expect_metric optdb_pending_transactions 0
expect_metric optdb_oldest_pending_age_seconds 0
expect_metric optdb_interrupted_commits 0 # repair finished t7 and removed its intent
expect_metric optdb_revisions 6          # t7 at 5 on b1 and b2

finish
