#!/usr/bin/env bash
# `cmake --install` of optdb, then another program built against it with
# find_package(optdb) and the target optdb::store, which then works.
#
#   bash tests/cli/test_install.sh build/apps/optdb
source "$(dirname "$0")/lib.sh"
BUILD=$(cd "$(dirname "$OPTDB")/.." && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)

case_ "install, then build a consumer with find_package(optdb)"
PREFIX=$WORK/prefix
if cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1; then ok; else fail "cmake --install: $(tail -5 "$WORK/install.log")"; fi
expect_eq "the library installed" yes "$([[ -f $PREFIX/lib/libstore.a || -f $PREFIX/lib64/libstore.a || -n $(find "$PREFIX" -name libstore.a) ]] && echo yes)"
expect_eq "the package config installed" yes "$([[ -n $(find "$PREFIX" -name optdbConfig.cmake) ]] && echo yes)"
if cmake -S "$SRC/tests/install" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
  >"$WORK/configure.log" 2>&1 && cmake --build "$WORK/consumer" -j2 >"$WORK/build.log" 2>&1; then ok; else
  fail "consumer build: $(tail -8 "$WORK/configure.log" "$WORK/build.log" 2>/dev/null)"
fi

case_ "the consumer runs against a store, and optdb reads what it wrote"
S=$(mkstore)
out=$("$WORK/consumer/consumer" "$S/s")
expect_eq "consumer's get" '{"k":{"block":{"header":{"id":"k","type":"t","collectionId":"c"},"n":42},"state":{"latest":{"trxId":"c1","rev":1},"pendings":[]}}}' "$out"
run --store "$S/s" get k
expect_rc 0
expect_eq "optdb's get" "$out" "$(cat "$OUTF")"

finish
