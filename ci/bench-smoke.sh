#!/usr/bin/env bash
# Every criterion bench once, on the small quick-mode sizes, with no timing: proves the benches
# build and run (criterion's --test mode). Uses the dev profile, which the tests already built,
# so RocksDB is not compiled a second time; measurements use `cargo bench` (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export RESTORE_SIM_BENCH_QUICK=1
cargo bench --profile dev -p restore-core --bench restore -- --test
cargo bench --profile dev -p harness --bench sim --features shuttle -- --test
