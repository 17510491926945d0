#!/usr/bin/env bash
# The replay page in a real browser, for two cases: seed 2 under join-async (the audit race,
# join-async's progress-divergence witness: its lanes show the failed node batch and the KV write
# that overtook it) and seed 1 (the first failing seed a developer meets, over a thousand events).
# Each page is rendered in Debian's Chromium, headless, driven by playwright-core
# (ci/browser/check.mjs), to PNG at its top, its lanes and its violation's fragment; the check
# fails when Chromium reports a script error or a network request, when the page's script does
# not finish, when the violation's fragment does not mark that event and show what was durable,
# when j/k do not step, or when a planted script error goes unseen (the self-test). Installs
# `chromium` (apt-get) and playwright-core (npm ci, pinned in ci/browser/package-lock.json) when
# missing.
#
#   ci/browser-check.sh [OUT_DIR]   (default ci-out/browser: seed 2 there, seed 1 in OUT_DIR/seed1)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ci-out/browser}"
mkdir -p "$out/seed1"

if ! command -v chromium >/dev/null 2>&1; then
  echo "browser-check: installing Debian's chromium..."
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d ci/browser/node_modules/playwright-core ]; then
  (cd ci/browser && npm ci --no-audit --no-fund --silent)
fi

cargo build -q -p scenarios --bin restore-sim

# check DIR SEED: writes DIR/replay.html for the seed under join-async and checks it.
check() {
  local dir="$1" seed="$2" event
  target/debug/restore-sim replay --seed "$seed" --strategy join-async --quiet \
    --html "$dir/replay.html" > "$dir/replay.txt"
  event="$(sed -n 's/.*VIOLATED [a-z-]* at event \([0-9]*\).*/\1/p' "$dir/replay.txt" | head -1)"
  if [ -z "$event" ]; then
    echo "browser-check: seed $seed reported no violation; nothing to open at" >&2
    cat "$dir/replay.txt" >&2
    return 1
  fi
  node ci/browser/check.mjs "$dir/replay.html" "$event" "$dir"
}
check "$out" 2
check "$out/seed1" 1
