#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Warnings are errors here (and so in CI), never in a user's build.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPTDB_WERROR=ON >/dev/null
cmake --build build -j2
cd build && ctest --output-on-failure -j2
