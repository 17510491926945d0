#!/usr/bin/env bash
# The CI sweep: a time-budgeted sample of seeds plus the regression corpus, with reports.
# Env: SWEEP_SECONDS (default 120), SHARD (e.g. "1/4" on a fan-out worker), OUT (default ci-out).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-ci-out}"
mkdir -p "$out"
shard_args=()
if [ -n "${SHARD:-}" ]; then shard_args=(--shard "$SHARD"); fi
ci/restore-sim sweep --seeds 100000 --time "${SWEEP_SECONDS:-120}" "${shard_args[@]}" \
  --json "$out/sweep.json" --junit "$out/sweep.junit.xml" --save-failures "$out/failures"
ci/restore-sim corpus check
