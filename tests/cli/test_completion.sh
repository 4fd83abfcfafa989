#!/usr/bin/env bash
# The bash completion (completion/optdb.bash): driven as bash drives it
# (COMP_WORDS, COMP_CWORD) for some typical command lines, then checked
# against the binary's own --help, so that it cannot go stale: every command
# `optdb --help` lists and every flag each `optdb COMMAND --help` shows is
# offered, and the completion offers none the binary lacks (but those SPEC §5
# announces and the binary does not have yet). Last, `cmake --install` puts it
# where bash-completion looks for it.
#
#   bash tests/cli/test_completion.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$OPTDB")/.." && pwd)
COMPLETION=$SRC/completion/optdb.bash

# In SPEC §5 but maybe not in this binary yet (someone is writing them): the
# completion may offer them before the binary has them, never the reverse.
ANNOUNCED_COMMANDS="forget"
ANNOUNCED_FLAGS="inspect:--prom"
GLOBALS="--store --ceph-conf --lock-timeout --layout --pretty --no-sync"

case_ "the file is valid bash and registers _optdb for optdb"
if bash -n "$COMPLETION" 2>"$WORK/syntax"; then ok; else fail "bash -n: $(cat "$WORK/syntax")"; fi
# shellcheck source=../../completion/optdb.bash
source "$COMPLETION"
expect_eq "complete -p optdb" "complete -F _optdb optdb" "$(complete -p optdb 2>&1)"

# comp WORD…: what completing the last WORD offers (COMPREPLY), sorted, one
# line. Called as bash calls it: COMP_WORDS split as with the default
# COMP_WORDBREAKS (pass '=' as a word of its own where bash splits it).
comp() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _optdb optdb "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  ((${#COMPREPLY[@]})) || return 0
  printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd ' ' -
}

# expect_comp "EXPECTED" WORD…: the completion of the last WORD is exactly EXPECTED (sorted).
expect_comp() {
  local expected=$1 got
  shift
  got=$(comp "$@")
  # shellcheck disable=SC2086  # split into words on purpose
  expected=$(printf '%s\n' $expected | LC_ALL=C sort | paste -sd ' ' -)
  expect_eq "completing '$*'" "$expected" "$got"
}

# has WORD LIST: WORD is one of LIST's space-separated words.
has() { [[ " $2 " == *" $1 "* ]]; }

case_ "commands and global options"
expect_comp "get pend commit cancel inspect archive restore repair migrate batch gc forget" optdb ""
expect_comp "gc get" optdb g
expect_comp "repair restore" optdb re
expect_comp "--layout --lock-timeout" optdb --l
expect_comp "-h --help --version --store --ceph-conf --pretty --no-sync --lock-timeout --layout" optdb -
expect_comp "actions trx" optdb --layout ""
expect_comp "actions" optdb --layout a
expect_comp "actions trx" optdb --layout =        # --layout=<TAB>, split at '=' as bash does
expect_comp "trx" optdb --layout = t
expect_comp "--layout=trx" optdb --layout=t       # COMP_WORDBREAKS without '='
expect_comp "" optdb --lock-timeout ""            # seconds: nothing to offer
# A global option's value is not the command; options before it are skipped.
expect_comp "get" optdb --store get ge
expect_comp "gc get" optdb --pretty --lock-timeout 3 --store=/x g
expect_comp "gc get" optdb --store = /x g

case_ "each command's options, and the global ones after it"
expect_comp "--restore-from --rev" optdb get --r
expect_comp "--trx" optdb --store /x get b1 --pretty --t
expect_comp "--ceph-conf --committed" optdb get b1 --c
expect_comp "--all --zstd --from --to --rev --chunk -o -h --help $GLOBALS" optdb archive -
expect_comp "--before --all --discard -o -h --help $GLOBALS" optdb forget -
expect_comp "--buffer" optdb batch --b
expect_comp "--dry-run" optdb gc --d
expect_comp "--json" optdb inspect --j
expect_comp "--lock-timeout --layout" optdb commit --trx t --rev 2 --l

case_ "values: words"
expect_comp "actions trx" optdb migrate --to ""
expect_comp "actions" optdb --store /x migrate --all --to a
expect_comp "actions trx" optdb migrate --to =
expect_comp "" optdb archive --to ""               # archive's --to is a revision
expect_comp "c f r w" optdb pend --trx t --policy ""
expect_comp "w" optdb pend --policy w
expect_comp "actions trx" optdb gc --layout ""
expect_comp "" optdb get --rev ""
expect_comp "" optdb pend --trx ""
expect_comp "" optdb forget --before ""

case_ "values and operands: files and directories"
D=$WORK/files
mkdir -p "$D/sub1" "$D/sub2"
touch "$D/a.ndjson" "$D/a.zst" "$D/t.json"
expect_comp "$D/a.ndjson $D/a.zst" optdb archive -o "$D/a."
expect_comp "$D/a.zst" optdb forget --before 9 --all -o "$D/a.z"
expect_comp "$D/sub1 $D/sub2" optdb --store "$D/s"            # directories only
expect_comp "$D/sub1 $D/sub2" optdb gc --store "$D/"
expect_comp "$D/a.ndjson $D/a.zst" optdb restore "$D/a"
expect_comp "$D/a.ndjson $D/a.zst" optdb restore --dry-run "$D/a.ndjson" "$D/a"
expect_comp "$D/a.ndjson $D/a.zst" optdb restore -- "$D/a"
expect_comp "$D/t.json" optdb pend --trx t1 --rev 2 "$D/t"
expect_comp "$D/a.ndjson $D/a.zst $D/sub1 $D/sub2 $D/t.json" optdb get b1 --restore-from "$D/"
expect_comp "$D/a.zst" optdb inspect --prom "$D/a.z"
# A name with a space is one candidate (bash quotes it: -o filenames).
mkdir -p "$WORK/sp/my store"
touch "$WORK/sp/my archive.ndjson"
COMP_WORDS=(optdb restore "$WORK/sp/my"); COMP_CWORD=2; COMPREPLY=()
_optdb optdb "$WORK/sp/my" restore
expect_eq "candidates with a space" "2:$WORK/sp/my archive.ndjson|$WORK/sp/my store" \
  "${#COMPREPLY[@]}:$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | paste -sd '|' -)"
COMP_WORDS=(optdb --store "$WORK/sp/"); COMP_CWORD=2; COMPREPLY=()
_optdb optdb "$WORK/sp/" --store
expect_eq "directories with a space" "1:$WORK/sp/my store" "${#COMPREPLY[@]}:${COMPREPLY[*]}"

case_ "block ids are not guessed; after -- nothing is an option"
expect_comp "" optdb get ""
expect_comp "" optdb get b1 ""
expect_comp "" optdb commit --trx t --rev 1 ""
expect_comp "" optdb get -- -
expect_comp "" optdb archive --all -- --a

case_ "the file is not stale: every command of 'optdb --help' is offered"
run --help
expect_rc 0
binary_commands=$(sed -n '/^Subcommands:/,/^$/p' "$OUTF" | awk '/^  [a-z]/ {print $1}' | paste -sd ' ' -)
global_help=$(sed -n '/^Options:/,/^$/p' "$OUTF")
offered_commands=$(comp optdb "")
if has get "$binary_commands" && has gc "$binary_commands"; then ok; else
  fail "could not read the commands from optdb --help (got '$binary_commands')"
fi
for c in $binary_commands; do
  if has "$c" "$offered_commands"; then ok; else fail "command '$c' (in optdb --help) is not completed"; fi
done
for c in $offered_commands; do
  if has "$c" "$binary_commands"; then ok
  elif has "$c" "$ANNOUNCED_COMMANDS"; then echo "note: '$c' is completed; this optdb does not have it yet"
  else fail "command '$c' is completed but optdb --help does not list it"; fi
done

# help_flags: the flags of the "Options:" section of a --help on stdin, one
# word ("-h,--help  …" gives -h and --help).
help_flags() {
  sed -n '/^Options:/,/^$/p' | awk '/^  -/ {print $1}' | tr ',' '\n' | paste -sd ' ' -
}
# help_words FLAG: the values FLAG takes when its help spells them (trx|actions).
help_words() {
  awk -v f="$1" '/^  -/ { n = split($1, names, ","); for (i = 1; i <= n; i++) if (names[i] == f && $2 ~ /^[a-z]+(\|[a-z]+)+$/) print $2 }' |
    tr '|' ' '
}

case_ "the file is not stale: every global option of 'optdb --help' is offered"
flags=$(help_flags <<<"$global_help")
offered=$(comp optdb -)
if has --store "$flags" && has --layout "$flags"; then ok; else fail "could not read optdb --help's options (got '$flags')"; fi
for f in $flags; do
  if has "$f" "$offered"; then ok; else fail "global option '$f' (in optdb --help) is not completed"; fi
  words=$(help_words "$f" <<<"$global_help")
  [[ -z $words ]] || expect_comp "$words" optdb "$f" ""
done
for f in $offered; do
  if has "$f" "$flags"; then ok; else fail "global option '$f' is completed but optdb --help does not show it"; fi
done

case_ "the file is not stale: every flag of every 'optdb COMMAND --help' is offered"
checked=0
for c in $binary_commands; do
  run "$c" --help
  expect_rc 0
  cp "$OUTF" "$WORK/help.$c"
  flags=$(help_flags <"$WORK/help.$c")
  offered=$(comp optdb "$c" -)
  if has --help "$flags"; then ok; else fail "could not read optdb $c --help's options (got '$flags')"; fi
  for f in $flags; do
    if has "$f" "$offered"; then ok; else fail "'$f' (in optdb $c --help) is not completed after 'optdb $c'"; fi
    # Its values, when the help spells them out (--to trx|actions, --policy c|f|r|w).
    words=$(help_words "$f" <"$WORK/help.$c")
    [[ -z $words ]] || expect_comp "$words" optdb "$c" "$f" ""
  done
  # Nothing the command lacks (the global options are accepted after it too).
  for f in $offered; do
    if has "$f" "$flags" || has "$f" "$GLOBALS"; then ok
    elif has "$c:$f" "$ANNOUNCED_FLAGS"; then echo "note: '$c $f' is completed; this optdb does not have it yet"
    else fail "'$f' is completed after 'optdb $c' but optdb $c --help does not show it"; fi
  done
  checked=$((checked + 1))
done
expect_eq "commands checked against their --help" "$(wc -w <<<"$binary_commands")" "$checked"

case_ "cmake --install puts it in bash-completion's completions directory, under the prefix"
PREFIX=$WORK/prefix
if cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1; then ok; else fail "cmake --install: $(tail -5 "$WORK/install.log")"; fi
installed=$(cd "$PREFIX" && find . -path '*/bash-completion/completions/*' -type f)
expect_eq "the one completion file installed" "./share/bash-completion/completions/optdb" "$installed"
if cmp -s "$COMPLETION" "$PREFIX/$installed"; then ok; else fail "the installed completion differs from $COMPLETION"; fi

finish
