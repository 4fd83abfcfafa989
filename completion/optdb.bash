# bash completion for optdb(1)                                -*- shell-script -*-
#
# Installed as `optdb` in bash-completion's completions directory, where
# bash-completion loads it on the first <TAB> after `optdb`; or source it
# from ~/.bashrc. It needs nothing of bash-completion's own functions.
#
# It completes the commands, the global options (before or after the
# command), each command's options, the values of options that take one of
# a few words (--layout, migrate --to, --policy), file names where a file is
# expected (archive/forget -o, inspect --prom, get --restore-from, pend's
# FILE, restore's FILEs) and directories for --store. Block ids, revisions,
# transaction ids and seconds are not completed: listing a store's
# directories does not give its block ids in every layout.
#
# tests/cli/test_completion.sh checks it against `optdb --help` and every
# `optdb COMMAND --help`: a command or flag added there must be added here.

# The commands, in the order `optdb --help` lists them.
_optdb_commands="get pend commit cancel inspect archive restore repair migrate batch gc forget"

# Global options; the first four take a value.
_optdb_global_valued="--store --ceph-conf --lock-timeout --layout"
_optdb_global_flags="--pretty --no-sync"

# _optdb_flags COMMAND: the command's options that take no value.
_optdb_flags() {
  case $1 in
    get | pend | commit | cancel) ;;
    inspect) echo "--json --check --revisions" ;;
    archive) echo "--all --zstd" ;;
    restore | repair | gc) echo "--dry-run" ;;
    migrate) echo "--all" ;;
    batch) echo "--buffer" ;;
    forget) echo "--all --discard" ;;
  esac
}

# _optdb_valued COMMAND: the command's options that take a value.
_optdb_valued() {
  case $1 in
    get) echo "--rev --trx --committed --restore-from" ;;
    pend) echo "--trx --rev --policy --timeout" ;;
    commit) echo "--trx --rev" ;;
    cancel) echo "--trx" ;;
    inspect) echo "--prom" ;;
    archive) echo "--from --to --rev --chunk -o" ;;
    restore) echo "--jobs -j" ;;
    migrate) echo "--to" ;;
    forget) echo "--before -o" ;;
  esac
}

# _optdb_takes_value COMMAND OPTION: whether OPTION takes a value there
# (COMMAND empty: before the command, where only global options are).
_optdb_takes_value() {
  local o
  for o in $_optdb_global_valued ${1:+$(_optdb_valued "$1")}; do
    [[ $o == "$2" ]] && return 0
  done
  return 1
}

# _optdb_reply_words WORDS CUR: the words that start with CUR.
_optdb_reply_words() {
  local w
  COMPREPLY=()
  for w in $1; do
    [[ $w == "$2"* ]] && COMPREPLY+=("$w")
  done
}

# _optdb_reply_files CUR [-d]: file names (or directories only) that start with CUR.
_optdb_reply_files() {
  local IFS=$'\n'
  compopt -o filenames 2>/dev/null
  # shellcheck disable=SC2207  # one name a line (names with newlines are not completed)
  COMPREPLY=($(compgen "${2:--f}" -- "$1"))
}

# _optdb_complete_value COMMAND OPTION CUR: the value of OPTION.
_optdb_complete_value() {
  case $1:$2 in
    *:--store) _optdb_reply_files "$3" -d ;;
    *:--ceph-conf) _optdb_reply_files "$3" ;;
    *:--layout | migrate:--to) _optdb_reply_words "trx actions" "$3" ;;
    pend:--policy) _optdb_reply_words "c f r w" "$3" ;;
    archive:-o | forget:-o | inspect:--prom | get:--restore-from) _optdb_reply_files "$3" ;;
    *) COMPREPLY=() ;; # a number, an id or seconds: nothing to offer
  esac
}

_optdb() {
  COMPREPLY=()
  local cword=${COMP_CWORD:-0}
  local -a words=("${COMP_WORDS[@]}")
  local cur=${words[cword]:-}
  local cmd="" dashdash="" i=1 w

  # Find the command: the first word that is neither an option nor an
  # option's value. `--opt=value` may come as one word, or as three when
  # COMP_WORDBREAKS holds '=' (bash's default): `--opt` `=` `value`.
  while ((i < cword)); do
    w=${words[i]}
    if [[ -n $dashdash ]]; then
      : # an operand
    elif [[ $w == -- && -n $cmd ]]; then
      dashdash=1
    elif [[ $w == -* && $w != *=* ]] && _optdb_takes_value "$cmd" "$w"; then
      if [[ ${words[i + 1]:-} == = ]]; then ((i += 2)); else ((i += 1)); fi
    elif [[ -z $cmd && $w != -* && $w != = ]]; then
      cmd=$w
    fi
    ((i += 1))
  done

  # The value of an option: `--opt VALUE`, `--opt=VALUE` split at '=', or
  # `--opt=VALUE` in one word.
  if [[ -z $dashdash ]]; then
    local prev=${words[cword - 1]:-} opt=""
    if ((cword >= 1)) && [[ $cur == = ]] && _optdb_takes_value "$cmd" "$prev"; then
      opt=$prev cur=""
    elif ((cword >= 2)) && [[ $prev == = ]] && _optdb_takes_value "$cmd" "${words[cword - 2]}"; then
      opt=${words[cword - 2]}
    elif ((cword >= 2)) && [[ $prev == -* ]] && _optdb_takes_value "$cmd" "$prev"; then
      opt=$prev
    elif [[ $cur == --*=* ]] && _optdb_takes_value "$cmd" "${cur%%=*}"; then
      opt=${cur%%=*}
      _optdb_complete_value "$cmd" "$opt" "${cur#*=}"
      # The word is replaced whole: put the option back in front of each value.
      local j
      for j in "${!COMPREPLY[@]}"; do COMPREPLY[j]="$opt=${COMPREPLY[j]}"; done
      return 0
    fi
    if [[ -n $opt ]]; then
      _optdb_complete_value "$cmd" "$opt" "$cur"
      return 0
    fi
  fi

  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      _optdb_reply_words "-h --help --version $_optdb_global_valued $_optdb_global_flags" "$cur"
    else
      _optdb_reply_words "$_optdb_commands" "$cur"
    fi
    return 0
  fi

  if [[ -z $dashdash && $cur == -* ]]; then
    # The command's options first, then the global ones (accepted after it too).
    _optdb_reply_words "-h --help $(_optdb_flags "$cmd") $(_optdb_valued "$cmd") \
$_optdb_global_valued $_optdb_global_flags" "$cur"
    return 0
  fi

  # Operands: files for pend and restore, nothing for block ids.
  case $cmd in
    pend | restore) _optdb_reply_files "$cur" ;;
  esac
  return 0
}

complete -F _optdb optdb
