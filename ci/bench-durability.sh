#!/usr/bin/env bash
# The durability benchmark table of BENCHMARKS.md ("RocksDB layouts and sync policies"): restore
# throughput on RocksDB per strategy × sync policy × layout, each cell the median of N rotated
# runs (`compare --repeat N` rotates the strategies' order every round), with fsyncs per chunk
# and the share of the limit model measured in the same command (`--limits`, which includes
# fsyncs per chunk × fsync latency for that layout and policy).
#
#   ci/bench-durability.sh [OUT_DIR]
#   KEYS=1000000 CHUNK=4000 RUNS=3 STRATEGIES=join-async,verify-kv-tree,pipelined \
#   LAYOUTS="one aptos" SYNCS="always barrier relaxed" ci/bench-durability.sh bench-out
#
# Writes OUT_DIR/compare-<layout>-<sync>.json and .txt per cell, and prints the table rows.
# Needs a release build: CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release -p scenarios
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench-out}
KEYS=${KEYS:-1000000}
CHUNK=${CHUNK:-4000}
RUNS=${RUNS:-3}
STRATEGIES=${STRATEGIES:-join-async,verify-kv-tree,pipelined}
LAYOUTS=${LAYOUTS:-one aptos}
SYNCS=${SYNCS:-always barrier relaxed}
B=${B:-target/release/restore-sim}
mkdir -p "$OUT"
for layout in $LAYOUTS; do
  for sync in $SYNCS; do
    echo "== layout $layout, sync $sync ($(date -u +%H:%M:%S))"
    "$B" compare --keys "$KEYS" --chunk-size "$CHUNK" --repeat "$RUNS" --limits \
      --strategy "$STRATEGIES" --layout "$layout" --sync "$sync" \
      --json "$OUT/compare-$layout-$sync.json" | tee "$OUT/compare-$layout-$sync.txt"
  done
done
python3 - "$OUT" $LAYOUTS -- $SYNCS <<'PY'
import json, sys
out = sys.argv[1]
rest = sys.argv[2:]
i = rest.index("--")
layouts, syncs = rest[:i], rest[i + 1:]
print("| layout | sync | strategy | keys/s median (min–max) | fsyncs/chunk | % limit serial / overlapped |")
print("|---|---|---|---:|---:|---:|")
for layout in layouts:
    for sync in syncs:
        t = json.load(open(f"{out}/compare-{layout}-{sync}.json"))
        for r in t["rows"]:
            runs = r.get("runs_keys_per_sec") or [r["keys_per_sec"]]
            p = r.get("percent_of_limit") or {}
            print(f"| {layout} | {sync} | {r['strategy']} | {r['keys_per_sec']:,.0f} "
                  f"({min(runs):,.0f}–{max(runs):,.0f}) | {r['fsyncs_per_chunk']:.2f} | "
                  f"{p.get('serial', 0):.0f}% / {p.get('overlapped', 0):.0f}% |"
                  + ("" if r["audit"] == "ok" else f" audit: {r['audit']}"))
PY
