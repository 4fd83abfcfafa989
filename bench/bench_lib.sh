# Shared by the shell benches (source it after setting WORK, the scratch directory).

# timed NAME COMMAND...: runs it under /usr/bin/time -v; sets SECS and RSS_MB.
timed() {
  local name=$1
  shift
  /usr/bin/time -v -o "$WORK/$name.time" "$@"
  SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$WORK/$name.time")
  RSS_MB=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$WORK/$name.time")
}
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f", b / 1048576}'; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN {printf "%.1f", (s > 0 ? m / s : 0)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
