#!/usr/bin/env bash
# Installs what a fresh machine lacks for building restore-sim: libclang (bindgen, for the
# bundled RocksDB). Idempotent and quiet when everything is present.
#
#   ci/ensure-deps.sh           detect, install what is missing
#   ci/ensure-deps.sh --check   detect only: prints "libclang: present (<where>)" or
#                               "libclang: missing" and exits 0 / 1; installs nothing
#
# Why the detection is strict: `clang-sys` loads `libclang.so`, `libclang-<N>.so` or a versioned
# form of either (`libclang.so.1`, `libclang-14.so.1`). A fresh machine of this kind ships only
# `libclang-cpp.so.14`, the C++ interface library, which clang-sys cannot use; a glob such as
# `libclang*.so*` takes it for libclang and the build then fails in bindgen. So every candidate
# name is matched against one exact pattern that never admits `libclang-cpp`.
#
# Test seams (used by scenarios/tests/ensure_deps.rs; never set in normal use):
#   RESTORE_SIM_DEPS_ROOT   a fake filesystem root under which library directories are searched
#   RESTORE_SIM_LDCONFIG    the ldconfig command to ask for the linker cache (default: ldconfig)
set -euo pipefail

root="${RESTORE_SIM_DEPS_ROOT:-}"
ldconfig_cmd="${RESTORE_SIM_LDCONFIG:-ldconfig}"

# The only file names clang-sys accepts as libclang on Linux (no `libclang-cpp`).
is_libclang_name() {
  [[ "$1" =~ ^libclang(-[0-9]+(\.[0-9]+)*)?\.so(\.[0-9]+)*$ ]]
}

# Prints where libclang was found and returns 0, or returns 1.
find_libclang() {
  local f name dir
  # LIBCLANG_PATH may name the library itself or the directory holding it (clang-sys takes both).
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    if [ -f "$LIBCLANG_PATH" ] && is_libclang_name "$(basename "$LIBCLANG_PATH")"; then
      echo "LIBCLANG_PATH=$LIBCLANG_PATH"
      return 0
    fi
    if [ -d "$LIBCLANG_PATH" ]; then
      for f in "$LIBCLANG_PATH"/*; do
        name="$(basename "$f")"
        if [ -e "$f" ] && is_libclang_name "$name"; then
          echo "LIBCLANG_PATH: $f"
          return 0
        fi
      done
    fi
  fi
  # The dynamic linker's cache: lines look like "	libclang-14.so.1 (libc6,x86-64) => /path".
  local cache
  cache="$("$ldconfig_cmd" -p 2>/dev/null || true)"
  while read -r name _; do
    if is_libclang_name "$name"; then
      echo "ldconfig: $name"
      return 0
    fi
  done <<<"$cache"
  # Directories clang-sys searches besides the cache (llvm-config's libdir is one of these).
  for dir in "$root"/usr/lib/llvm-*/lib "$root"/usr/lib "$root"/usr/lib64 \
    "$root"/usr/lib/x86_64-linux-gnu "$root"/usr/lib/aarch64-linux-gnu "$root"/usr/local/lib; do
    [ -d "$dir" ] || continue
    for f in "$dir"/libclang*; do
      name="$(basename "$f")"
      if [ -e "$f" ] && is_libclang_name "$name"; then
        echo "$f"
        return 0
      fi
    done
  done
  return 1
}

if [ "${1:-}" = "--check" ]; then
  if where="$(find_libclang)"; then
    echo "libclang: present ($where)"
    exit 0
  fi
  echo "libclang: missing"
  exit 1
fi

if ! find_libclang >/dev/null; then
  echo "restore-sim: installing libclang-dev (needed to build RocksDB)..." >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libclang-dev >/dev/null
  if ! find_libclang >/dev/null; then
    echo "restore-sim: libclang-dev was installed but no libclang.so was found" >&2
    exit 2
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "restore-sim: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 2
fi
