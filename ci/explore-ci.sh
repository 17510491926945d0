#!/usr/bin/env bash
# The model checker in CI (docs/model-checking.md):
#   1. the safe strategies are *verified* on three chunks of two keys: every schedule, every
#      single crash point (both kinds, every state), every single fault point, and both together;
#   2. every Aptos strategy yields a counterexample, and so does every known defect, each for the
#      oracle that names it, on at most three chunks (`--expect counterexample` exits 1 on
#      "verified": a checker that went blind fails here), and the case file replays to it.
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

# 2. Counterexamples, one per known defect of the corpus (fixtures/corpus/NAME.json), each for
#    the oracle that names it. Columns: name, strategy, oracle, the text its detail must contain
#    (`_` for a space; `-` for any: one oracle reports both divergences), then the bound.
while read -r name strategy oracle detail bound; do
  [ -z "$name" ] && continue
  hunt=(--oracle "$oracle")
  [ "$detail" != "-" ] && hunt+=(--detail "${detail//_/ }")
  # shellcheck disable=SC2086 # the bound is a list of flags
  explore --strategy "$strategy" "${hunt[@]}" $bound \
    --out "$out/$name.json" --expect counterexample
  # The counterexample must replay to the same oracle: the case file is what a developer gets.
  ci/restore-sim replay "$out/$name.json" --quiet --json "$out/$name.replay.json" > /dev/null
  grep -q "\"oracle\": \"$oracle\"" "$out/$name.replay.json"
done <<'EOF'
audit-race                       join-async     progress-divergence KV_ahead  --chunks 2 --keys 2 --crashes 0 --faults 1
kv-behind-tree                   join-async     progress-divergence KV_behind --chunks 2 --keys 2 --crashes 0 --faults 0
kv-behind-tree-join-sync         join-sync      progress-divergence KV_behind --chunks 2 --keys 2 --crashes 0 --faults 0
kv-behind-tree-wait-then-join    wait-then-join progress-divergence KV_behind --chunks 2 --keys 2 --crashes 0 --faults 0
d1-tree-then-kv                  tree-then-kv   forward-progress    -         --chunks 3 --keys 1 --crashes 0 --faults 1
d1-join-sync                     join-sync      forward-progress    -         --chunks 3 --keys 1 --crashes 0 --faults 1
d2-unverified-kv                 join-async     verified-only       -         --chunks 1 --keys 1 --crashes 0 --faults 1
d3-retry-same-object             join-sync      honest-result       -         --chunks 1 --keys 2 --crashes 0 --faults 1 --retries 1
d4-panic-on-drop                 join-async     no-panic            -         --chunks 1 --keys 1 --crashes 0 --faults 1
false-success-after-restarts     join-sync      honest-result       -         --chunks 2 --keys 1 --crashes 1 --faults 0
ordered-batch-syncs-earlier-tree-writes join-sync progress-divergence -       --chunks 2 --keys 2 --crashes 0 --faults 0 --sync barrier --window 4
sync-what-a-restart-resumes-from join-async     progress-divergence -         --chunks 2 --keys 2 --crashes 0 --faults 0 --layout split --sync barrier --window 3
EOF
