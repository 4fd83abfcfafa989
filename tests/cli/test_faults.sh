#!/usr/bin/env bash
# Concurrent fault test on the real file system (issue 11): writers, readers
# and random kill -9 at once; afterwards no acknowledged commit is lost, no
# history forks, and no reader ever saw an error or a torn result.
#
# For OPTDB_FAULTS_SECONDS seconds (default 35), on 6 blocks f0..f5 inserted at revision 1:
#   - WRITERS (3) bash loops, each pend then commit 1 block (2 in 5) or 2–4
#     blocks (listed in a random order, so the block they share with another
#     writer is often the last one a commit reaches), policy c, a trxId of
#     their own per attempt. A stale answer (exit 4) is cancelled and retried
#     at a new revision (policy c never answers 5: it pends beside the others);
#     what a killed pend or commit left is cancelled (6, an interrupted commit,
#     is then a fine answer). A commit is acknowledged (appended to acks.W)
#     only after `optdb commit` exited 0; any other unexpected answer fails.
#   - 2 readers loop over `get` and `get --rev N` of 1–3 blocks; every result
#     (exit code, stderr, stdout) is recorded and checked at the end.
#   - a killer sends SIGKILL every 50–300 ms: mostly to a writer's running
#     optdb (preferring a multi-block commit: that is where defect 1 of issue
#     11 lives, a commit killed after its intent and before a shared block while
#     another writer waits for that block's lock), sometimes to a writer's whole
#     process group, which is then restarted.
#
# Every transform is self-describing: it appends its own trxId to the "log" of
# each of its blocks. So a block's state at revision R must have, as its log,
# the trxIds of its committed revisions <= R in revision order, and the final
# checks below never depend on optdb's own replay: they read revs/*.json
# directly. After stopping everything and `optdb repair`:
#   - `optdb inspect --check` exits 0;
#   - no trxId is at two revisions of a block, or at different revisions on two
#     blocks; a transaction is committed on all of the blocks it was pended on
#     or on none;
#   - every acknowledged commit is at its revision on each of its blocks;
#   - `get --rev R` of every block at every committed revision R (a sample of
#     400 when there are more), and `get` of the latest, show exactly that log;
#   - every reader result: exit 0, empty stderr, one complete JSON line, and
#     each block's log is the final history's log at the revision it read
#     (min(N, the latest it reports)): no result a later history contradicts.
#
# Revisions come from the clock: (microseconds since the start + 1) * 8 + the
# writer's number. That is a counter shared by every process without a lock
# file a kill could leave torn, and revisions are collection-wide, unique and
# increasing in time, as a real client's are.
#
#   bash tests/cli/test_faults.sh build/apps/optdb
#   SEED=1234 bash tests/cli/test_faults.sh build/apps/optdb       # the same random choices
#                                           (the interleaving of the processes still varies)
#   SEED=1234 OPTDB_FAULTS_SECONDS=60 bash tests/cli/test_faults.sh …   # write for longer
#
# fsync is on (the default) and the store is on ${TMPDIR:-/tmp}, a real file
# system, so commits take as long as they do in production and a kill lands
# inside one often. Everything lives in lib.sh's $WORK, removed at exit.
source "$(dirname "$0")/lib.sh"
# test_faults_actions.sh runs the same in the actions dialect.
if [[ -n ${OPTDB_FAULTS_LAYOUT:-} ]]; then export OPTDB_LAYOUT=$OPTDB_FAULTS_LAYOUT; fi
set -m # every background job in its own process group, so that it can be killed whole

SEED=${SEED:-$(($(od -An -N2 -tu2 /dev/urandom)))}
DURATION=${OPTDB_FAULTS_SECONDS:-35}
WRITERS=3
READERS=2
RANDOM=$SEED
echo "$TEST_NAME: seed $SEED, ${DURATION}s of writing (replay with SEED=$SEED)"

S=$(mkstore)
BLOCKS=(f0 f1 f2 f3 f4 f5)
STOP=$WORK/stop      # exists once writers and readers must stop
ERRS=$WORK/errors    # unexpected answers seen by writers, one per line
: >"$ERRS"
T0=${EPOCHREALTIME/[.,]/}

# Every failure names the seed.
failx() { fail "$* (seed $SEED)"; }

# Sleeps without forking: reads with a timeout from a FIFO nobody writes.
mkfifo "$WORK/never"
exec 9<>"$WORK/never"
nap() { read -r -t "$1" -u 9; }
# nap_ms MIN MAX: a random nap of MIN..MAX milliseconds.
nap_ms() {
  local ms=$(($1 + RANDOM % ($2 - $1 + 1))) frac
  printf -v frac '%03d' $((ms % 1000))
  nap "$((ms / 1000)).$frac"
}

# next_rev W: REV = the next revision for writer W (0: a reader's "now").
next_rev() {
  local now=${EPOCHREALTIME/[.,]/}
  REV=$(((now - T0 + 1) * 8 + $1))
}

# shuffled: ORDER = BLOCKS in a random order.
shuffled() {
  local i j t
  ORDER=("${BLOCKS[@]}")
  for ((i = ${#ORDER[@]} - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1)))
    t=${ORDER[i]} ORDER[i]=${ORDER[j]} ORDER[j]=$t
  done
}

# opt ARGS…: optdb on the store, stdout/stderr to the caller's $out/$err.
opt() { "$OPTDB" --store "$S" --lock-timeout 20 "$@" >"$out" 2>"$err"; }

# werr MESSAGE: an unexpected answer to a writer (what optdb printed appended).
werr() {
  local o="" e=""
  IFS= read -r o <"$out"
  IFS= read -r e <"$err"
  echo "$1; stdout: $o; stderr: $e" >>"$ERRS"
}

# settle TRX BLOCKS…: cancel what a killed pend or commit may have left. A commit
# killed past its intent (or its revision file) is refused with 6 until another
# commit or repair finishes it, and this cancel may itself be killed (137).
settle() {
  local trx=$1
  shift
  local rc
  opt cancel --trx "$trx" "$@"
  rc=$?
  case $rc in
    0 | 6 | 137) ;;
    *) werr "cancel $trx (after a kill) exited $rc" ;;
  esac
}

# writer W GEN: pends and commits until $STOP. GEN counts restarts, so that
# trxIds stay unique (tx-wW-GEN-K) after a kill of the whole writer.
writer() {
  local w=$1 gen=$2
  local out=$WORK/w$w.out err=$WORK/w$w.err inflight=$WORK/inflight.$w
  local k=0 trx rc count json b line
  local -a picked
  RANDOM=$((SEED * 97 + w * 7919 + gen * 104729))
  # The transaction in flight when the previous generation was killed.
  line=""
  [[ -f $inflight ]] && IFS= read -r line <"$inflight"
  # shellcheck disable=SC2086 # "trx block…": split on purpose
  [[ -n $line ]] && settle $line
  while [[ ! -e $STOP ]]; do
    k=$((k + 1))
    trx=tx-w$w-$gen-$k
    if ((RANDOM % 5 < 2)); then count=1; else count=$((2 + RANDOM % 3)); fi
    shuffled
    picked=("${ORDER[@]:0:count}")
    json=""
    for b in "${picked[@]}"; do json+="${json:+,}\"$b\":[[\"log\",1000000000,0,[\"$trx\"]]]"; done
    next_rev "$w"
    # Recorded before anything is written: what the transaction was meant to be.
    echo "$trx $REV ${picked[*]}" >>"$WORK/tried.$w"
    echo "$trx ${picked[*]}" >"$inflight"
    opt pend --trx "$trx" --rev "$REV" --policy c <<<"{\"updates\":{$json}}"
    rc=$?
    case $rc in
      0) ;;
      4) continue ;; # stale at pend: nothing written; a new revision
      137) settle "$trx" "${picked[@]}"; continue ;;
      *) werr "pend $trx at $REV exited $rc"; settle "$trx" "${picked[@]}"; continue ;;
    esac
    opt commit --trx "$trx" --rev "$REV" "${picked[@]}"
    rc=$?
    case $rc in
      0)
        line=""
        IFS= read -r line <"$out"
        if [[ $line == '{"success":true}' ]]; then
          echo "$trx $REV ${picked[*]}" >>"$WORK/acks.$w" # acknowledged: only after exit 0
        else
          werr "commit $trx exited 0 but printed: $line"
        fi
        ;;
      4) # stale: a later revision got there first; withdraw and go again
        opt cancel --trx "$trx" "${picked[@]}"
        rc=$?
        ((rc == 0 || rc == 137)) || werr "cancel $trx (stale at $REV) exited $rc"
        ;;
      137) settle "$trx" "${picked[@]}" ;; # outcome unknown: not acknowledged
      *) werr "commit $trx at $REV on ${picked[*]} exited $rc" ;;
    esac
  done
  : >"$inflight"
}

# reader R: `get` and `get --rev N` until $STOP; one record per read in reads.R:
#   EXIT <tab> N or - <tab> BLOCKS (comma-separated) <tab> SHAPE <tab> STDERR's first line <tab> STDOUT
# SHAPE is "ok" when stdout was exactly one newline-terminated line.
reader() {
  local r=$1 out=$WORK/r$1.out err=$WORK/r$1.err
  local rc n shape l1 e count joined
  local -a picked revarg
  RANDOM=$((SEED * 89 + r * 65537))
  while [[ ! -e $STOP ]]; do
    count=$((1 + RANDOM % 3))
    shuffled
    picked=("${ORDER[@]:0:count}")
    n=- revarg=()
    if ((RANDOM % 2)); then
      next_rev 0
      n=$(((RANDOM * 32768 + RANDOM) % REV + 1))
      revarg=(--rev "$n")
    fi
    "$OPTDB" --store "$S" get "${picked[@]}" ${revarg[@]+"${revarg[@]}"} >"$out" 2>"$err"
    rc=$?
    l1="" e="" shape=ok
    { IFS= read -r l1 && ! IFS= read -r _; } <"$out" || shape=torn
    [[ -s $err ]] && IFS= read -r e <"$err"
    printf -v joined '%s,' "${picked[@]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rc" "$n" "${joined%,}" "$shape" "${e//$'\t'/ }" "$l1" >>"$WORK/reads.$r"
    # A short pause: the two cores are mostly for the writers, and a few
    # thousand reads spread over the run are as telling as fifteen thousand
    # (and keep the final check of every result short).
    nap_ms 2 12
  done
}

declare -A WPID WGEN
RPIDS=()
stop_all() { # kills every writer and reader still running (their whole groups)
  local p
  for p in "${WPID[@]}" "${RPIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
  for p in "${WPID[@]}" "${RPIDS[@]}"; do wait "$p" 2>/dev/null; done
}
on_exit() { stop_all; cleanup; }
trap on_exit EXIT

start_writer() { # start_writer W: (re)starts writer W in a new generation
  WGEN[$1]=$((${WGEN[$1]:--1} + 1))
  writer "$1" "${WGEN[$1]}" </dev/null 2>>"$WORK/w$1.log" &
  WPID[$1]=$!
}

# ---- the blocks, inserted at revision 1 ----
case_ "setup"
ins=""
for b in "${BLOCKS[@]}"; do ins+="${ins:+,}\"$b\":{\"header\":{\"id\":\"$b\",\"type\":\"log\",\"collectionId\":\"c\"},\"log\":[]}"; done
run --stdin "{\"inserts\":{$ins}}" --store "$S" pend --trx init --rev 1
expect_rc 0
run --store "$S" commit --trx init --rev 1 "${BLOCKS[@]}"
expect_rc 0
((FAILS)) && finish

# ---- writers, readers and the killer ----
for ((w = 1; w <= WRITERS; w++)); do start_writer "$w"; done
for ((r = 1; r <= READERS; r++)); do
  reader "$r" </dev/null 2>>"$WORK/r$r.log" &
  RPIDS+=($!)
done

kills_child=0 kills_multi=0 kills_group=0
end=$((SECONDS + DURATION))
while ((SECONDS < end)); do
  nap_ms 50 300
  # Each writer's running optdb, if any, and whether it is a multi-block commit.
  multi=() busy=()
  for ((w = 1; w <= WRITERS; w++)); do
    c=""
    read -r c _ 2>/dev/null <"/proc/${WPID[$w]}/task/${WPID[$w]}/children"
    [[ -n $c ]] || continue
    busy+=("$w:$c")
    argv=()
    mapfile -d '' -t argv 2>/dev/null <"/proc/$c/cmdline"
    for ((i = 0; i < ${#argv[@]}; i++)); do
      # optdb … commit --trx T --rev R BLOCK…: more than one BLOCK after "commit"
      if [[ ${argv[i]} == commit ]] && ((${#argv[@]} - i - 5 >= 2)); then multi+=("$w:$c"); fi
    done
  done
  if ((RANDOM % 5 == 0 || ${#busy[@]} == 0)); then
    # The whole writer (bash and its optdb), then a new generation of it.
    w=$((1 + RANDOM % WRITERS))
    kill -KILL -- "-${WPID[$w]}" 2>/dev/null
    wait "${WPID[$w]}" 2>/dev/null
    start_writer "$w"
    kills_group=$((kills_group + 1))
    continue
  fi
  # Only the running optdb: its writer sees exit 137 and goes on.
  if ((${#multi[@]} && RANDOM % 4)); then
    victim=${multi[RANDOM % ${#multi[@]}]}
    kills_multi=$((kills_multi + 1))
  else
    victim=${busy[RANDOM % ${#busy[@]}]}
  fi
  kill -KILL "${victim#*:}" 2>/dev/null
  kills_child=$((kills_child + 1))
done

# Stop: writers and readers finish what they are doing (a commit may wait up
# to --lock-timeout for a lock); whatever is still running after 25 s is
# killed like everything else.
touch "$STOP"
deadline=$((SECONDS + 25))
for p in "${WPID[@]}" "${RPIDS[@]}"; do
  while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do nap 0.05; done
done
stop_all
WROTE=$((SECONDS - STARTED))

case_ "writers"
if [[ -s $ERRS ]]; then failx "$(wc -l <"$ERRS") unexpected answers to writers, e.g.:"$'\n'"$(head -n 10 "$ERRS")"; else ok; fi

intents=$(find "$S/.optdb/intents" -name '*.json' 2>/dev/null | wc -l)
case_ "repair"
run --store "$S" repair
if ((RC == 6)); then
  failx "repair left problems it cannot fix (exit 6): $(head -c 2000 "$OUTF")"
elif ((RC != 0)); then
  failx "repair exited $RC: $(head -c 1000 "$OUTF") $(head -c 1000 "$ERRF")"
else
  ok
fi
repair_actions=$(jq '.actions | length' "$OUTF" 2>/dev/null || echo '?')
run --store "$S" inspect --check
if ((RC == 0)); then ok; else failx "inspect --check after repair exited $RC: $(head -c 2000 "$OUTF") $(head -c 500 "$ERRF")"; fi

# ---- the history, read from the files themselves ----
# history: "block rev trxId" for every committed revision (a revs/ file naming a
# transaction whose transform is committed), by block, then revision.
for b in "${BLOCKS[@]}"; do
  for f in "$S/$b"/revs/*.json; do
    [[ -e $f ]] || continue
    rev=${f##*/} rev=${rev%.json} trx=""
    IFS= read -r trx <"$f" # bare text without a newline: read's status is 1
    trx=${trx#\"} trx=${trx%\"}
    if [[ -f $S/$b/trx/$trx.json || -f $S/$b/actions/$trx.json ]]; then
      echo "$b $rev $trx"
    elif [[ -f $S/$b/pend/$trx.json ]]; then
      echo "$b $rev $trx" >>"$WORK/unfinished"
    fi
  done
done | LC_ALL=C sort -k1,1 -k2,2n >"$WORK/history"
cat "$WORK"/acks.* 2>/dev/null >"$WORK/acks"
cat "$WORK"/tried.* 2>/dev/null >"$WORK/tried"
acked=$(wc -l <"$WORK/acks")
committed=$(awk '$3 != "init" { print $3 }' "$WORK/history" | sort -u | wc -l)

case_ "history"
if [[ -s $WORK/unfinished ]]; then
  failx "revisions whose transaction is still only pending after repair (block rev trx): $(head -n 5 "$WORK/unfinished" | tr '\n' ';')"
else ok; fi
# One transaction, one revision: never two revisions of a block, never two
# different revisions on two blocks.
bad=$(awk '{ k = $1 " " $3 }
  k in at { print "block " $1 ": " $3 " at revisions " at[k] " and " $2; next } { at[k] = $2 }
  ($3 in rev) && rev[$3] != $2 { print $3 " at revision " rev[$3] " and at " $2 " (block " $1 ")" } { rev[$3] = $2 }' \
  "$WORK/history" | head -n 10)
if [[ -n $bad ]]; then failx "transactions at two revisions:"$'\n'"$bad"; else ok; fi
# All or nothing: a transaction is committed on exactly the blocks it was pended
# on, at the revision it was pended at.
bad=$(awk 'NR == FNR { rev[$1] = $2; want[$1] = ""; for (i = 3; i <= NF; i++) want[$1] = want[$1] " " $i; n[$1] = NF - 2; next }
  $3 == "init" { next }
  { if (!($3 in rev)) { print "unknown transaction " $3 " on " $1; next }
    if (rev[$3] != $2) print $3 " pended at " rev[$3] ", committed at " $2 " on " $1
    got[$3] = got[$3] " " $1; c[$3]++ }
  END { for (t in c) if (c[t] != n[t]) print t " pended on" want[t] ", committed only on" got[t] }' \
  "$WORK/tried" "$WORK/history" | head -n 10)
if [[ -n $bad ]]; then failx "transactions not atomic:"$'\n'"$bad"; else ok; fi

case_ "acknowledged commits"
bad=$(awk 'NR == FNR { have[$1 " " $2 " " $3]; next }
  { for (i = 3; i <= NF; i++) if (!(($i " " $2 " " $1) in have)) print $1 " at " $2 " on " $i }' \
  "$WORK/history" "$WORK/acks" | head -n 10)
if [[ -n $bad ]]; then failx "acknowledged commits missing (revs/<rev>.json does not name them):"$'\n'"$bad"; else ok; fi

# ---- states: every revision, the latest, and every reader result ----
# observe: turns "N <tab> BLOCKS <tab> get's stdout" lines into one line per block:
#   OBS block target latestRev latestTrx log(comma-joined, "-" when empty) N
# (target = N, or the reported latest when N is "-" or above it), or BAD/TORN lines.
observe() {
  jq -rR 'split("\t") as $f | ($f[2:] | join("\t")) as $raw
    | (try ($raw | fromjson) catch null) as $j
    | if ($j | type) != "object" then "TORN \($f[0]) \($f[1]) \($raw[0:300])"
      elif ($j | keys | length) != ($f[1] | split(",") | length) then "BAD \($f[0]) \($f[1]) wrong blocks: \($raw[0:300])"
      else ($f[1] | split(","))[] as $b | $j[$b] as $x
        | if ($x | type) != "object" or ($x.block.log | type) != "array" or ($x.state.latest.rev | type) != "number"
          then "BAD \($f[0]) \($b) \($raw[0:300])"
          else $x.state.latest.rev as $l
            | (if $f[0] == "-" then $l else ([($f[0] | tonumber), $l] | min) end) as $e
            | "OBS \($b) \($e) \($l) \($x.state.latest.trxId) \(if ($x.block.log | length) == 0 then "-" else ($x.block.log | join(",")) end) \($f[0])"
          end
      end'
}
# judge LABEL: compares OBS lines (stdin) with the history; prints mismatches.
# The expected log at target E is the trxIds of the block's committed revisions
# <= E, in revision order, and the latest a result reports must be a committed
# revision with that trxId.
judge() {
  awk -v label="$1" 'NR == FNR { n[$1]++; r[$1, n[$1]] = $2 + 0; at[$1, $2] = $3; rv[$1, $3] = $2
      p = (n[$1] > 1) ? pre[$1, n[$1] - 1] : "-"
      if ($3 != "init") p = (p == "-") ? $3 : p "," $3
      pre[$1, n[$1]] = p; next }
    $1 != "OBS" { print label ": " $0; next }
    { b = $2; e = $3 + 0; lo = 0; hi = n[b]   # the count of revisions <= e
      while (lo < hi) { mid = int((lo + hi + 1) / 2); if (r[b, mid] <= e) lo = mid; else hi = mid - 1 }
      want = lo ? pre[b, lo] : "-"
      if (want != $6) { print label " " b " at " e " (asked " $7 "): log differs from the committed history: " diff(want, $6); next }
      if (at[b, $4] != $5) print label " " b ": reports latest " $5 "@" $4 ", which is not a committed revision of it" }
    function diff(a, g,   x, y, i, na, ng, seen) {
      na = split(a == "-" ? "" : a, x, ","); ng = split(g == "-" ? "" : g, y, ",")
      for (i = 1; i <= ng; i++) seen[y[i]]
      for (i = 1; i <= na; i++) if (!(x[i] in seen))
        return "lacks " x[i] " (committed at " rv[b, x[i]] ": " ng " entries read, " na " in the history)"
      for (i = 1; i <= na || i <= ng; i++) if (x[i] != y[i])
        return "entry " i " is " (i <= ng ? y[i] : "(none)") ", the history has " (i <= na ? x[i] : "(none)") \
          " (" ng " entries read, " na " in the history)"
      return "?" }' "$WORK/history" -
}

# explain TEXT: for the first few transactions TEXT says a state lacks, what
# their writer meant and whether the commit was acknowledged (a commit that
# lacks from later states while committed below them is defect 1 of issue 11).
explain() {
  local t
  for t in $(grep -o 'lacks [^ ]*' <<<"$1" | awk '!seen[$2]++ { print $2 }' | head -n 3); do
    printf '  %s: pended as "%s"; %s; committed on: %s\n' "$t" "$(grep -m1 "^$t " "$WORK/tried" | cut -d' ' -f2-)" \
      "$(grep -q "^$t " "$WORK/acks" && echo acknowledged || echo 'not acknowledged (its commit was killed)')" \
      "$(awk -v t="$t" '$3 == t { printf "%s@%s ", $1, $2 }' "$WORK/history")"
  done
}

case_ "every block at every committed revision"
ALL=$(IFS=,; echo "${BLOCKS[*]}")
# Every committed revision, or a seeded sample of 400 when there are more (on a
# fast disk a run commits thousands, and each get prints six long logs); every
# acknowledged commit is also checked in revs/ above and in the latest state below.
awk '{ print $2 }' "$WORK/history" | sort -un >"$WORK/allrevs"
awk -v seed="$SEED" -v max=400 'BEGIN { srand(seed) } { a[NR] = $0 }
  END { for (i = 1; i <= NR; i++) if (NR <= max || i == NR || rand() < max / NR) print a[i] }' "$WORK/allrevs" >"$WORK/revs"
# check_revs PART: `get` of every block at every 2nd committed revision from
# line PART on, as "REV <tab> BLOCKS <tab> stdout"; a failed get to fails.PART.
check_revs() {
  local rev rc line out=$WORK/cr$1.out err=$WORK/cr$1.err
  : >"$WORK/fails.$1"
  while read -r rev; do
    "$OPTDB" --store "$S" get "${BLOCKS[@]}" --rev "$rev" >"$out" 2>"$err"
    rc=$?
    line=""
    IFS= read -r line <"$out"
    if ((rc != 0)) || [[ -s $err ]]; then
      echo "get --rev $rev exited $rc: $(head -c 300 "$err")" >>"$WORK/fails.$1"
    fi
    printf '%s\t%s\t%s\n' "$rev" "$ALL" "$line"
  done < <(awk -v p="$1" 'NR % 2 == p' "$WORK/revs") >"$WORK/at.$1"
}
check_revs 0 &
p0=$!
check_revs 1
wait "$p0"
if [[ -s $WORK/fails.0 || -s $WORK/fails.1 ]]; then
  failx "gets at committed revisions failed, e.g.:"$'\n'"$(cat "$WORK/fails.0" "$WORK/fails.1" | head -n 5)"
else ok; fi
bad=$(cat "$WORK/at.0" "$WORK/at.1" | observe | judge "get --rev")
if [[ -n $bad ]]; then failx "$(wc -l <<<"$bad") blocks read back wrong at a committed revision, e.g.:"$'\n'"$(head -n 8 <<<"$bad")
$(explain "$bad")"; else ok; fi

case_ "latest state equals the committed history"
run --store "$S" get "${BLOCKS[@]}"
expect_rc 0
printf -- '-\t%s\t%s\n' "$ALL" "$(head -n 1 "$OUTF")" | observe >"$WORK/latest"
bad=$(judge "get" <"$WORK/latest")
# … and latest is the highest committed revision of each block.
bad+=$(awk 'NR == FNR { top[$1] = $2; next }
  $1 == "OBS" && $4 != top[$2] { print "\n" $2 ": latest is " $4 ", its highest committed revision " top[$2] }' \
  "$WORK/history" "$WORK/latest")
if [[ -n $bad ]]; then failx "latest states differ from their committed history:"$'\n'"$(head -n 8 <<<"$bad")
$(explain "$bad")"; else ok; fi

case_ "readers"
cat "$WORK"/reads.* 2>/dev/null >"$WORK/reads"
reads=$(wc -l <"$WORK/reads")
bad=$(awk -F'\t' '$1 != 0 || $4 != "ok" || $5 != "" { print "get " $3 (($2 == "-") ? "" : " --rev " $2) ": exit " $1 ", " $4 ", stderr: " $5 ", stdout: " substr($6, 1, 200) }' \
  "$WORK/reads" | head -n 8)
if [[ -n $bad ]]; then failx "readers saw errors or torn results:"$'\n'"$bad"; else ok; fi
bad=$(awk -F'\t' '$1 == 0 && $4 == "ok" && $5 == "" { print $2 "\t" $3 "\t" $6 }' "$WORK/reads" | observe | judge "reader")
if [[ -n $bad ]]; then failx "$(wc -l <<<"$bad") reader results contradict the committed history, e.g.:"$'\n'"$(head -n 8 <<<"$bad")
$(explain "$bad")"; else ok; fi
case_ "enough happened to mean something"
if ((acked >= 20 && reads >= 50)); then ok; else failx "only $acked acknowledged commits and $reads reads"; fi

echo "$TEST_NAME: ${WROTE}s of faults: $kills_child kills of a writer's optdb ($kills_multi in a multi-block commit)," \
  "$kills_group of a whole writer; $acked commits acknowledged, $committed committed" \
  "($((committed - acked)) finished after their writer was killed); $reads reads;" \
  "$intents intents left for repair, which took $repair_actions actions"
((FAILS)) && echo "$TEST_NAME: seed $SEED" >&2
finish
