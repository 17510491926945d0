#!/usr/bin/env bash
# The model checker in CI (docs/model-checking.md):
#   1. the safe strategies are *verified* on three chunks of two keys: every schedule, every
#      single crash point (both kinds, every state), every single fault point, and both together;
#   2. every Aptos strategy yields a counterexample, and so does every known defect, each for the
#      oracle that names it, at the smallest bound that reaches it (`--expect counterexample`
#      exits 1 on "verified": a checker that went blind fails here).
# The bounds are runs, not time: each line gives the same verdict and counts on any machine.
# Env: OUT (default ci-out): the counterexample cases land in $OUT/explore/.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-ci-out}/explore"
mkdir -p "$out"

explore() { ci/restore-sim explore "$@"; }

# 1. Proofs: the safe strategies, 3 chunks × 2 keys, Aptos's layout, every write synced.
for s in pipelined verify-kv-tree; do
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 1 --faults 0 --expect verified
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 0 --faults 1 --expect verified
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 1 --faults 1 --expect verified
done

# 2. Counterexamples. Columns: strategy, oracle, then the bound.
while read -r strategy oracle bound; do
  [ -z "$strategy" ] && continue
  name="$strategy-$oracle"
  # shellcheck disable=SC2086 # the bound is a list of flags
  explore --strategy "$strategy" --oracle "$oracle" $bound \
    --out "$out/$name.json" --expect counterexample
  # The counterexample must replay to the same oracle: the case file is what a developer gets.
  ci/restore-sim replay "$out/$name.json" --quiet --json "$out/$name.replay.json" > /dev/null
  grep -q "\"oracle\": \"$oracle\"" "$out/$name.replay.json"
done <<'EOF'
join-async      progress-divergence --chunks 2 --keys 2 --crashes 0 --faults 0
join-sync       progress-divergence --chunks 2 --keys 2 --crashes 0 --faults 0
wait-then-join  progress-divergence --chunks 2 --keys 2 --crashes 0 --faults 0
tree-then-kv    forward-progress    --chunks 3 --keys 1 --crashes 0 --faults 1
join-sync       forward-progress    --chunks 3 --keys 1 --crashes 0 --faults 1
join-async      verified-only       --chunks 1 --keys 1 --crashes 0 --faults 1
join-sync       durable-shape       --chunks 1 --keys 2 --crashes 0 --faults 1 --retries 1
join-async      no-panic            --chunks 1 --keys 1 --crashes 0 --faults 1
join-sync       durable-shape       --chunks 2 --keys 1 --crashes 1 --faults 0
EOF
