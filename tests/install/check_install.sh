#!/usr/bin/env bash
# Installs the built gowt into a temporary prefix, then builds a consumer
# with find_package(gowt) (gowt::gowt) and another with pkg-config, and runs
# both against the installed library.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/gowt.h"
libdir=$(dirname "$(find "$tmp/prefix" -name libgowt.so | head -1)")
# The file and its soname / linker-name symlinks.
test -L "$libdir/libgowt.so" && test -L "$libdir/libgowt.so.0"
test -f "$(readlink -f "$libdir/libgowt.so")"
cmake -S "$src/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Wextra -Werror -pedantic "$src/consumer/main.c" $(pkg-config --cflags --libs gowt) -o "$tmp/pc"
LD_LIBRARY_PATH="$libdir" "$tmp/pc"
echo "install: ok"
