#!/usr/bin/env bash
# make install PREFIX=<temporary>, then packaging/c-example.c built from an
# empty folder with `pkg-config --cflags --libs telepathine` alone, and run.
# Usage: test-c.sh MAKE VERSION SOVERSION (from the repository root).
set -euo pipefail
make=$1 version=$2 so=$3
repo=$(pwd)
tmp=$(mktemp -d /tmp/telepathine-c.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

$make --no-print-directory install PREFIX="$tmp/prefix"
lib=$tmp/prefix/lib
[ "$(readlink "$lib/libtelepathine.so")" = "libtelepathine.so.$so" ] || { echo "libtelepathine.so does not point at .so.$so"; exit 1; }
[ "$(readlink "$lib/libtelepathine.so.$so")" = "libtelepathine.so.$version" ] || { echo "libtelepathine.so.$so does not point at .so.$version"; exit 1; }
soname=$(readelf -d "$lib/libtelepathine.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libtelepathine.so.$so" ] || { echo "soname is '$soname', want libtelepathine.so.$so"; exit 1; }

mkdir "$tmp/user"
cp packaging/c-example.c "$tmp/user/example.c"
cd "$tmp/user"
export PKG_CONFIG_PATH=$lib/pkgconfig
[ "$(pkg-config --modversion telepathine)" = "$version" ] || { echo "pkg-config says version $(pkg-config --modversion telepathine)"; exit 1; }
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
cc -std=c11 -Wall -Wextra -Werror -o example example.c $(pkg-config --cflags --libs telepathine)
# The program records the soname, not the unversioned link name.
readelf -d example | grep -q "NEEDED.*\[libtelepathine.so.$so\]" || { echo "example does not need libtelepathine.so.$so"; exit 1; }
out=$(LD_LIBRARY_PATH=$(pkg-config --variable=libdir telepathine) ./example)
echo "$out"
[ "$out" = "b reads color=blue" ] || { echo "unexpected output from the C example"; exit 1; }
echo "test-packages-c: ok (installed in a prefix, built with pkg-config from an empty folder)"
cd "$repo"
