#!/usr/bin/env bash
# The replay page in a real browser: renders `replay --seed 2 --strategy join-async --html` (the
# audit race, join-async's progress-divergence witness) in Debian's Chromium, headless, driven by
# playwright-core (ci/browser/check.mjs), to PNG at its top, its lanes and its violation's
# fragment, and fails when Chromium reports a script error, when the page's script does not
# finish, when the violation's fragment does not mark that event and show what was durable, or
# when a planted script error goes unseen (the self-test). Installs `chromium` (apt-get) and
# playwright-core (npm ci, pinned in ci/browser/package-lock.json) when missing.
#
#   ci/browser-check.sh [OUT_DIR] [replay flags...]   (default: ci-out/browser, --seed 2 --strategy join-async)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ci-out/browser}"
shift || true
if [ "$#" -eq 0 ]; then
  set -- --seed 2 --strategy join-async
fi
mkdir -p "$out"

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
target/debug/restore-sim replay "$@" --quiet --html "$out/replay.html" > "$out/replay.txt"
event="$(sed -n 's/.*VIOLATED [a-z-]* at event \([0-9]*\).*/\1/p' "$out/replay.txt" | head -1)"
if [ -z "$event" ]; then
  echo "browser-check: the case reported no violation; nothing to open at" >&2
  cat "$out/replay.txt" >&2
  exit 1
fi
node ci/browser/check.mjs "$out/replay.html" "$event" "$out"
