#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` of the build directory (run with its
# output and work files under a temporary directory) makes a .deb whose
# control fields and contents are checked with dpkg-deb; as root, with dpkg,
# it is installed, the installed optdb and its man page are used, and it is
# purged again, leaving the system as it was.
#
# Exit 77 (ctest: SKIPPED, see tests/CMakeLists.txt) when the install part
# cannot run: not root, no dpkg, or an optdb already on the system that
# installing would replace. The contents are checked all the same.
#
#   bash tests/cli/test_deb.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"
BUILD=$(cd "$(dirname "$OPTDB")/.." && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SKIP=""
skip() { SKIP=${SKIP:+$SKIP; }$*; }
# finish, but exit 77 with the reasons when nothing failed and a part was skipped.
finish_or_skip() {
  if ((FAILS == 0)) && [[ -n $SKIP ]]; then
    echo "$TEST_NAME: $CHECKS checks passed; SKIPPED: $SKIP"
    exit 77
  fi
  finish
}

if ! command -v dpkg-deb >/dev/null; then
  echo "$TEST_NAME: SKIPPED: no dpkg-deb (not a Debian system)"
  exit 77
fi

case_ "cpack -G DEB builds one .deb"
PKG=$WORK/pkg
if [[ ! -f $BUILD/CPackConfig.cmake ]]; then
  fail "$BUILD/CPackConfig.cmake is missing (include(CPack) in CMakeLists.txt)"
  finish
fi
if (cd "$WORK" && cpack -G DEB --config "$BUILD/CPackConfig.cmake" -B "$PKG") >"$WORK/cpack.log" 2>&1; then ok; else
  # cpack builds the tree's preinstall target (everything out of date) first.
  fail "cpack: $(tail -15 "$WORK/cpack.log") $(tail -15 "$PKG"/_CPack_Packages/*/DEB/PreinstallOutput.log 2>/dev/null)"
  finish
fi
mapfile -t debs < <(find "$PKG" -maxdepth 1 -name '*.deb')
expect_eq "number of .deb files" 1 "${#debs[@]}"
((${#debs[@]} == 1)) || finish
DEB=${debs[0]}
version=$(sed -n 's/^project(optdb VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
expect_eq "file name" "optdb_${version}_${arch}.deb" "$(basename "$DEB")"

case_ "control fields"
field() { dpkg-deb -f "$DEB" "$1"; }
expect_eq Package optdb "$(field Package)"
expect_eq Version "$version" "$(field Version)"
expect_eq Architecture "$arch" "$(field Architecture)"
expect_eq Section database "$(field Section)"
if [[ $(field Maintainer) == *'<'*@*'>' ]]; then ok; else fail "Maintainer should be 'Name <address>', got '$(field Maintainer)'"; fi
if [[ $(field Description) == "versioned, transactional block store"* && $(field Description | wc -l) -ge 3 ]]; then ok; else
  fail "Description should have its synopsis and a long description, got: $(field Description)"
fi
# Depends as dpkg-shlibdeps computed it: the binary loads libc (and libm,
# which glibc's libc6 holds) and nothing else: libstdc++ is linked in.
depends=$(field Depends)
if [[ $depends =~ ^libc6(\ \(\>=\ [0-9.]+\))?$ ]]; then ok; else fail "Depends should be libc6 only, got '$depends'"; fi
if command -v dpkg-shlibdeps >/dev/null; then
  if [[ $depends == *'(>='* ]]; then ok; else fail "with dpkg-shlibdeps, Depends should carry libc6's version, got '$depends'"; fi
fi
expect_eq Recommends "nlohmann-json3-dev, libfmt-dev, libzstd-dev, pkg-config" "$(field Recommends)"

case_ "contents"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | LC_ALL=C sort >"$WORK/contents"
has_path() {
  if grep -qxF -- "$1" "$WORK/contents"; then ok; else fail "the .deb lacks $1"; fi
}
has_path /usr/bin/optdb
for page in "$SRC"/man/*.1; do has_path "/usr/share/man/man1/$(basename "$page")"; done
has_path /usr/share/man/man1/optdb.1
has_path /usr/share/bash-completion/completions/optdb
libdir=$(grep -m1 -E '^/usr/lib(/[^/]+)?/libstore\.a$' "$WORK/contents" | xargs -r dirname)
if [[ -n $libdir ]]; then ok; else fail "the .deb lacks libstore.a under /usr/lib"; fi
has_path "${libdir:-/usr/lib}/libstore.a"
has_path "${libdir:-/usr/lib}/cmake/optdb/optdbConfig.cmake"
has_path "${libdir:-/usr/lib}/cmake/optdb/optdbConfigVersion.cmake"
has_path "${libdir:-/usr/lib}/cmake/optdb/optdbTargets.cmake"
for h in "$SRC"/libstore/include/optdb/*.hpp; do has_path "/usr/include/optdb/$(basename "$h")"; done
# Nothing outside /usr, and no private header, test or benchmark.
outside=$(grep -v -E '^/usr(/|$)|^$' "$WORK/contents" | head -5)
expect_eq "paths outside /usr" "" "$outside"
stray=$(grep -E 'bench|/tests?/|catch|layout\.hpp' "$WORK/contents" | head -5)
expect_eq "stray files" "" "$stray"

case_ "the packaged files are the built ones"
X=$WORK/extract
dpkg-deb -x "$DEB" "$X"
expect_eq "packaged optdb --version" "optdb $version" "$("$X/usr/bin/optdb" --version 2>&1)"
if cmp -s "$SRC/completion/optdb.bash" "$X/usr/share/bash-completion/completions/optdb"; then ok; else
  fail "the packaged completion differs from completion/optdb.bash"
fi
if cmp -s "$SRC/man/optdb.1" "$X/usr/share/man/man1/optdb.1"; then ok; else fail "the packaged optdb.1 differs from man/optdb.1"; fi
# Stripped (CPACK_STRIP_FILES): no symbol table, no debug information.
sections=$(readelf -S -W "$X/usr/bin/optdb" 2>&1 | grep -oE '\.(symtab|debug_[a-z]+)' | sort -u | paste -sd ' ' -)
expect_eq "symbol and debug sections of the packaged optdb" "" "$sections"
# The static library lost its debug information, not its symbols.
if nm "$X$libdir/libstore.a" 2>/dev/null | grep -q ' T '; then ok; else fail "libstore.a in the .deb has no symbols"; fi
sections=$(readelf -S -W "$X$libdir/libstore.a" 2>&1 | grep -oE '\.debug_[a-z]+' | sort -u | paste -sd ' ' -)
expect_eq "debug sections of the packaged libstore.a" "" "$sections"

# Installing: root and dpkg only, and only onto a system without optdb.
if [[ $(id -u) != 0 ]]; then
  skip "not root: the .deb was not installed (dpkg -i)"
elif ! command -v dpkg >/dev/null; then
  skip "no dpkg: the .deb was not installed"
else
  # One installing test at a time on this machine (two build trees may run it at once).
  exec 9>"${TMPDIR:-/tmp}/optdb-test-deb.lock"
  flock -w 300 9 || { fail "another test_deb held ${TMPDIR:-/tmp}/optdb-test-deb.lock for 300 s"; finish; }
  preexisting=""
  status=$(dpkg-query -W -f='${Status}' optdb 2>/dev/null)
  if [[ -n $status && $status != *not-installed ]]; then
    preexisting="the package optdb is known to dpkg ($status)"
  else
    while read -r p; do
      if [[ -e $p && ! -d $p ]]; then preexisting="$p already exists"; break; fi
    done <"$WORK/contents"
  fi
  if [[ -n $preexisting ]]; then
    skip "$preexisting: installing the .deb would replace it"
  else
    # The man pages are dropped by dpkg where its configuration excludes
    # /usr/share/man (Debian's slim container images do): re-include ours.
    dpkg_opts=()
    if grep -rhsE '^[[:space:]]*path-exclude[[:space:]=]+/usr/share/man' /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d >/dev/null; then
      echo "note: dpkg excludes /usr/share/man here; installing with --path-include=/usr/share/man/man1/optdb*"
      dpkg_opts+=("--path-include=/usr/share/man/man1/optdb*")
    fi
    INSTALLED=""
    purge() {
      [[ -n $INSTALLED ]] || return 0
      dpkg --purge optdb >"$WORK/purge.log" 2>&1
      local rc=$?
      INSTALLED=""
      return $rc
    }
    trap 'purge; cleanup' EXIT
    # expect_purged: dpkg --purge, then neither dpkg nor the file system knows optdb.
    expect_purged() {
      if purge; then ok; else fail "dpkg --purge: $(tail -10 "$WORK/purge.log")"; fi
      expect_eq "dpkg status after the purge" "" "$(dpkg-query -W -f='${Status}' optdb 2>/dev/null)"
      local left="" p
      while read -r p; do [[ -e $p && ! -d $p ]] && left+="$p "; done <"$WORK/contents"
      expect_eq "packaged files left on the system" "" "$left"
    }

    case_ "dpkg -i, then the installed optdb and its man page"
    if dpkg "${dpkg_opts[@]}" -i "$DEB" >"$WORK/install.log" 2>&1; then ok; INSTALLED=1; else
      fail "dpkg -i: $(tail -10 "$WORK/install.log")"
      INSTALLED=1  # whatever it left is purged
    fi
    expect_eq "dpkg status" "install ok installed" "$(dpkg-query -W -f='${Status}' optdb 2>&1)"
    expect_eq "/usr/bin/optdb --version" "optdb $version" "$(/usr/bin/optdb --version 2>&1)"
    S=$(mkstore)
    echo '{"inserts":{"b1":{"header":{"id":"b1","type":"t","collectionId":"c"}}}}' |
      /usr/bin/optdb --store "$S" pend --trx t1 >/dev/null 2>"$ERRF" &&
      /usr/bin/optdb --store "$S" commit --trx t1 --rev 1 b1 >/dev/null 2>>"$ERRF"
    expect_eq "the installed optdb commits ($(head -c 300 "$ERRF"))" "1" \
      "$(/usr/bin/optdb --store "$S" get b1 2>/dev/null | sed -n 's/.*"rev":\([0-9]*\).*/\1/p')"
    if command -v man >/dev/null; then
      pages=$(man -aw optdb 2>&1)
      if grep -qxE '/usr/share/man/man1/optdb\.1(\.gz)?' <<<"$pages"; then ok; else
        fail "man -w optdb should find /usr/share/man/man1/optdb.1, got: $pages"
      fi
      pages=$(man -aw optdb-archive 2>&1)
      if grep -qxE '/usr/share/man/man1/optdb-archive\.1(\.gz)?' <<<"$pages"; then ok; else
        fail "man -w optdb-archive should find /usr/share/man/man1/optdb-archive.1, got: $pages"
      fi
    else
      fail "no man command (man-db): scripts/install-deps.sh installs it"
    fi
    if [[ -f /usr/share/bash-completion/completions/optdb ]]; then ok; else fail "the completion was not installed"; fi

    case_ "a program built with find_package(optdb) against the installed package"
    C=$WORK/consumer
    if cmake -S "$SRC/tests/install" -B "$C" -DCMAKE_PREFIX_PATH=/usr -DCMAKE_BUILD_TYPE=Release >"$WORK/configure.log" 2>&1 &&
      cmake --build "$C" -j1 >"$WORK/build.log" 2>&1; then ok; else
      fail "consumer build: $(tail -8 "$WORK/configure.log" "$WORK/build.log" 2>/dev/null)"
    fi
    expect_eq "optdb_DIR the consumer found" "$libdir/cmake/optdb" "$(sed -n 's/^optdb_DIR:PATH=//p' "$C/CMakeCache.txt")"
    S=$(mkstore)
    out=$("$C/consumer" "$S/s" 2>&1)
    expect_eq "the consumer's get" '{"k":{"block":{"header":{"id":"k","type":"t","collectionId":"c"},"n":42},"state":{"latest":{"trxId":"c1","rev":1},"pendings":[]}}}' "$out"
    expect_eq "the installed optdb reads what it wrote" "$out" "$(/usr/bin/optdb --store "$S/s" get k 2>&1)"

    case_ "dpkg --purge leaves the system as it was"
    expect_purged

    case_ "where dpkg excludes /usr/share/man, --path-include keeps the man pages (as README says)"
    if dpkg --path-exclude='/usr/share/man/*' --path-include='/usr/share/man/man1/optdb*' -i "$DEB" >"$WORK/install2.log" 2>&1
    then ok; else fail "dpkg -i: $(tail -10 "$WORK/install2.log")"; fi
    INSTALLED=1
    expect_eq "man pages installed" "$(find "$SRC/man" -name '*.1' | wc -l)" "$(find /usr/share/man/man1 -name 'optdb*.1*' | wc -l)"
    expect_eq "man -w optdb" "/usr/share/man/man1/optdb.1" "$(man -aw optdb 2>&1 | grep -x '/usr/share/man/man1/optdb\.1.*')"
    expect_purged
  fi
fi

finish_or_skip
