#!/usr/bin/env bash
# Installs what a fresh machine lacks for building restore-sim: libclang (bindgen, for the
# bundled RocksDB). Idempotent and quiet when everything is present.
set -euo pipefail

have_libclang() {
  ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
  [ -n "${LIBCLANG_PATH:-}" ] && compgen -G "${LIBCLANG_PATH}/libclang*.so*" >/dev/null
}

if ! have_libclang; then
  echo "restore-sim: installing libclang-dev (needed to build RocksDB)..." >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libclang-dev >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "restore-sim: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 2
fi
