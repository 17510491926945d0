#!/usr/bin/env bash
# The CI sweep: a fixed seed range (it covers every witness seed of the expectations table, so a
# harness that went blind fails here, and it must draw every required category of the fault
# space), the time budget only a safety stop (a stop before a witness fails too), then the
# regression corpus, with reports.
# Env: SWEEP_SEEDS (default 3000), SWEEP_SECONDS (safety stop, default 900), SHARD (e.g. "1/4"
# on a fan-out worker), OUT (default ci-out).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-ci-out}"
mkdir -p "$out"
# The coverage gate needs the whole range: a shard may miss a rare category (a crash landing
# inside `finish` is about 1 in 3,600 cases); the merged report carries the summed counts.
shard_args=(--require-coverage)
if [ -n "${SHARD:-}" ]; then shard_args=(--shard "$SHARD"); fi
ci/restore-sim sweep --seeds "${SWEEP_SEEDS:-3000}" --time "${SWEEP_SECONDS:-900}" "${shard_args[@]}" \
  --json "$out/sweep.json" --junit "$out/sweep.junit.xml" \
  --save-failures "$out/failures"
ci/restore-sim corpus check
