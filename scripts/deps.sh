#!/usr/bin/env bash
# Installs what building and testing gowt needs, if missing (Debian).
# Usage: scripts/deps.sh [browser]
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
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
