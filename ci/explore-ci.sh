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
#    Why "verified" (restore-core/src/strategy.rs): both await the previous chunk's tree batch
#    before a chunk's KV write and verify a chunk before writing any of it, and each chunk's
#    commit is KV then tree, so KV leads the durable tree by at most the chunk in flight and
#    holds no unverified byte; a failed write is awaited, never dropped or reused. A blind checker
#    cannot pass here unnoticed: part 2 needs crash states (false-success-after-restarts) and
#    fault points (d1-*, d2, d3, d4) from the same code to find its counterexamples.
for s in pipelined verify-kv-tree; do
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 1 --faults 0 --expect verified
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 0 --faults 1 --expect verified
  explore --strategy "$s" --chunks 3 --keys 2 --crashes 1 --faults 1 --expect verified
done

# 2. Counterexamples, one per known defect of the corpus (fixtures/corpus/NAME.json), each for
#    the oracle that names it. Columns: name, strategy, oracle, the text its detail must contain
#    (`_` for a space; `-` for any: one oracle reports both divergences), then the bound.
#    Why each must be found (the code path; fixtures/corpus/NAME.json shows the same defect):
#    audit-race     join-async spawns the tree batch and lets KV commit the next chunk before it
#                   is awaited: a failing batch leaves KV a chunk ahead of the durable tree.
#    kv-behind-tree join-async / join-sync / wait-then-join write the tree batch and the KV row
#                   of one chunk to different databases with no order between their syncs: a
#                   power loss with the tree's write landed and KV's in flight leaves K < T.
#    d1-*           the tree's first batch lost or failed leaves no durable leaf: the restart
#                   resumes the tree from nothing while KV resumes past chunk 0, and the next
#                   chunk's proof cannot verify (forward-progress).
#    d2             join-async writes KV rows in parallel with verification: a corrupted
#                   delivery lands unverified bytes (verified-only).
#    d3             a retry on the same restore object reuses the poisoned in-memory tree and
#                   reports success with a wrong root (honest-result).
#    d4             an async batch that fails and is never awaited panics on drop (no-panic).
#    false-success  join-sync's tree writes are lost at a crash while finish still succeeds
#                   on a restart (honest-result).
#    barrier rows   `barrier` syncs only where a strategy orders writes across databases, and
#                   these strategies order none between a chunk's tree batch and its KV write:
#                   a power loss keeps the tree's and drops KV's (K < T).
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
