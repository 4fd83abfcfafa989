#!/usr/bin/env bash
# with_cluster.sh CMD ARGS...: runs CMD against a throw-away one-node Ceph
# cluster (scripts/ceph-one-node.sh), with CEPH_CONF, OPTDB_TEST_BACKEND=rados
# and OPTDB_TEST_RADOS_POOL set, and stops the cluster after it. Exit 77
# (ctest: skipped, never passed) when the cluster cannot be started here;
# otherwise CMD's exit status.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -u "${TMPDIR:-/tmp}/optdb-ceph.XXXXXX")
conf=$(bash "$root/scripts/ceph-one-node.sh" start "$dir")
rc=$?
if [[ $rc -ne 0 ]]; then
  bash "$root/scripts/ceph-one-node.sh" stop "$dir" >/dev/null 2>&1
  [[ $rc -eq 77 ]] && { echo "with_cluster: skipped: no Ceph cluster could be started" >&2; exit 77; }
  echo "with_cluster: the cluster failed to start (exit $rc)" >&2
  exit 77
fi
trap 'bash "$root/scripts/ceph-one-node.sh" stop "$dir" >/dev/null 2>&1' EXIT
export "${conf##*$'\n'}"
export OPTDB_TEST_BACKEND=rados OPTDB_TEST_RADOS_POOL=${OPTDB_CEPH_POOL:-optdb}
"$@"
