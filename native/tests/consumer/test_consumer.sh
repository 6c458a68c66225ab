#!/usr/bin/env bash
# Builds consumer.c against netcl the three ways a C user would, and runs each build:
#   find_package(netcl) on `cmake --install` of the build tree into a fresh prefix,
#   pkg-config (netcl.pc) on that same prefix, and add_subdirectory(netcl's sources).
# Run by ctest:
#   test_consumer.sh CMAKE CC NETCL_SOURCE_DIR NETCL_BUILD_DIR LIBDIR VERSION WORK_DIR
set -euo pipefail
[ $# -eq 7 ] || { echo "usage: $0 CMAKE CC SOURCE_DIR BUILD_DIR LIBDIR VERSION WORK_DIR" >&2; exit 2; }
cmake="$1" cc="$2" source_dir="$3" build_dir="$4" libdir="$5" version="$6" work="$7"
consumer="$source_dir/native/tests/consumer"
prefix="$work/prefix"

fail() {
    echo "test_consumer: $*" >&2
    exit 1
}

# Runs a command with its output shown only when it fails.
quiet() {
    local log="$work/last.log"
    "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "failed: $*"; }
}

rm -rf "$work"
mkdir -p "$work"
quiet "$cmake" --install "$build_dir" --prefix "$prefix"

echo "== find_package(netcl $version) from $prefix"
quiet "$cmake" -S "$consumer" -B "$work/find-package" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DNETCL_VERSION_WANTED="$version"
quiet "$cmake" --build "$work/find-package"
"$work/find-package/consumer" "$version"

echo "== pkg-config netcl from $prefix"
command -v pkg-config >/dev/null || fail "pkg-config is missing (Debian: apt-get install pkg-config)"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
[ "$(pkg-config --modversion netcl)" = "$version" ] ||
    fail "pkg-config --modversion netcl is '$(pkg-config --modversion netcl)', expected $version"
mkdir -p "$work/pkg-config"
# shellcheck disable=SC2046 # pkg-config's flags are meant to be split into words
quiet "$cc" -o "$work/pkg-config/consumer" "$consumer/consumer.c" $(pkg-config --cflags --libs netcl) -lm
LD_LIBRARY_PATH="$prefix/$libdir" "$work/pkg-config/consumer" "$version"

echo "== add_subdirectory($source_dir)"
quiet "$cmake" -S "$consumer" -B "$work/add-subdirectory" -DCMAKE_C_COMPILER="$cc" \
    -DNETCL_SOURCE_DIR="$source_dir"
# A sub-project builds the library only: no ctest suite, no netcl-bench (nor its OpenMP).
for dir in native/tests native/bench; do
    [ ! -e "$work/add-subdirectory/netcl/$dir" ] || fail "add_subdirectory configured netcl's $dir"
done
quiet "$cmake" --build "$work/add-subdirectory" --parallel
"$work/add-subdirectory/consumer" "$version"
