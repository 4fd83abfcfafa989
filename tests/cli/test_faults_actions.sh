#!/usr/bin/env bash
# test_faults.sh (writers and readers killed at random on overlapping blocks)
# on a store in the actions dialect, the default for a new store.
#
#   bash tests/cli/test_faults_actions.sh build/apps/optdb
OPTDB_FAULTS_LAYOUT=actions exec bash "$(dirname "$0")/test_faults.sh" "$@"
