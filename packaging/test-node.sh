#!/usr/bin/env bash
# The npm package as a new user gets it: `npm pack`, then `npm install` of
# the tarball in an empty folder outside the repository with no Go on PATH
# (the prebuilt binaries must be enough, and node-gyp must not be
# installed), then the reference README's two examples run there against
# the installed package, with their output checked by
# bindings/node/tests/examples.test.js (each example in a network namespace
# of its own when root, else with its ports moved to a free range).
# Usage: test-node.sh NODE VERSION (from the repository root).
set -euo pipefail
node=$1 version=$2
repo=$(pwd)
tmp=$(mktemp -d /tmp/telepathine-npm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

(cd bindings/node && npm pack --silent --pack-destination "$tmp" >/dev/null)
tgz=$tmp/telepathine-$version.tgz
[ -f "$tgz" ] || { ls "$tmp"; echo "npm pack made no telepathine-$version.tgz"; exit 1; }
tar -tzf "$tgz" >"$tmp/contents"
for f in package/prebuilds/linux-x64/telepathine.napi.glibc.node package/prebuilds/linux-x64/libtelepathine.so \
         package/go/go.mod package/go/cgo/telepathine.h package/lib/native.js; do
  grep -qx "$f" "$tmp/contents" || { echo "the tarball lacks $f"; exit 1; }
done
if grep -q '^package/\(node_modules\|build\|native\|tests\)/' "$tmp/contents"; then
  echo "the tarball carries build or test output:"; grep '^package/\(node_modules\|build\|native\|tests\)/' "$tmp/contents"; exit 1
fi
echo "tarball: $(du -h "$tgz" | cut -f1), $(wc -l <"$tmp/contents") files"

# PATH without Go: every directory that holds a `go` is left out.
nogo=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ ! -x "$d/go" ] && nogo=${nogo:+$nogo:}$d
done
mkdir "$tmp/app"
cd "$tmp/app"
(
  export PATH=$nogo
  unset GOROOT GOPATH
  if command -v go >/dev/null; then echo "go is still on PATH: $(command -v go)"; exit 1; fi
  echo '{ "name": "first-app", "version": "1.0.0", "private": true }' >package.json
  npm install --no-audit --no-fund --foreground-scripts "$tgz" 2>&1 | tee install.log
  # npm 11 may or may not run the install script (allowScripts); when it
  # runs, it must take the prebuilt addon. The load below is the real check.
  if grep -q 'telepathine: .*building from source' install.log; then
    echo "the install script did not take the prebuilt addon"; exit 1
  fi
  [ ! -e node_modules/node-gyp ] || { echo "node-gyp was installed"; exit 1; }
  [ ! -e node_modules/telepathine/build ] || { echo "the install built the addon"; exit 1; }

  # The README's examples as a user copies them: only the require line
  # names the installed package (the event bus example has none).
  mkdir examples
  sed "s|require('../lib/telepathine.js')|require('telepathine')|" "$repo/bindings/node/examples/shared-memory.js" >examples/shared-memory.js
  sed "s|require('../lib/telepathine.js')|require('telepathine')|" "$repo/bindings/node/examples/event-bus.js" >examples/event-bus.js
  grep -q "require('telepathine')" examples/shared-memory.js examples/event-bus.js
  cat >examples/where.js <<'JS'
const t = require('telepathine');
console.log(t.libraryPath());
JS
  where=$("$node" examples/where.js)
  case $where in
    "$tmp/app/node_modules/telepathine/prebuilds/linux-x64/libtelepathine.so") ;;
    *) echo "the package loaded $where, not its prebuilt library"; exit 1 ;;
  esac
  TP_EXAMPLES_DIR=$tmp/app/examples "$node" --test --test-timeout=120000 "$repo/bindings/node/tests/examples.test.js"
)
echo "test-packages-node: ok (installed without Go, prebuilt binaries, the README's examples pass)"
