#!/usr/bin/env bash
# Installs the Debian 12 packages optdb builds with, when any is missing.
set -euo pipefail
# dpkg-dev (dpkg-shlibdeps) computes the .deb's Depends; man-db's man -w is
# used by tests/cli/test_deb.sh on the installed package. librados-dev: the
# header of librados's C API, for the rados: backend (librados itself is
# loaded at run time; the test cluster's daemons are installed by
# scripts/ceph-one-node.sh when a test starts one).
pkgs=(cmake g++ make pkg-config libcli11-dev nlohmann-json3-dev libfmt-dev catch2 libzstd-dev zstd dpkg-dev man-db librados-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
