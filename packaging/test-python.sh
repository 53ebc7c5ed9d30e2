#!/usr/bin/env bash
# The Python distributions as a new user gets them, outside the repository:
# the manylinux wheel installed into a fresh venv runs a two-peer example;
# the sdist builds a working wheel with Go on PATH and nothing else.
# Usage: test-python.sh PYTHON DIST VERSION (from the repository root).
set -euo pipefail
python=$1 dist=$2 version=$3
repo=$(pwd)
tmp=$(mktemp -d /tmp/telepathine-py.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

whl=$(ls "$dist"/telepathine-"$version"-cp310-abi3-manylinux_*_x86_64.whl)
sdist=$dist/telepathine-$version.tar.gz
tar -tzf "$sdist" >"$tmp/sdist.txt"
grep -qx "telepathine-$version/gosrc/go.mod" "$tmp/sdist.txt" || { echo "the sdist lacks the Go sources"; exit 1; }
if grep -q '_test\.go$' "$tmp/sdist.txt"; then echo "the sdist carries Go tests"; exit 1; fi

cd "$tmp"
cp "$repo/packaging/python-example.py" example.py
"$python" -m venv venv
venv/bin/python -m pip install -q --disable-pip-version-check "$whl"
out=$(venv/bin/python example.py)
echo "$out"
want=$(printf 'telepathine %s: b reads color=blue\nb hears greeting=hello' "$version")
[ "$out" = "$want" ] || { echo "unexpected output from the wheel's example"; exit 1; }
# The library really came from the wheel installed here.
venv/bin/python -c 'import telepathine, sys; sys.exit(not telepathine.LIB_PATH.startswith(sys.prefix))' ||
  { echo "telepathine loaded a library outside the venv"; exit 1; }
# ... and set()'s C extension with it (the ctypes path is only the fallback).
venv/bin/python -c 'import sys, telepathine._native as n; sys.exit(n.fast_set is None)' ||
  { echo "the wheel's _speedups extension did not load"; exit 1; }
echo "wheel: $(basename "$whl") installs and converges"

# The sdist: a wheel built from it in an empty folder (Go on PATH; no
# repository above), then the same example with it.
mkdir from-sdist
cd from-sdist
env -u TELEPATHINE_LIB -u TELEPATHINE_SRC "$tmp/venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w . "$sdist"
built=$(ls telepathine-"$version"-cp310-abi3-linux_x86_64.whl)
"$python" -m venv venv
venv/bin/python -m pip install -q --disable-pip-version-check "$built"
venv/bin/python -c 'import sys, telepathine._native as n; sys.exit(n.fast_set is None)' ||
  { echo "the sdist's wheel has no working _speedups extension"; exit 1; }
out=$(venv/bin/python ../example.py)
[ "$out" = "$want" ] || { echo "$out"; echo "unexpected output from the sdist's example"; exit 1; }
echo "sdist: builds with Go and converges"
echo "test-packages-python: ok"
