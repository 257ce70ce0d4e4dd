#!/usr/bin/env bash
# Installs what building and testing gowt needs, if missing (Debian).
# Usage: scripts/deps.sh [browser]
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ip >/dev/null || need+=(iproute2) # tests/netem: namespaces, veth, tc
command -v openssl >/dev/null || need+=(openssl) # tests/c client_cert: test certificates
if [[ "${1:-}" == browser ]] && [[ ! -x /usr/lib/chromium/chromium ]]; then
  need+=(chromium)
fi
if ((${#need[@]})); then
  echo "deps: installing ${need[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  # A large install can fail once when apt's cache is cleaned between dpkg
  # batches; the same install succeeds when repeated.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" ||
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
command -v go >/dev/null || { echo "deps: Go 1.26 is required (https://go.dev/dl)"; exit 1; }

# --- Rust crates (bindings/rust): their crates.io dependencies, as pinned by
# bindings/rust/Cargo.lock, into cargo's cache. Quick when present. Cargo
# itself (>= 1.85, e.g. ~/.cargo/bin) must exist; without it bindings/rust/
# test.sh skips (fails under CI=true). ---
cargo_bin=$(command -v cargo || { [[ -x "$HOME/.cargo/bin/cargo" ]] && echo "$HOME/.cargo/bin/cargo"; } || true)
if [[ -n "$cargo_bin" ]]; then
  "$cargo_bin" fetch --locked -q --manifest-path "$(dirname "$0")/../bindings/rust/Cargo.toml"
elif [[ "${CI:-}" == true ]]; then
  echo "deps: cargo (Rust >= 1.85) is required for bindings/rust"; exit 1
fi
# --- end Rust crates ---

# Interop peers (tests/interop): aioquic >= 1.7 from PyPI, in a venv under
# the build directory (GOWT_BUILD_DIR, default build/). Quick when present.
venv="${GOWT_BUILD_DIR:-$(dirname "$0")/../build}/interop-venv"
if ! "$venv/bin/python3" -c 'import aioquic, sys; v = tuple(int(x) for x in aioquic.__version__.split(".")[:2]); sys.exit(v < (1, 7))' 2>/dev/null; then
  echo "deps: installing aioquic into $venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
    # Debian's python3 needs python3-venv for ensurepip.
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv --clear "$venv"
  fi
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check 'aioquic>=1.7'
fi

# --- Python package tests (bindings/python, CTest python_pytest*): pytest,
# setuptools and wheel (to pip install the package) in a venv under the
# build directory. Quick when present.
pyvenv="${GOWT_BUILD_DIR:-$(dirname "$0")/../build}/python-venv"
if ! "$pyvenv/bin/python3" -c 'import pytest, setuptools, wheel' 2>/dev/null; then
  echo "deps: installing pytest into $pyvenv"
  mkdir -p "$(dirname "$pyvenv")"
  if ! python3 -m venv --clear "$pyvenv" >/dev/null 2>&1; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv --clear "$pyvenv"
  fi
  "$pyvenv/bin/python3" -m pip install -q --disable-pip-version-check 'pytest>=7' 'setuptools>=61' wheel
fi

# --- wtransport peer (tests/interop/wtransport): wtransport 0.7 from
# crates.io, built by cargo from the committed Cargo.lock into
# $GOWT_BUILD_DIR/interop-wtransport (quick when built). Needs Rust >= 1.88
# (Debian's rustc is older); without it the interop_wtransport_* tests skip,
# and fail under CI=true.
wt_src="$(cd "$(dirname "$0")/.." && pwd)/tests/interop/wtransport"
wt_target="${GOWT_BUILD_DIR:-$(dirname "$0")/../build}/interop-wtransport"
# rustup's cargo may be installed but not on PATH (a non-login shell).
cargo_bin="$(command -v cargo || { [[ -x "$HOME/.cargo/bin/cargo" ]] && echo "$HOME/.cargo/bin/cargo"; } || true)"
if [[ -n "$cargo_bin" ]]; then
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" CARGO_TARGET_DIR="$wt_target" PATH="$(dirname "$cargo_bin"):$PATH" \
    "$cargo_bin" build -q --release --locked --manifest-path "$wt_src/Cargo.toml" ||
    echo "deps: building the wtransport peer failed (its checks will fail or skip)"
else
  echo "deps: no cargo: the wtransport interop peer is not built (needs Rust >= 1.88, rustup.rs)"
fi

# --- pywebtransport peer (tests/interop/pywebtransport): pywebtransport >= 0.21
# from PyPI (Python >= 3.12; Debian 12's python3 is 3.11) in a venv under the
# build directory. Without such a Python the interop_pywebtransport_* tests
# skip, and fail under CI=true.
pywt_venv="${GOWT_BUILD_DIR:-$(dirname "$0")/../build}/interop-venv-pywebtransport"
if ! "$pywt_venv/bin/python3" -c 'import pywebtransport, sys; v = tuple(int(x) for x in pywebtransport.__version__.split(".")[:2]); sys.exit(v < (0, 21))' 2>/dev/null; then
  py312=""
  for c in python3 python3.14 python3.13 python3.12 \
      $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.1[2-9]*/bin/python3 2>/dev/null); do
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then py312="$c"; break; fi
  done
  if [[ -n "$py312" ]]; then
    echo "deps: installing pywebtransport into $pywt_venv ($("$py312" --version))"
    mkdir -p "$(dirname "$pywt_venv")"
    "$py312" -m venv --clear "$pywt_venv"
    "$pywt_venv/bin/python3" -m pip install -q --disable-pip-version-check \
      -r "$(dirname "$0")/../tests/interop/pywebtransport/requirements.txt" ||
      echo "deps: installing pywebtransport failed (its checks will fail or skip)"
  else
    echo "deps: no Python >= 3.12: the pywebtransport interop peer is not installed"
  fi
fi

# --- bench/wtransport (the wtransport column of scripts/bench.sh): cargo
# with Rust >= 1.88 (wtransport 0.7's rust-version). Debian 12's rustc is
# 1.63, too old, so nothing is installed here; this only says so. Without it
# scripts/bench.sh skips that column (and fails under CI=true).
if ! command -v cargo >/dev/null && [[ ! -x "$HOME/.cargo/bin/cargo" ]]; then
  echo "deps: cargo (Rust >= 1.88) not found: bench/wtransport cannot be built"
fi
