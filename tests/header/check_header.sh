#!/usr/bin/env bash
# The public header alone compiles as C99, C11 and C++11/17 with strict
# warnings, and a C++ program can call through it (extern "C").
set -euo pipefail
inc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for std in c99 c11; do
  cc -std=$std -Wall -Wextra -Werror -pedantic -I"$inc" -fsyntax-only -x c "$inc/gowt.h"
done
cat >"$tmp/use.cpp" <<'CPP'
#include <gowt.h>
#include <cstdio>
static int cb(gowt_ctx *, const gowt_event *ev, void *) { return ev->type == GOWT_EV_CONNECT ? 404 : 0; }
int main() {
    gowt_config cfg;
    if (gowt_config_init(&cfg) != GOWT_OK) return 1;
    gowt_session_info info;
    info.struct_size = sizeof info;
    if (!GOWT_HAS_FIELD(&info, gowt_session_info, shared_connection)) return 1;
    gowt_session_cb f = cb;
    std::printf("%s %d %p\n", gowt_version(), GOWT_VERSION_NUMBER, reinterpret_cast<void *>(f));
    return 0;
}
CPP
for std in c++11 c++17; do
  c++ -std=$std -Wall -Wextra -Werror -pedantic -I"$inc" -c "$tmp/use.cpp" -o "$tmp/use.o"
done
nm "$tmp/use.o" | grep -q " U gowt_config_init_sized$"   # unmangled: extern "C" works
echo "header: ok"
