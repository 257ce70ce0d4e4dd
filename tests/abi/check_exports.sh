#!/usr/bin/env bash
# The shared library's ABI surface: file and symlink names, the soname, and
# the dynamic symbol table, which must hold exactly the functions declared
# in gowt.h plus the three 0.1.0 init entry points (kept for programs built
# against 0.1.0) — no cgo, Go runtime or internal gowtgo_* symbols.
# Usage: check_exports.sh <dir with the library> <gowt.h> <version>
set -euo pipefail
dir=$1 header=$2 version=$3
major=${version%%.*}
real=$dir/libgowt.so.$version
test -f "$real" && ! test -L "$real" || { echo "missing $real"; exit 1; }
test "$(readlink "$dir/libgowt.so.$major")" = "libgowt.so.$version" || { echo "bad libgowt.so.$major"; exit 1; }
test "$(readlink "$dir/libgowt.so")" = "libgowt.so.$major" || { echo "bad libgowt.so"; exit 1; }
soname=$(readelf -d "$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
test "$soname" = "libgowt.so.$major" || { echo "soname is '$soname'"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$real" | awk '{print $NF}' | sort -u >"$tmp/exported"
# Declarations in the header: "type name(" / "type *name(" at line start.
grep -oE '^[a-z][a-z0-9_ ]*[ *]gowt_[a-z0-9_]+\(' "$header" |
  grep -oE 'gowt_[a-z0-9_]+' >"$tmp/expected"
printf '%s\n' gowt_config_init gowt_path_options_init gowt_connect_options_init >>"$tmp/expected"
sort -u -o "$tmp/expected" "$tmp/expected"
if ! diff -u "$tmp/expected" "$tmp/exported"; then
  echo "exports differ from the header's functions (- missing, + extra)"
  exit 1
fi
echo "exports: ok ($(wc -l <"$tmp/exported") gowt_* symbols, soname $soname)"
