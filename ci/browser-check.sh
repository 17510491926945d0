#!/usr/bin/env bash
# The replay page in a real browser: renders `replay --seed 1 --strategy join-async --html` in
# headless Chromium (Debian's `chromium`, installed here when missing), to PNG at three places
# (the top, the lanes, the violation's fragment), and fails when
#   - Chromium reports a script error (an uncaught exception or a console error), or
#   - the page's script did not finish (`data-ready` missing from the rendered DOM), or
#   - opening the page at the violation's fragment did not mark that event.
# A self-test first plants a script error in a copy of the page and requires the check to catch
# it, so the check cannot pass blind.
#
#   ci/browser-check.sh [OUT_DIR]      (default ci-out/browser; PNGs and logs go there)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ci-out/browser}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if ! command -v chromium >/dev/null 2>&1; then
  echo "browser-check: installing Debian's chromium..."
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi

cargo build -q -p scenarios --bin restore-sim
bin=target/debug/restore-sim
"$bin" replay --seed 1 --strategy join-async --quiet --html "$out/replay.html" > "$out/replay.txt"
event="$(sed -n 's/.*VIOLATED [a-z-]* at event \([0-9]*\).*/\1/p' "$out/replay.txt" | head -1)"
if [ -z "$event" ]; then
  echo "browser-check: seed 1 under join-async reported no violation (expected: the audit race)" >&2
  cat "$out/replay.txt" >&2
  exit 1
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# The flags of a closed network: no background connections, no first-run, no GPU.
chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1400,1000 --hide-scrollbars \
    --enable-logging=stderr --v=0 --virtual-time-budget=3000 "$@"
}

# Fails (returns 1) when the log of a run shows a script error.
script_errors() {
  grep -E 'Uncaught|CONSOLE.*(Error|error|ERROR)' "$1" || return 1
}

# check PAGE FRAGMENT NAME: screenshot, DOM dump, script-error scan; returns 1 on any failure.
check() {
  local page="$1" frag="$2" name="$3" url
  url="file://$page$frag"
  chrome --screenshot="$out/$name.png" "$url" > /dev/null 2> "$out/$name.log" || true
  chrome --dump-dom "$url" > "$out/$name.dom.html" 2> "$out/$name.dom.log" || true
  if script_errors "$out/$name.log" || script_errors "$out/$name.dom.log"; then
    echo "browser-check: $name: Chromium reported a script error" >&2
    return 1
  fi
  if ! grep -q 'data-ready="1"' "$out/$name.dom.html"; then
    echo "browser-check: $name: the page's script did not finish (no data-ready)" >&2
    return 1
  fi
  if [ ! -s "$out/$name.png" ]; then
    echo "browser-check: $name: no screenshot" >&2
    return 1
  fi
}

# Self-test: a page with a script error must fail the check.
sed 's/JSON.parse(/JSON.parsee(/' "$out/replay.html" > "$out/broken.html"
if check "$out/broken.html" "" broken 2> /dev/null; then
  echo "browser-check: self-test failed: a page with a script error passed" >&2
  exit 1
fi
echo "browser-check: self-test ok (a planted script error is caught)"

check "$out/replay.html" "" top
check "$out/replay.html" "#lanes" lanes
check "$out/replay.html" "#e$event" violation
# At the violation's fragment the script marks that event (it may sit in a folded run).
if ! grep -Eq "class=\"[^\"]*here[^\"]*\" id=\"e$event\"|id=\"e$event\"[^>]*class=\"[^\"]*here" "$out/violation.dom.html"; then
  echo "browser-check: opening #e$event did not mark event $event" >&2
  exit 1
fi
echo "browser-check: ok: $out/top.png, $out/lanes.png, $out/violation.png (violation at event $event)"
