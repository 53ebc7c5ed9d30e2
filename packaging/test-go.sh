#!/usr/bin/env bash
# A fresh Go module outside the repository requires
# github.com/telepathine/telepathine at vVERSION (a replace directive points
# at this checkout, as `go get ...@vVERSION` would fetch the tag), builds
# and runs a tiny program, reads the package's documentation with go doc,
# and runs the package's examples from there.
# Usage: test-go.sh GO VERSION (from the repository root).
set -euo pipefail
go=$1 version=$2
repo=$(pwd)
tmp=$(mktemp -d /tmp/telepathine-go.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat >go.mod <<MOD
module example.com/first

go 1.26

require github.com/telepathine/telepathine v$version

replace github.com/telepathine/telepathine => $repo
MOD
cp "$repo/packaging/go-example.go.txt" main.go
"$go" mod tidy
out=$("$go" run .)
echo "$out"
[ "$out" = "telepathine $version: b reads color=blue" ] || { echo "unexpected output from the Go example"; exit 1; }
# The manual a user reads, and the runnable examples in it.
"$go" doc github.com/telepathine/telepathine/engine >doc.txt
grep -q 'func New(' doc.txt && grep -q "const Version = \"$version\"" doc.txt || { cat doc.txt; echo "go doc shows no engine.New or not this Version"; exit 1; }
examples=$("$go" test -list '^Example' github.com/telepathine/telepathine/engine | grep -c '^Example' || true)
[ "$examples" -ge 1 ] || { echo "the engine package has no runnable example"; exit 1; }
"$go" test -count=1 -run '^Example' github.com/telepathine/telepathine/engine
echo "test-packages-go: ok (fresh module, $examples runnable examples)"
